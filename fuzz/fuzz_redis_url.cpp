// Fuzz target: REDIS_URL parsing (pjx::RedisUrl::parse, mask_redis_url).
//
// Properties, on every input:
//   * parse either returns or throws ConfigError; mask_redis_url never throws;
//   * an accepted URL has a port in 1..65535, a db in 0..2^31-1, a host
//     (redis://) or an absolute socket path (unix://);
//   * masked() hides a password: its text does not depend on the password;
//   * masking the input keeps it parseable with the same endpoint, username
//     and db, and only the password replaced by "***".
#include <climits>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "pjx/errors.hpp"
#include "pjx/redis_backend.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string masked_input = pjx::mask_redis_url(input);
  pjx::RedisUrl url;
  try {
    url = pjx::RedisUrl::parse(input);
  } catch (const pjx::ConfigError& e) {
    PJX_FUZZ_CHECK(std::string_view(e.what()).find("Redis URL") == 0, "the error names the URL");
    return 0;
  }
  if (url.kind == pjx::RedisUrl::Kind::kTcp) {
    PJX_FUZZ_CHECK(!url.host.empty(), "a TCP URL has a host");
    PJX_FUZZ_CHECK(url.port >= 1 && url.port <= 65535, "the port is in 1..65535");
  } else if (url.kind == pjx::RedisUrl::Kind::kSentinel) {
    PJX_FUZZ_CHECK(!url.sentinels.empty() && !url.master_name.empty(),
                   "a sentinel URL has sentinels and a master name");
    for (const auto& s : url.sentinels) {
      PJX_FUZZ_CHECK(!s.host.empty() && s.port >= 1 && s.port <= 65535,
                     "every sentinel has a host and a port in 1..65535");
    }
  } else {
    PJX_FUZZ_CHECK(!url.socket_path.empty() && url.socket_path[0] == '/',
                   "a unix URL has an absolute socket path");
  }
  PJX_FUZZ_CHECK(url.db >= 0, "db is not negative");

  // masked() hides the password exactly when what it shows does not depend
  // on it: the same URL with another password must show the same text. (A
  // search for the password's bytes in the text is not the property: the
  // fuzzer builds passwords such as `...r:***@ho` out of what is shown on
  // purpose.)
  const std::string shown = url.masked();
  if (!url.password.empty()) {
    pjx::RedisUrl other = url;
    other.password = url.password + "-other";
    PJX_FUZZ_CHECK(other.masked() == shown, "masked() does not depend on the password");
  }
  // mask_redis_url works on the text; what it must hide is checked below
  // by parsing its result: the password there is "***" and nothing else
  // changed. (Searching its text for the password's bytes finds them in the
  // scheme and path too: the fuzzer built `:///ru?passw` out of
  // `unix:///ru?password=...`.)

  pjx::RedisUrl again;
  try {
    again = pjx::RedisUrl::parse(masked_input);
  } catch (const pjx::ConfigError& e) {
    std::fprintf(stderr, "masked URL refused: %s\n", e.what());
    PJX_FUZZ_CHECK(false, "a masked valid URL still parses");
  }
  PJX_FUZZ_CHECK(again.kind == url.kind && again.host == url.host && again.port == url.port &&
                     again.socket_path == url.socket_path && again.db == url.db &&
                     again.sentinels == url.sentinels && again.master_name == url.master_name,
                 "masking keeps the endpoint and db");
  PJX_FUZZ_CHECK(again.password == (url.password.empty() ? "" : "***"),
                 "masking replaces exactly the password");
  return 0;
}
