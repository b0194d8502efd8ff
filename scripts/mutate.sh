#!/usr/bin/env bash
# Mutation testing of the library (issue #17, part 3): how many deliberate
# bugs in impl/src/ does the conformance suite catch?
#
#   scripts/mutate.sh --check                 every mutation of the catalogue applies exactly once (fast)
#   scripts/mutate.sh                         run every mutant; table and score
#   scripts/mutate.sh --only ID,ID            run these mutants only
#
# Options:
#   --check                only verify the catalogue against impl/src/ (no build)
#   --only ID,...          run only these entries
#   --jobs N               compile jobs for the private build (default: nproc);
#                          mutants always run one at a time, so that conformance
#                          runs do not compete for the CPU
#   --harness PATH         the pjx-harness to judge with, built from the
#                          unmutated tree (default: build/ci/bin/pjx-harness)
#   --catalogue FILE       default: scripts/mutations.txt (format described there)
#   --markdown FILE        also write the result table as Markdown to FILE
#   --run-equivalent       also run the mutants marked equivalent (never scored)
#   --no-baseline          skip the run of the unmutated copy
#
# Without --check: copies the source tree (what is on disk now, without
# build/ and .git) to a private temporary folder, configures one build of it
# (its own build folder, ccache when installed) and builds pjx-worker from
# the unmutated copy, which must pass the suites (the baseline). Then, for
# each mutant in turn, it writes the mutated file into the copy, rebuilds
# pjx-worker (one file and a link), runs the suite against it:
#
#   pjx-harness conform --timing quick --require-caps --worker-cmd <mutant pjx-worker>
#                       [--backend redis]
#
# (the Redis suite starts its own redis-server), restores the file, and
# records killed (the suite exited non-zero: which scenarios and checks
# failed) or survived. The score is killed / run, equivalent mutants left out.
# Nothing of the tree under test is modified; the temporary folder is removed
# at exit, also on Ctrl-C.
#
# Exit status: 0 the run (or --check) completed; 1 --check found a mutation
# that does not apply exactly once (or a bad entry); 2 usage, a build of the
# copy or a mutant failed, or the baseline did not pass.
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true

root=$(cd "$(dirname "$0")/.." && pwd)
catalogue=$root/scripts/mutations.txt
harness=$root/build/ci/bin/pjx-harness
check_only=0
only=""
jobs=$(nproc 2>/dev/null || echo 2)
markdown=""
run_equivalent=0
baseline=1

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --check) check_only=1 ;;
    --only) only=${2:?--only needs IDs}; shift ;;
    --jobs) jobs=${2:?--jobs needs a number}; shift ;;
    --harness) harness=${2:?--harness needs a path}; shift ;;
    --catalogue) catalogue=${2:?--catalogue needs a file}; shift ;;
    --markdown) markdown=${2:?--markdown needs a file}; shift ;;
    --run-equivalent) run_equivalent=1 ;;
    --no-baseline) baseline=0 ;;
    -h|--help) usage ;;
    *) echo "mutate.sh: unknown argument \"$1\"" >&2; usage ;;
  esac
  shift
done
case $jobs in ''|*[!0-9]*|0) echo "mutate.sh: --jobs \"$jobs\" must be a positive number" >&2; exit 2 ;; esac
[ -f "$catalogue" ] || { echo "mutate.sh: no catalogue \"$catalogue\"" >&2; exit 2; }
command -v python3 >/dev/null || { echo "mutate.sh: python3 is needed (scripts/install-deps.sh installs it)" >&2; exit 2; }

# The text work (parsing the catalogue, applying a mutation, reading
# results.json) is done by this Python helper; the shell does the rest.
read -r -d '' helper <<'PY' || true
import json, re, sys

FIELDS = ("id", "file", "find", "replace", "suite", "equivalent", "desc")

def parse(path):
    entries, cur, errors = [], None, []
    def close(lineno):
        nonlocal cur
        if cur is not None:
            entries.append(cur)
        cur = None
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if line.startswith("#"):
                continue
            if line.strip() == "":
                close(lineno)
                continue
            m = re.match(r"([a-z]+): ?(.*)$", line)
            if not m or m.group(1) not in FIELDS:
                errors.append(f"{path}:{lineno}: not a `field: value` line of a known field: {line!r}")
                continue
            if cur is None:
                cur = {"line": lineno}
            if m.group(1) in cur:
                errors.append(f"{path}:{lineno}: field {m.group(1)} given twice in one entry")
            cur[m.group(1)] = m.group(2).replace("{NL}", "\n")
    close(None)
    seen = set()
    for e in entries:
        where = f"{path}:{e['line']}"
        for field in ("id", "file", "find", "replace", "desc"):
            if not e.get(field):
                errors.append(f"{where}: entry {e.get('id', '?')} has no {field}")
        e.setdefault("suite", "sqlite")
        e.setdefault("equivalent", "")
        if e.get("id") and not re.fullmatch(r"[a-z0-9][a-z0-9-]*", e["id"]):
            errors.append(f"{where}: id {e['id']!r} must be lower-case letters, digits and '-'")
        if e.get("id") in seen:
            errors.append(f"{where}: id {e['id']} is used twice")
        seen.add(e.get("id"))
        if e["suite"] not in ("sqlite", "redis", "both"):
            errors.append(f"{where}: {e.get('id')}: suite {e['suite']!r} is not sqlite, redis or both")
        if e.get("file") and not e["file"].startswith("impl/src/"):
            errors.append(f"{where}: {e.get('id')}: file {e['file']} is not under impl/src/")
        if e.get("find") is not None and e.get("find") == e.get("replace"):
            errors.append(f"{where}: {e.get('id')}: replace equals find")
    return entries, errors

def select(entries, only):
    if not only:
        return entries, []
    wanted = [w for w in only.split(",") if w]
    ids = {e["id"] for e in entries}
    return [e for e in entries if e["id"] in wanted], [w for w in wanted if w not in ids]

def mutated(e, root):
    text = open(f"{root}/{e['file']}", encoding="utf-8").read()
    n = text.count(e["find"])
    if n != 1:
        return None, n
    return text.replace(e["find"], e["replace"], 1), 1

def main():
    cmd, catalogue = sys.argv[1], sys.argv[2]
    entries, errors = parse(catalogue)
    if cmd == "check":  # check CATALOGUE ROOT ONLY
        root, only = sys.argv[3], sys.argv[4]
        chosen, unknown = select(entries, only)
        errors += [f"--only: no entry {u} in {catalogue}" for u in unknown]
        for e in chosen:
            if errors and not e.get("file"):
                continue
            try:
                _, n = mutated(e, root)
            except OSError as err:
                errors.append(f"{e['id']}: cannot read {e['file']}: {err.strerror}")
                continue
            if n != 1:
                errors.append(f"{e['id']}: the text to find occurs {n} times in {e['file']}, not once "
                              f"(the source changed: update the catalogue entry): {e['find']!r}")
        for err in errors:
            print(f"mutate.sh --check: {err}", file=sys.stderr)
        eq = sum(1 for e in chosen if e["equivalent"])
        if errors:
            print(f"mutate.sh --check: {len(errors)} problem(s) in {catalogue}", file=sys.stderr)
            sys.exit(1)
        print(f"mutate.sh --check: {len(chosen)} mutations apply exactly once ({eq} marked equivalent)")
    elif cmd == "list":  # list CATALOGUE ONLY: id, file, suite, equivalent, desc, separated by US (0x1f)
        chosen, _ = select(entries, sys.argv[3])
        for e in chosen:
            print("\x1f".join(e[k].replace("\x1f", " ").replace("\n", " ") for k in ("id", "file", "suite", "equivalent", "desc")))
    elif cmd == "apply":  # apply CATALOGUE ID FROM_ROOT TO_ROOT
        e = next(e for e in entries if e["id"] == sys.argv[3])
        text, n = mutated(e, sys.argv[4])
        if text is None:
            print(f"mutate.sh: {e['id']}: the text to find occurs {n} times in {e['file']}", file=sys.stderr)
            sys.exit(1)
        with open(f"{sys.argv[5]}/{e['file']}", "w", encoding="utf-8") as f:
            f.write(text)
    elif cmd == "verdict":  # verdict RESULTS.json: names TAB "scenario(check,check) ..." of what failed
        try:
            results = json.load(open(sys.argv[3], encoding="utf-8"))
        except (OSError, ValueError):
            print("-\tno results.json")
            return
        names, parts = [], []
        for s in results.get("scenarios", []):
            if s.get("verdict") in ("pass", "skip"):
                continue
            failed = [c["name"] for c in s.get("checks", []) if c.get("verdict") not in ("pass", "skip")]
            names.append(s["name"].split("/")[-1])
            parts.append(f"{s['name']}({','.join(failed) or s.get('verdict')})")
        print((",".join(names) or "-") + "\t" + (" ".join(parts) or "no failing scenario"))
    elif cmd == "evidence":  # evidence RESULTS.json: the failing checks' evidence
        try:
            results = json.load(open(sys.argv[3], encoding="utf-8"))
        except (OSError, ValueError):
            return
        for s in results.get("scenarios", []):
            for c in s.get("checks", []):
                if c.get("verdict") in ("pass", "skip"):
                    continue
                print(f"  {s['name']} / {c['name']}: {c.get('measured', '')} (bound: {c.get('bound', '')})")
                for line in c.get("evidence", [])[:5]:
                    print(f"    {line}")
main()
PY
py() { python3 -c "$helper" "$@"; }
sep=$'\x1f'  # field separator of the helper's lists and the result rows (never in a field)

if [ "$check_only" = 1 ]; then
  exec python3 -c "$helper" check "$catalogue" "$root" "$only"
fi

py check "$catalogue" "$root" "$only" >/dev/null || exit 1
[ -x "$harness" ] || {
  echo "mutate.sh: no pjx-harness at \"$harness\"; build the unmutated tree first (cmake --preset ci && cmake --build --preset ci --target pjx-harness pjx-worker) or pass --harness" >&2
  exit 2
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pjx-mutate.XXXXXX")
child=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'echo "mutate.sh: interrupted" >&2; exit 130' INT TERM

# Runs a command in the background and waits for it, so that Ctrl-C (or a
# TERM) reaches the trap at once and the trap can end it.
run() {
  "$@" &
  child=$!
  local status=0
  wait "$child" || status=$?
  child=""
  return "$status"
}

src=$tmp/src
build=$tmp/build
mkdir -p "$src" "$tmp/runs" "$tmp/tmp"
tar -C "$root" --exclude=./build --exclude=./.git -cf - . | tar -C "$src" -xf -

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR=$tmp  # paths relative to the copy: hits across runs and copies
fi
echo "mutate.sh: configuring a private build of the copy in $tmp"
run cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -DPJX_TEST=OFF -DPJX_BENCH=OFF -DPJX_INSTALL=OFF \
  -DPJX_FUZZ=OFF -DPJX_WERROR=OFF "${launcher[@]}" >"$tmp/configure.log" 2>&1 || {
  cat "$tmp/configure.log" >&2
  echo "mutate.sh: configuring the copy failed" >&2
  exit 2
}
worker=$build/bin/pjx-worker

build_worker() {  # build_worker LOG: true when pjx-worker built
  run cmake --build "$build" --target pjx-worker -j "$jobs" >"$1" 2>&1
}

# suite SUITE NAME [FILTER]: runs the conformance suite (or the scenarios
# FILTER names) against the copy's worker; prints "pass", or "fail" TAB the
# failing scenarios' names TAB what failed. A failure's evidence goes to
# $tmp/runs/NAME-SUITE/evidence.
suite() {
  local backend=() filter=() out=$tmp/runs/$2-$1 status=0 names what
  [ "$1" = redis ] && backend=(--backend redis)
  [ -n "${3:-}" ] && { filter=(--filter "$3"); out+=-confirm; }
  mkdir -p "$out"
  TMPDIR=$tmp/tmp run timeout -k 30 1200 "$harness" conform --timing quick --require-caps \
    --worker-cmd "$worker" --scenarios "$src/scenarios" "${backend[@]}" "${filter[@]}" \
    --json "$out/results.json" >"$out/log" 2>&1 || status=$?
  [ "$status" = 0 ] && { echo pass; return; }
  IFS=$'\t' read -r names what < <(py verdict "$catalogue" "$out/results.json")
  py evidence "$catalogue" "$out/results.json" >"$out/evidence"
  case $status in
    124|137) what="timeout after 1200 s: $what" ;;
    1) ;;
    *) what="exit $status: $what" ;;
  esac
  printf 'fail\t%s\t%s\n' "$names" "$what"
}

# judge SUITE NAME: the suite, and when exactly one scenario fails, that
# scenario once more, so that one flaky scenario on a loaded machine is not
# taken for a kill (several failing scenarios are not a flake). Prints
# "pass", "fail" TAB what failed, or "flaky" TAB what failed once and then
# passed.
judge() {
  local first names what again
  first=$(suite "$1" "$2")
  [ "$first" = pass ] && { echo pass; return; }
  IFS=$'\t' read -r _ names what <<<"$first"
  case $names in
    -|*,*) printf 'fail\t%s\n' "$what"; return ;;  # no results (nothing to rerun), or several
  esac
  again=$(suite "$1" "$2" "$names")
  if [ "$again" = pass ]; then
    printf 'flaky\t%s\n' "$what"
  else
    printf 'fail\t%s\n' "$what"
  fi
}

mapfile -t entries < <(py list "$catalogue" "$only")
need_redis=0
for line in "${entries[@]}"; do
  IFS=$sep read -r id file st eq desc <<<"$line"
  if [ -z "$eq" ] || [ "$run_equivalent" = 1 ]; then
    case $st in redis|both) need_redis=1 ;; esac
  fi
done

started=$SECONDS
echo "mutate.sh: building pjx-worker from the unmutated copy (the first build of a copy takes minutes)"
build_worker "$tmp/build.log" || { tail -50 "$tmp/build.log" >&2; echo "mutate.sh: the unmutated copy does not build" >&2; exit 2; }
if [ "$baseline" = 1 ]; then
  suites=(sqlite)
  [ "$need_redis" = 1 ] && suites+=(redis)
  for s in "${suites[@]}"; do
    echo "mutate.sh: baseline: the $s suite against the unmutated worker"
    verdict=$(judge "$s" baseline)
    case $verdict in
      pass) ;;
      flaky*)
        echo "mutate.sh: warning: with the unmutated worker, ${verdict#flaky$'\t'} failed once, then passed:" >&2
        cat "$tmp/runs/baseline-$s/evidence" >&2 ;;
      *)
        echo "mutate.sh: the unmutated worker does not pass the $s suite (${verdict#fail$'\t'}); kills would mean nothing:" >&2
        cat "$tmp/runs/baseline-$s/evidence" >&2
        exit 2 ;;
    esac
  done
fi

rows=()
killed=0 survived=0 equivalent=0 broken=0
for line in "${entries[@]}"; do
  IFS=$sep read -r id file st eq desc <<<"$line"
  if [ -n "$eq" ] && [ "$run_equivalent" = 0 ]; then
    equivalent=$((equivalent + 1))
    rows+=("$id$sep$desc${sep}equivalent${sep}not run: $eq")
    continue
  fi
  t0=$SECONDS
  cp "$src/$file" "$tmp/original"
  py apply "$catalogue" "$id" "$src" "$src"
  built=1
  build_worker "$tmp/runs/$id.build.log" || built=0
  verdicts=()
  if [ "$built" = 1 ]; then
    case $st in both) suites=(sqlite redis) ;; *) suites=("$st") ;; esac
    for s in "${suites[@]}"; do verdicts+=("$(judge "$s" "$id")"$'\t'"$s"); done
  fi
  cp "$tmp/original" "$src/$file"
  if [ "$built" = 0 ]; then
    broken=$((broken + 1))
    tail -20 "$tmp/runs/$id.build.log" >&2
    result=not-built by=$'see the compiler output above'
  else
    result=survived by=""
    for v in "${verdicts[@]}"; do
      IFS=$'\t' read -r outcome what s <<<"$v"
      case $outcome in
        fail) result=killed; by+="${by:+; }$s: $what" ;;
        flaky) [ "$result" = killed ] || result=flaky; by+="${by:+; }$s: failed once, passed on rerun: $what" ;;
      esac
    done
  fi
  [ -n "$eq" ] && result="$result (equivalent)"
  case $result in
    killed) killed=$((killed + 1)) ;;
    survived|flaky) survived=$((survived + 1)) ;;
  esac
  rows+=("$id$sep$desc$sep$result$sep$by")
  echo "mutate.sh: $id: $result${by:+ by $by} ($((SECONDS - t0)) s)"
done

scored=$((killed + survived))
if [ "$scored" -gt 0 ]; then
  score=$(awk -v k="$killed" -v n="$scored" 'BEGIN { printf "%.1f", 100 * k / n }')
else
  score=n/a
fi
summary="score: $killed killed / $scored non-equivalent mutants run = $score %"
summary+=" ($survived survived, $equivalent equivalent not scored"
[ "$broken" -eq 0 ] || summary+=", $broken not built: fix their entries"
summary+="); $((SECONDS - started)) s"

echo
printf '%-30s %-10s %s\n' id verdict "killed by (suite: scenario(checks)) / reason"
for row in "${rows[@]}"; do
  IFS=$sep read -r id desc result by <<<"$row"
  printf '%-30s %-10s %s\n' "$id" "$result" "$by"
  printf '%-30s %-10s   %s\n' "" "" "$desc"
done
echo
echo "mutate.sh: $summary"

if [ -n "$markdown" ]; then
  {
    echo "| id | what it breaks | verdict | killed by (suite: scenario(failed checks)) |"
    echo "|---|---|---|---|"
    for row in "${rows[@]}"; do
      IFS=$sep read -r id desc result by <<<"$row"
      printf '| `%s` | %s | %s | %s |\n' "$id" "${desc//|/\\|}" "$result" "${by//|/\\|}"
    done
    echo
    echo "$summary"
  } >"$markdown"
fi
[ "$broken" -eq 0 ] || exit 2
