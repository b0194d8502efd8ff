#!/usr/bin/env python3
"""An emulation of upstream pyjinhx's SQLite invalidation backend.

SqliteInvalidationBackend below behaves like
pyjinhx.integrations.sqlite.SqliteInvalidationBackend as WIRE.md describes
it, with the same constructor and interface (publish(keys), start(handler),
stop()), so that interop tests can run C++ and "upstream" workers on one
database file. It is NOT upstream's code, and not a substitute for testing
the real package: it is written from WIRE.md only (python3 standard library).

It is the default backend of pyjinhx_worker.py, the protocol adapter that
drives any class with pyjinhx's interface (`--backend MODULE:CLASS`); run as
a program, this file runs that adapter with this class, as it always did:

    python3 harness/worker/upstream_worker.py
    python3 harness/worker/pyjinhx_worker.py   # the same

Upstream behaviour emulated here:
  * publish opens a NEW connection every time: journal_mode=WAL,
    busy_timeout=5000, CREATE TABLE/INDEX IF NOT EXISTS, INSERT one row with
    json.dumps(sorted(keys)) (default separators, ensure_ascii), DELETE rows
    older than retention, commit, close. An empty key set writes nothing.
  * start opens the listener's own connection and seeds the cursor at
    MAX(id) before returning; a poll thread then reads rows with id > cursor
    of its channel from other instances (instance_id is uuid4().hex) every
    poll_interval.
  * keys_json that is not JSON is skipped with a logged warning; JSON that is
    not an array is skipped silently; elements are converted with str().
  * nothing is rejected: ":memory:" and "" give every connection a private
    database, as upstream does. Poll errors are only logged.
  * no counters and no gap detection.

The one refusal is not upstream's: a Redis URL (the adapter passes REDIS_URL
as the first argument, as PjxSettings.from_env() does) is refused, since
this emulation has only the SQLite backend.
"""

import json
import logging
import sqlite3
import sys
import threading
import time
import uuid

DEFAULT_CHANNEL = "pyjinhx:invalidate"
BUSY_TIMEOUT_MS = 5000

logger = logging.getLogger("upstream_worker")


class SqliteInvalidationBackend:
    """The emulated upstream backend."""

    def __init__(self, db_path, *, channel=DEFAULT_CHANNEL, poll_interval=0.5, retention=5.0):
        if db_path.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("%r is a Redis URL: this emulation has only the SQLite backend; "
                             "unset REDIS_URL, or give the adapter a Redis backend class"
                             % db_path)
        self.db_path = db_path
        self.channel = channel
        self.poll_interval = poll_interval
        self.retention = retention
        self.instance_id = uuid.uuid4().hex
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
            except sqlite3.Error:
                logger.exception("poll failed")

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
                logger.warning("skipped row %d: keys_json is not valid JSON", row_id)
                continue
            if not isinstance(data, list):
                continue
            handler(frozenset(str(element) for element in data))


if __name__ == "__main__":
    import pyjinhx_worker  # beside this file, on sys.path[0]

    sys.exit(pyjinhx_worker.main())
