#!/usr/bin/env bash
# Browser test for the report (ctest: report_renders_in_chromium, label browser).
#
# usage: browser_check.sh PJX_REPORT TESTDATA_DIR OUT_DIR
#
# Renders TESTDATA_DIR/results.json and bench.json with PJX_REPORT into
# OUT_DIR/report, loads index.html in headless Chromium twice (screenshot,
# DOM dump), and fails unless: Chromium exits 0, the screenshot is a real PNG
# of some size, the DOM holds the verdict table and the histogram, CDF and
# timeline plots, and Chromium logged no console message, uncaught error or
# failed load (the page has no scripts and a CSP that blocks every fetch, so
# any such line means something tried to load). The screenshots stay in
# OUT_DIR (shot.png at 1280x2000, shot-full.png for the whole page).
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

rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pjx-report-browser.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$report" "$testdata/results.json" "$testdata/bench.json" -o "$out/report" \
  || fail "pjx-report could not render $testdata"
url="file://$out/report/index.html"

flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --enable-logging=stderr --v=0)

run_chromium() {  # run_chromium NAME ARGS...: output in $out/NAME.{stdout,stderr}
  local name=$1
  shift
  local status=0
  timeout 120 "$browser" "${flags[@]}" --user-data-dir="$tmp/profile-$name" "$@" "$url" \
    >"$out/$name.stdout" 2>"$out/$name.stderr" || status=$?
  [ "$status" -eq 0 ] || fail "chromium ($name) exited with status $status; see $out/$name.stderr"
}

run_chromium screenshot --window-size=1280,2000 --screenshot="$out/shot.png"
run_chromium screenshot-full --window-size=1280,9000 --screenshot="$out/shot-full.png"
run_chromium dom --window-size=1280,2000 --dump-dom

for shot in shot.png shot-full.png; do
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

errors=$(grep -hE 'CONSOLE|Uncaught|Failed to load|Refused to' \
  "$out/screenshot.stderr" "$out/screenshot-full.stderr" "$out/dom.stderr" || true)
[ -z "$errors" ] || fail "chromium logged page errors:
$errors"

echo "report_renders_in_chromium: ok ($(grep -c '<svg class="plot ' "$dom") plots); screenshots: $out/shot.png, $out/shot-full.png"
