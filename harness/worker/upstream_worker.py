#!/usr/bin/env python3
"""A pjx-worker protocol worker that emulates upstream pyjinhx's SQLite backend.

It behaves like pyjinhx's SqliteInvalidationBackend as WIRE.md describes it,
so that interop tests can run C++ and "upstream" workers on one database file.
It is NOT upstream's code, and not a substitute for testing the real package:
it is written from WIRE.md only (python3 standard library).

Upstream behaviour emulated here:
  * publish opens a NEW connection every time: journal_mode=WAL,
    busy_timeout=5000, CREATE TABLE/INDEX IF NOT EXISTS, INSERT one row with
    json.dumps(sorted(keys)) (default separators, ensure_ascii), DELETE rows
    older than retention, commit, close. An empty key set writes nothing.
  * start opens the listener's own connection and seeds the cursor at
    MAX(id) before answering `ready`; a poll thread then reads rows with
    id > cursor of its channel from other instances (instance_id is
    uuid4().hex) every poll_interval.
  * keys_json that is not JSON is skipped with a warning; JSON that is not
    an array is skipped silently; elements are converted with str().
  * nothing is rejected: ":memory:" and "" give every connection a private
    database, as upstream does. Poll errors are only logged (stderr).
  * no counters and no gap detection: caps are only the protocol v2 ops
    ("reads", "burst").

Protocol v2 (`read`, `write`, `burst`) needs a load cache, which WIRE.md
does not describe: LoadCache below is a plain per-process memo of
truth-store versions that evicts on local and remote invalidation and does
not cache a load that overlapped an invalidation of its key. That last rule
is an assumption in upstream's favour, so that what the harness reports
against this emulation comes from the documented backend (missed rows after
a pause, no rejection), not from a cache race nobody has shown upstream has.

Configuration comes from the same environment variables as pjx-worker
(PJX_INVALIDATION_DB, PJX_INVALIDATION_CHANNEL, PJX_POLL_INTERVAL,
PJX_RETENTION), as an application passing them to upstream's constructor
would. Timestamps are time.monotonic_ns().
"""

import json
import os
import sqlite3
import sys
import threading
import time
import uuid

DEFAULT_CHANNEL = "pyjinhx:invalidate"
BUSY_TIMEOUT_MS = 5000

_out_lock = threading.Lock()


def emit(event):
    """Writes one event line; whole lines, flushed, from any thread."""
    line = json.dumps(event) + "\n"  # ASCII-escaped: always valid UTF-8
    with _out_lock:
        try:
            sys.stdout.write(line)
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):
            pass


def log(message):
    name = os.environ.get("PJX_WORKER_NAME", "")
    sys.stderr.write("upstream_worker%s: %s\n" % ("[" + name + "]" if name else "", message))
    sys.stderr.flush()


class SqliteInvalidationBackend:
    """The emulated upstream backend."""

    def __init__(self, db_path, channel=DEFAULT_CHANNEL, poll_interval=0.5, retention=5.0,
                 on_warning=None):
        self.db_path = db_path
        self.channel = channel
        self.poll_interval = poll_interval
        self.retention = retention
        self.instance_id = uuid.uuid4().hex
        self._on_warning = on_warning or log
        self._stop = threading.Event()
        self._thread = None
        self._conn = None
        self._cursor = 0

    def _connect(self, check_same_thread=True):
        conn = sqlite3.connect(self.db_path, check_same_thread=check_same_thread)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=%d" % BUSY_TIMEOUT_MS)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS pjx_invalidation ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " instance_id TEXT NOT NULL,"
            " channel TEXT NOT NULL,"
            " keys_json TEXT NOT NULL,"
            " created_at REAL NOT NULL)")
        conn.execute(
            "CREATE INDEX IF NOT EXISTS ix_pjx_invalidation_created_at"
            " ON pjx_invalidation (created_at)")
        return conn

    def publish(self, keys):
        if not keys:
            return
        payload = json.dumps(sorted(set(keys)))
        conn = self._connect()
        try:
            now = time.time()
            conn.execute(
                "INSERT INTO pjx_invalidation (instance_id, channel, keys_json, created_at)"
                " VALUES (?, ?, ?, ?)", (self.instance_id, self.channel, payload, now))
            conn.execute("DELETE FROM pjx_invalidation WHERE created_at < ?",
                         (now - self.retention,))
            conn.commit()
        finally:
            conn.close()

    def start(self, handler):
        if self._thread is not None:
            return
        self._conn = self._connect(check_same_thread=False)
        row = self._conn.execute("SELECT MAX(id) FROM pjx_invalidation").fetchone()
        self._cursor = row[0] or 0
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(handler,), daemon=True)
        self._thread.start()

    def stop(self):
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        self._conn.close()
        self._conn = None

    def _run(self, handler):
        while not self._stop.wait(self.poll_interval):
            try:
                self._poll(handler)
            except sqlite3.Error as exc:
                log("poll failed: %s" % exc)

    def _poll(self, handler):
        rows = self._conn.execute(
            "SELECT id, keys_json FROM pjx_invalidation"
            " WHERE id > ? AND channel = ? AND instance_id != ? ORDER BY id",
            (self._cursor, self.channel, self.instance_id)).fetchall()
        for row_id, keys_json in rows:
            self._cursor = row_id
            try:
                data = json.loads(keys_json)
            except (TypeError, ValueError):
                self._on_warning("skipped row %d: keys_json is not valid JSON" % row_id)
                continue
            if not isinstance(data, list):
                continue
            handler({str(element) for element in data})


class TruthStore:
    """The harness's truth store (PJX_TRUTH_DB): one version per key."""

    def __init__(self, path):
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA busy_timeout=%d" % BUSY_TIMEOUT_MS)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS truth (key TEXT PRIMARY KEY, version INTEGER NOT NULL)")

    def bump(self, key):
        row = self._conn.execute(
            "INSERT INTO truth (key, version) VALUES (?, 1)"
            " ON CONFLICT (key) DO UPDATE SET version = version + 1 RETURNING version",
            (key,)).fetchone()
        return row[0]

    def read(self, key):
        row = self._conn.execute("SELECT version FROM truth WHERE key = ?", (key,)).fetchone()
        return row[0] if row else 0


class LoadCache:
    """A per-process cache of truth-store versions (see the module docstring)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries = {}
        self._generation = 0
        self._dirtied = {}

    def load(self, key, loader):
        with self._lock:
            if key in self._entries:
                return self._entries[key], True
            started = self._generation
        value = loader()
        with self._lock:
            if self._dirtied.get(key, 0) <= started:
                self._entries[key] = value
        return value, False

    def evict(self, keys):
        with self._lock:
            for key in keys:
                self._generation += 1
                self._dirtied[key] = self._generation
                self._entries.pop(key, None)


def env_seconds(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    seconds = float(value)
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError("%s=%r must be a positive number of seconds" % (name, value))
    return seconds


def make_backend():
    if os.environ.get("REDIS_URL"):
        raise ValueError("REDIS_URL is set: this emulation has only the SQLite backend; "
                         "unset REDIS_URL")
    db_path = os.environ.get("PJX_INVALIDATION_DB")
    if db_path is None:
        raise ValueError("PJX_INVALIDATION_DB is not set; set it to the shared database path")
    return SqliteInvalidationBackend(
        db_path,
        channel=os.environ.get("PJX_INVALIDATION_CHANNEL", DEFAULT_CHANNEL),
        poll_interval=env_seconds("PJX_POLL_INTERVAL", 0.5),
        retention=env_seconds("PJX_RETENTION", 5.0),
        on_warning=lambda message: emit(
            {"ev": "warning", "t": time.monotonic_ns(), "message": message}))


def error(op, message, **extra):
    event = {"ev": "error", "op": op.get("op"), "message": message}
    if isinstance(op.get("id"), int) and not isinstance(op.get("id"), bool):
        event["id"] = op["id"]
    event.update(extra)
    emit(event)


CACHE = LoadCache()


def on_received(keys):
    t = time.monotonic_ns()
    CACHE.evict(keys)
    emit({"ev": "received", "keys": sorted(keys), "t": t})


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def publish_and_answer(backend, op_id, keys, op):
    t_begin = time.monotonic_ns()
    CACHE.evict(keys)
    try:
        backend.publish(keys)
    except sqlite3.Error as exc:
        error(op, "publish failed: %s" % exc, id=op_id)
        return
    emit({"ev": "published", "id": op_id, "t": time.monotonic_ns(), "t_begin": t_begin})


def do_read(op, truth, started):
    key = op.get("key")
    slow_ms = op.get("slow_ms", 0)
    if not is_int(op.get("id")) or not isinstance(key, str) or not key:
        return error(op, "read needs an integer \"id\" and a non-empty string \"key\"")
    if not started:
        return error(op, "read before start: the cache exists once the worker listens")
    if isinstance(slow_ms, bool) or not isinstance(slow_ms, (int, float)) \
            or not 0 <= slow_ms <= 60000:
        return error(op, "read \"slow_ms\" must be a number of milliseconds in [0, 60000]")
    if truth is None:
        return error(op, "PJX_TRUTH_DB is not set: read and write need the truth store")
    t_begin = time.monotonic_ns()

    def loader():
        version = truth.read(key)
        if slow_ms:
            time.sleep(slow_ms / 1000.0)
        return version

    try:
        version, hit = CACHE.load(key, loader)
    except sqlite3.Error as exc:
        return error(op, "read failed: %s" % exc)
    emit({"ev": "read_result", "id": op["id"], "key": key, "version": version, "hit": hit,
          "t_begin": t_begin, "t": time.monotonic_ns()})


def do_write(op, truth, backend):
    key = op.get("key")
    keys = op.get("keys", [key])
    if not is_int(op.get("id")) or not isinstance(key, str) or not key:
        return error(op, "write needs an integer \"id\" and a non-empty string \"key\"")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or key not in keys:
        return error(op, "write \"keys\" must be an array of strings containing its \"key\"")
    if truth is None:
        return error(op, "PJX_TRUTH_DB is not set: read and write need the truth store")
    t_begin = time.monotonic_ns()
    try:
        version = truth.bump(key)
    except sqlite3.Error as exc:
        return error(op, "the truth store was not changed: %s" % exc)
    CACHE.evict(keys)
    try:
        backend.publish(keys)
    except sqlite3.Error as exc:
        return error(op, "publish failed: %s" % exc, version=version)
    emit({"ev": "written", "id": op["id"], "key": key, "version": version, "t_begin": t_begin,
          "t": time.monotonic_ns()})


def do_burst(op, backend):
    items = op.get("publishes")
    if not is_int(op.get("id")) or not isinstance(items, list) or not 1 <= len(items) <= 64:
        return error(op, "burst needs an integer \"id\" and \"publishes\": 1 to 64 objects")
    for item in items:
        if not isinstance(item, dict) or not is_int(item.get("id")) \
                or not isinstance(item.get("keys"), list) \
                or not all(isinstance(k, str) for k in item["keys"]):
            return error(op, "each burst publish needs an integer \"id\" and \"keys\"")
    t_begin = time.monotonic_ns()
    barrier = threading.Barrier(len(items))

    def run(item):
        barrier.wait()
        publish_and_answer(backend, item["id"], item["keys"], {"op": "publish"})

    threads = [threading.Thread(target=run, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    emit({"ev": "burst_done", "id": op["id"], "t_begin": t_begin, "t": time.monotonic_ns(),
          "publishes": len(items)})


def main():
    try:
        backend = make_backend()
    except Exception as exc:  # any setup failure is fatal
        emit({"ev": "fatal", "message": str(exc)})
        log(str(exc))
        return 2

    truth = None
    truth_path = os.environ.get("PJX_TRUTH_DB")
    started = False
    stdin = sys.stdin.buffer
    while True:
        raw = stdin.readline()
        if not raw:
            backend.stop()
            return 0
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            emit({"ev": "error", "message": "line is not UTF-8", "bad_line": True})
            continue
        if not text.strip():
            continue
        try:
            op = json.loads(text)
        except ValueError as exc:
            emit({"ev": "error", "message": "not valid JSON: %s" % exc, "bad_line": True})
            continue
        if not isinstance(op, dict) or not isinstance(op.get("op"), str):
            emit({"ev": "error", "message": "expected a JSON object with a string \"op\"",
                  "bad_line": True})
            continue
        name = op["op"]
        if name == "start":
            try:
                backend.start(on_received)
            except sqlite3.Error as exc:
                error(op, "start failed: %s" % exc)
                continue
            started = True
            emit({"ev": "ready", "t": time.monotonic_ns(), "caps": ["reads", "burst"],
                  "protocol": 2, "pid": os.getpid(),
                  "instance_id": backend.instance_id,
                  "impl": "pyjinhx-upstream-emulation (python %s, sqlite %s)" % (
                      sys.version.split()[0], sqlite3.sqlite_version)})
        elif name == "publish":
            keys = op.get("keys")
            op_id = op.get("id")
            if not isinstance(op_id, int) or isinstance(op_id, bool):
                error(op, "publish needs an integer \"id\"")
                continue
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                error(op, "\"keys\" must be an array of strings")
                continue
            publish_and_answer(backend, op_id, keys, op)
        elif name in ("read", "write"):
            if truth is None and truth_path:
                try:
                    truth = TruthStore(truth_path)
                except sqlite3.Error as exc:
                    error(op, "truth store %s: %s" % (truth_path, exc))
                    continue
            if name == "read":
                do_read(op, truth, started)
            else:
                do_write(op, truth, backend)
        elif name == "burst":
            do_burst(op, backend)
        elif name == "ping":
            event = {"ev": "pong", "t": time.monotonic_ns()}
            if "id" in op:
                event["id"] = op["id"]
            emit(event)
        elif name == "stop":
            backend.stop()
            emit({"ev": "stopped", "t": time.monotonic_ns()})
            return 0
        else:
            error(op, "unknown op %r; this worker speaks start, publish, read, write, burst, ping, "
                  "stop" % name,
                  unsupported=True)


if __name__ == "__main__":
    sys.exit(main())
