#!/usr/bin/env python3
"""Generates the report test data: results.json, bench.json, bench-old.json and histories/*.jsonl.

The files follow harness/HISTORY.md: a latency scenario that passes (with
details.latencies_ms), a stall-longer-than-retention scenario that reproduces
the documented stale-data failure (pause fault window, stale windows), a failed
scenario (lock window, kill/restart, clock step, a planted defect) with
evidence, a skip and an error. Everything is derived from a fixed seed, so
running this again rewrites byte-identical files.

Usage: python3 gen_testdata.py [OUT_DIR]   (default: the directory of this file)
"""

import json
import os
import random
import sys

MS = 1_000_000  # nanoseconds per millisecond
T0 = 3_600_123_456_789  # CLOCK_MONOTONIC at the first record: about an hour after boot
WALL0 = 1795694400  # 2026-11-26T12:00:00Z
SEED = 1
VERSION = "0.1.0"
WORKER_CMD = "pjx-worker"


def at(seconds):
    """Monotonic ns at `seconds` after T0."""
    return T0 + int(round(seconds * 1e9))


class History:
    """Collects records, then writes them in the order the harness observed them."""

    def __init__(self):
        self.records = []

    def add(self, rec, observed=None):
        # ev records are observed at rt; everything else at its own t.
        self.records.append((observed if observed is not None else rec["t"], len(self.records), rec))

    def ev(self, t, worker, ev, **fields):
        rt = t + 180_000 + (len(self.records) % 7) * 11_000
        rec = {"type": "ev", "t": t, "worker": worker, "ev": ev}
        rec.update(fields)
        rec["rt"] = rt
        self.add(rec, observed=rt)

    def rec(self, t, type_, **fields):
        rec = {"type": type_, "t": t}
        rec.update(fields)
        self.add(rec)

    def write(self, path):
        self.records.sort(key=lambda r: (r[0], r[1]))
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            for _, _, rec in self.records:
                f.write(json.dumps(rec, separators=(",", ":"), ensure_ascii=False) + "\n")

    def last_t(self):
        return max(r[0] for r in self.records)


def meta(name, guarantee, file, params, workers, checks, expect):
    return {
        "type": "meta", "t": T0, "scenario": name, "guarantee": guarantee, "file": file,
        "seed": SEED, "timing": "quick", "params": params,
        "workers": [{"name": w, "channel": params["channel"], "cmd": WORKER_CMD,
                     **({"defect": d} if d else {}), "env": {}} for w, d in workers],
        "checks": checks, "expect": expect, "wall_start": WALL0, "harness_version": VERSION,
        "worker_cmd": WORKER_CMD, "db_path": "/srv/ci/pjx-run-1/" + name + "/invalidation.db",
    }


def percentile(values, p):
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1)))))
    return s[k]


def start_workers(h, names, t, pid0):
    h.rec(at(t), "phase", name="start")
    for i, w in enumerate(names):
        h.rec(at(t + 0.002 * i), "spawn", worker=w, pid=pid0 + i)
    for i, w in enumerate(names):
        h.rec(at(t + 0.030 + 0.001 * i), "op", worker=w, op="start")
    for i, w in enumerate(names):
        h.ev(at(t + 0.045 + 0.004 * i), w, "ready", caps=["stats", "flush", "rejects_memory"],
             pid=pid0 + i, impl="pjx-inval 0.1.0 (sqlite)")


def stop_workers(h, names, t, pid_of):
    h.rec(at(t), "phase", name="teardown")
    for i, w in enumerate(names):
        h.rec(at(t + 0.001 * i), "op", worker=w, op="stop")
        h.ev(at(t + 0.004 + 0.001 * i), w, "stopped")
        h.rec(at(t + 0.010 + 0.001 * i), "exit", worker=w, pid=pid_of[w], status=0, expected=True)


def publish(h, worker, pid, t_s, commit_ms=1.2):
    keys = ["e:%d" % pid, "user:%d" % (pid % 5)]
    h.rec(at(t_s), "op", worker=worker, op="publish", id=pid, keys=keys)
    t_begin = at(t_s + 0.0003)
    t_commit = t_begin + int(commit_ms * MS)
    h.ev(t_commit, worker, "published", id=pid, t_begin=t_begin)
    return keys, t_commit


def latency_scenario(rng, out):
    name = "latency-within-poll-interval"
    params = {"poll_interval_ms": 50, "retention_ms": 60000, "channel": "pjx", "busy_timeout_ms": 5000}
    names = ["w0", "w1", "w2", "w3"]
    h = History()
    h.add(meta(name, "Every invalidation reaches every other worker within poll_interval (plus slack).",
               "scenarios/conformance/latency.toml", params, [(w, None) for w in names],
               ["latency", "delivery"], "pass"))
    h.rec(at(0.001), "phase", name="setup")
    start_workers(h, names, 0.010, 41000)
    h.rec(at(0.200), "phase", name="workload")
    lat = []
    per = {w: [] for w in names}
    worst = (0.0, "", 0)
    for pid in range(1, 31):
        pub = names[(pid - 1) % 4]
        t_s = 0.25 + 0.18 * pid + rng.uniform(0, 0.03)
        keys, t_commit = publish(h, pub, pid, t_s)
        for w in names:
            if w == pub:
                continue
            ms = round(rng.uniform(0.8, 48.5) + (rng.expovariate(1.0) if rng.random() < 0.1 else 0.0), 3)
            lat.append(ms)
            per[w].append(ms)
            if ms > worst[0]:
                worst = (ms, w, pid)
            h.ev(t_commit + int(ms * MS), w, "received", keys=keys)
    h.rec(at(6.0), "phase", name="quiesce")
    h.rec(at(6.2), "phase", name="check")
    stop_workers(h, names, 6.25, {w: 41000 + i for i, w in enumerate(names)})
    h.write(os.path.join(out, "histories", name + ".history.jsonl"))

    p50, p99, mx = percentile(lat, 50), percentile(lat, 99), max(lat)
    per_worker = {w: {"p50": percentile(v, 50), "p99": percentile(v, 99), "max": max(v)}
                  for w, v in sorted(per.items())}
    return {
        "name": name, "file": "scenarios/conformance/latency.toml",
        "guarantee": "Every invalidation reaches every other worker within poll_interval (plus slack).",
        "verdict": "pass", "expect": "pass", "duration_s": 6.3,
        "rerun": "pjx-harness run scenarios/conformance/latency.toml --seed 1 --timing quick",
        "history": "histories/" + name + ".history.jsonl",
        "metrics": {"latency_p50_ms": p50, "latency_p99_ms": p99, "latency_max_ms": mx,
                    "poll_interval_ms": 50, "workers": 4, "events": 30},
        "checks": [
            {"name": "latency", "verdict": "pass", "measured": "max %.1f ms" % mx,
             "bound": "<= poll_interval 50 ms + slack 250 ms",
             "summary": "%d deliveries, p50 %.1f ms, p99 %.1f ms" % (len(lat), p50, p99),
             "evidence": ["%s received e:%d %.1f ms after publish (largest)" % (worst[1], worst[2], worst[0])],
             "metrics": {"latency_max_ms": mx},
             "details": {"latencies_ms": lat, "per_worker": per_worker}},
            {"name": "delivery", "verdict": "pass", "measured": "90 of 90 deliveries",
             "bound": "every publish reaches every other worker",
             "summary": "30 publishes, each received by 3 workers", "evidence": [], "metrics": {}},
        ],
    }


def stall_scenario(rng, out):
    name = "stall-longer-than-retention"
    guarantee = ("A listener paused for longer than retention misses invalidations and keeps stale "
                 "entries (documented upstream failure).")
    params = {"poll_interval_ms": 100, "retention_ms": 1000, "channel": "pjx", "busy_timeout_ms": 5000}
    names = ["w0", "w1", "w2"]
    h = History()
    h.add(meta(name, guarantee, "scenarios/conformance/stall_retention.toml", params,
               [(w, None) for w in names], ["staleness"], "reproduced"))
    h.rec(at(0.001), "phase", name="setup")
    start_workers(h, names, 0.010, 42000)
    h.rec(at(0.200), "phase", name="workload")
    commits = {}
    for pid in range(1, 4):
        keys, tc = publish(h, "w0", pid, 0.3 + 0.3 * pid)
        commits[pid] = tc
        for w in ("w1", "w2"):
            h.ev(tc + int(rng.uniform(5, 95) * MS), w, "received", keys=keys)
    h.rec(at(1.45), "phase", name="faults")
    h.rec(at(1.5), "fault", action="pause", phase="begin", worker="w2", params={"signal": "SIGSTOP"})
    for pid in range(4, 13):
        keys, tc = publish(h, "w0", pid, 1.8 + 0.25 * (pid - 4))
        commits[pid] = tc
        h.ev(tc + int(rng.uniform(5, 95) * MS), "w1", "received", keys=keys)
    h.rec(at(4.5), "fault", action="pause", phase="end", worker="w2", params={"signal": "SIGCONT"})
    h.rec(at(4.5), "phase", name="heal")
    # Rows older than retention at the last publish (3.8 s) were pruned: ids 4..7.
    received = {}
    for pid in range(8, 13):
        t = at(4.56) + (pid - 8) * 20_000
        received[pid] = t
        h.ev(t, "w2", "received", keys=["e:%d" % pid, "user:%d" % (pid % 5)])
    h.rec(at(5.0), "phase", name="quiesce")
    h.rec(at(6.0), "phase", name="check")
    h.rec(at(6.01), "probe", what="integrity", ok=True, value="ok", detail="PRAGMA integrity_check")
    stop_workers(h, names, 6.05, {w: 42000 + i for i, w in enumerate(names)})
    end = h.last_t()
    h.write(os.path.join(out, "histories", name + ".history.jsonl"))

    windows = []
    for pid in range(4, 13):
        if pid in received:
            windows.append({"worker": "w2", "publish_id": pid, "from_t": commits[pid], "to_t": received[pid],
                            "closed_by": "received", "ms": round((received[pid] - commits[pid]) / MS, 3)})
        else:
            windows.append({"worker": "w2", "publish_id": pid, "from_t": commits[pid], "to_t": None,
                            "closed_by": "never", "ms": round((end - commits[pid]) / MS, 3)})
    max_stale = max(w["ms"] for w in windows)
    return {
        "name": name, "file": "scenarios/conformance/stall_retention.toml", "guarantee": guarantee,
        "verdict": "reproduced", "expect": "reproduced", "duration_s": 6.2,
        "rerun": "pjx-harness run scenarios/conformance/stall_retention.toml --seed 1 --timing quick",
        "history": "histories/" + name + ".history.jsonl",
        "metrics": {"stall_ms": 3000, "retention_ms": 1000, "missed_events": 4, "max_stale_ms": max_stale},
        "checks": [
            {"name": "staleness", "verdict": "reproduced",
             "measured": "4 invalidations never reached w2; max stale %.0f ms" % max_stale,
             "bound": "stale for at most poll_interval 100 ms + slack 250 ms (expected to be violated)",
             "summary": "w2 paused 3000 ms > retention 1000 ms; e:4..e:7 pruned before it resumed, no flush",
             "evidence": ["w2 never received e:%d (published by w0 at %.2f s)" % (p, (commits[p] - T0) / 1e9)
                          for p in range(4, 8)],
             "metrics": {"missed_events": 4, "max_stale_ms": max_stale},
             "details": {"stale_windows": windows}},
        ],
    }


def failed_scenario(rng, out):
    name = "no-lost-invalidations-under-faults"
    guarantee = ("Every committed invalidation reaches every live worker, or that worker flushes, "
                 "despite a held lock, a killed worker and a wall-clock step.")
    params = {"poll_interval_ms": 50, "retention_ms": 2000, "channel": "pjx", "busy_timeout_ms": 500}
    names = ["w0", "w1", "w2"]
    h = History()
    h.add(meta(name, guarantee, "scenarios/conformance/faults_mix.toml", params,
               [("w0", None), ("w1", None), ("w2", "ignore-gap")], ["delivery", "staleness", "integrity"],
               "pass"))
    h.rec(at(0.001), "phase", name="setup")
    start_workers(h, names, 0.010, 43000)
    h.rec(at(0.200), "phase", name="workload")
    pid_of = {w: 43000 + i for i, w in enumerate(names)}
    commits = {}
    stale = []
    h.rec(at(1.4), "phase", name="faults")
    h.rec(at(1.5), "fault", action="lock", phase="begin", params={"hold_ms": 800, "mode": "BEGIN EXCLUSIVE"})
    h.rec(at(2.3), "fault", action="lock", phase="end", params={})
    h.rec(at(3.0), "fault", action="kill", phase="instant", worker="w1", params={"signal": "SIGKILL"})
    h.rec(at(3.004), "exit", worker="w1", pid=pid_of["w1"], status=-9, expected=True)
    h.rec(at(3.5), "fault", action="restart", phase="instant", worker="w1", params={})
    pid_of["w1"] = 43010
    h.rec(at(3.501), "spawn", worker="w1", pid=pid_of["w1"])
    h.rec(at(3.53), "op", worker="w1", op="start")
    h.ev(at(3.56), "w1", "ready", caps=["stats", "flush", "rejects_memory"], pid=pid_of["w1"],
         impl="pjx-inval 0.1.0 (sqlite)")
    h.rec(at(4.4), "fault", action="clock_step", phase="instant", params={"offset_s": -30})
    for pid in range(1, 19):
        pub = "w0" if pid % 2 else "w2"
        t_s = 0.3 + 0.3 * pid
        if 1.5 <= t_s < 2.3:
            # The lock outlasts busy_timeout: the publish fails and is not committed.
            keys = ["e:%d" % pid, "user:%d" % (pid % 5)]
            h.rec(at(t_s), "op", worker=pub, op="publish", id=pid, keys=keys)
            h.ev(at(t_s + 0.5005), pub, "error", id=pid, message="database is locked (busy_timeout 500 ms)")
            continue
        keys, tc = publish(h, pub, pid, t_s)
        commits[pid] = (pub, tc)
        for w in names:
            if w == pub or (w == "w1" and 3.0 <= t_s < 3.56):
                continue  # a worker does not hear itself; w1 is dead until it is ready again
            if pid in (15, 17) and w == "w2":
                continue  # the planted defect: w2 ignores the gap the clock step caused
            if pid == 15 and w == "w1":
                h.ev(at(4.95), "w1", "flushed", reason="gap")
                stale.append({"worker": "w1", "publish_id": 15, "from_t": tc, "to_t": at(4.95),
                              "closed_by": "flushed", "ms": round((at(4.95) - tc) / MS, 3)})
                continue
            h.ev(tc + int(rng.uniform(3, 48) * MS), w, "received", keys=keys)
    h.rec(at(5.9), "phase", name="heal")
    h.rec(at(6.0), "phase", name="quiesce")
    h.rec(at(6.9), "phase", name="check")
    h.rec(at(6.91), "probe", what="integrity", ok=True, value="ok", detail="PRAGMA integrity_check")
    stop_workers(h, names, 6.95, pid_of)
    end = h.last_t()
    h.write(os.path.join(out, "histories", name + ".history.jsonl"))

    missing = [15, 17]
    for p in missing:
        stale.append({"worker": "w2", "publish_id": p, "from_t": commits[p][1], "to_t": None,
                      "closed_by": "never", "ms": round((end - commits[p][1]) / MS, 3)})
    stale.sort(key=lambda w: (w["from_t"], w["worker"]))
    max_stale = max(w["ms"] for w in stale)
    evidence = ["w2 never received e:%d (published by %s at %.2f s) and did not flush" %
                (p, commits[p][0], (commits[p][1] - T0) / 1e9) for p in missing]
    evidence.append("w2 runs with planted defect 'ignore-gap'")
    return {
        "name": name, "file": "scenarios/conformance/faults_mix.toml", "guarantee": guarantee,
        "verdict": "fail", "expect": "pass", "duration_s": 7.0,
        "rerun": "pjx-harness run scenarios/conformance/faults_mix.toml --seed 1 --timing quick",
        "history": "histories/" + name + ".history.jsonl",
        "metrics": {"missed_events": len(missing), "max_stale_ms": max_stale, "poll_interval_ms": 50},
        "checks": [
            {"name": "delivery", "verdict": "fail",
             "measured": "%d committed invalidations never reached w2" % len(missing),
             "bound": "0 lost (received or flushed)",
             "summary": "%d publishes committed, 3 failed under the lock (not committed)" % len(commits),
             "evidence": evidence, "metrics": {"missed_events": len(missing)}},
            {"name": "staleness", "verdict": "fail", "measured": "max stale %.0f ms (never closed)" % max_stale,
             "bound": "<= poll_interval 50 ms + slack 250 ms",
             "summary": "w1 flushed after the clock step; w2 stayed stale until the end of the run",
             "evidence": evidence[:-1], "metrics": {"max_stale_ms": max_stale},
             "details": {"stale_windows": stale}},
            {"name": "integrity", "verdict": "pass", "measured": "ok", "bound": "PRAGMA integrity_check = ok",
             "summary": "database intact after the faults", "evidence": [], "metrics": {}},
        ],
    }


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    os.makedirs(os.path.join(out, "histories"), exist_ok=True)
    rng = random.Random(SEED)
    scenarios = [latency_scenario(rng, out), stall_scenario(rng, out), failed_scenario(rng, out)]
    scenarios.append({
        "name": "flush-on-gap", "file": "scenarios/conformance/flush_on_gap.toml",
        "guarantee": "A worker that detects missed rows drops its whole cache (flushed event).",
        "verdict": "skip", "expect": "pass", "duration_s": 0.4,
        "rerun": "pjx-harness run scenarios/conformance/flush_on_gap.toml --seed 1 --timing quick",
        "note": "worker 'python3 -m pyjinhx_worker' does not list capability 'flush'",
        "metrics": {}, "checks": []})
    scenarios.append({
        "name": "replace-db-file", "file": "scenarios/conformance/replace_db.toml",
        "guarantee": "A worker whose database file is replaced under it flushes and keeps delivering.",
        "verdict": "error", "expect": "pass", "duration_s": 0.9,
        "rerun": "pjx-harness run scenarios/conformance/replace_db.toml --seed 1 --timing quick",
        "note": "setup failed: w1 exited with status 1 before the workload "
                "(fatal: unable to open database file)",
        "metrics": {}, "checks": []})
    counts = {"pass": 0, "fail": 0, "skip": 0, "error": 0, "reproduced": 0}
    for s in scenarios:
        counts[s["verdict"]] += 1
    results = {
        "tool": "pjx-harness", "version": VERSION, "schema": 1,
        "command": "pjx-harness conform --timing quick --seed 1",
        "started_at": "2026-11-26T12:00:00Z", "duration_s": 21.7,
        "machine": {"hostname": "ci-runner-7", "kernel": "Linux 6.1.0-27-amd64", "cpus": 2,
                    "memory_gib": 24, "sqlite": "3.40.1", "filesystem": "ext4"},
        "commit": "abc1234", "worker_cmd": WORKER_CMD, "backend": "sqlite", "timing": "quick", "seed": SEED,
        "scenarios": scenarios, "summary": counts,
    }
    with open(os.path.join(out, "results.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(results, f, indent=2, ensure_ascii=False)
        f.write("\n")

    old_runs = []  # bench.json as written before wake modes, ratios and load (still rendered)
    for workers in (2, 4, 8, 16):
        old_runs.append({"bench": "latency", "params": {"workers": workers, "poll_interval_ms": 50, "backend": "sqlite"},
                         "metrics": {"p50_ms": round(25.5 + 0.3 * workers, 1), "p99_ms": round(50.2 + 1.1 * workers, 1),
                                     "max_ms": round(53.0 + 2.4 * workers, 1)}})
    for poll in (10, 25, 100, 200):
        old_runs.append({"bench": "latency", "params": {"workers": 4, "poll_interval_ms": poll, "backend": "sqlite"},
                         "metrics": {"p50_ms": round(poll / 2 + 1.4, 1), "p99_ms": round(poll * 0.99 + 4.6, 1),
                                     "max_ms": round(poll * 1.02 + 9.7, 1)}})
    for pubs, cps in ((1, 2150.0), (2, 2890.0), (4, 3120.0), (8, 3050.0)):
        base = 1e6 / cps * pubs
        old_runs.append({"bench": "throughput", "params": {"publishers": pubs},
                         "metrics": {"commits_per_s": cps, "p50_us": round(base * 0.9), "p99_us": round(base * 3.1),
                                     "p999_us": round(base * 6.8), "max_us": round(base * 14.0)}})
    old_runs.append({"bench": "idle", "params": {"workers": 8, "poll_interval_ms": 50},
                     "metrics": {"cpu_percent_per_worker": 0.42, "polls_per_s": 19.9}})
    old_runs.append({"bench": "growth", "params": {"publish_rate_per_s": 200, "retention_ms": 60000},
                     "metrics": {"rows_max": 12044, "db_bytes_max": 2961408}})
    old = {"tool": "pjx-harness", "kind": "bench", "version": VERSION,
           "command": "pjx-harness bench --quick",
           "machine": results["machine"], "commit": "abc1234", "started_at": "2026-11-26T12:05:00Z",
           "runs": old_runs}
    write_json(os.path.join(out, "bench-old.json"), old)

    bench = {"tool": "pjx-harness", "kind": "bench", "schema": 1, "version": VERSION,
             "machine": results["machine"], "commit": "abc1234", "started_at": "2026-11-26T12:05:00Z",
             "command": "pjx-harness bench --workers 1,4,16 --poll 0.05,0.5 --wake all --backend both "
                        "--idle-workers 4 --publishers 1,2,4,8 --growth-publishers 1,4 --duration 6",
             "worker_cmd": WORKER_CMD, "runs": bench_runs(random.Random(SEED))}
    write_json(os.path.join(out, "bench.json"), bench)


def write_json(path, doc):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")


def bench_runs(rng):
    """Runs shaped as harness/run/bench.cpp writes them, for pjx-harness bench --backend both.

    Latency for every wake mode and Redis (16 workers, poll 500 ms, wake wal misses 2
    deliveries, for the highlight); idle, throughput and growth (with size series)."""
    load = [0.40, 0.35, 0.30]

    def stamp(run):
        run["load_before"] = " ".join("%.2f" % v for v in load)
        for i in range(3):
            load[i] = round(load[i] + 0.05 / (i + 1), 2)
        run["load_after"] = " ".join("%.2f" % v for v in load)
        run["params"]["runs"] = 1
        return run

    runs = []
    modes = [("sqlite", "off"), ("sqlite", "wal"), ("sqlite", "on"), ("redis", "n/a")]
    for poll in (50.0, 500.0):
        for workers in (1, 4, 16):
            for backend, wake in modes:
                if wake == "off":
                    p50, p99, mx = poll * (0.5 + rng.uniform(-0.03, 0.03)), poll * 0.99, poll * 1.01
                elif backend == "redis":
                    p50, p99 = 0.08 + 0.01 * workers, 0.2 + 0.03 * workers
                    mx = p99 * 1.3
                else:
                    scale = 1.0 if wake == "on" else 1.6
                    p50 = scale * (0.3 + 0.08 * workers) * rng.uniform(0.9, 1.1)
                    p99 = scale * (1.5 + 0.4 * workers) * rng.uniform(0.9, 1.1)
                    mx = p99 * 1.4
                events = 40
                missing = 2 if (poll == 500.0 and workers == 16 and wake == "wal") else 0
                deliveries = events * workers - missing
                wakes = 0 if wake in ("off", "n/a") else int(events * workers * (1.1 if wake == "on" else 4.5))
                empty = int(wakes * (0.05 if wake == "on" else 0.7))
                metrics = {
                    "p50_ms": round(p50, 3), "p99_ms": round(p99, 3), "max_ms": round(mx, 3),
                    "publish_call_p50_ms": 0.13, "publish_call_p99_ms": 0.25,
                    "p50_after_return_ms": round(p50 - 0.13, 3), "p99_after_return_ms": round(p99 - 0.2, 3),
                    "p50_over_poll": round(p50 / poll, 3), "p99_over_poll": round(p99 / poll, 3),
                    "max_over_poll": round(mx / poll, 3),
                    "deliveries": deliveries, "missing": missing, "errors": 0,
                    "cpu_ms_per_s_per_worker": round(2.0 + rng.uniform(0, 6), 6),
                    "cpu_ticks_ms_per_s_per_worker": round(2.0 + rng.uniform(0, 6), 6),
                    "load_s": round(events * poll / 2000, 3)}
                metrics["cpu_percent_per_worker"] = round(metrics["cpu_ms_per_s_per_worker"] / 10, 6)
                if backend == "sqlite":
                    metrics.update({"wakes": wakes, "doorbell_wakes": wakes - empty if wake == "on" else 0,
                                    "empty_wakes": empty, "timed_polls": int(events * poll / 100),
                                    "wake_failures": 0,
                                    "empty_wake_rate": round(empty / wakes, 3) if wakes else 0.0})
                params = {"workers": workers, "poll_interval_ms": poll, "wake": wake, "backend": backend,
                          "latency_from": "publish_begin", "events": events}
                if backend == "redis":
                    params["redis_version"] = "7.0.15"
                runs.append(stamp({"bench": "latency", "params": params, "metrics": dict(sorted(metrics.items()))}))
    for poll in (50.0, 500.0):
        for wake in ("off", "wal", "on"):
            ms = round((6.0 if poll == 50.0 else 0.7) * (1.3 if wake != "off" else 1.0) * rng.uniform(0.9, 1.1), 6)
            runs.append(stamp({"bench": "idle",
                               "params": {"workers": 4, "poll_interval_ms": poll, "wake": wake,
                                          "backend": "sqlite", "duration_s": 6.0},
                               "metrics": {"cpu_ms_per_s_per_worker": ms, "cpu_percent_per_worker": round(ms / 10, 6),
                                           "cpu_ticks_ms_per_s_per_worker": round(ms * 1.1, 6),
                                           "elapsed_s": 6.001, "tick_ms": 10.0}}))
    runs.append(stamp({"bench": "idle",
                       "params": {"workers": 4, "poll_interval_ms": 500.0, "wake": "n/a",
                                  "backend": "redis", "duration_s": 6.0},
                       "metrics": {"cpu_ms_per_s_per_worker": 0.05, "cpu_percent_per_worker": 0.005,
                                   "cpu_ticks_ms_per_s_per_worker": 0.0, "elapsed_s": 6.0, "tick_ms": 10.0}}))
    for pubs, cps in ((1, 2150.0), (2, 2890.0), (4, 3120.0), (8, 3050.0)):
        base = 1e6 / cps * pubs
        runs.append(stamp({"bench": "throughput",
                           "params": {"publishers": pubs, "backend": "sqlite", "duration_s": 6.0},
                           "metrics": {"commits_per_s": cps, "commits": int(cps * 6), "p50_us": round(base * 0.9, 3),
                                       "p99_us": round(base * 3.1, 3), "p999_us": round(base * 6.8, 3),
                                       "max_us": round(base * 14.0, 3), "errors": 0, "busy_waits": 3 * pubs,
                                       "lost": 0, "elapsed_s": 6.002}}))
    for pubs, cps in ((1, 2100.0), (4, 3100.0)):
        retention = 5.0
        row_bytes = 61.0
        bound = cps * retention * row_bytes
        series = []
        for i in range(1, 61):
            t = i * 0.1
            db = int(min(t, retention) / retention * bound * 0.93) // 4096 * 4096 + 8192
            wal = int(((i * 37) % 70) / 70 * 4.2 * 1024 * 1024) // 4096 * 4096
            series.append([round(t, 3), db, wal])
        db_max = max(r[1] for r in series)
        wal_max = max(r[2] for r in series)
        runs.append(stamp({"bench": "growth",
                           "params": {"publishers": pubs, "backend": "sqlite", "retention_s": retention,
                                      "duration_s": 6.0, "sample_ms": 100},
                           "metrics": {"commits_per_s": cps, "commits": int(cps * 6), "db_max_bytes": db_max,
                                       "db_final_bytes": series[-1][1], "wal_max_bytes": wal_max,
                                       "wal_final_bytes": series[-1][2], "wal_max_after_1s_bytes": wal_max,
                                       "wal_target_bytes": 8388608.0, "wal_max_over_target": round(wal_max / 8388608, 3),
                                       "rows_final": int(cps * retention * 0.93), "rows_bound": cps * retention,
                                       "row_bytes": row_bytes, "db_bound_bytes": bound,
                                       "db_max_over_bound": round(db_max / bound, 3), "errors": 0, "busy_waits": 2,
                                       "lost": 0, "elapsed_s": 6.001},
                           "series": series}))
    return runs

if __name__ == "__main__":
    main()
