#!/usr/bin/env python3
"""Tests of pyjinhx_worker.py: its pure parts in process, and the program
driving a fake backend given as MODULE:CLASS (this file's FakeBackend) over
the protocol. No test depends on timing: the fake delivers synchronously.

    python3 -m unittest pyjinhx_worker_test     (from harness/worker/)
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import unittest

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, HERE)

import pyjinhx_worker  # noqa: E402  (after the path is set)

ADAPTER = os.path.join(HERE, "pyjinhx_worker.py")
THIS_MODULE = "pyjinhx_worker_test"


class FakeBackend:
    """pyjinhx's InvalidationBackend interface, with no database.

    publish(keys) records the call in the file given as `record` and, for
    each key "echo:K", calls the handler with {K} before returning, as a
    message from another worker would. A key "fail" makes publish raise, a
    key "warn" logs a warning. The constructor's arguments are recorded too.
    """

    def __init__(self, target, *, channel="pyjinhx:invalidate", poll_interval=0.5,
                 record=None):
        self._record = record
        self._handler = None
        self._instance_id = "f" * 32
        self._write({"init": {"target": target, "channel": channel,
                              "poll_interval": poll_interval}})

    def _write(self, entry):
        if self._record:
            with open(self._record, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")

    def publish(self, keys):
        if not isinstance(keys, frozenset):
            raise TypeError("publish expects a frozenset, as pyjinhx passes")
        self._write({"publish": sorted(keys)})
        if "fail" in keys:
            raise ConnectionError("the fake refuses to publish 'fail'")
        if "warn" in keys:
            import logging
            logging.getLogger("fake.backend").warning("a warning about %s", "warn")
        echoes = [k[len("echo:"):] for k in keys if k.startswith("echo:")]
        if echoes and self._handler is not None:
            self._handler(frozenset(echoes))

    def start(self, handler):
        self._handler = handler

    def stop(self):
        self._handler = None


class NotABackend:
    def __init__(self, target):
        self.target = target

    def publish(self, keys):
        pass


class RejectingBackend(FakeBackend):
    def __init__(self, target, **kwargs):
        raise ValueError("%r is not a usable path; pass a file path" % target)


class ConstructorArguments(unittest.TestCase):
    def test_the_database_path_is_the_one_positional_argument_as_from_env_passes_it(self):
        args, kwargs, notes = pyjinhx_worker.constructor_arguments(
            {"PJX_INVALIDATION_DB": "/x/db"}, {"channel"}, {})
        self.assertEqual(args, ["/x/db"])
        self.assertEqual(kwargs, {})
        self.assertEqual(notes, [])

    def test_redis_url_wins_over_the_database_as_from_env_decides(self):
        args, _, _ = pyjinhx_worker.constructor_arguments(
            {"PJX_INVALIDATION_DB": "/x/db", "REDIS_URL": "redis://h:6379/0"}, None, {})
        self.assertEqual(args, ["redis://h:6379/0"])

    def test_empty_values_configure_nothing_which_is_an_error_naming_both_variables(self):
        with self.assertRaises(pyjinhx_worker.ConfigError) as caught:
            pyjinhx_worker.constructor_arguments(
                {"PJX_INVALIDATION_DB": "", "REDIS_URL": ""}, None, {})
        self.assertIn("PJX_INVALIDATION_DB", str(caught.exception))
        self.assertIn("REDIS_URL", str(caught.exception))

    def test_harness_variables_become_keywords_the_constructor_accepts(self):
        env = {"PJX_INVALIDATION_DB": "/x/db", "PJX_INVALIDATION_CHANNEL": "c",
               "PJX_POLL_INTERVAL": "0.05", "PJX_RETENTION": "0.5", "PJX_BUSY_TIMEOUT": "2"}
        args, kwargs, notes = pyjinhx_worker.constructor_arguments(
            env, {"channel", "poll_interval", "retention"}, {})
        self.assertEqual(kwargs, {"channel": "c", "poll_interval": 0.05, "retention": 0.5})
        self.assertEqual(len(notes), 1)
        self.assertIn("PJX_BUSY_TIMEOUT", notes[0])

    def test_a_constructor_with_var_keywords_gets_every_variable(self):
        _, kwargs, _ = pyjinhx_worker.constructor_arguments(
            {"PJX_INVALIDATION_DB": "/x/db", "PJX_BUSY_TIMEOUT": "2"}, None, {})
        self.assertEqual(kwargs, {"busy_timeout": 2.0})

    def test_given_kwargs_override_the_environment(self):
        _, kwargs, _ = pyjinhx_worker.constructor_arguments(
            {"PJX_INVALIDATION_DB": "/x/db", "PJX_POLL_INTERVAL": "0.05"}, None,
            {"poll_interval": 1, "extra": [1]})
        self.assertEqual(kwargs, {"poll_interval": 1, "extra": [1]})

    def test_a_number_that_is_not_one_names_the_variable_and_the_value(self):
        with self.assertRaises(pyjinhx_worker.ConfigError) as caught:
            pyjinhx_worker.constructor_arguments(
                {"PJX_INVALIDATION_DB": "/x/db", "PJX_POLL_INTERVAL": "0.5s"}, None, {})
        self.assertIn("PJX_POLL_INTERVAL='0.5s'", str(caught.exception))

    def test_the_emulations_signature_is_read(self):
        import upstream_worker
        self.assertEqual(pyjinhx_worker.accepted_keywords(upstream_worker.SqliteInvalidationBackend),
                         {"db_path", "channel", "poll_interval", "retention"})


class BackendClass(unittest.TestCase):
    def test_module_and_class_are_imported(self):
        cls = pyjinhx_worker.load_backend_class(THIS_MODULE + ":FakeBackend")
        self.assertIs(cls.__name__, "FakeBackend")

    def test_bad_specifications_say_what_to_give(self):
        cases = {
            "FakeBackend": "MODULE:CLASS",
            "no_such_module_here:X": "PYTHONPATH",
            THIS_MODULE + ":Missing": "no 'Missing'",
            THIS_MODULE + ":NotABackend": "lacks start, stop",
            THIS_MODULE + ":THIS_MODULE": "not a class",
        }
        for spec, expected in cases.items():
            with self.subTest(spec=spec):
                with self.assertRaises(pyjinhx_worker.ConfigError) as caught:
                    pyjinhx_worker.load_backend_class(spec)
                self.assertIn(expected, str(caught.exception))


class Cache(unittest.TestCase):
    def test_a_second_load_is_a_hit_and_an_eviction_forgets_the_entry(self):
        cache = pyjinhx_worker.LoadCache("pyjinhx")
        self.assertEqual(cache.load("k", lambda: 1), (1, False))
        self.assertEqual(cache.load("k", lambda: 2), (1, True))
        cache.evict(["k"])
        self.assertEqual(cache.load("k", lambda: 3), (3, False))

    def test_pyjinhx_caches_a_load_that_overlapped_an_invalidation_of_its_key(self):
        cache = pyjinhx_worker.LoadCache("pyjinhx")

        def loader():  # the invalidation lands while the loader runs
            cache.evict(["k"])
            return "old"

        self.assertEqual(cache.load("k", loader), ("old", False))
        self.assertEqual(cache.load("k", lambda: "new"), ("old", True))

    def test_guarded_returns_such_a_load_without_caching_it(self):
        cache = pyjinhx_worker.LoadCache("guarded")

        def loader():
            cache.evict(["k"])
            return "old"

        self.assertEqual(cache.load("k", loader), ("old", False))
        self.assertEqual(cache.load("k", lambda: "new"), ("new", False))

    def test_guarded_still_caches_when_another_key_was_invalidated(self):
        cache = pyjinhx_worker.LoadCache("guarded")

        def loader():
            cache.evict(["other"])
            return "v"

        cache.load("k", loader)
        self.assertEqual(cache.load("k", lambda: "w"), ("v", True))

    def test_an_unknown_policy_is_refused(self):
        with self.assertRaises(ValueError):
            pyjinhx_worker.LoadCache("lru")


class Session:
    """The adapter as a child process, driven line by line."""

    def __init__(self, args, env_overrides, tmp):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("PJX_") and k != "REDIS_URL"}
        env["PYTHONPATH"] = HERE + os.pathsep + env.get("PYTHONPATH", "")
        env["PJX_TRUTH_DB"] = os.path.join(tmp, "truth.db")
        env.update(env_overrides)
        self.proc = subprocess.Popen([sys.executable, ADAPTER] + args, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.stderr = []
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.stderr.append(line.decode("utf-8", "replace"))

    def send(self, op):
        self.proc.stdin.write((json.dumps(op) + "\n").encode())
        self.proc.stdin.flush()

    def next_event(self):
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("the adapter closed stdout; stderr: %s" % "".join(self.stderr))
        return json.loads(line)

    def ask(self, op):
        """Sends op and returns every event up to its answer (the one with its id)."""
        self.send(op)
        events = []
        while True:
            event = self.next_event()
            events.append(event)
            if event.get("id") == op.get("id") and event["ev"] != "received":
                return events

    def finish(self):
        self.proc.stdin.close()
        rest = [json.loads(line) for line in self.proc.stdout.read().splitlines()]
        code = self.proc.wait()
        self._drain.join()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code, rest


class Program(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.record = os.path.join(self.tmp.name, "record.jsonl")

    def tearDown(self):
        self.tmp.cleanup()

    def session(self, extra_args=(), env=None):
        args = ["--backend", THIS_MODULE + ":FakeBackend",
                "--kwargs", json.dumps({"record": self.record})] + list(extra_args)
        overrides = {"PJX_INVALIDATION_DB": os.path.join(self.tmp.name, "inval.db"),
                     "PJX_INVALIDATION_CHANNEL": "chan", "PJX_POLL_INTERVAL": "0.05",
                     "PJX_RETENTION": "0.5"}
        overrides.update(env or {})
        return Session(args, overrides, self.tmp.name)

    def recorded(self):
        with open(self.record, encoding="utf-8") as f:
            return [json.loads(line) for line in f]

    def test_the_fake_is_built_from_the_environment_and_driven_through_every_op(self):
        s = self.session()
        s.send({"op": "start"})
        ready = s.next_event()
        self.assertEqual(ready["ev"], "ready")
        self.assertEqual(ready["caps"], ["reads", "burst"])
        self.assertEqual(ready["protocol"], 2)
        self.assertEqual(ready["instance_id"], "f" * 32)
        self.assertIn(THIS_MODULE + ":FakeBackend", ready["impl"])

        self.assertEqual(s.ask({"op": "read", "id": 1, "key": "k"})[-1]["hit"], False)
        self.assertEqual(s.ask({"op": "read", "id": 2, "key": "k"})[-1]["hit"], True)
        # A remote invalidation of k (the fake echoes it back to the handler)
        # is reported as received and evicts k.
        events = s.ask({"op": "publish", "id": 3, "keys": ["echo:k"]})
        self.assertEqual([e["ev"] for e in events], ["received", "published"])
        self.assertEqual(events[0]["keys"], ["k"])
        self.assertEqual(s.ask({"op": "read", "id": 4, "key": "k"})[-1]["hit"], False)

        written = s.ask({"op": "write", "id": 5, "key": "k", "keys": ["k", "j"]})[-1]
        self.assertEqual((written["ev"], written["version"]), ("written", 1))
        read = s.ask({"op": "read", "id": 6, "key": "k"})[-1]
        self.assertEqual((read["version"], read["hit"]), (1, False))

        events = s.ask({"op": "burst", "id": 7, "publishes": [{"id": 8, "keys": ["a"]},
                                                              {"id": 9, "keys": ["b"]}]})
        self.assertEqual(sorted(e["id"] for e in events if e["ev"] == "published"), [8, 9])
        self.assertEqual(events[-1]["ev"], "burst_done")

        self.assertEqual(s.ask({"op": "publish", "id": 10, "keys": []})[-1]["ev"], "published")
        self.assertEqual(s.ask({"op": "ping", "id": 11})[-1]["ev"], "pong")
        unsupported = s.ask({"op": "stats", "id": 12})[-1]
        self.assertEqual((unsupported["ev"], unsupported["unsupported"]), ("error", True))
        s.send({"op": "stop"})
        self.assertEqual(s.next_event()["ev"], "stopped")
        code, _ = s.finish()
        self.assertEqual(code, 0)

        record = self.recorded()
        self.assertEqual(record[0], {"init": {"target": os.path.join(self.tmp.name, "inval.db"),
                                              "channel": "chan", "poll_interval": 0.05}})
        publishes = [entry["publish"] for entry in record[1:]]
        self.assertEqual(publishes[:2], [["echo:k"], ["j", "k"]])
        self.assertEqual(sorted(publishes[2:]), [["a"], ["b"]],
                         "an empty key set is not published")
        self.assertTrue(any("PJX_RETENTION=0.5 not passed" in line for line in s.stderr),
                        "a variable the constructor does not take is said on stderr")

    def test_a_publish_that_raises_is_an_error_and_a_logged_warning_an_event(self):
        s = self.session()
        s.send({"op": "start"})
        s.next_event()
        error = s.ask({"op": "publish", "id": 1, "keys": ["fail"]})[-1]
        self.assertEqual(error["ev"], "error")
        self.assertIn("ConnectionError", error["message"])
        events = s.ask({"op": "publish", "id": 2, "keys": ["warn"]})
        self.assertEqual([e["ev"] for e in events], ["warning", "published"])
        self.assertIn("a warning about warn", events[0]["message"])
        failed_write = s.ask({"op": "write", "id": 3, "key": "fail"})[-1]
        self.assertEqual((failed_write["ev"], failed_write["version"]), ("error", 1))
        code, _ = s.finish()
        self.assertEqual(code, 0)

    def test_reads_before_start_and_bad_lines_are_errors_that_do_not_end_the_worker(self):
        s = self.session()
        self.assertEqual(s.ask({"op": "read", "id": 1, "key": "k"})[-1]["ev"], "error")
        s.proc.stdin.write(b"not json\n\n[1]\n")
        s.proc.stdin.flush()
        self.assertTrue(s.next_event()["bad_line"])
        self.assertTrue(s.next_event()["bad_line"])
        self.assertEqual(s.ask({"op": "ping", "id": 2})[-1]["ev"], "pong")
        code, _ = s.finish()
        self.assertEqual(code, 0)

    def test_configuration_failures_are_fatal_with_status_2(self):
        cases = [
            (["--backend", "no_such_module_here:X"], {}, "PYTHONPATH"),
            (["--kwargs", "[1]"], {}, "not a JSON object"),
            (["--kwargs", "{"], {}, "not JSON"),
            ([], {"PJX_INVALIDATION_DB": ""}, "nothing to test"),
            (["--backend", THIS_MODULE + ":RejectingBackend"], {}, "not a usable path"),
        ]
        for args, env, expected in cases:
            with self.subTest(args=args, env=env):
                s = Session(["--backend", THIS_MODULE + ":FakeBackend"] + args,
                            {"PJX_INVALIDATION_DB": os.path.join(self.tmp.name, "db"), **env},
                            self.tmp.name)
                code, events = s.finish()
                self.assertEqual(code, 2)
                self.assertEqual(events[0]["ev"], "fatal")
                self.assertIn(expected, events[0]["message"])

    def test_help_and_version(self):
        out = subprocess.run([sys.executable, ADAPTER, "--help"], capture_output=True,
                             text=True, check=True).stdout
        self.assertIn("--backend MODULE:CLASS", out)
        self.assertIn("Exit status", out)
        version = subprocess.run([sys.executable, ADAPTER, "--version"], capture_output=True,
                                 text=True, check=True).stdout
        self.assertEqual(version.strip(), "pyjinhx_worker " + pyjinhx_worker.VERSION)
        bad = subprocess.run([sys.executable, ADAPTER, "--cache", "lru"], capture_output=True,
                             text=True)
        self.assertEqual(bad.returncode, 2)


class Emulation(unittest.TestCase):
    def test_it_refuses_a_redis_url_saying_so(self):
        import upstream_worker
        with self.assertRaises(ValueError) as caught:
            upstream_worker.SqliteInvalidationBackend("redis://localhost:6379/0")
        self.assertIn("only the SQLite backend", str(caught.exception))

    def test_run_as_a_program_it_is_the_adapter_with_its_own_class(self):
        with tempfile.TemporaryDirectory() as tmp:
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith("PJX_") and k != "REDIS_URL"}
            env["PJX_INVALIDATION_DB"] = os.path.join(tmp, "inval.db")
            out = subprocess.run([sys.executable, os.path.join(HERE, "upstream_worker.py")],
                                 input=b'{"op":"start"}\n{"op":"stop"}\n', env=env,
                                 capture_output=True, check=True).stdout.decode()
            ready = json.loads(out.splitlines()[0])
            self.assertIn("upstream_worker:SqliteInvalidationBackend", ready["impl"])
            self.assertEqual(len(ready["instance_id"]), 32)


if __name__ == "__main__":
    unittest.main()
