#!/usr/bin/env bash
# Runs libFuzzer targets for a while on a copy of their seed corpora and fails
# on the first crash, leak, timeout or violated property.
#
#   fuzz/run.sh TARGET|all SECONDS
#
# TARGET is a corpus name under fuzz/corpus/ (keys_json, protocol_line,
# scenario, redis_url, db_file) or a binary name (fuzz_keys_json). The
# binaries are looked up in $PJX_FUZZ_BUILD/fuzz (default: build/asan, the
# `asan` preset, which builds them with ASan+UBSan). Each run works in a fresh
# temporary directory (corpus copy, log, crash artifacts); the seed corpus in
# the repository is never modified. On failure the directory is kept and the
# reproducer is printed: rerun it with `BINARY REPRODUCER`.
# Output: one summary line per target (executions, execs/s, coverage), in
# order; FUZZ_JOBS targets run at once (default: the number of CPUs).
# Exit status: 0 when every target ran clean, 1 otherwise, 2 on bad usage.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
build="${PJX_FUZZ_BUILD:-$root/build/asan}"

usage() { echo "usage: $0 TARGET|all SECONDS   (targets: $(ls "$here/corpus" | tr '\n' ' '))" >&2; exit 2; }
[ $# -eq 2 ] || usage
[[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -gt 0 ] || { echo "$0: SECONDS must be a positive integer, got '$2'" >&2; exit 2; }
seconds=$2

if [ "$1" = all ]; then
  targets=()
  for dir in "$here"/corpus/*/; do
    name=$(basename "$dir")
    if [ -x "$build/fuzz/fuzz_$name" ]; then
      targets+=("$name")
    else
      echo "fuzz: $name: no binary $build/fuzz/fuzz_$name (not built in this configuration), skipped"
    fi
  done
  [ ${#targets[@]} -gt 0 ] || { echo "$0: no fuzz target built in $build/fuzz; configure with -DPJX_FUZZ=ON (the asan preset)" >&2; exit 1; }
else
  targets=("${1#fuzz_}")
fi

# One target: runs it, prints its summary line (and on failure the log's
# key lines and the reproducer), returns non-zero on failure.
fuzz_one() {
  local name=$1 bin="$build/fuzz/fuzz_$1" work rc execs speed cov
  work=$(mktemp -d "${TMPDIR:-/tmp}/pjx-fuzz-$name-XXXXXX")
  mkdir -p "$work/corpus" "$work/artifacts"
  cp "$here/corpus/$name"/* "$work/corpus/"
  local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
              -artifact_prefix="$work/artifacts/")
  [ -f "$here/$name.dict" ] && args+=(-dict="$here/$name.dict")
  case $name in
    db_file) args+=(-max_len=16384) ;;
    scenario) args+=(-max_len=8192) ;;
    *) args+=(-max_len=1024) ;;
  esac
  # TMPDIR: files a target makes (fuzz_db_file's databases) go with the run
  # directory (libFuzzer may exit without running atexit handlers).
  TMPDIR="$work" "$bin" "${args[@]}" "$work/corpus" >"$work/log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*/[0-9]*[a-zA-Z]*' "$work/log" | tail -1)
  if [ $rc -eq 0 ] && ! ls "$work/artifacts"/* >/dev/null 2>&1; then
    echo "fuzz: $name: ok, ${seconds}s, ${execs:-?} execs (${speed:-?}/s), ${cov:-no coverage line}"
    rm -rf "$work"
    return 0
  fi
  echo "fuzz: $name: FAILED (exit $rc) after ${execs:-?} execs; log: $work/log"
  grep -E 'ERROR|SUMMARY|property violated|terminate|Test unit written' "$work/log" | head -20
  local artifact
  for artifact in "$work"/artifacts/*; do
    [ -e "$artifact" ] && echo "fuzz: $name: reproducer: $artifact  (rerun: $bin $artifact)"
  done
  return 1
}

for name in "${targets[@]}"; do
  [ -d "$here/corpus/$name" ] || { echo "$0: no seed corpus $here/corpus/$name" >&2; usage; }
  [ -x "$build/fuzz/fuzz_$name" ] || { echo "$0: $build/fuzz/fuzz_$name is not built (cmake --build --preset asan --target pjx_fuzz)" >&2; exit 1; }
done

# Targets are single-threaded: run FUZZ_JOBS of them at once (default: one
# per CPU), each for the full SECONDS, and print their summaries in order.
jobs=${FUZZ_JOBS:-$(nproc)}
[[ "$jobs" =~ ^[0-9]+$ ]] && [ "$jobs" -gt 0 ] || { echo "$0: FUZZ_JOBS must be a positive integer, got '$jobs'" >&2; exit 2; }
outputs=$(mktemp -d "${TMPDIR:-/tmp}/pjx-fuzz-out-XXXXXX")
pids=()
for i in "${!targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  fuzz_one "${targets[$i]}" >"$outputs/$i" 2>&1 &
  pids[$i]=$!
done
failed=0
for i in "${!targets[@]}"; do
  wait "${pids[$i]}" || failed=1
  cat "$outputs/$i"
done
rm -rf "$outputs"
exit $failed
