#!/usr/bin/env python3
"""Tests of adapter_conformance.py: how it judges each scenario's ending, and
its second run of a scenario that failed only on timing, against a fake
harness that writes a results.json (no worker, no timing).

    python3 -m unittest adapter_conformance_test     (from harness/worker/)
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, HERE)

import adapter_conformance as ac  # noqa: E402  (after the path is set)


def scenario(name, verdict, failing=(), passing=("fanout",)):
    checks = [{"name": c, "verdict": "fail", "measured": "p99 160 ms", "bound": "p99 <= 150"}
              for c in failing]
    checks += [{"name": c, "verdict": "pass"} for c in passing]
    return {"name": name, "verdict": verdict, "checks": checks}


def expected_endings():
    """Every scenario EXPECTED lists, ending as listed."""
    out = []
    for name, (verdict, must_fail) in sorted(ac.EXPECTED.items()):
        out.append(scenario(name, verdict, failing=sorted(must_fail)))
    return out


class ScenarioProblems(unittest.TestCase):
    def test_a_listed_ending_is_no_problem(self):
        for s in expected_endings():
            self.assertEqual(ac.scenario_problems(s), [], s["name"])

    def test_stale_reads_alone_is_tolerated_where_pass_is_expected(self):
        self.assertEqual(ac.scenario_problems(scenario("fanout", "fail", ["stale_reads"])), [])

    def test_a_fail_with_no_failing_check_is_never_tolerated(self):
        # e.g. a scenario expecting `reproduced` whose check saw nothing
        self.assertEqual(ac.scenario_problems(scenario("fanout", "fail")),
                         ["fanout: fail, expected pass (failing checks: none)"])
        self.assertEqual(ac.scenario_problems(scenario("fanout", "fail"), ignore=ac.TIMING),
                         ["fanout: fail, expected pass (failing checks: none)"])

    def test_latency_is_a_problem_unless_ignored(self):
        s = scenario("latency-polling", "fail", ["latency", "stale_reads"])
        self.assertEqual(ac.scenario_problems(s),
                         ["latency-polling: fail, expected pass "
                          "(failing checks: latency, stale_reads)"])
        self.assertEqual(ac.scenario_problems(s, ignore=ac.TIMING), [])

    def test_an_unexpected_check_beside_latency_is_not_timing_only(self):
        results = {"scenarios": [scenario("latency", "fail", ["latency", "fanout"]),
                                 scenario("lock-contention", "fail",
                                          ["lock_contention", "latency"]),
                                 scenario("pruning", "pass")]}
        self.assertEqual([s["name"] for s in ac.timing_only(results)], ["lock-contention"])

    def test_an_error_is_never_timing_only(self):
        results = {"scenarios": [scenario("latency", "error", ["latency"])]}
        self.assertEqual(ac.timing_only(results), [])


# A stand-in for pjx-harness: writes the results its --json names, from
# the scenarios in FAKE_FIRST (no --filter) or FAKE_AGAIN (with --filter),
# and logs its arguments to FAKE_LOG.
FAKE_HARNESS = textwrap.dedent("""\
    import json, os, sys
    args = sys.argv[1:]
    with open(os.environ["FAKE_LOG"], "a") as log:
        log.write(json.dumps(args) + "\\n")
    source = os.environ["FAKE_AGAIN" if "--filter" in args else "FAKE_FIRST"]
    with open(args[args.index("--json") + 1], "w") as out:
        out.write(open(source).read())
    sys.exit(0)
    """)


class SecondRun(unittest.TestCase):
    def run_main(self, first, again):
        with tempfile.TemporaryDirectory() as tmp:
            harness = os.path.join(tmp, "fake_harness.py")
            with open(harness, "w") as f:
                f.write(FAKE_HARNESS)
            os.chmod(harness, 0o755)
            env = dict(os.environ, FAKE_LOG=os.path.join(tmp, "log"),
                       FAKE_FIRST=os.path.join(tmp, "first.json"),
                       FAKE_AGAIN=os.path.join(tmp, "again.json"))
            for key, scenarios in (("FAKE_FIRST", first), ("FAKE_AGAIN", again)):
                with open(env[key], "w") as f:
                    json.dump({"scenarios": scenarios}, f)
            wrapper = os.path.join(tmp, "harness")
            with open(wrapper, "w") as f:
                f.write("#!/bin/sh\nexec %s %s \"$@\"\n" % (sys.executable, harness))
            os.chmod(wrapper, 0o755)
            done = subprocess.run(
                [sys.executable, os.path.join(HERE, "adapter_conformance.py"),
                 "--harness", wrapper, "--scenarios", tmp, "--out", tmp],
                env=env, capture_output=True, text=True, timeout=60)
            with open(env["FAKE_LOG"]) as f:
                calls = [json.loads(line) for line in f]
            return done.returncode, done.stdout, calls

    def test_a_timing_failure_that_passes_again_is_accepted_and_said(self):
        first = expected_endings() + [scenario("latency-polling", "fail", ["latency"])]
        again = [scenario("latency-polling", "pass")]
        code, out, calls = self.run_main(first, again)
        self.assertEqual(code, 0, out)
        self.assertEqual(len(calls), 2)
        self.assertEqual(calls[1][calls[1].index("--filter") + 1], "latency-polling")
        again_json = calls[1][calls[1].index("--json") + 1]
        self.assertEqual(os.path.basename(os.path.dirname(again_json)), "again",
                         "the second run writes into a folder of its own")
        self.assertIn("latency-polling failed only on timing: latency p99 160 ms", out)
        self.assertIn("latency-polling ended as expected when run again", out)

    def test_a_timing_failure_that_repeats_fails_the_test(self):
        first = expected_endings() + [scenario("latency", "fail", ["latency"])]
        code, out, calls = self.run_main(first, first)
        self.assertEqual(code, 1, out)
        self.assertEqual(len(calls), 2)
        self.assertIn("latency failed on timing again", out)
        self.assertIn("latency: fail, expected pass (failing checks: latency)", out)

    def test_any_other_failure_is_not_run_again(self):
        first = expected_endings() + [scenario("fanout", "fail", ["fanout"])]
        code, out, calls = self.run_main(first, first)
        self.assertEqual(code, 1, out)
        self.assertEqual(len(calls), 1)


if __name__ == "__main__":
    unittest.main()
