#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the conformance
# suite on a temporary database with the reference worker. Prints the verdict
# table and writes a report (index.html, summary.md, junit.xml, results.json
# and the histories) to build/report/ (or $PJX_REPORT_DIR).
# Extra arguments go to `pjx-harness conform`, for example:
#   scripts/conform.sh --timing documented
#   scripts/conform.sh --worker-cmd 'python3 harness/worker/pyjinhx_worker.py'
# Exit status: 0 every guarantee held, 1 one was violated, 2 it could not run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
preset=${PRESET:-ci}
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" --target pjx-harness pjx-worker
report=${PJX_REPORT_DIR:-build/report}
status=0
"build/$preset/bin/pjx-harness" conform --report "$report" "$@" || status=$?
echo
echo "Report: $report/index.html (summary: $report/summary.md, JUnit: $report/junit.xml)"
exit "$status"
