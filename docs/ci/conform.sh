#!/bin/sh
# A CI job's conformance step, as a plain shell recipe: runs the conformance
# suite against the worker under test and leaves a folder for the CI to
# publish as an artifact:
#
#   pjx-conformance/junit.xml       one test case per guarantee, for the CI's test view
#   pjx-conformance/report/         index.html, summary.md, results.json, histories/
#
#   sh conform.sh [pjx-harness conform options...]
#
# Installed with the .deb as /usr/share/pjx-inval/ci/conform.sh; the GitHub
# Actions workflow beside it (github-actions.yml) calls it. Environment:
#
#   PJX_WORKER_CMD    the worker under test (default: pjx-worker, the C++
#                     reference); for an installed Python pyjinhx:
#                     'pjx-pyjinhx-worker --backend pyjinhx.integrations.sqlite:SqliteInvalidationBackend'
#   PJX_REQUIRE_CAPS  1 (default): the reference profile, where a scenario
#                     skipped for a capability the worker lacks (flush,
#                     reopen, ...) fails; 0: such scenarios are skipped
#   PJX_TIMING        quick (default) or documented (upstream's 0.5 s poll,
#                     5 s retention; about ten times longer)
#   PJX_OUT           the folder to publish (default: pjx-conformance)
#   PJX_HARNESS       the harness (default: pjx-harness from PATH)
#
# Exit status: pjx-harness's (0 every guarantee held, 1 one was violated,
# 2 it could not run, 130 interrupted); the folder is written in every case.
set -eu

harness=${PJX_HARNESS:-pjx-harness}
out=${PJX_OUT:-pjx-conformance}
timing=${PJX_TIMING:-quick}

if ! command -v "$harness" >/dev/null 2>&1; then
  echo "conform.sh: $harness not found: install the pjx-inval .deb (apt-get install ./pjx-inval_*.deb)" \
       "or set PJX_HARNESS to the pjx-harness to run" >&2
  exit 2
fi
case ${PJX_REQUIRE_CAPS:-1} in
  1) set -- --require-caps "$@" ;;
  0) ;;
  *) echo "conform.sh: PJX_REQUIRE_CAPS=${PJX_REQUIRE_CAPS} must be 1 or 0" >&2; exit 2 ;;
esac
if [ -n "${PJX_WORKER_CMD:-}" ]; then
  set -- --worker-cmd "$PJX_WORKER_CMD" "$@"
fi

mkdir -p "$out"
status=0
"$harness" conform --timing "$timing" --junit "$out/junit.xml" --report "$out/report" "$@" ||
  status=$?
echo "conform.sh: exit status $status; JUnit: $out/junit.xml, report: $out/report/index.html"
exit "$status"
