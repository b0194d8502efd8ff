// RedisUrl::parse, RedisUrl::masked and mask_redis_url: see
// pjx/redis_backend.hpp for the accepted forms.
//
// Parsing rules (the redis-py reading of a URL, made strict):
//   R1. The scheme is "redis", "unix" or "redis+sentinel" (any case);
//       "rediss" is refused because this build has no TLS; anything else is
//       refused.
//   R2. User-info is everything before the last '@' of the authority and
//       must be "username:password" or ":password"; a lone word (no ':') is
//       refused as ambiguous. Both parts are percent-decoded.
//   R3. redis://: the host is a name, an IPv4 address or a bracketed IPv6
//       address and must not be empty; the port is 1..65535 (default 6379);
//       the path is empty, "/" or "/<db>".
//   R4. unix://: nothing but user-info may stand between "//" and the
//       absolute socket path, which is percent-decoded and must fit
//       sockaddr_un.
//   R5. The query may hold db, username and password (percent-decoded);
//       a db given both in the path and the query must agree. Any other
//       parameter and any fragment are refused rather than ignored.
//   R6. db is a decimal number from 0 to 2147483647; Redis itself refuses
//       a db beyond its `databases` setting when we SELECT it.
//   R7. redis+sentinel://: the authority (after any user-info) is a list of
//       one or more sentinels, "host[:port]" as in R3 (port default 26379),
//       separated by single commas; a repeated one is kept once. The path is
//       "/<master name>" or "/<master name>/<db>"; the name is
//       percent-decoded and must not be empty. "rediss+sentinel" is refused
//       as "rediss" is.
#include <sys/un.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pjx/errors.hpp"
#include "pjx/redis_backend.hpp"
#include "quoted.hpp"

namespace pjx {
namespace {

constexpr std::string_view kMask = "***";
constexpr int kSentinelPort = 26379;  // Sentinel's default port

using detail::quoted;

using Range = std::pair<std::size_t, std::size_t>;  // [begin, end) of the URL's text

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

// `key` percent-decoded (invalid escapes kept as they are) and lowercased.
std::string decoded_lower_key(std::string_view key) {
  std::string out;
  for (std::size_t i = 0; i < key.size(); ++i) {
    int byte = 0;
    if (key[i] == '%' && i + 2 < key.size() &&
        std::from_chars(key.data() + i + 1, key.data() + i + 3, byte, 16).ptr ==
            key.data() + i + 3) {
      out += lower(static_cast<char>(byte));
      i += 2;
    } else {
      out += lower(key[i]);
    }
  }
  return out;
}

// The parts of `url` that may hold a password, generously (masking too much
// only hides a host or path from a message; masking too little leaks):
//  * the user-info: from after its first ':' (or its start, some clients
//    read a lone user-info as the password) to the LAST '@' of the whole
//    URL, since a password can hold '/', '?', '#', ':' and '@' unencoded;
//  * the value of every query parameter whose key is "password" in any case
//    and percent-encoding, up to the next '&' that starts another known
//    parameter (db=, username=, password=), or the end: a password can hold
//    '&', '=' and '#' too.
std::vector<Range> secret_ranges(std::string_view url) {
  std::vector<Range> ranges;
  const std::size_t scheme = url.find("://");
  const std::size_t authority = scheme == std::string_view::npos ? 0 : scheme + 3;
  if (const std::size_t at = url.rfind('@'); at != std::string_view::npos && at > authority) {
    const std::size_t colon = url.find(':', authority);
    const std::size_t begin = colon < at ? colon + 1 : authority;
    if (at > begin) ranges.emplace_back(begin, at);
  }
  // A parameter starts after any '?' or '&' (one inside a password too:
  // masking its "value" as well costs nothing).
  for (std::size_t pos = url.find_first_of("?&", authority); pos != std::string_view::npos;
       pos = url.find_first_of("?&", pos + 1)) {
    const std::size_t key_begin = pos + 1;
    const std::size_t eq = url.find('=', key_begin);
    if (eq == std::string_view::npos) break;
    if (url.substr(key_begin, eq - key_begin).find_first_of("?&#/@") != std::string_view::npos)
      continue;
    if (decoded_lower_key(url.substr(key_begin, eq - key_begin)) != "password") continue;
    std::size_t end = eq + 1;
    for (;; ++end) {
      end = url.find('&', end);
      if (end == std::string_view::npos) {
        end = url.size();
        break;
      }
      // Another parameter: '&' then a key this parser knows, then '='. An
      // unknown KEY= is taken as part of the password (it is refused anyway).
      const std::size_t k = url.find('=', end + 1);
      if (k == std::string_view::npos) continue;
      const std::string key = decoded_lower_key(url.substr(end + 1, k - end - 1));
      if (key == "db" || key == "username" || key == "password") break;
    }
    if (end > eq + 1) ranges.emplace_back(eq + 1, end);
  }
  std::sort(ranges.begin(), ranges.end());
  std::vector<Range> merged;
  for (const auto& r : ranges) {
    if (!merged.empty() && r.first <= merged.back().second) {
      merged.back().second = std::max(merged.back().second, r.second);
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

// `what` with every quoted part ("...") that shares a piece with a secret of
// `url` replaced by "***": a password with unencoded delimiters shifts the
// parse, and a "host", "port" or "parameter" a message quotes can be a piece
// of it.
std::string scrubbed(std::string_view url, const std::string& what) {
  std::vector<std::string> pieces;
  for (const auto& [begin, end] : secret_ranges(url)) {
    std::string piece;
    for (std::size_t i = begin; i <= end; ++i) {
      if (i == end || std::string_view("/?#@:&=").find(url[i]) != std::string_view::npos) {
        if (!piece.empty()) pieces.push_back(detail::escaped(piece));
        piece.clear();
      } else {
        piece += url[i];
      }
    }
  }
  if (pieces.empty()) return what;
  std::string out;
  std::size_t pos = 0;
  while (pos < what.size()) {
    const std::size_t open = what.find('"', pos);
    if (open == std::string::npos) break;
    std::size_t close = open + 1;
    while (close < what.size() && what[close] != '"')
      close += what[close] == '\\' ? std::size_t{2} : std::size_t{1};
    if (close >= what.size()) break;
    const std::string_view inside(what.data() + open + 1, close - open - 1);
    bool secret = false;
    for (const auto& piece : pieces)
      secret = secret || inside.find(piece) != std::string_view::npos;
    out.append(what, pos, open + 1 - pos);
    out += secret ? std::string(kMask) : std::string(inside);
    out += '"';
    pos = close + 1;
  }
  out.append(what, std::min(pos, what.size()));
  return out;
}

[[noreturn]] void fail(std::string_view url, const std::string& what, const std::string& fix) {
  throw ConfigError("Redis URL " + quoted(mask_redis_url(url)) + " " + scrubbed(url, what) + "; " +
                    fix);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes of `part` (named `name` in errors).
std::string percent_decode(std::string_view url, std::string_view part, std::string_view name) {
  std::string out;
  out.reserve(part.size());
  for (std::size_t i = 0; i < part.size(); ++i) {
    if (part[i] != '%') {
      out += part[i];
      continue;
    }
    const int hi = i + 1 < part.size() ? hex_value(part[i + 1]) : -1;
    const int lo = i + 2 < part.size() ? hex_value(part[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      fail(url, "has a '%' in the " + std::string(name) + " that does not start a %XX escape",
           "write a literal '%' as %25 and other reserved characters (@ : / ? #) as their "
           "%XX escapes");
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

int parse_db(std::string_view url, std::string_view text) {
  const std::string fix =
      "write the database as a decimal number, e.g. redis://host:6379/0 or "
      "unix:///path/redis.sock?db=0 (the default is 0)";
  int db = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), db);
  if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size() || db < 0 ||
      !std::isdigit(static_cast<unsigned char>(text.front()))) {
    fail(url, "has database " + quoted(text) + ", which is not a number from 0 to 2147483647", fix);
  }
  return db;
}

int parse_port(std::string_view url, std::string_view text, int default_port) {
  const std::string fix =
      "write a port from 1 to 65535 after the host, or leave \":port\" out "
      "for the default " +
      std::to_string(default_port);
  if (text.empty()) fail(url, "has a ':' after the host but no port", fix);
  long port = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc{} || ptr != text.data() + text.size() ||
      !std::isdigit(static_cast<unsigned char>(text.front()))) {
    fail(url, "has port " + quoted(text) + ", which is not a number", fix);
  }
  if (port < 1 || port > 65535) {
    fail(url, "has port " + std::string(text) + ", outside 1..65535", fix);
  }
  return static_cast<int>(port);
}

// R2: fills username and password from the user-info.
void parse_userinfo(std::string_view url, std::string_view info, RedisUrl& out) {
  const std::size_t colon = info.find(':');
  if (colon == std::string_view::npos) {
    fail(url,
         "has user-info without ':' before '@', which is ambiguous (a user name or a password?)",
         "write redis://:PASSWORD@host for a password alone or redis://USER:PASSWORD@host for "
         "an ACL user");
  }
  out.username = percent_decode(url, info.substr(0, colon), "user name");
  out.password = percent_decode(url, info.substr(colon + 1), "password");
}

// A user name alone would send no AUTH at all, which is never what was meant.
void check_credentials(std::string_view url, const RedisUrl& out) {
  if (!out.username.empty() && out.password.empty()) {
    fail(url, "has user name " + quoted(out.username) + " but no password",
         "write redis://USER:PASSWORD@host (an ACL user always needs its password), or leave the "
         "user out to connect as the default user");
  }
}

// R5: reads db, username and password from the query; returns the db if given.
std::optional<int> parse_query(std::string_view url, std::string_view query, RedisUrl& out) {
  std::optional<int> db;
  std::size_t pos = 0;
  while (pos <= query.size()) {
    std::size_t end = query.find('&', pos);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view param = query.substr(pos, end - pos);
    pos = end + 1;
    if (param.empty()) continue;
    const std::size_t eq = param.find('=');
    const std::string_view name = param.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? "" : param.substr(eq + 1);
    if (name == "db") {
      db = parse_db(url, value);
    } else if (name == "password") {
      out.password = percent_decode(url, value, "password");
    } else if (name == "username") {
      out.username = percent_decode(url, value, "user name");
    } else {
      fail(url, "has query parameter " + quoted(name) + ", which pjx-inval does not support",
           "remove it; the supported parameters are db, username and password");
    }
  }
  return db;
}

// R3: "host[:port]" of `authority` (a name, an IPv4 address or a bracketed
// IPv6 address; the port defaults to `default_port`).
RedisUrl::HostPort parse_host_port(std::string_view url, std::string_view authority,
                                   int default_port) {
  RedisUrl::HostPort out;
  out.port = default_port;
  std::string_view port_text;
  bool has_port = false;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      fail(url, "has an IPv6 address without its closing ']'",
           "write IPv6 addresses in brackets, e.g. redis://[::1]:6379/0");
    }
    out.host = std::string(authority.substr(1, close - 1));
    if (out.host.empty() ||
        out.host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos) {
      fail(url, "has " + quoted(out.host) + " in brackets, which is not an IPv6 address",
           "write IPv6 addresses in brackets, e.g. redis://[::1]:6379/0");
    }
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        fail(url, "has " + quoted(after) + " after the IPv6 address",
             "write redis://[ADDRESS]:PORT/DB");
      }
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    const std::size_t colon = authority.find(':');
    if (colon != std::string_view::npos &&
        authority.find(':', colon + 1) != std::string_view::npos) {
      fail(url, "has an IPv6 address without brackets",
           "write IPv6 addresses in brackets, e.g. redis://[::1]:6379/0");
    }
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
    if (out.host.find_first_of("[]%") != std::string::npos) {
      fail(url, "has host " + quoted(out.host) + ", which is not a host name or address",
           "write a host name, an IPv4 address or a bracketed IPv6 address");
    }
  }
  if (out.host.empty()) {
    fail(url,
         "has no host" + std::string(default_port == kSentinelPort ? " in its sentinel list" : ""),
         default_port == kSentinelPort
             ? "name every sentinel, separated by commas, e.g. "
               "redis+sentinel://sentinel-1:26379,sentinel-2:26379/mymaster/0"
             : "name the Redis server, e.g. redis://localhost:6379/0");
  }
  if (has_port) out.port = parse_port(url, port_text, default_port);
  return out;
}

}  // namespace

// The password ranges of a URL that RedisUrl::parse accepts, split exactly as
// the parser splits it (R2, R5): the user-info's password, from after its
// first ':' to the last '@' before the first '/', and the value of each
// query parameter whose key is "password". Masking them keeps the URL valid.
std::vector<Range> parsed_secret_ranges(std::string_view url) {
  std::vector<Range> ranges;
  const std::size_t authority = url.find("://") + 3;
  const std::size_t q = url.find('?', authority);
  const std::size_t rest_end = q == std::string_view::npos ? url.size() : q;
  const std::size_t slash = url.find('/', authority);
  const std::size_t authority_end = std::min(rest_end, slash);
  const std::size_t at = url.substr(0, authority_end).rfind('@');
  if (at != std::string_view::npos && at >= authority) {
    const std::size_t colon = url.find(':', authority);
    if (colon < at && at > colon + 1) ranges.emplace_back(colon + 1, at);
  }
  for (std::size_t pos = q; pos != std::string_view::npos && pos < url.size();) {
    const std::size_t key_begin = pos + 1;
    const std::size_t next = url.find('&', key_begin);
    const std::size_t end = next == std::string_view::npos ? url.size() : next;
    const std::size_t eq = url.find('=', key_begin);
    if (eq != std::string_view::npos && eq < end &&
        decoded_lower_key(url.substr(key_begin, eq - key_begin)) == "password" && end > eq + 1) {
      ranges.emplace_back(eq + 1, end);
    }
    pos = next;
  }
  return ranges;
}

std::string mask_redis_url(std::string_view input) {
  // A URL the parser accepts is masked exactly where the parser reads its
  // password, so the result still parses to the same endpoint; any other is
  // masked generously (secret_ranges). parse() reports errors through this
  // function: the guard keeps that from recursing.
  static thread_local bool checking = false;
  bool valid = false;
  if (!checking) {
    checking = true;
    try {
      (void)RedisUrl::parse(input);
      valid = true;
    } catch (const std::exception&) {
      valid = false;
    }
    checking = false;
  }
  std::string out;
  std::size_t pos = 0;
  for (const auto& [begin, end] : valid ? parsed_secret_ranges(input) : secret_ranges(input)) {
    out.append(input.substr(pos, begin - pos));
    out += kMask;
    pos = end;
  }
  out.append(input.substr(pos));
  return out;
}

RedisUrl RedisUrl::parse(std::string_view url) {
  const std::string forms =
      "use redis://[[USER]:PASSWORD@]HOST[:PORT][/DB], unix://[[USER]:PASSWORD@]/PATH[?db=DB] "
      "or redis+sentinel://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]/MASTER_NAME[/DB]";
  const std::size_t sep = url.find("://");
  if (sep == std::string_view::npos) {
    fail(url, "has no scheme", forms + ", e.g. redis://localhost:6379/0");
  }
  std::string scheme(url.substr(0, sep));
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (char c : url) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f) {
      fail(url, "contains a space or control character",
           "remove it, or percent-encode it (a space is %20) inside a user name or password");
    }
  }
  if (scheme == "rediss" || scheme == "rediss+sentinel") {
    fail(url, "asks for TLS (rediss://), but this build of pjx-inval has no TLS support",
         "use redis:// over a trusted network or a TLS tunnel (stunnel, spiped), or unix:// for "
         "a local socket");
  }
  RedisUrl out;
  if (scheme == "redis") {
    out.kind = Kind::kTcp;
  } else if (scheme == "unix") {
    out.kind = Kind::kUnix;
  } else if (scheme == "redis+sentinel") {
    out.kind = Kind::kSentinel;
  } else {
    fail(url, "has scheme " + quoted(scheme) + ", which is not a Redis scheme", forms);
  }

  std::string_view rest = url.substr(sep + 3);
  if (const std::size_t hash = rest.find('#'); hash != std::string_view::npos) {
    fail(url, "has a fragment ('#...')", "remove it; a '#' inside a password must be written %23");
  }
  std::string_view query;
  if (const std::size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  const std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    parse_userinfo(url, authority.substr(0, at), out);
    authority = authority.substr(at + 1);
  }

  std::optional<int> path_db;
  if (out.kind == Kind::kTcp) {
    const RedisUrl::HostPort at = parse_host_port(url, authority, 6379);
    out.host = at.host;
    out.port = at.port;
    if (path.size() > 1) {
      path_db = parse_db(url, path.substr(1));
    }
  } else if (out.kind == Kind::kSentinel) {
    // R7: sentinels separated by commas, then /MASTER_NAME[/DB].
    const std::string example = "redis+sentinel://sentinel-1:26379,sentinel-2:26379/mymaster/0";
    for (std::size_t pos = 0;;) {
      const std::size_t comma = authority.find(',', pos);
      const std::string_view one = authority.substr(pos, comma - pos);
      if (one.empty() && !(pos == 0 && comma == std::string_view::npos)) {
        fail(url, "has an empty entry in its sentinel list",
             "separate the sentinels by single commas, e.g. " + example);
      }
      const RedisUrl::HostPort sentinel = parse_host_port(url, one, kSentinelPort);
      if (std::find(out.sentinels.begin(), out.sentinels.end(), sentinel) == out.sentinels.end())
        out.sentinels.push_back(sentinel);
      if (comma == std::string_view::npos) break;
      pos = comma + 1;
    }
    const std::string_view names = path.empty() ? path : path.substr(1);
    const std::size_t name_end = names.find('/');
    out.master_name = percent_decode(url, names.substr(0, name_end), "master name");
    if (out.master_name.empty()) {
      fail(url, "has no master name after the sentinels",
           "write the name the sentinels monitor the primary under (their `sentinel monitor "
           "NAME ...`) after a '/', e.g. " +
               example);
    }
    if (out.master_name.find('\0') != std::string::npos) {
      fail(url, "has a NUL byte (%00) in the master name", "remove it");
    }
    if (name_end != std::string_view::npos) {
      const std::string_view db = names.substr(name_end + 1);
      if (db.find('/') != std::string_view::npos) {
        fail(url, "has more than /MASTER_NAME/DB in its path",
             "write the master name, then optionally the database, e.g. " + example +
                 " (a '/' inside the master name must be written %2F)");
      }
      if (!db.empty()) path_db = parse_db(url, db);
    }
  } else {
    if (!authority.empty()) {
      fail(url, "has " + quoted(authority) + " before the socket path",
           "write unix:// followed by the absolute path of the socket, e.g. "
           "unix:///run/redis/redis.sock (three slashes), with an optional USER:PASSWORD@ "
           "before the path");
    }
    if (path.size() <= 1) {
      fail(url, "has no socket path",
           "write unix:// followed by the absolute path, e.g. unix:///run/redis/redis.sock");
    }
    out.socket_path = percent_decode(url, path, "socket path");
    if (out.socket_path.find('\0') != std::string::npos) {
      fail(url, "has a NUL byte (%00) in the socket path", "remove it");
    }
    if (out.socket_path.size() >= sizeof(sockaddr_un{}.sun_path)) {
      fail(url,
           "has a socket path of " + std::to_string(out.socket_path.size()) +
               " bytes, longer than a Unix socket address holds (" +
               std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + ")",
           "move the socket to a shorter path (Redis's unixsocket setting)");
    }
  }
  const std::optional<int> query_db = parse_query(url, query, out);
  if (path_db && query_db && *path_db != *query_db) {
    fail(url,
         "names database " + std::to_string(*path_db) + " in the path and " +
             std::to_string(*query_db) + " in the query",
         "give the database once");
  }
  out.db = query_db ? *query_db : path_db.value_or(0);
  check_credentials(url, out);
  return out;
}

std::string RedisUrl::masked() const {
  std::string out = kind == Kind::kTcp        ? "redis://"
                    : kind == Kind::kSentinel ? "redis+sentinel://"
                                              : "unix://";
  if (!username.empty() || !password.empty()) {
    out += username;
    out += ':';
    out += kMask;
    out += '@';
  }
  if (kind == Kind::kTcp) {
    out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
    out += ':' + std::to_string(port) + '/' + std::to_string(db);
  } else if (kind == Kind::kSentinel) {
    for (std::size_t i = 0; i < sentinels.size(); ++i) {
      if (i != 0) out += ',';
      const std::string& h = sentinels[i].host;
      out += h.find(':') != std::string::npos ? "[" + h + "]" : h;
      out += ':' + std::to_string(sentinels[i].port);
    }
    out += '/';
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (char c : master_name) {
      const auto byte = static_cast<unsigned char>(c);
      if (std::isalnum(byte) != 0 || std::string_view("-._~:").find(c) != std::string_view::npos) {
        out += c;
      } else {
        out += '%';
        out += kHex[byte >> 4];
        out += kHex[byte & 0xF];
      }
    }
    out += '/' + std::to_string(db);
  } else {
    out += socket_path;
    if (db != 0) out += "?db=" + std::to_string(db);
  }
  return out;
}

}  // namespace pjx
