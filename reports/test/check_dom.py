#!/usr/bin/env python3
"""Checks a report page as Chromium built it (its --dump-dom output).

usage: check_dom.py DOM KIND [BENCH_JSON]
  KIND bench:        a bench-only page for BENCH_JSON
  KIND conformance:  a conformance-only page
  KIND mixed:        a page of both (the bench checks run against BENCH_JSON)

Bench checks: every delivery-latency plot (svg.plot.bench-latency-*) has a
logarithmic latency axis (data-y-scale="log") and one path.series per mode
(backend and wake) of the latency runs in BENCH_JSON; the summary tables
(table.bench-summary) have one row (tr.run) per run in BENCH_JSON. A
bench-only page has no verdict table and no conformance plot; a
conformance-only page has no bench table or plot. Prints each failure and
exits 1 if there is one.
"""

import json
import sys
from html.parser import HTMLParser


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.svgs = []  # (classes, attrs, set of data-series of path.series)
        self.summary_rows = 0
        self.tables = []  # (id, classes)
        self.ids = set()
        self._svg = None
        self._summary_depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "svg":
            self._svg = (classes, a, set())
            self.svgs.append(self._svg)
        elif tag == "path" and self._svg is not None and "series" in classes:
            self._svg[2].add(a.get("data-series", ""))
        elif tag == "table":
            self.tables.append((a.get("id", ""), classes))
            if "bench-summary" in classes:
                self._summary_depth += 1
        elif tag == "tr" and self._summary_depth and "run" in classes:
            self.summary_rows += 1

    def handle_endtag(self, tag):
        if tag == "svg":
            self._svg = None
        elif tag == "table" and self._summary_depth:
            self._summary_depth -= 1


def main():
    if len(sys.argv) not in (3, 4) or sys.argv[2] not in ("bench", "conformance", "mixed"):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    dom_path, kind = sys.argv[1], sys.argv[2]
    page = Page()
    with open(dom_path, encoding="utf-8") as f:
        page.feed(f.read())
    failures = []

    has_verdicts = any(t[0] == "verdicts" for t in page.tables)
    conformance_plots = [s for s in page.svgs if {"histogram", "cdf", "timeline"} & set(s[0])]
    bench_plots = [s for s in page.svgs if any(c.startswith("bench-") for c in s[0])]
    bench_tables = [t for t in page.tables if {"bench-summary", "bench-details"} & set(t[1])]

    if kind == "bench":
        if has_verdicts:
            failures.append("a bench-only page has a verdict table (table#verdicts)")
        if conformance_plots or "scenarios" in page.ids:
            failures.append("a bench-only page has conformance sections (scenarios, histogram, CDF or timeline)")
    if kind == "conformance":
        if bench_plots or bench_tables or "benchmarks" in page.ids:
            failures.append("a conformance-only page has bench sections (tables or plots)")
        if not has_verdicts:
            failures.append("a conformance page has no verdict table (table#verdicts)")

    if kind in ("bench", "mixed"):
        if len(sys.argv) != 4:
            print("check_dom.py: KIND %s needs BENCH_JSON" % kind, file=sys.stderr)
            return 2
        with open(sys.argv[3], encoding="utf-8") as f:
            runs = json.load(f)["runs"]
        modes = {(r["params"].get("backend", "sqlite"), r["params"].get("wake", ""))
                 for r in runs if r["bench"] == "latency"}
        latency_plots = [s for s in page.svgs if any(c.startswith("bench-latency-") for c in s[0])]
        if modes and not latency_plots:
            failures.append("no delivery-latency plot (svg.bench-latency-*)")
        for classes, attrs, series in latency_plots:
            name = attrs.get("aria-label", " ".join(classes))
            if attrs.get("data-y-scale") != "log":
                failures.append("%s: the latency axis is not logarithmic (data-y-scale=%r)"
                                % (name, attrs.get("data-y-scale")))
            if len(series) != len(modes):
                failures.append("%s: %d series paths %s, but the data has %d modes %s"
                                % (name, len(series), sorted(series), len(modes), sorted(modes)))
        if page.summary_rows != len(runs):
            failures.append("the summary tables (table.bench-summary) have %d run rows, the data %d runs"
                            % (page.summary_rows, len(runs)))

    for f in failures:
        print("check_dom.py: %s: %s" % (dom_path, f), file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
