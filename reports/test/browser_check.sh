#!/usr/bin/env bash
# Browser test for the report (ctest: report_renders_in_chromium, label browser).
#
# usage: browser_check.sh PJX_REPORT TESTDATA_DIR OUT_DIR
#
# Renders TESTDATA_DIR/results.json and bench.json with PJX_REPORT into
# OUT_DIR/report, and each alone into OUT_DIR/bench and OUT_DIR/conformance;
# loads them in headless Chromium (screenshots, DOM dumps), and fails unless:
# Chromium exits 0, the screenshots are real PNGs of some size, the DOM holds
# the verdict table and the histogram, CDF and timeline plots, check_dom.py
# passes on each page (latency plots on a log axis with one path per wake
# mode, a summary row per bench run, no conformance sections on a bench-only
# page and no bench sections on a conformance-only one), and Chromium logged
# no console message, uncaught error or failed load (the pages have no
# scripts and a CSP that blocks every fetch, so any such line means something
# tried to load). The screenshots stay in OUT_DIR (shot.png at 1280x2000,
# shot-full.png for the whole page, bench-shot.png for the bench-only page).
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 PJX_REPORT TESTDATA_DIR OUT_DIR" >&2
  exit 2
fi
report=$1
testdata=$2
out=$3

fail() {
  echo "report_renders_in_chromium: FAIL: $*" >&2
  exit 1
}

browser=""
for candidate in chromium chromium-browser; do
  if command -v "$candidate" >/dev/null 2>&1; then
    browser=$(command -v "$candidate")
    break
  fi
done
[ -n "$browser" ] || fail "chromium is not installed; install chromium: scripts/install-deps.sh"
command -v python3 >/dev/null 2>&1 || fail "python3 is not installed: scripts/install-deps.sh"
here=$(cd "$(dirname "$0")" && pwd)

rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pjx-report-browser.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$report" "$testdata/results.json" "$testdata/bench.json" -o "$out/report" \
  || fail "pjx-report could not render $testdata"
"$report" "$testdata/bench.json" -o "$out/bench" || fail "pjx-report could not render bench.json"
"$report" "$testdata/results.json" -o "$out/conformance" || fail "pjx-report could not render results.json"

flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --enable-logging=stderr --v=0)

run_chromium() {  # run_chromium NAME PAGE ARGS...: output in $out/NAME.{stdout,stderr}
  local name=$1
  local url="file://$out/$2/index.html"
  shift 2
  local status=0
  timeout 120 "$browser" "${flags[@]}" --user-data-dir="$tmp/profile-$name" "$@" "$url" \
    >"$out/$name.stdout" 2>"$out/$name.stderr" || status=$?
  [ "$status" -eq 0 ] || fail "chromium ($name) exited with status $status; see $out/$name.stderr"
}

run_chromium screenshot report --window-size=1280,2000 --screenshot="$out/shot.png"
run_chromium screenshot-full report --window-size=1280,9000 --screenshot="$out/shot-full.png"
run_chromium dom report --window-size=1280,2000 --dump-dom
run_chromium bench-screenshot bench --window-size=1280,2000 --screenshot="$out/bench-shot.png"
run_chromium bench-dom bench --window-size=1280,2000 --dump-dom
run_chromium conformance-dom conformance --window-size=1280,2000 --dump-dom

for shot in shot.png shot-full.png bench-shot.png; do
  [ -f "$out/$shot" ] || fail "chromium wrote no $shot"
  [ "$(head -c 8 "$out/$shot" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] \
    || fail "$shot is not a PNG"
  size=$(stat -c %s "$out/$shot")
  [ "$size" -gt 30000 ] || fail "$shot is only $size bytes: the page probably rendered blank"
done

dom="$out/dom.stdout"
grep -q '<table id="verdicts"' "$dom" || fail "the DOM has no verdict table (table#verdicts)"
for kind in histogram cdf timeline; do
  n=$(grep -c "<svg class=\"plot $kind\"" "$dom" || true)
  [ "$n" -ge 1 ] || fail "the DOM has no svg.$kind plot"
done
if grep -qiE '<script|https?://' "$dom"; then
  fail "the DOM holds a script or a URL: $(grep -oiE '<script[^>]*>|https?://[^" ]*' "$dom" | head -3)"
fi

python3 "$here/check_dom.py" "$dom" mixed "$testdata/bench.json" || fail "the combined page (see above)"
python3 "$here/check_dom.py" "$out/bench-dom.stdout" bench "$testdata/bench.json" \
  || fail "the bench-only page (see above)"
python3 "$here/check_dom.py" "$out/conformance-dom.stdout" conformance \
  || fail "the conformance-only page (see above)"

errors=$(grep -hE 'CONSOLE|Uncaught|Failed to load|Refused to' "$out"/*.stderr || true)
[ -z "$errors" ] || fail "chromium logged page errors:
$errors"

echo "report_renders_in_chromium: ok ($(grep -c '<svg class="plot ' "$dom") plots); screenshots: $out/shot.png, $out/shot-full.png, $out/bench-shot.png"
