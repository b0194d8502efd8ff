#!/usr/bin/env bash
# Runs a command with a private redis-server beside it:
#   scripts/with-redis.sh CMD ARGS...
# The server is started by pjx-with-redis (impl/test_support/with_redis_main.cpp)
# with the project's one redis-server launcher (redis_launcher.hpp): a free
# loopback port, persistence off, its files in a temporary directory. CMD gets
# PJX_TEST_REDIS_URL=redis://127.0.0.1:PORT/0, and the server is stopped
# afterwards (also on failure or Ctrl-C). Exits with CMD's status; with 2 when
# the server cannot be started.
#
# pjx-with-redis comes from the build of the preset CMD names (`--preset NAME`
# or `--preset=NAME`, as in `ctest --preset tsan`), else of $PJX_PRESET, else
# of `ci`; it is built there first when missing.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi

preset=${PJX_PRESET:-ci}
previous=""
for arg in "$@"; do
  if [ "$previous" = "--preset" ]; then preset=$arg; fi
  case "$arg" in --preset=*) preset=${arg#--preset=} ;; esac
  previous=$arg
done

root=$(cd "$(dirname "$0")/.." && pwd)
tool="$root/build/$preset/bin/pjx-with-redis"
if [ ! -x "$tool" ]; then
  if [ ! -d "$root/build/$preset" ]; then
    echo "with-redis: there is no build of preset \"$preset\" (build/$preset): configure it" \
         "first with: cmake --preset $preset" >&2
    exit 2
  fi
  (cd "$root" && cmake --build --preset "$preset" --target pjx-with-redis >&2)
fi
exec "$tool" "$@"
