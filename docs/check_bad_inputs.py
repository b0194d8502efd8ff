#!/usr/bin/env python3
"""Checks that every row of docs/bad-inputs.md names tests that exist.

Each table row of the catalogue ends with a "Test" cell holding one or more
names in backticks:
  `Suite.Name`             a GoogleTest case, listed by one of the --gtest binaries
  `ctest_name`             a test registered with ctest in --build-dir
  `scenario:FILE#WORKER`   a [[worker]] named WORKER in scenarios/*/FILE.toml
                           (run by the conformance_quick ctest)
Fails (exit 1) listing every row whose cell is empty or names something that
does not exist; exit 2 on bad usage.

usage: check_bad_inputs.py --catalogue FILE --build-dir DIR --scenarios DIR
                           --gtest BINARY [--gtest BINARY ...]
"""
import argparse
import json
import pathlib
import re
import subprocess
import sys


def gtest_names(binary):
    out = subprocess.run([binary, "--gtest_list_tests"], check=True, capture_output=True,
                         text=True).stdout
    names, suite = set(), None
    for line in out.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            suite = line.split("#")[0].strip().rstrip(".")
        else:
            names.add(f"{suite}.{line.split('#')[0].strip()}")
    return names


def ctest_names(build_dir):
    out = subprocess.run(["ctest", "--show-only=json-v1"], cwd=build_dir, check=True,
                         capture_output=True, text=True).stdout
    return {t["name"] for t in json.loads(out)["tests"]}


def scenario_workers(scenarios_dir, file_stem):
    workers = set()
    for path in pathlib.Path(scenarios_dir).glob(f"*/{file_stem}.toml"):
        in_worker = False
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith("["):
                in_worker = stripped == "[[worker]]"
            m = re.match(r'name\s*=\s*"([^"]*)"', stripped)
            if in_worker and m:
                workers.add(m.group(1))
    return workers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--catalogue", required=True)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--scenarios", required=True)
    ap.add_argument("--gtest", action="append", default=[])
    args = ap.parse_args()

    gtests = set()
    for binary in args.gtest:
        gtests |= gtest_names(binary)
    ctests = ctest_names(args.build_dir)

    problems, rows = [], 0
    in_table, test_col = False, None
    for number, line in enumerate(pathlib.Path(args.catalogue).read_text().splitlines(), 1):
        if not line.startswith("|"):
            in_table, test_col = False, None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not in_table:  # header row
            in_table = True
            test_col = cells.index("Test") if "Test" in cells else None
            if test_col is None:
                problems.append(f"line {number}: table without a 'Test' column")
            continue
        if set(line) <= set("|-: "):  # separator row
            continue
        if test_col is None:
            continue
        rows += 1
        names = re.findall(r"`([^`]+)`", cells[test_col] if test_col < len(cells) else "")
        if not names:
            problems.append(f"line {number}: no test named: {line}")
        for name in names:
            if name.startswith("scenario:"):
                stem, _, worker = name[len("scenario:"):].partition("#")
                if worker not in scenario_workers(args.scenarios, stem):
                    problems.append(f"line {number}: no worker '{worker}' in scenarios/*/{stem}.toml")
                elif "conformance_quick" not in ctests:
                    problems.append(f"line {number}: ctest conformance_quick (which runs {name}) is missing")
            elif "." in name:
                if name not in gtests:
                    problems.append(f"line {number}: no GoogleTest case {name} in "
                                    f"{', '.join(pathlib.Path(b).name for b in args.gtest)}")
            elif name not in ctests:
                problems.append(f"line {number}: no ctest named {name}")
    for p in problems:
        print(f"{args.catalogue}:{p}", file=sys.stderr)
    print(f"bad-inputs catalogue: {rows} rows, {len(problems)} problems, "
          f"{len(gtests)} gtest cases and {len(ctests)} ctests known")
    return 1 if problems or rows == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
