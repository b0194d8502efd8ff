// MutantBackend: see mutant_backend.hpp. The SQL here follows WIRE.md; every
// value is bound. Poller states: stopped -> (start: cursor seeded) polling ->
// (stop) stopped. Under deliver_late the poll thread also keeps a queue of
// rows read but not yet delivered, dropped at stop.
#include "mutant_backend.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "pjx/clock.hpp"
#include "pjx/errors.hpp"

namespace pjx::harness {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr std::string_view kCreateTable =
    "CREATE TABLE IF NOT EXISTS pjx_invalidation ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " instance_id TEXT NOT NULL,"
    " channel TEXT NOT NULL,"
    " keys_json TEXT NOT NULL,"
    " created_at REAL NOT NULL)";
constexpr std::string_view kCreateIndex =
    "CREATE INDEX IF NOT EXISTS ix_pjx_invalidation_created_at"
    " ON pjx_invalidation (created_at)";
constexpr std::string_view kInsert =
    "INSERT INTO pjx_invalidation (instance_id, channel, keys_json, created_at)"
    " VALUES (?1, ?2, ?3, ?4)";
constexpr std::string_view kPrune = "DELETE FROM pjx_invalidation WHERE created_at < ?1";
constexpr std::string_view kMaxId = "SELECT COALESCE(MAX(id), 0) FROM pjx_invalidation";
// ?2 / ?4 switch the channel and instance filters off (the mutant knobs).
constexpr std::string_view kSelectNew =
    "SELECT id, keys_json FROM pjx_invalidation"
    " WHERE id > ?1 AND (?2 = 0 OR channel = ?3) AND (?4 = 0 OR instance_id <> ?5)"
    " ORDER BY id";
// The channel-like defect: the channel compared as a LIKE pattern (case-
// insensitive for ASCII, `_` and `%` wildcards).
constexpr std::string_view kSelectNewLike =
    "SELECT id, keys_json FROM pjx_invalidation"
    " WHERE id > ?1 AND (?2 = 0 OR channel LIKE ?3) AND (?4 = 0 OR instance_id <> ?5)"
    " ORDER BY id";
constexpr std::string_view kCountNew =
    "SELECT COUNT(*) FROM pjx_invalidation"
    " WHERE id > ?1 AND (?2 = 0 OR channel = ?3) AND (?4 = 0 OR instance_id <> ?5)";

constexpr std::array kDefects = {
    Defect{"ignore-channel", "delivers rows of every channel, not only its own",
           MutantKnobs{.filter_channel = false}},
    Defect{"replay-history", "seeds the cursor at 0, so start() replays every retained row",
           MutantKnobs{.seed_cursor_at_max = false}},
    Defect{"deliver-own", "also delivers the rows it published itself",
           MutantKnobs{.skip_own_rows = false}},
    Defect{"never-prune", "publish never deletes rows older than retention",
           MutantKnobs{.prune = false}},
    Defect{"drop-when-busy",
           "when the write lock cannot be taken within min(busy_timeout, 1 s), reports the "
           "publish as committed without writing it",
           MutantKnobs{.drop_when_busy = true}},
    Defect{"accept-memory",
           "accepts :memory:, the empty path and memory URIs, running on a private database",
           MutantKnobs{.accept_memory = true}},
    Defect{"skip-rows", "silently skips every 3rd row it should deliver",
           MutantKnobs{.skip_every = 3}},
    Defect{"deliver-late", "delivers each row 3 x poll_interval + 100 ms after reading it",
           MutantKnobs{.deliver_late = true}},
    // The mutant never has a change wake, yet claims the `wakes` capability.
    // Its listener waits for the timed poll while it counts no wake failure
    // and warns nothing.
    Defect{"silent-wake-loss",
           "claims change wakes but has none and never says so: polls only, wake_failures stays 0, "
           "no warning",
           MutantKnobs{.claims_wakes = true}},
    Defect{"no-gap-detection",
           "claims the flush capability but neither detects rows pruned before it read them "
           "nor a stall longer than retention, so a long pause leaves its cache stale",
           MutantKnobs{.claims_flush = true}},
    Defect{"ack-failed-publish",
           "reports a publish as committed when its commit failed (I/O error, full disk), as if "
           "the error had been retried; nothing was written",
           MutantKnobs{.ack_failed_publish = true}},
    Defect{"outbox-claimed",
           "claims the outbox capability but answers error for a publish it cannot commit "
           "(the write lock held past the busy timeout, a full disk, an I/O error)",
           MutantKnobs{.claims_outbox = true}},
    Defect{"channel-like",
           "compares channels with SQL LIKE: case-insensitive, `_` and `%` match any character",
           MutantKnobs{.channel_like = true}},
    Defect{"fail-publishes", "fails 9 of every 10 publishes with an error, on a healthy host",
           MutantKnobs{.fail_most_publishes = true}},
    Defect{"spurious-flush", "flushes its cache after every poll (reason gap), with no gap",
           MutantKnobs{.flush_every_poll = true}},
    Defect{"crash-mid-run", "the process exits (status 70) after its 10th delivery",
           MutantKnobs{.exit_after_deliveries = 10}},
    Defect{"slow-poll", "polls every 2 x poll_interval", MutantKnobs{.poll_factor = 2}},
    Defect{"prune-late", "prunes rows older than 2 x retention", MutantKnobs{.retention_factor = 2}},
    Defect{"no-wal", "keeps the database in journal_mode DELETE: no -wal, no -shm",
           MutantKnobs{.wal = false}},
    Defect{"scribble-on-stop",
           "overwrites the start of page 2 of the database file when it stops (a write "
           "outside SQLite)",
           MutantKnobs{.scribble_on_stop = true}},
    Defect{"ack-before-commit",
           "answers a publish at once and commits it max(1 s, 4 x poll_interval) later on "
           "another thread: a kill in between loses an acknowledged invalidation",
           MutantKnobs{.ack_before_commit = true}},
};

struct DbCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

[[noreturn]] void fail(sqlite3* db, const std::string& path, std::string_view what) {
  throw BackendError("mutant backend, database \"" + path + "\": " + std::string(what) + ": " +
                         (db != nullptr ? sqlite3_errmsg(db) : "out of memory"),
                     db != nullptr ? sqlite3_extended_errcode(db) : SQLITE_NOMEM);
}

void exec(sqlite3* db, const std::string& path, std::string_view sql) {
  if (sqlite3_exec(db, std::string(sql).c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    fail(db, path, sql);
  }
}

StmtPtr prepare(sqlite3* db, const std::string& path, std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) !=
      SQLITE_OK) {
    fail(db, path, sql);
  }
  return StmtPtr(stmt);
}

void bind_text(sqlite3_stmt* stmt, int index, const std::string& text) {
  sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

// Opens `path` as upstream does: WAL, a busy timeout, the schema if missing;
// through the registered VFS `vfs` when not empty (the worker's fault VFS).
DbPtr open_db(const std::string& path, std::chrono::milliseconds busy_timeout, const std::string& vfs,
              bool wal = true) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
                                 vfs.empty() ? nullptr : vfs.c_str());
  DbPtr db(raw);
  if (rc != SQLITE_OK) fail(db.get(), path, "open");
  sqlite3_busy_timeout(db.get(), static_cast<int>(busy_timeout.count()));
  // The switch to WAL of a new file can answer SQLITE_BUSY without waiting
  // when several processes create it at once; the setup is idempotent, so
  // retry it (briefly) before giving up as exec() would. At least 5 s: in
  // journal_mode DELETE (the no-wal defect) the other workers' polls and
  // commits hold the file's lock often enough, on a loaded machine, to
  // outlast a short busy_timeout (0.5 s in quick timing), and a defect
  // worker that cannot start shows nothing about its defect.
  const auto deadline =
      std::chrono::steady_clock::now() + std::max(busy_timeout, std::chrono::milliseconds(5000));
  const std::string_view journal = wal ? "PRAGMA journal_mode=WAL" : "PRAGMA journal_mode=DELETE";
  for (std::string_view sql : {journal, kCreateTable, kCreateIndex}) {
    const std::string text(sql);
    while (true) {
      const int step = sqlite3_exec(db.get(), text.c_str(), nullptr, nullptr, nullptr);
      if (step == SQLITE_OK) break;
      if (step != SQLITE_BUSY || std::chrono::steady_clock::now() >= deadline) {
        exec(db.get(), path, sql);  // reports the error as before
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  return db;
}

// Binds the listener filter of kSelectNew / kCountNew.
void bind_filter(sqlite3_stmt* stmt, std::int64_t cursor, const MutantKnobs& knobs,
                 const std::string& channel, const std::string& instance_id) {
  sqlite3_bind_int64(stmt, 1, cursor);
  sqlite3_bind_int(stmt, 2, knobs.filter_channel ? 1 : 0);
  bind_text(stmt, 3, channel);
  sqlite3_bind_int(stmt, 4, knobs.skip_own_rows ? 1 : 0);
  bind_text(stmt, 5, instance_id);
}

std::string new_instance_id() {
  std::random_device device;
  std::array<unsigned char, 16> bytes{};
  for (auto& b : bytes) b = static_cast<unsigned char>(device() & 0xffU);
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0fU) | 0x40U);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3fU) | 0x80U);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 0xfU];
  }
  return id;
}

// Parses keys_json as the reference rule says: an array of strings, or nothing.
std::optional<KeySet> decode_keys(const char* text, std::string* problem) {
  if (text == nullptr) {
    *problem = "keys_json is NULL";
    return std::nullopt;
  }
  const nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
  if (value.is_discarded()) {
    *problem = "keys_json is not valid JSON";
    return std::nullopt;
  }
  if (!value.is_array()) {
    *problem = "keys_json is not a JSON array";
    return std::nullopt;
  }
  KeySet keys;
  for (const auto& element : value) {
    if (!element.is_string()) {
      *problem = "keys_json has an element that is not a string";
      return std::nullopt;
    }
    keys.insert(element.get<std::string>());
  }
  return keys;
}

}  // namespace

std::span<const Defect> defects() { return kDefects; }

const Defect* find_defect(std::string_view name) {
  for (const Defect& defect : kDefects) {
    if (defect.name == name) return &defect;
  }
  return nullptr;
}

bool is_private_database(std::string_view db_path) {
  if (db_path.empty() || db_path == ":memory:") return true;
  if (db_path.size() < 5) return false;
  std::string scheme(db_path.substr(0, 5));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); });
  if (scheme != "file:") return false;
  std::string_view rest = db_path.substr(5);
  const std::size_t query_at = rest.find('?');
  std::string_view path = rest.substr(0, std::min(query_at, rest.find('#')));
  if (path.starts_with("//")) {  // file://authority/path
    const std::size_t slash = path.find('/', 2);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  if (path.empty() || path == ":memory:") return true;
  if (query_at == std::string_view::npos) return false;
  std::string_view query = rest.substr(query_at + 1);
  query = query.substr(0, query.find('#'));
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    if (query.substr(0, amp) == "mode=memory") return true;
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return false;
}

struct MutantBackend::Impl {
  struct Pending {
    SteadyClock::time_point due;
    KeySet keys;
  };

  Impl(std::string path, SqliteOptions opts, MutantKnobs mutant_knobs)
      : db_path(std::move(path)),
        options(std::move(opts)),
        knobs(mutant_knobs),
        instance_id(new_instance_id()),
        clock(options.clock ? options.clock : Clock::system()) {}

  // A busy timeout short enough that drop-when-busy answers promptly.
  std::chrono::milliseconds publish_busy_timeout() const {
    if (!knobs.drop_when_busy) return options.busy_timeout;
    return std::min(options.busy_timeout, std::chrono::milliseconds(1000));
  }

  std::chrono::nanoseconds poll_interval() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(options.poll_interval *
                                                                knobs.poll_factor);
  }

  // Rate-limited to one message per kind per second.
  void warn(const std::string& kind, const std::string& message) {
    {
      std::lock_guard lock(warn_mu);
      const auto now = SteadyClock::now();
      auto it = last_warning.find(kind);
      if (it != last_warning.end() && now - it->second < std::chrono::seconds(1)) return;
      last_warning[kind] = now;
    }
    const std::string text = "pjx mutant backend: " + message;
    if (options.on_warning) {
      options.on_warning(text);
    } else {
      std::fprintf(stderr, "%s\n", text.c_str());
    }
  }

  void set_last_error(const std::string& message) {
    std::lock_guard lock(error_mu);
    last_error = message;
  }

  void publish(const KeySet& keys) {
    if (keys.empty()) return;
    if (knobs.fail_most_publishes && publish_attempts++ % 10 != 0) {  // the defect
      ++publish_failures;
      throw BackendError("publish refused (defect fail-publishes)", SQLITE_IOERR);
    }
    if (knobs.ack_before_commit) {  // the defect: acknowledged before it is durable
      std::lock_guard lock(delayed_mu);
      const auto delay = std::max<std::chrono::nanoseconds>(std::chrono::seconds(1),
                                                            4 * poll_interval());
      delayed.emplace_back([this, keys, delay] {
        std::this_thread::sleep_for(delay);
        try {
          commit(keys);
        } catch (const std::exception& e) {
          warn("publish", std::string("delayed commit failed: ") + e.what());
        }
      });
      return;
    }
    commit(keys);
  }

  void commit(const KeySet& keys) {
    std::string keys_json;
    try {
      keys_json =
          nlohmann::json(keys).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
    } catch (const nlohmann::json::type_error&) {
      throw std::invalid_argument("a key is not valid UTF-8; keys must be UTF-8 strings");
    }
    std::lock_guard lock(pub_mu);
    try {
      if (!pub_db) pub_db = open_db(db_path, publish_busy_timeout(), options.vfs, knobs.wal);
      sqlite3* db = pub_db.get();
      const int begin = sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
      if (begin != SQLITE_OK) {
        if ((begin & 0xff) == SQLITE_BUSY && knobs.drop_when_busy) return;  // the defect
        fail(db, db_path, "BEGIN IMMEDIATE");
      }
      try {
        const double now = clock->wall_seconds();
        StmtPtr insert = prepare(db, db_path, kInsert);
        bind_text(insert.get(), 1, instance_id);
        bind_text(insert.get(), 2, options.channel);
        bind_text(insert.get(), 3, keys_json);
        sqlite3_bind_double(insert.get(), 4, now);
        if (sqlite3_step(insert.get()) != SQLITE_DONE) fail(db, db_path, "insert");
        if (knobs.prune) {
          StmtPtr prune = prepare(db, db_path, kPrune);
          sqlite3_bind_double(prune.get(), 1,
                              now - options.retention.count() * knobs.retention_factor);
          if (sqlite3_step(prune.get()) != SQLITE_DONE) fail(db, db_path, "prune");
        }
        exec(db, db_path, "COMMIT");
      } catch (...) {
        sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
      }
    } catch (const BackendError& e) {
      ++publish_failures;
      set_last_error(e.what());
      if (knobs.ack_failed_publish) {  // the defect: an error swallowed, the event lost
        pub_db.reset();
        return;
      }
      throw;
    }
    ++published;
  }

  void start(InvalidationHandler handler, FlushHandler flush_handler) {
    std::lock_guard lock(mu);
    if (started) return;
    on_flush = std::move(flush_handler);
    DbPtr db = open_db(db_path, options.busy_timeout, options.vfs, knobs.wal);
    std::int64_t seed = 0;
    if (knobs.seed_cursor_at_max) {
      StmtPtr max_id = prepare(db.get(), db_path, kMaxId);
      if (sqlite3_step(max_id.get()) != SQLITE_ROW) fail(db.get(), db_path, "read MAX(id)");
      seed = sqlite3_column_int64(max_id.get(), 0);
    }
    StmtPtr select = prepare(db.get(), db_path, knobs.channel_like ? kSelectNewLike : kSelectNew);
    cursor = seed;
    stopping = false;
    started = true;
    listening = true;
    thread = std::thread([this, db = std::move(db), select = std::move(select),
                          handler = std::move(handler)]() mutable {
      run(select.get(), handler);
      select.reset();
      db.reset();
    });
  }

  void stop() {
    std::thread worker;
    {
      std::lock_guard lock(mu);
      if (!started) return;
      started = false;
      stopping = true;
      worker = std::move(thread);
    }
    cv.notify_all();
    if (worker.get_id() == std::this_thread::get_id()) {
      worker.detach();  // stop() from the handler: the loop ends when it returns
    } else {
      worker.join();
    }
    listening = false;
    join_delayed();
    if (knobs.scribble_on_stop) scribble();
  }

  void join_delayed() {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(delayed_mu);
      threads.swap(delayed);
    }
    for (std::thread& t : threads) t.join();
  }

  // The scribble-on-stop defect: the WAL is copied back and truncated, the
  // connection closed, then bytes are written over the b-tree page header of
  // page 2 (the table's root) behind SQLite's back.
  void scribble() {
    std::lock_guard lock(pub_mu);
    if (pub_db) {
      sqlite3_exec(pub_db.get(), "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
      pub_db.reset();
    }
    if (std::FILE* f = std::fopen(db_path.c_str(), "r+b")) {
      static const char kJunk[16] = {'\x7f', '\x7f', '\x7f', '\x7f', '\x7f', '\x7f',
                                     '\x7f', '\x7f', '\x7f', '\x7f', '\x7f', '\x7f',
                                     '\x7f', '\x7f', '\x7f', '\x7f'};
      if (std::fseek(f, 4096, SEEK_SET) == 0) std::fwrite(kJunk, 1, sizeof kJunk, f);
      std::fclose(f);
    }
  }

  void run(sqlite3_stmt* select, const InvalidationHandler& handler) {
    std::deque<Pending> pending;
    std::uint64_t deliverable = 0;
    auto next_poll = SteadyClock::now() + poll_interval();
    for (;;) {
      {
        std::unique_lock lock(mu);
        auto deadline = next_poll;
        if (!pending.empty()) deadline = std::min(deadline, pending.front().due);
        if (cv.wait_until(lock, deadline, [this] { return stopping; })) return;
      }
      const auto now = SteadyClock::now();
      while (!pending.empty() && pending.front().due <= now) {
        deliver(handler, pending.front().keys);
        pending.pop_front();
      }
      if (now >= next_poll) {
        poll_once(select, handler, pending, deliverable);
        if (knobs.flush_every_poll && on_flush) on_flush(FlushReason::kGap);  // the defect
        next_poll = SteadyClock::now() + poll_interval();
      }
    }
  }

  void poll_once(sqlite3_stmt* select, const InvalidationHandler& handler,
                 std::deque<Pending>& pending, std::uint64_t& deliverable) {
    bind_filter(select, cursor.load(), knobs, options.channel, instance_id);
    std::vector<std::pair<std::int64_t, std::optional<std::string>>> rows;
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(select)) == SQLITE_ROW) {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(select, 1));
      rows.emplace_back(sqlite3_column_int64(select, 0),
                        text != nullptr ? std::optional<std::string>(text) : std::nullopt);
    }
    if (rc != SQLITE_DONE) {
      const std::string message =
          std::string("poll failed: ") + sqlite3_errmsg(sqlite3_db_handle(select));
      sqlite3_reset(select);
      ++poll_errors;
      set_last_error(message);
      warn("poll", message + " (retrying next interval)");
      return;
    }
    sqlite3_reset(select);
    ++polls;
    last_poll_ns = SteadyClock::now().time_since_epoch().count();

    const auto delay = 3 * poll_interval() + std::chrono::milliseconds(100);
    for (const auto& [id, text] : rows) {
      cursor = std::max(cursor.load(), id);
      ++rows_received;
      std::string problem;
      std::optional<KeySet> keys = decode_keys(text ? text->c_str() : nullptr, &problem);
      if (!keys) {
        ++malformed_rows;
        warn("malformed", "skipped row " + std::to_string(id) + ": " + problem);
        continue;
      }
      ++deliverable;
      if (knobs.skip_every > 0 && deliverable % static_cast<std::uint64_t>(knobs.skip_every) == 0) {
        continue;  // the defect: silently lost
      }
      if (knobs.deliver_late) {
        pending.push_back(Pending{SteadyClock::now() + delay, std::move(*keys)});
      } else {
        deliver(handler, *keys);
      }
    }
  }

  void deliver(const InvalidationHandler& handler, const KeySet& keys) {
    // Counted before the call, as the library does: a test that saw the
    // handler run then reads a counter that includes it.
    keys_delivered += keys.size();
    try {
      handler(keys);
      if (knobs.exit_after_deliveries > 0 && ++deliveries >= knobs.exit_after_deliveries) {
        std::fflush(nullptr);
        std::_Exit(70);  // the defect: the worker dies half-way through the run
      }
    } catch (const std::exception& e) {
      ++handler_errors;
      warn("handler", std::string("the handler threw: ") + e.what());
    } catch (...) {
      ++handler_errors;
      warn("handler", "the handler threw a non-standard exception");
    }
  }

  std::int64_t lag() const {
    std::lock_guard lock(pub_mu);
    if (!listening) return 0;
    try {
      if (!pub_db) pub_db = open_db(db_path, publish_busy_timeout(), options.vfs, knobs.wal);
      StmtPtr count = prepare(pub_db.get(), db_path, kCountNew);
      bind_filter(count.get(), cursor.load(), knobs, options.channel, instance_id);
      if (sqlite3_step(count.get()) != SQLITE_ROW) return 0;
      return sqlite3_column_int64(count.get(), 0);
    } catch (const BackendError&) {
      return 0;
    }
  }

  const std::string db_path;
  const SqliteOptions options;
  const MutantKnobs knobs;
  const std::string instance_id;
  const std::shared_ptr<const Clock> clock;

  mutable std::mutex pub_mu;
  mutable DbPtr pub_db;  // guarded by pub_mu; opened on first use

  std::mutex mu;
  std::condition_variable cv;
  bool started = false;   // guarded by mu
  bool stopping = false;  // guarded by mu
  std::thread thread;     // guarded by mu

  std::mutex warn_mu;
  std::map<std::string, SteadyClock::time_point> last_warning;  // guarded by warn_mu
  mutable std::mutex error_mu;
  std::string last_error;  // guarded by error_mu

  std::atomic<bool> listening{false};
  std::atomic<std::int64_t> cursor{0};
  FlushHandler on_flush;  // set by start() before the thread runs
  int deliveries = 0;     // poll thread only
  std::atomic<std::uint64_t> publish_attempts{0};
  std::mutex delayed_mu;
  std::vector<std::thread> delayed;  // guarded by delayed_mu: ack-before-commit's commits
  std::atomic<std::int64_t> last_poll_ns{0};  // steady clock; 0 before the first poll
  std::atomic<std::uint64_t> published{0}, publish_failures{0}, polls{0}, poll_errors{0},
      rows_received{0}, keys_delivered{0}, malformed_rows{0}, handler_errors{0};
};

MutantBackend::MutantBackend(std::string db_path, SqliteOptions options, MutantKnobs knobs)
    : impl_(std::make_unique<Impl>(std::move(db_path), std::move(options), knobs)) {}

MutantBackend::~MutantBackend() {
  stop();
  impl_->join_delayed();  // publishes of a backend that was never started
}

void MutantBackend::publish(const KeySet& keys) { impl_->publish(keys); }

void MutantBackend::start(InvalidationHandler handler, FlushHandler on_flush) {
  impl_->start(std::move(handler), std::move(on_flush));
}

void MutantBackend::stop() { impl_->stop(); }

const std::string& MutantBackend::instance_id() const noexcept { return impl_->instance_id; }

SqliteStats MutantBackend::stats() const {
  SqliteStats s;
  s.published = impl_->published;
  s.publish_failures = impl_->publish_failures;
  s.polls = impl_->polls;
  s.poll_errors = impl_->poll_errors;
  s.rows_received = impl_->rows_received;
  s.keys_delivered = impl_->keys_delivered;
  s.malformed_rows = impl_->malformed_rows;
  s.handler_errors = impl_->handler_errors;
  s.cursor = impl_->cursor;
  s.lag = impl_->lag();
  if (const std::int64_t last = impl_->last_poll_ns; last != 0) {
    s.since_last_poll =
        std::chrono::nanoseconds(SteadyClock::now().time_since_epoch().count() - last);
  }
  {
    std::lock_guard lock(impl_->error_mu);
    s.last_error = impl_->last_error;
  }
  s.listening = impl_->listening;
  return s;
}

}  // namespace pjx::harness
