// Rows of docs/bad-inputs.md that no other test covers: keys_json payloads,
// database files and database content written by other programs, each with
// the outcome the library gives it.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "keys_json.hpp"
#include "pjx/errors.hpp"
#include "pjx/sqlite_backend.hpp"
#include "temp_dir.hpp"
#include "test_util.hpp"

namespace pjx {
namespace {

using namespace std::chrono_literals;
using detail::decode_keys;
using pjx::testing::RawDb;
using pjx::testing::TempDir;

const std::string kOther = "0123456789abcdef0123456789abcdef";  // another publisher

// Explicit polling only; warnings collected.
SqliteOptions manual_options(std::vector<std::string>* warnings = nullptr) {
  SqliteOptions o;
  o.wake_on_change = false;
  o.poll_interval = 3600s;
  o.retention = 7200s;
  o.busy_timeout = 50ms;
  o.on_warning = [warnings](const std::string& w) {
    if (warnings) warnings->push_back(w);
  };
  return o;
}

// The reason decode_keys gives for refusing `json`, or "accepted".
std::string refusal(std::string_view json) {
  std::string why;
  return decode_keys(json, &why) ? "accepted" : why;
}

// ---- keys_json payloads ------------------------------------------------------

TEST(BadKeysJson, TextThatIsNotJsonIsRefusedAsNotValidJson) {
  for (const char* payload : {"", " ", "not json", "[", "[\"a\",]", "[\"a\"] x", "['a']",
                              "[\"a\" \"b\"]", "[\"unterminated]"}) {
    EXPECT_EQ(refusal(payload), "not valid JSON") << payload;
  }
}

TEST(BadKeysJson, ANulByteAfterAValidArrayIsRefusedNotIgnored) {
  // The JSON parser would stop at the NUL and accept ["a"] alone.
  EXPECT_EQ(refusal(std::string("[\"a\"]\0[\"b\"]", 11)), "not valid JSON: it holds a NUL byte");
  EXPECT_EQ(refusal(std::string("[\"a\0\"]", 6)), "not valid JSON: it holds a NUL byte");
}

TEST(BadKeysJson, JsonThatIsNotAnArrayIsRefusedNamingItsType) {
  EXPECT_EQ(refusal("null"), "a JSON null, not an array");
  EXPECT_EQ(refusal("{}"), "a JSON object, not an array");
  EXPECT_EQ(refusal("\"a\""), "a JSON string, not an array");
  EXPECT_EQ(refusal("1"), "a JSON number, not an array");
  EXPECT_EQ(refusal("true"), "a JSON boolean, not an array");
}

TEST(BadKeysJson, AnArrayWithAnElementThatIsNotAStringIsRefusedNamingItsType) {
  EXPECT_EQ(refusal("[1]"), "an array holding a number, not only strings");
  EXPECT_EQ(refusal("[\"a\",null]"), "an array holding a null, not only strings");
  EXPECT_EQ(refusal("[[\"a\"]]"), "an array holding a array, not only strings");
  EXPECT_EQ(refusal("[{}]"), "an array holding a object, not only strings");
  EXPECT_EQ(refusal("[true]"), "an array holding a boolean, not only strings");
}

TEST(BadKeysJson, StringsThatAreNotUtf8AreRefusedAsNotValidJson) {
  EXPECT_EQ(refusal("[\"\xff\"]"), "not valid JSON");              // not UTF-8 at all
  EXPECT_EQ(refusal("[\"\xc0\x80\"]"), "not valid JSON");          // overlong NUL
  EXPECT_EQ(refusal("[\"\xed\xa0\x80\"]"), "not valid JSON");      // encoded surrogate
  EXPECT_EQ(refusal("[\"\xf4\x90\x80\x80\"]"), "not valid JSON");  // above U+10FFFF
  EXPECT_EQ(refusal(R"(["\ud800"])"), "not valid JSON");           // lone high surrogate
  EXPECT_EQ(refusal(R"(["\udc00"])"), "not valid JSON");           // lone low surrogate
  EXPECT_EQ(refusal(R"(["\ud800\u0041"])"), "not valid JSON");     // high + not low
}

TEST(BadKeysJson, DeepNestingIsRefusedWithoutExhaustingTheStack) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(refusal(deep), "an array holding a array, not only strings");
  EXPECT_EQ(refusal(std::string(100000, '[')), "not valid JSON");
}

TEST(BadKeysJson, ControlCharactersAndNulInKeysAreAcceptedAndReEncodedEscaped) {
  const auto keys = decode_keys(R"(["a\u0000b", "\u001f", "\n"])");
  ASSERT_TRUE(keys);
  EXPECT_EQ(*keys, (KeySet{std::string("a\0b", 3), "\x1f", "\n"}));
  EXPECT_EQ(detail::encode_keys(*keys), R"(["\n","\u001f","a\u0000b"])");
}

// ---- paths and options ---------------------------------------------------------

// The ConfigError message of constructing a backend on `path`, or "accepted".
std::string construction_error(const std::string& path, const SqliteOptions& options = manual_options()) {
  try {
    SqliteInvalidationBackend backend(path, options);
    return "accepted";
  } catch (const ConfigError& e) {
    return e.what();
  }
}

TEST(BadPath, ANulByteInThePathIsRefusedInsteadOfCuttingThePath) {
  TempDir dir;
  const std::string message = construction_error(dir.file("a.db") + std::string(1, '\0') + "b");
  // what() is a C string: the NUL is shown escaped, or the message would end there.
  EXPECT_NE(message.find("a.db\\x00b\": the path contains a NUL byte"), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(dir.file("a.db")));
}

TEST(BadPath, AFileThatIsNotARegularFileIsRefused) {
  const std::string message = construction_error("/dev/null");
  EXPECT_NE(message.find("is not a regular file"), std::string::npos) << message;
}

TEST(BadOptions, AnUnregisteredVfsIsRefusedNamingIt) {
  TempDir dir;
  SqliteOptions o = manual_options();
  o.vfs = "no-such-vfs";
  const std::string message = construction_error(dir.file("pjx.db"), o);
  EXPECT_NE(message.find("vfs \"no-such-vfs\" is not a registered SQLite VFS"), std::string::npos)
      << message;
}

// ---- database files ------------------------------------------------------------

TEST(BadDbFile, AnEmptyFileIsUsedAsANewDatabase) {
  TempDir dir;
  const auto path = dir.file("pjx.db");
  std::ofstream(path).close();
  SqliteInvalidationBackend backend(path, manual_options());
  backend.publish({"k"});
  EXPECT_EQ(RawDb(path).scalar("SELECT keys_json FROM pjx_invalidation"), R"(["k"])");
}

// Writes the first `size` bytes of a valid database (one table, 512-byte
// pages, several pages) to `path`.
void write_truncated_database(const std::string& path, std::size_t size, const TempDir& dir) {
  const auto full = dir.file("full.db");
  {
    RawDb raw(full);
    raw.exec("PRAGMA page_size=512");
    raw.exec("CREATE TABLE filler (x)");
    for (int i = 0; i < 20; ++i) {
      raw.exec("INSERT INTO filler VALUES (randomblob(400))");
    }
  }
  std::ifstream in(full, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), size);
  std::ofstream(path, std::ios::binary) << bytes.substr(0, size);
}

TEST(BadDbFile, AFileShorterThanTheHeaderIsRefusedAtConstructionAndLeftAlone) {
  TempDir dir;
  const auto path = dir.file("pjx.db");
  write_truncated_database(path, 50, dir);
  const auto before = std::filesystem::file_size(path);
  // The constructor's contract says ConfigError; SQLite reports this file as
  // "malformed" and the constructor lets that through as a BackendError
  // (reported; the row in docs/bad-inputs.md says so). Either way it is
  // refused at construction, naming the file, and the file is not changed.
  std::string message;
  try {
    SqliteInvalidationBackend backend(path, manual_options());
    ADD_FAILURE() << "accepted a 50-byte file";
  } catch (const ConfigError& e) {
    message = e.what();
  } catch (const BackendError& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("pjx.db"), std::string::npos) << message;
  EXPECT_TRUE(message.find("malformed") != std::string::npos ||
              message.find("not a SQLite database") != std::string::npos)
      << message;
  EXPECT_EQ(std::filesystem::file_size(path), before);
}

TEST(BadDbFile, ATruncatedDatabaseFailsWithAnErrorNeverACrash) {
  TempDir dir;
  const auto path = dir.file("pjx.db");
  write_truncated_database(path, 2048, dir);
  // SQLite notices the missing pages when it reads them: at construction (the
  // schema check) or at the first operation that touches them.
  std::string outcome;
  try {
    SqliteInvalidationBackend backend(path, manual_options());
    backend.start([](const KeySet&) {});
    backend.publish({"k"});
    backend.poll_now();
    outcome = "worked";
  } catch (const ConfigError& e) {
    outcome = std::string("ConfigError: ") + e.what();
  } catch (const BackendError& e) {
    outcome = std::string("BackendError: ") + e.what();
  }
  EXPECT_NE(outcome.find("malformed"), std::string::npos) << outcome;
}

TEST(BadDbFile, AnEventTableThatIsAViewIsRefused) {
  TempDir dir;
  const auto path = dir.file("pjx.db");
  RawDb(path).exec(
      "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, instance_id TEXT NOT NULL, channel TEXT NOT "
      "NULL, keys_json TEXT NOT NULL, created_at REAL NOT NULL);"
      "CREATE VIEW pjx_invalidation AS SELECT * FROM t");
  const std::string message = construction_error(path);
  EXPECT_NE(message, "accepted");
  EXPECT_NE(message.find("pjx_invalidation"), std::string::npos) << message;
}

TEST(BadDbFile, UnrelatedTablesAreLeftAlone) {
  TempDir dir;
  const auto path = dir.file("pjx.db");
  RawDb(path).exec("CREATE TABLE app (a, b); INSERT INTO app VALUES (1, 'x')");
  SqliteInvalidationBackend backend(path, manual_options());
  backend.publish({"k"});
  EXPECT_EQ(RawDb(path).scalar("SELECT b FROM app WHERE a = 1"), "x");
}

TEST(BadDbFile, ADatabaseInRollbackJournalModeIsSwitchedToWal) {
  TempDir dir;
  const auto path = dir.file("pjx.db");
  RawDb(path).exec("PRAGMA journal_mode=DELETE; CREATE TABLE app (a)");
  SqliteInvalidationBackend backend(path, manual_options());
  backend.publish({"k"});
  EXPECT_EQ(RawDb(path).scalar("PRAGMA journal_mode"), "wal");
}

// ---- database content written by other programs -----------------------------

class BadDbContent : public ::testing::Test {
 protected:
  BadDbContent() : listener_(db_, manual_options(&warnings_)) {
    listener_.start([this](const KeySet& keys) { got_.push_back(keys); });
  }

  TempDir dir_;
  std::string db_ = dir_.file("pjx.db");
  std::vector<std::string> warnings_;
  std::vector<KeySet> got_;
  SqliteInvalidationBackend listener_;
};

TEST_F(BadDbContent, KeysJsonStoredAsABlobOfInvalidUtf8IsAMalformedRowAndLaterRowsArrive) {
  {
    RawDb raw(db_);
    raw.exec("INSERT INTO pjx_invalidation (instance_id, channel, keys_json, created_at) VALUES ('" +
             kOther + "', 'pyjinhx:invalidate', x'5b22ff225d', 1.0)");
    raw.insert_row(kOther, "pyjinhx:invalidate", R"(["after"])", 1.0);
  }
  EXPECT_EQ(listener_.poll_now(), 1u);
  EXPECT_EQ(got_, (std::vector<KeySet>{{"after"}}));
  EXPECT_EQ(listener_.stats().malformed_rows, 1u);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("not valid JSON"), std::string::npos) << warnings_[0];
}

TEST_F(BadDbContent, AnEmptyKeyArrayIsDeliveredAsAnEmptySet) {
  RawDb(db_).insert_row(kOther, "pyjinhx:invalidate", "[]", 1.0);
  EXPECT_EQ(listener_.poll_now(), 1u);
  EXPECT_EQ(got_, (std::vector<KeySet>{KeySet{}}));
  EXPECT_EQ(listener_.stats().malformed_rows, 0u);
}

TEST_F(BadDbContent, ARowWithATextCreatedAtIsDeliveredButNeverPruned) {
  {
    RawDb raw(db_);
    raw.exec("INSERT INTO pjx_invalidation (instance_id, channel, keys_json, created_at) VALUES ('" +
             kOther + "', 'pyjinhx:invalidate', '[\"t\"]', 'yesterday')");
  }
  EXPECT_EQ(listener_.poll_now(), 1u);
  EXPECT_EQ(got_, (std::vector<KeySet>{{"t"}}));
  // SQLite orders TEXT after every number, so `created_at < cutoff` never
  // holds: publishers never prune the row (it is harmless, only kept).
  SqliteOptions short_retention = manual_options();
  short_retention.poll_interval = 0.01s;
  short_retention.retention = 0.01s;
  SqliteInvalidationBackend publisher(db_, short_retention);
  publisher.publish({"p"});
  EXPECT_EQ(RawDb(db_).scalar("SELECT COUNT(*) FROM pjx_invalidation WHERE created_at = 'yesterday'"),
            "1");
}

TEST_F(BadDbContent, ASequenceAtTheLargestIdMakesPublishFailWithBackendErrorAndWriteNothing) {
  {
    RawDb raw(db_);
    raw.insert_row(kOther, "pyjinhx:invalidate", R"(["x"])", 1.0);
    raw.exec("UPDATE sqlite_sequence SET seq = 9223372036854775807 WHERE name = 'pjx_invalidation'");
  }
  SqliteInvalidationBackend publisher(db_, manual_options());
  try {
    publisher.publish({"k"});
    ADD_FAILURE() << "published past the largest id";
  } catch (const BackendError& e) {
    EXPECT_NE(std::string(e.what()).find("full"), std::string::npos) << e.what();
  }
  EXPECT_EQ(RawDb(db_).scalar("SELECT COUNT(*) FROM pjx_invalidation"), "1");
  EXPECT_EQ(publisher.stats().publish_failures, 1u);
  EXPECT_NO_THROW(listener_.poll_now());  // the listener keeps working
}

TEST_F(BadDbContent, RowsOfOtherChannelsAndWithOurInstanceIdAreNotDelivered) {
  {
    RawDb raw(db_);
    raw.insert_row(kOther, "another:app", R"(["other-channel"])", 1.0);
    raw.insert_row(listener_.instance_id(), "pyjinhx:invalidate", R"(["own-id"])", 1.0);
    raw.insert_row(kOther, "pyjinhx:invalidate", R"(["mine"])", 1.0);
  }
  EXPECT_EQ(listener_.poll_now(), 1u);
  EXPECT_EQ(got_, (std::vector<KeySet>{{"mine"}}));
}

}  // namespace
}  // namespace pjx
