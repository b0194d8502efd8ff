#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, and runs every
# test with ctest. Exits non-zero on any failure. Used by CI (.ci/run).
#   scripts/test.sh            all tests (the CI preset)
#   PRESET=asan scripts/test.sh  the same under a sanitizer preset
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
preset=${PRESET:-ci}
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
ctest --preset "$preset" ${CTEST_ARGS:-}
