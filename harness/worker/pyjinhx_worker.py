#!/usr/bin/env python3
"""pyjinhx_worker: drives an installed pyjinhx invalidation backend through the
pjx-worker protocol (version 2, harness/PROTOCOL.md), so that pjx-harness can
test the real Python package, a subclass of it, or any class with the same
interface.

usage: pyjinhx_worker.py [--backend MODULE:CLASS] [--kwargs JSON]
                         [--cache pyjinhx|guarded] [--help] [--version]

--backend MODULE:CLASS  the backend class to drive (default
                        upstream_worker:SqliteInvalidationBackend, the
                        emulation of upstream beside this file). Examples:
                        pyjinhx.integrations.sqlite:SqliteInvalidationBackend
                        pyjinhx.integrations.redis:RedisInvalidationBackend
--kwargs JSON           extra keyword arguments for the constructor, a JSON
                        object; they override those taken from the
                        environment
--cache pyjinhx|guarded the load cache behind `read`: pyjinhx (default), as
                        pyjinhx's process-scoped LoadCache behaves, or
                        guarded, which never caches a load that overlapped an
                        invalidation of its key

The class must have pyjinhx's InvalidationBackend interface:
publish(keys: frozenset[str]), start(handler), where the handler takes a
frozenset[str], and stop().

Construction follows PjxSettings.from_env(): with REDIS_URL set (non-empty)
the class gets it as its one positional argument, else PJX_INVALIDATION_DB
(the database path); with neither there would be no backend, which is
`fatal`. The harness's other variables become keyword arguments when the
constructor accepts them (by name or through **kwargs), as an application
passing its settings to the constructor would: PJX_INVALIDATION_CHANNEL ->
channel, PJX_POLL_INTERVAL -> poll_interval, PJX_RETENTION -> retention,
PJX_BUSY_TIMEOUT -> busy_timeout (numbers as float). One the constructor does
not accept is left out and said on stderr.

The load cache (read and write ops) is modelled on pyjinhx's cross-request
(CacheScope.PROCESS) LoadCache: one entry per load key, looked up and stored
under a lock, the loader run outside it; LoadCache.invalidate(keys) evicts the
keys here and then publishes them; a received key set evicts without
publishing. pyjinhx stores a load's result when the loader returns, whether or
not one of its keys was invalidated while it ran; `--cache pyjinhx` does the
same, so a fill that races an invalidation stays cached until the next
invalidation of its key. `--cache guarded` drops such a fill instead (the rule
the reference library follows), which separates what the backend does from
what the cache does.

Differences from an application, on purpose: a publish that raises is answered
with `error` (pyjinhx's InvalidationHub logs and swallows it, so the
application would not know), and log records of level WARNING and above from
any logger (pyjinhx logs skipped rows and poll errors) become `warning`
events as well as stderr lines.

Exit status: 0 after `stop` or the end of stdin; 2 for a bad command line or a
backend that cannot be built (after a `fatal` event).
"""

import argparse
import importlib
import inspect
import json
import logging
import os
import select
import sqlite3
import sys
import threading
import time

# Nothing written beside the modules this imports: an installed worker lives
# in a read-only system folder.
sys.dont_write_bytecode = True

VERSION = "0.1.0"
DEFAULT_BACKEND = "upstream_worker:SqliteInvalidationBackend"
BUSY_TIMEOUT_MS = 5000
EXIT_USAGE = 2
EXIT_FATAL = 2

# Environment variable -> (keyword argument, conversion); the positional
# argument comes from REDIS_URL or PJX_INVALIDATION_DB (constructor_arguments).
ENV_KEYWORDS = (
    ("PJX_INVALIDATION_CHANNEL", "channel", str),
    ("PJX_POLL_INTERVAL", "poll_interval", float),
    ("PJX_RETENTION", "retention", float),
    ("PJX_BUSY_TIMEOUT", "busy_timeout", float),
)


class ConfigError(Exception):
    """The backend cannot be built; the message names the value and the fix."""


class Emitter:
    """Writes protocol events, one whole flushed line each, from any thread."""

    def __init__(self, stream):
        self._stream = stream
        self._lock = threading.Lock()

    def emit(self, event):
        line = json.dumps(event) + "\n"  # ASCII-escaped: always valid UTF-8
        with self._lock:
            try:
                self._stream.write(line)
                self._stream.flush()
            except (BrokenPipeError, ValueError):
                pass


def pause(seconds):
    """Sleeps for `seconds`. Not time.sleep(): under libfaketime with
    FAKETIME_DONT_FAKE_MONOTONIC (how the harness steps a worker's clock) it
    fails with EINVAL; select() takes a relative timeout."""
    select.select([], [], [], seconds)


def now_ns():
    return time.monotonic_ns()


def log(message):
    name = os.environ.get("PJX_WORKER_NAME", "")
    sys.stderr.write("pyjinhx_worker%s: %s\n" % ("[" + name + "]" if name else "", message))
    sys.stderr.flush()


class WarningEvents(logging.Handler):
    """Forwards log records of level WARNING and above as `warning` events."""

    def __init__(self, emitter):
        super().__init__(level=logging.WARNING)
        self._emitter = emitter

    def emit(self, record):
        try:
            message = "%s: %s" % (record.name, record.getMessage())
            if record.exc_info and record.exc_info[1] is not None:
                message += " (%s: %s)" % (type(record.exc_info[1]).__name__, record.exc_info[1])
        except Exception:  # a bad format string must not kill a poll thread
            message = "%s: %r" % (record.name, record.msg)
        self._emitter.emit({"ev": "warning", "t": now_ns(), "message": message})


# ---------------------------------------------------------------- backend


def load_backend_class(spec):
    """Imports MODULE:CLASS (CLASS may be dotted) and checks its interface."""
    module_name, sep, class_name = spec.partition(":")
    if not sep or not module_name or not class_name:
        raise ConfigError(
            "--backend %r is not MODULE:CLASS; give e.g. "
            "pyjinhx.integrations.sqlite:SqliteInvalidationBackend" % spec)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            "--backend %r: cannot import module %r (%s); install the package for %s "
            "(e.g. %s -m pip install pyjinhx) or add its folder to PYTHONPATH"
            % (spec, module_name, exc, sys.executable, sys.executable)) from exc
    target = module
    for part in class_name.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ConfigError("--backend %r: module %r has no %r; check the class name"
                              % (spec, module_name, class_name))
    if not inspect.isclass(target):
        raise ConfigError("--backend %r: %r is not a class" % (spec, class_name))
    missing = [name for name in ("publish", "start", "stop")
               if not callable(getattr(target, name, None))]
    if missing:
        raise ConfigError(
            "--backend %r: %s lacks %s; it needs pyjinhx's InvalidationBackend interface "
            "(publish(keys), start(handler), stop())" % (spec, class_name, ", ".join(missing)))
    return target


def accepted_keywords(cls):
    """The keyword names cls(...) accepts, or None when it takes **kwargs."""
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return None  # no signature to read (a C type): offer every keyword
    names = set()
    for p in parameters:
        if p.kind == inspect.Parameter.VAR_KEYWORD:
            return None
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            names.add(p.name)
    return names


def constructor_arguments(env, accepted, extra_kwargs):
    """(args, kwargs, notes) for the backend constructor, from `env` as
    PjxSettings.from_env() reads it plus the harness's variables.

    accepted: the keyword names the constructor takes (None: any);
    extra_kwargs: --kwargs, which win over the environment. Raises ConfigError.
    """
    redis_url = env.get("REDIS_URL", "")
    db_path = env.get("PJX_INVALIDATION_DB", "")
    if redis_url:
        args = [redis_url]
    elif db_path:
        args = [db_path]
    else:
        raise ConfigError(
            "neither REDIS_URL nor PJX_INVALIDATION_DB is set (or both are empty): "
            "PjxSettings.from_env() would configure no backend, so there is nothing to "
            "test; set PJX_INVALIDATION_DB to the shared database file or REDIS_URL")
    kwargs = {}
    notes = []
    for variable, keyword, convert in ENV_KEYWORDS:
        if variable not in env:
            continue
        if accepted is not None and keyword not in accepted:
            notes.append("%s=%s not passed: the constructor takes no %r"
                         % (variable, env[variable], keyword))
            continue
        try:
            kwargs[keyword] = convert(env[variable])
        except ValueError as exc:
            raise ConfigError("%s=%r is not a number of seconds (%s); give e.g. 0.5"
                              % (variable, env[variable], exc)) from exc
    kwargs.update(extra_kwargs)
    return args, kwargs, notes


def instance_id_of(backend):
    for name in ("instance_id", "_instance_id"):
        value = getattr(backend, name, None)
        if isinstance(value, str) and value:
            return value
    return None


def describe(spec, cls, cache_policy):
    """The `impl` text of `ready`: the class, its distribution's version."""
    parts = []
    top = cls.__module__.split(".")[0]
    try:
        from importlib import metadata
        parts.append("%s %s" % (top, metadata.version(top)))
    except Exception:  # not an installed distribution (the emulation, a test module)
        pass
    parts.append("python %s" % sys.version.split()[0])
    parts.append("sqlite %s" % sqlite3.sqlite_version)
    parts.append("cache %s" % cache_policy)
    return "pyjinhx_worker %s %s (%s)" % (VERSION, spec, ", ".join(parts))


# ---------------------------------------------------------------- cache


class LoadCache:
    """The worker's load cache, keyed by the read op's key.

    policy "pyjinhx": a load's result is stored when the loader returns, as
    pyjinhx's process-scoped LoadCache does, even when the key was invalidated
    while the loader ran. "guarded": such a result is returned but not stored.
    Thread-safe: the listener's thread evicts while the main thread loads.
    """

    def __init__(self, policy):
        if policy not in ("pyjinhx", "guarded"):
            raise ValueError("cache policy %r: use pyjinhx or guarded" % policy)
        self._policy = policy
        self._lock = threading.Lock()
        self._entries = {}
        self._evictions = 0          # evictions so far, for the guard
        self._last_evicted = {}      # key -> self._evictions when it was last evicted

    def load(self, key, loader):
        """(value, hit). The loader runs outside the lock."""
        with self._lock:
            if key in self._entries:
                return self._entries[key], True
            started = self._evictions
        value = loader()
        with self._lock:
            if self._policy == "pyjinhx" or self._last_evicted.get(key, -1) < started:
                self._entries[key] = value
        return value, False

    def evict(self, keys):
        with self._lock:
            for key in keys:
                self._evictions += 1
                self._last_evicted[key] = self._evictions
                self._entries.pop(key, None)


class TruthStore:
    """The harness's truth store (PJX_TRUTH_DB): one version per key."""

    def __init__(self, path):
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA busy_timeout=%d" % BUSY_TIMEOUT_MS)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS truth (key TEXT PRIMARY KEY, version INTEGER NOT NULL)")

    def bump(self, key):
        with self._lock:
            row = self._conn.execute(
                "INSERT INTO truth (key, version) VALUES (?, 1)"
                " ON CONFLICT (key) DO UPDATE SET version = version + 1 RETURNING version",
                (key,)).fetchone()
        return row[0]

    def read(self, key):
        with self._lock:
            row = self._conn.execute("SELECT version FROM truth WHERE key = ?",
                                     (key,)).fetchone()
        return row[0] if row else 0


# ---------------------------------------------------------------- protocol


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def is_key_list(value):
    return isinstance(value, list) and all(isinstance(k, str) for k in value)


class Worker:
    """One backend inside one load cache, answering protocol ops in order."""

    def __init__(self, backend, cache, emitter, impl, truth_path):
        self.backend = backend
        self.cache = cache
        self.out = emitter
        self.impl = impl
        self.truth_path = truth_path
        self.truth = None
        self.started = False

    def error(self, op, message, **extra):
        event = {"ev": "error", "op": op.get("op"), "message": message}
        if is_int(op.get("id")):
            event["id"] = op["id"]
        event.update(extra)
        self.out.emit(event)

    def on_received(self, keys):
        """The backend's handler: evicts (no publish), then reports."""
        t = now_ns()
        keys = sorted(str(k) for k in keys)
        self.cache.evict(keys)
        self.out.emit({"ev": "received", "keys": keys, "t": t})

    def invalidate(self, keys):
        """LoadCache.invalidate(keys): evict here, then publish (an empty set
        publishes nothing). Raises what the backend's publish raises."""
        self.cache.evict(keys)
        if keys:
            self.backend.publish(frozenset(keys))

    def publish_and_answer(self, op_id, keys, op):
        t_begin = now_ns()
        try:
            self.invalidate(keys)
        except Exception as exc:  # whatever the backend raises: not committed
            return self.error(op, "publish failed: %s: %s" % (type(exc).__name__, exc), id=op_id)
        self.out.emit({"ev": "published", "id": op_id, "t": now_ns(), "t_begin": t_begin})

    def truth_store(self, op):
        if self.truth is None and self.truth_path:
            try:
                self.truth = TruthStore(self.truth_path)
            except sqlite3.Error as exc:
                self.error(op, "truth store %s: %s" % (self.truth_path, exc))
                return None
        if self.truth is None:
            self.error(op, "PJX_TRUTH_DB is not set: read and write need the truth store")
        return self.truth

    def do_start(self, op):
        try:
            self.backend.start(self.on_received)
        except Exception as exc:
            return self.error(op, "start failed: %s: %s" % (type(exc).__name__, exc))
        self.started = True
        event = {"ev": "ready", "t": now_ns(), "caps": ["reads", "burst"], "protocol": 2,
                 "pid": os.getpid(), "impl": self.impl}
        instance_id = instance_id_of(self.backend)
        if instance_id is not None:
            event["instance_id"] = instance_id
        self.out.emit(event)

    def do_publish(self, op):
        if not is_int(op.get("id")):
            return self.error(op, "publish needs an integer \"id\"")
        if not is_key_list(op.get("keys")):
            return self.error(op, "\"keys\" must be an array of strings")
        self.publish_and_answer(op["id"], op["keys"], op)

    def do_read(self, op):
        key = op.get("key")
        slow_ms = op.get("slow_ms", 0)
        if not is_int(op.get("id")) or not isinstance(key, str) or not key:
            return self.error(op, "read needs an integer \"id\" and a non-empty string \"key\"")
        if not self.started:
            return self.error(op, "read before start: the cache exists once the worker listens")
        if isinstance(slow_ms, bool) or not isinstance(slow_ms, (int, float)) \
                or not 0 <= slow_ms <= 60000:
            return self.error(op, "read \"slow_ms\" must be a number of milliseconds in [0, 60000]")
        truth = self.truth_store(op)
        if truth is None:
            return None
        t_begin = now_ns()

        def loader():
            version = truth.read(key)
            if slow_ms:
                pause(slow_ms / 1000.0)
            return version

        try:
            version, hit = self.cache.load(key, loader)
        except sqlite3.Error as exc:
            return self.error(op, "read failed: %s" % exc)
        self.out.emit({"ev": "read_result", "id": op["id"], "key": key, "version": version,
                       "hit": hit, "t_begin": t_begin, "t": now_ns()})
        return None

    def do_write(self, op):
        key = op.get("key")
        keys = op.get("keys", [key])
        if not is_int(op.get("id")) or not isinstance(key, str) or not key:
            return self.error(op, "write needs an integer \"id\" and a non-empty string \"key\"")
        if not is_key_list(keys) or key not in keys:
            return self.error(op, "write \"keys\" must be an array of strings containing its \"key\"")
        truth = self.truth_store(op)
        if truth is None:
            return None
        t_begin = now_ns()
        try:
            version = truth.bump(key)
        except sqlite3.Error as exc:
            return self.error(op, "the truth store was not changed: %s" % exc)
        try:
            self.invalidate(keys)
        except Exception as exc:
            return self.error(op, "publish failed: %s: %s" % (type(exc).__name__, exc),
                              version=version)
        self.out.emit({"ev": "written", "id": op["id"], "key": key, "version": version,
                       "t_begin": t_begin, "t": now_ns()})
        return None

    def do_burst(self, op):
        items = op.get("publishes")
        if not is_int(op.get("id")) or not isinstance(items, list) or not 1 <= len(items) <= 64:
            return self.error(op, "burst needs an integer \"id\" and \"publishes\": 1 to 64 objects")
        for item in items:
            if not isinstance(item, dict) or not is_int(item.get("id")) \
                    or not is_key_list(item.get("keys")):
                return self.error(op, "each burst publish needs an integer \"id\" and \"keys\"")
        t_begin = now_ns()
        barrier = threading.Barrier(len(items))

        def run(item):
            barrier.wait()
            self.publish_and_answer(item["id"], item["keys"], {"op": "publish"})

        threads = [threading.Thread(target=run, args=(item,)) for item in items]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.out.emit({"ev": "burst_done", "id": op["id"], "t_begin": t_begin, "t": now_ns(),
                       "publishes": len(items)})
        return None

    def do_ping(self, op):
        event = {"ev": "pong", "t": now_ns()}
        if "id" in op:
            event["id"] = op["id"]
        self.out.emit(event)

    def serve(self, stdin):
        """Answers ops until `stop` or the end of stdin; returns the exit status."""
        handlers = {"start": self.do_start, "publish": self.do_publish, "read": self.do_read,
                    "write": self.do_write, "burst": self.do_burst, "ping": self.do_ping}
        while True:
            raw = stdin.readline()
            if not raw:
                self.backend.stop()
                return 0
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                self.out.emit({"ev": "error", "message": "line is not UTF-8", "bad_line": True})
                continue
            if not text.strip():
                continue
            try:
                op = json.loads(text)
            except ValueError as exc:
                self.out.emit({"ev": "error", "message": "not valid JSON: %s" % exc,
                               "bad_line": True})
                continue
            if not isinstance(op, dict) or not isinstance(op.get("op"), str):
                self.out.emit({"ev": "error", "message": "expected a JSON object with a string "
                               "\"op\"", "bad_line": True})
                continue
            name = op["op"]
            if name == "stop":
                self.backend.stop()
                self.out.emit({"ev": "stopped", "t": now_ns()})
                return 0
            handler = handlers.get(name)
            if handler is None:
                self.error(op, "unknown op %r; this worker speaks start, publish, read, write, "
                           "burst, ping, stop" % name, unsupported=True)
            else:
                handler(op)


# ---------------------------------------------------------------- main


EPILOG = """\
Exit status:
  0  after the stop op or the end of stdin
  2  bad usage, or a backend that cannot be built (after a fatal event)

Environment (set by pjx-harness for each worker):
  PJX_INVALIDATION_DB  the database: the constructor's first argument
  REDIS_URL            wins over PJX_INVALIDATION_DB, as in PjxSettings.from_env()
  PJX_INVALIDATION_CHANNEL, PJX_POLL_INTERVAL, PJX_RETENTION, PJX_BUSY_TIMEOUT
                       keyword arguments channel, poll_interval, retention,
                       busy_timeout, when the constructor takes them
  PJX_TRUTH_DB         the truth store of the read and write ops
  PJX_WORKER_NAME      the worker's name, for stderr lines

Examples:
  pjx-harness conform --worker-cmd 'pjx-pyjinhx-worker --backend pyjinhx.integrations.sqlite:SqliteInvalidationBackend'
      the installed pyjinhx's SQLite backend through the whole suite
  pjx-harness conform --backend redis --worker-cmd 'pjx-pyjinhx-worker --backend pyjinhx.integrations.redis:RedisInvalidationBackend'
      its Redis backend, against a redis-server the harness starts
  pjx-harness conform --worker-cmd 'pjx-pyjinhx-worker --backend myapp.cache:MyBackend --kwargs "{\\"timeout\\": 2}"'
      a subclass of your own, with an extra constructor argument
"""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write("%s: %s\n" % (self.prog, message))
        sys.exit(EXIT_USAGE)


def parse_args(argv):
    parser = Parser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Drives a pyjinhx invalidation backend (MODULE:CLASS) through the "
                    "pjx-worker protocol\non stdin/stdout, for pjx-harness (PROTOCOL.md).",
        epilog=EPILOG)
    parser.add_argument("--backend", default=DEFAULT_BACKEND, metavar="MODULE:CLASS",
                        help="the backend class (default %s: the emulation of upstream beside "
                             "this file)" % DEFAULT_BACKEND)
    parser.add_argument("--kwargs", default="{}", metavar="JSON",
                        help="extra constructor keyword arguments, a JSON object")
    parser.add_argument("--cache", default="pyjinhx", choices=("pyjinhx", "guarded"),
                        help="load cache: pyjinhx (caches a load that raced an invalidation, "
                             "as pyjinhx does) or guarded (does not)")
    parser.add_argument("--version", action="version", version="pyjinhx_worker " + VERSION)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    emitter = Emitter(sys.stdout)
    root = logging.getLogger()
    root.addHandler(WarningEvents(emitter))
    stderr_handler = logging.StreamHandler(sys.stderr)
    stderr_handler.setFormatter(logging.Formatter("%(name)s: %(levelname)s: %(message)s"))
    root.addHandler(stderr_handler)
    root.setLevel(logging.WARNING)
    # The emulation (the default backend) lives beside this file.
    here = os.path.dirname(os.path.realpath(__file__))
    if here not in sys.path:
        sys.path.append(here)
    try:
        try:
            extra = json.loads(args.kwargs)
        except ValueError as exc:
            raise ConfigError("--kwargs %r is not JSON (%s); give an object such as "
                              "'{\"poll_interval\": 0.5}'" % (args.kwargs, exc)) from exc
        if not isinstance(extra, dict):
            raise ConfigError("--kwargs %r is not a JSON object; give an object such as "
                              "'{\"poll_interval\": 0.5}'" % args.kwargs)
        cls = load_backend_class(args.backend)
        call_args, call_kwargs, notes = constructor_arguments(
            os.environ, accepted_keywords(cls), extra)
        for note in notes:
            log(note)
        try:
            backend = cls(*call_args, **call_kwargs)
        except Exception as exc:  # the backend's own rejection of its configuration
            raise ConfigError("%s(%s) failed: %s: %s" % (
                args.backend,
                ", ".join([repr(a) for a in call_args] +
                          ["%s=%r" % item for item in sorted(call_kwargs.items())]),
                type(exc).__name__, exc)) from exc
    except ConfigError as exc:
        emitter.emit({"ev": "fatal", "message": str(exc)})
        log(str(exc))
        return EXIT_FATAL
    worker = Worker(backend, LoadCache(args.cache), emitter,
                    describe(args.backend, cls, args.cache), os.environ.get("PJX_TRUTH_DB"))
    return worker.serve(sys.stdin.buffer)


if __name__ == "__main__":
    sys.exit(main())
