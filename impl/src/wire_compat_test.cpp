// Byte-level compatibility with upstream pyjinhx workers, both ways. Rows
// are written and read by python3's own sqlite3 and json modules, the way
// upstream's backend does (a new connection per publish, json.dumps of the
// sorted keys with its default separators and \u escapes).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <memory>

#include "pjx/sqlite_backend.hpp"
#include "temp_dir.hpp"
#include "test_util.hpp"

namespace pjx {
namespace {

using namespace std::chrono_literals;
using pjx::testing::RawDb;
using pjx::testing::TempDir;

// Runs python3 with `script`, argv[1] = db path; returns stdout.
std::string run_python(const std::string& script, const std::string& db) {
  const std::string command = "python3 -c '" + script + "' '" + db + "' 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) throw std::runtime_error("popen failed");
  std::string out;
  std::array<char, 4096> buffer{};
  std::size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe.get())) > 0) out.append(buffer.data(), n);
  const int status = pclose(pipe.release());
  if (status != 0) throw std::runtime_error("python3 failed (install python3: scripts/install-deps.sh): " + out);
  return out;
}

// Upstream's publish, as WIRE.md describes it.
constexpr const char* kUpstreamPublish = R"PY(
import json, sqlite3, sys, time, uuid
conn = sqlite3.connect(sys.argv[1])
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("PRAGMA busy_timeout=5000")
conn.execute("CREATE TABLE IF NOT EXISTS pjx_invalidation (id INTEGER PRIMARY KEY AUTOINCREMENT, instance_id TEXT NOT NULL, channel TEXT NOT NULL, keys_json TEXT NOT NULL, created_at REAL NOT NULL)")
conn.execute("CREATE INDEX IF NOT EXISTS ix_pjx_invalidation_created_at ON pjx_invalidation(created_at)")
keys = {"b", "a", "caf\u00e9", "\U0001F600"}
now = time.time()
with conn:
    conn.execute("INSERT INTO pjx_invalidation (instance_id, channel, keys_json, created_at) VALUES (?, ?, ?, ?)",
                 (uuid.uuid4().hex, "pyjinhx:invalidate", json.dumps(sorted(keys)), now))
    conn.execute("DELETE FROM pjx_invalidation WHERE created_at < ?", (now - 5.0,))
conn.close()
)PY";

// Upstream's poll, as WIRE.md describes it: prints each row's keys.
constexpr const char* kUpstreamRead = R"PY(
import json, sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
for (keys_json,) in conn.execute("SELECT keys_json FROM pjx_invalidation WHERE channel = ? ORDER BY id", ("pyjinhx:invalidate",)):
    keys = {str(k) for k in json.loads(keys_json)}
    print(json.dumps(sorted(keys)))
)PY";

TEST(WireCompat, ReceivesARowPublishedByUpstreamPython) {
  TempDir dir;
  const auto db = dir.file("shared.db");
  SqliteOptions o;
  o.poll_interval = 3600s;
  o.retention = 7200s;
  SqliteInvalidationBackend listener(db, o);
  std::vector<KeySet> got;
  listener.start([&](const KeySet& keys) { got.push_back(keys); });
  run_python(kUpstreamPublish, db);
  EXPECT_EQ(RawDb(db).scalar("SELECT keys_json FROM pjx_invalidation"),
            R"(["a", "b", "caf\u00e9", "\ud83d\ude00"])");
  listener.poll_now();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], KeySet({"a", "b", "caf\xC3\xA9", "\xF0\x9F\x98\x80"}));
}

TEST(WireCompat, UpstreamPythonReadsOurCompactUtf8Rows) {
  TempDir dir;
  const auto db = dir.file("shared.db");
  SqliteInvalidationBackend publisher(db);
  publisher.publish({"b", "a", "caf\xC3\xA9", "\xF0\x9F\x98\x80", "quote\"back\\slash"});
  EXPECT_EQ(RawDb(db).scalar("SELECT keys_json FROM pjx_invalidation"),
            "[\"a\",\"b\",\"caf\xC3\xA9\",\"quote\\\"back\\\\slash\",\"\xF0\x9F\x98\x80\"]");
  EXPECT_EQ(run_python(kUpstreamRead, db),
            "[\"a\", \"b\", \"caf\\u00e9\", \"quote\\\"back\\\\slash\", \"\\ud83d\\ude00\"]\n");
}

TEST(WireCompat, SharesADatabaseFileCreatedByUpstream) {
  TempDir dir;
  const auto db = dir.file("shared.db");
  run_python(kUpstreamPublish, db);  // upstream creates the file and schema
  SqliteInvalidationBackend ours(db);
  ours.publish({"ours"});
  EXPECT_EQ(RawDb(db).scalar("SELECT COUNT(*) FROM pjx_invalidation"), "2");
  EXPECT_EQ(RawDb(db).scalar("PRAGMA journal_mode"), "wal");
}

}  // namespace
}  // namespace pjx
