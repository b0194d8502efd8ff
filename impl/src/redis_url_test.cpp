// Tests of RedisUrl::parse, RedisUrl::masked and mask_redis_url: the forms
// users write (table of good URLs with every parsed field), the bad forms
// (table of URL, a phrase of the reason, and that the password is masked),
// and masking.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pjx/errors.hpp"
#include "pjx/redis_backend.hpp"

namespace pjx {
namespace {

using Kind = RedisUrl::Kind;

struct Good {
  std::string url;
  Kind kind;
  std::string host;
  int port;
  std::string socket_path;
  std::string username;
  std::string password;
  int db;
  std::string masked;
};

TEST(RedisUrl, ParsesTheFormsUsersWrite) {
  const std::vector<Good> cases = {
      {"redis://localhost", Kind::kTcp, "localhost", 6379, "", "", "", 0,
       "redis://localhost:6379/0"},
      {"redis://localhost/", Kind::kTcp, "localhost", 6379, "", "", "", 0,
       "redis://localhost:6379/0"},
      {"redis://cache:6380/3", Kind::kTcp, "cache", 6380, "", "", "", 3, "redis://cache:6380/3"},
      {"REDIS://Cache:1", Kind::kTcp, "Cache", 1, "", "", "", 0, "redis://Cache:1/0"},
      {"redis://127.0.0.1:65535/0", Kind::kTcp, "127.0.0.1", 65535, "", "", "", 0,
       "redis://127.0.0.1:65535/0"},
      {"redis://[::1]:7000/2", Kind::kTcp, "::1", 7000, "", "", "", 2, "redis://[::1]:7000/2"},
      {"redis://:s3cret@cache:6379/0", Kind::kTcp, "cache", 6379, "", "", "s3cret", 0,
       "redis://:***@cache:6379/0"},
      {"redis://app:s3cret@cache", Kind::kTcp, "cache", 6379, "", "app", "s3cret", 0,
       "redis://app:***@cache:6379/0"},
      // The last '@' ends the user-info, as in redis-py.
      {"redis://app:p@ss@cache", Kind::kTcp, "cache", 6379, "", "app", "p@ss", 0,
       "redis://app:***@cache:6379/0"},
      {"redis://app%3Ax:p%40ss%2F%3a%25@cache", Kind::kTcp, "cache", 6379, "", "app:x", "p@ss/:%",
       0, "redis://app:x:***@cache:6379/0"},
      {"redis://cache?db=5", Kind::kTcp, "cache", 6379, "", "", "", 5, "redis://cache:6379/5"},
      {"redis://cache/5?db=5", Kind::kTcp, "cache", 6379, "", "", "", 5, "redis://cache:6379/5"},
      {"redis://cache?password=s3cret&username=app", Kind::kTcp, "cache", 6379, "", "app", "s3cret",
       0, "redis://app:***@cache:6379/0"},
      {"redis://cache/0?", Kind::kTcp, "cache", 6379, "", "", "", 0, "redis://cache:6379/0"},
      {"unix:///run/redis/redis.sock", Kind::kUnix, "", 6379, "/run/redis/redis.sock", "", "", 0,
       "unix:///run/redis/redis.sock"},
      {"unix:///tmp/r.sock?db=4", Kind::kUnix, "", 6379, "/tmp/r.sock", "", "", 4,
       "unix:///tmp/r.sock?db=4"},
      {"unix://:s3cret@/tmp/r.sock", Kind::kUnix, "", 6379, "/tmp/r.sock", "", "s3cret", 0,
       "unix://:***@/tmp/r.sock"},
      {"unix://app:s3cret@/tmp/my%20dir/r.sock?db=1", Kind::kUnix, "", 6379, "/tmp/my dir/r.sock",
       "app", "s3cret", 1, "unix://app:***@/tmp/my dir/r.sock?db=1"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.url);
    RedisUrl url;
    ASSERT_NO_THROW(url = RedisUrl::parse(c.url));
    EXPECT_EQ(url.kind, c.kind);
    EXPECT_EQ(url.host, c.host);
    if (c.kind == Kind::kTcp) {
      EXPECT_EQ(url.port, c.port);
    }
    EXPECT_EQ(url.socket_path, c.socket_path);
    EXPECT_EQ(url.username, c.username);
    EXPECT_EQ(url.password, c.password);
    EXPECT_EQ(url.db, c.db);
    EXPECT_EQ(url.masked(), c.masked);
    // What masked() prints parses to the same place (passwords aside).
    if (c.password.empty() && c.socket_path.find(' ') == std::string::npos) {
      const RedisUrl again = RedisUrl::parse(url.masked());
      EXPECT_EQ(again.host, url.host);
      EXPECT_EQ(again.port, url.port);
      EXPECT_EQ(again.socket_path, url.socket_path);
      EXPECT_EQ(again.db, url.db);
    }
  }
}

struct Bad {
  std::string url;
  std::string reason;  // a phrase the message must contain
  std::string fix;     // and a phrase of the fix
};

TEST(RedisUrl, RejectsBadFormsNamingTheMaskedUrlTheReasonAndTheFix) {
  const std::vector<Bad> cases = {
      {"", "has no scheme", "redis://localhost:6379/0"},
      {"localhost:6379", "has no scheme", "redis://"},
      {"http://cache", "scheme \"http\"", "unix://"},
      {"rediss://:s3cret@cache:6380", "no TLS support", "stunnel"},
      {"redis://", "has no host", "redis://localhost"},
      {"redis://:s3cret@/0", "has no host", "redis://localhost"},
      {"redis://cache:", "no port", "1 to 65535"},
      {"redis://cache:0", "port 0, outside 1..65535", "1 to 65535"},
      {"redis://cache:65536", "port 65536, outside", "1 to 65535"},
      {"redis://cache:99999999999999999999", "not a number", "1 to 65535"},
      {"redis://cache:-1", "not a number", "1 to 65535"},
      {"redis://cache:+1", "not a number", "1 to 65535"},
      {"redis://cache:63a", "not a number", "1 to 65535"},
      {"redis://::1:6379", "IPv6 address without brackets", "[::1]"},
      {"redis://[::1:6379", "without its closing ']'", "[::1]"},
      {"redis://[]:6379", "not an IPv6 address", "[::1]"},
      {"redis://[cache]:6379", "not an IPv6 address", "[::1]"},
      {"redis://[::1]x", "after the IPv6 address", "[ADDRESS]:PORT"},
      {"redis://[fe80::1%25eth0]", "not an IPv6 address", "[::1]"},
      {"redis://cache/x", "database \"x\"", "decimal number"},
      {"redis://cache/-1", "database \"-1\"", "decimal number"},
      {"redis://cache/1/2", "database \"1/2\"", "decimal number"},
      {"redis://cache/99999999999", "database \"99999999999\"", "decimal number"},
      {"redis://cache/1?db=2", "database 1 in the path and 2", "once"},
      {"redis://cache?db=", "database \"\"", "decimal number"},
      {"redis://cache?timeout=5", "query parameter \"timeout\"", "db, username and password"},
      {"redis://cache#frag", "fragment", "%23"},
      {"redis://s3cret@cache", "ambiguous", "redis://:PASSWORD@host"},
      {"redis://app:@cache", "user name \"app\" but no password", "USER:PASSWORD"},
      {"redis://:s3%cret@cache", "'%'", "%25"},
      {"redis://:s3cret%2@cache", "'%'", "%25"},
      {"redis://ca che", "space or control character", "%20"},
      {"redis://cache\n", "space or control character", "%20"},
      {"unix://", "no socket path", "unix:///run/redis/redis.sock"},
      {"unix:///", "no socket path", "unix:///run/redis/redis.sock"},
      {"unix://run/redis.sock", "\"run\" before the socket path", "three slashes"},
      {"unix://:s3cret@host/tmp/r.sock", "\"host\" before the socket path", "three slashes"},
      {"unix:///tmp/r%00.sock", "NUL byte", "remove it"},
      {"unix:///" + std::string(200, 'a'), "longer than a Unix socket address holds",
       "shorter path"},
      {"unix:///tmp/r.sock?db=z", "database \"z\"", "decimal number"},
      // R7: redis+sentinel://
      {"rediss+sentinel://:s3cret@s1/mymaster", "no TLS support", "stunnel"},
      {"redis+sentinel://s1:26379", "no master name", "sentinel monitor"},
      {"redis+sentinel://:s3cret@s1:26379/", "no master name", "sentinel monitor"},
      {"redis+sentinel:///mymaster", "has no host in its sentinel list", "separated by commas"},
      {"redis+sentinel://s1,,s2/mymaster", "empty entry in its sentinel list", "single commas"},
      {"redis+sentinel://s1,/mymaster", "empty entry", "single commas"},
      {"redis+sentinel://s1:0/mymaster", "port 0, outside 1..65535", "default 26379"},
      {"redis+sentinel://s1:x/mymaster", "port \"x\"", "default 26379"},
      {"redis+sentinel://s1/mymaster/x", "database \"x\"", "decimal number"},
      {"redis+sentinel://s1/mymaster/1/2", "more than /MASTER_NAME/DB", "%2F"},
      {"redis+sentinel://s1/my%00master", "NUL byte", "remove it"},
      {"redis+sentinel://s1/mymaster/1?db=2", "database 1 in the path and 2", "once"},
      {"redis+sentinel://s3cret@s1/mymaster", "ambiguous", "redis://:PASSWORD@host"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.url);
    std::string message;
    try {
      RedisUrl::parse(c.url);
      ADD_FAILURE() << "accepted";
      continue;
    } catch (const ConfigError& e) {
      message = e.what();
    }
    EXPECT_NE(message.find("Redis URL \""), std::string::npos) << message;
    EXPECT_NE(message.find(c.reason), std::string::npos) << message;
    EXPECT_NE(message.find(c.fix), std::string::npos) << message;
    EXPECT_EQ(message.find("s3cret"), std::string::npos) << message;
    EXPECT_EQ(message.find("s3%cret"), std::string::npos) << message;
  }
}

TEST(RedisUrl, MessagesShowTheUrlAsGivenWithThePasswordMaskedAndControlBytesEscaped) {
  try {
    RedisUrl::parse("redis://app:s3cret@cache:0/1");
    FAIL() << "accepted port 0";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("Redis URL \"redis://app:***@cache:0/1\""),
              std::string::npos)
        << e.what();
  }
  try {
    RedisUrl::parse("redis://cache\t");
    FAIL() << "accepted a tab";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("\"redis://cache\\x09\""), std::string::npos) << e.what();
  }
}

TEST(RedisUrl, MaskReplacesEveryFormOfPasswordAndWorksOnUnparseableInput) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"},
      {"redis://app:s3cret@cache", "redis://app:***@cache"},
      {"rediss://s3cret@cache/0", "rediss://***@cache/0"},
      {"redis://app:p@s3cret@cache:6379", "redis://app:***@cache:6379"},
      {"unix://:s3cret@/tmp/r.sock", "unix://:***@/tmp/r.sock"},
      {"redis://cache:6379/0?password=s3cret&db=1", "redis://cache:6379/0?password=***&db=1"},
      {"redis://cache:6379/0?db=1&password=s3cret", "redis://cache:6379/0?db=1&password=***"},
      {"redis://cache:6379/0", "redis://cache:6379/0"},
      {"not a url at all", "not a url at all"},
      {"", ""},
  };
  for (const auto& [url, masked] : cases) {
    SCOPED_TRACE(url);
    EXPECT_EQ(mask_redis_url(url), masked);
  }
}

TEST(RedisUrl, MaskHidesPasswordsContainingSlashHashQuestionMarkAtAndColon) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"redis://:ab/cd@cache:6379/0", "redis://:***@cache:6379/0"},
      {"redis://app:a#b?c@cache/0", "redis://app:***@cache/0"},
      {"redis://:p:w@cache", "redis://:***@cache"},
      {"redis://:Zm9v/YmFy+Kw==@cache:6379/0", "redis://:***@cache:6379/0"},
      {"unix://:a/b?c#d@/tmp/r.sock", "unix://:***@/tmp/r.sock"},
      {"redis://:s3%2Fcr%23t%40x@cache/0", "redis://:***@cache/0"},
      {"redis://cache/0?PASSWORD=s3cret", "redis://cache/0?PASSWORD=***"},
      {"redis://cache/0?Password=s3cret&db=1", "redis://cache/0?Password=***&db=1"},
      {"redis://cache/0?pass%77ord=s3cret", "redis://cache/0?pass%77ord=***"},
      {"redis://cache/0?password=a&b#c", "redis://cache/0?password=***"},
  };
  for (const auto& [url, masked] : cases) {
    SCOPED_TRACE(url);
    EXPECT_EQ(mask_redis_url(url), masked);
  }
}

// Whatever the password holds, no piece of it shows in the mask nor in the
// message of a URL that does not parse.
TEST(RedisUrl, NoPieceOfAPasswordAppearsInMasksOrParseErrors) {
  const std::vector<std::string> passwords = {
      "Zm9vYmFy/Kw+Pw==", "Qvx/Zqj", "Wqk#Jxv",   "Xzq?Vkj",
      "Pqz@Kxw",          "Jvq:Zxk", "Kzx%2FQjv", "Vxq/Qzk?Jwx#Zkq@Xvj:Wzq",
      "Qjx&Zvk=Wxq",
  };
  for (const auto& password : passwords) {
    const std::vector<std::string> urls = {
        "redis://:" + password + "@cache:6379/0",
        "redis://app:" + password + "@cache/1",
        "unix://:" + password + "@/tmp/r.sock",
        "redis://cache/0?password=" + password,
        "redis://cache/0?PASSWORD=" + password,
        "redis://cache/0?db=1&PassWord=" + password + "&db=1",
    };
    // The pieces between the special characters (3 characters or more).
    std::vector<std::string> pieces;
    std::string piece;
    for (const char c : password + "/") {
      if (std::string_view("/#?@:%&=+").find(c) != std::string_view::npos) {
        if (piece.size() >= 3) pieces.push_back(piece);
        piece.clear();
      } else {
        piece += c;
      }
    }
    for (const auto& url : urls) {
      SCOPED_TRACE(url);
      std::vector<std::string> shown = {mask_redis_url(url)};
      try {
        shown.push_back(RedisUrl::parse(url).masked());
      } catch (const ConfigError& e) {
        shown.emplace_back(e.what());
      }
      for (const auto& text : shown) {
        for (const auto& p : pieces)
          EXPECT_EQ(text.find(p), std::string::npos) << p << " in " << text;
      }
    }
  }
}

}  // namespace
}  // namespace pjx

namespace pjx {
namespace {

// Found by fuzz_redis_url: a valid unix:// URL whose socket path holds '@'.
// The generous masking (up to the last '@' of the whole URL) swallowed the
// start of the path, so the masked text no longer parsed.
TEST(RedisUrl, AMaskedValidUrlStillParsesToTheSameEndpoint) {
  const std::string url = "unix://:pw@/tpmredis://:sct@eer127/";
  const RedisUrl parsed = RedisUrl::parse(url);
  const std::string masked = mask_redis_url(url);
  EXPECT_EQ(masked, "unix://:***@/tpmredis://:sct@eer127/");
  const RedisUrl again = RedisUrl::parse(masked);
  EXPECT_EQ(again.socket_path, parsed.socket_path);
  EXPECT_EQ(again.password, "***");
  // An invalid URL is still masked generously.
  EXPECT_EQ(mask_redis_url("redis://:ab/cd@host"), "redis://:***@host");
}

// R7: sentinels in order (port 26379 by default, a repeated one kept once),
// the master name percent-decoded, the primary's credentials and db.
TEST(RedisUrl, ParsesSentinelUrls) {
  using HostPort = RedisUrl::HostPort;
  struct Case {
    std::string url;
    std::vector<HostPort> sentinels;
    std::string master_name;
    std::string username, password;
    int db;
    std::string masked;
  };
  const std::vector<Case> cases = {
      {"redis+sentinel://s1/mymaster",
       {{"s1", 26379}},
       "mymaster",
       "",
       "",
       0,
       "redis+sentinel://s1:26379/mymaster/0"},
      {"Redis+Sentinel://s1:5000,10.0.0.2,[::1]:26380/mymaster/3",
       {{"s1", 5000}, {"10.0.0.2", 26379}, {"::1", 26380}},
       "mymaster",
       "",
       "",
       3,
       "redis+sentinel://s1:5000,10.0.0.2:26379,[::1]:26380/mymaster/3"},
      {"redis+sentinel://:s3cret@s1,s2:26379,s1/my%2Fmaster/",
       {{"s1", 26379}, {"s2", 26379}},
       "my/master",
       "",
       "s3cret",
       0,
       "redis+sentinel://:***@s1:26379,s2:26379/my%2Fmaster/0"},
      {"redis+sentinel://s1/mymaster?db=2&username=app&password=s3cret",
       {{"s1", 26379}},
       "mymaster",
       "app",
       "s3cret",
       2,
       "redis+sentinel://app:***@s1:26379/mymaster/2"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.url);
    RedisUrl url;
    ASSERT_NO_THROW(url = RedisUrl::parse(c.url));
    EXPECT_EQ(url.kind, Kind::kSentinel);
    EXPECT_EQ(url.sentinels, c.sentinels);
    EXPECT_EQ(url.master_name, c.master_name);
    EXPECT_EQ(url.username, c.username);
    EXPECT_EQ(url.password, c.password);
    EXPECT_EQ(url.db, c.db);
    EXPECT_EQ(url.masked(), c.masked);
    const RedisUrl again = RedisUrl::parse(url.masked());
    EXPECT_EQ(again.sentinels, url.sentinels);
    EXPECT_EQ(again.master_name, url.master_name);
    EXPECT_EQ(again.db, url.db);
    EXPECT_EQ(mask_redis_url(c.url).find("s3cret"), std::string::npos);
  }
}

}  // namespace
}  // namespace pjx
