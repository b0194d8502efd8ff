#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, and runs every
# test with ctest beside a private redis-server (scripts/with-redis.sh: free
# loopback port, persistence off, stopped afterwards), which the Redis tests
# use; tests that must restart or kill Redis start their own. Exits non-zero
# on any failure. Used by CI (.ci/run).
#   scripts/test.sh            all tests (the CI preset)
#   PRESET=asan scripts/test.sh  the same under a sanitizer preset
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
preset=${PRESET:-ci}
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
bash scripts/with-redis.sh ctest --preset "$preset" ${CTEST_ARGS:-}
