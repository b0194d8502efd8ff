#!/usr/bin/env bash
# Runs a command with a private redis-server beside it:
#   scripts/with-redis.sh CMD ARGS...
# Starts redis-server on a free loopback port with persistence off (no RDB,
# no AOF, its files in a temporary directory), waits until it answers PING,
# exports PJX_TEST_REDIS_URL=redis://127.0.0.1:PORT/0, runs the command, and
# always stops the server afterwards (also on failure or Ctrl-C). Exits with
# the command's status; with 2 when the server cannot be started.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  echo "with-redis: redis-server/redis-cli not found; install the Debian packages redis-server" \
       "and redis-tools (scripts/install-deps.sh does)" >&2
  exit 2
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/pjx-redis-XXXXXX")
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -CONT "$pid" 2>/dev/null || true  # in case a test left it paused
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A port free a moment ago can be taken before the server binds it: retry.
for attempt in 1 2 3 4 5; do
  port=$(free_port)
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$dir" --daemonize no --logfile "$dir/redis.log" >"$dir/stdout.log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do
    if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
      break 2
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "with-redis: redis-server did not start on port $port (attempt $attempt):" >&2
  cat "$dir/stdout.log" "$dir/redis.log" >&2 2>/dev/null || true
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
  if [ "$attempt" -eq 5 ]; then exit 2; fi
done

export PJX_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
echo "with-redis: redis-server $pid on $PJX_TEST_REDIS_URL" >&2
status=0
"$@" || status=$?
exit "$status"
