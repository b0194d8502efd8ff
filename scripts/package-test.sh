#!/usr/bin/env bash
# The .deb on a clean root: builds it (scripts/package.sh, from the ci
# preset's build), unpacks it into a fresh temporary root (dpkg-deb -x, as
# `dpkg -i` would lay it out, without touching this host's packages), then,
# with the source tree out of reach (a private mount namespace with an empty
# tmpfs over it, the build tree included), runs from that root:
#
#   1. pjx-harness conform, quick timing: every guarantee must hold against
#      the installed pjx-worker, with the installed scenarios;
#   2. the installed pjx-pyjinhx-worker (the Python adapter and the upstream
#      emulation) through two scenarios, found by the installed harness;
#   3. a consumer project built with find_package(pjx_inval) against the
#      installed CMake package, and run;
#   4. the installed man pages, rendered by man.
#
#   scripts/package-test.sh [DEB]     (default: build it)
#
# Needs root (or unprivileged user namespaces) for the mount namespace; in
# CI it runs as root. Exit status: 0 all held, 1 one failed, 2 it could not
# run.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

if [ $# -ge 1 ]; then
  deb=$(realpath "$1")
else
  deb=$(realpath "$(bash scripts/package.sh | tail -n 1)")
fi
[ -f "$deb" ] || { echo "package-test: no package $deb" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/pjx-package-test-XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
dpkg-deb -x "$deb" "$root"
cp -r impl/test/find_package/consumer "$work/consumer"
echo "package-test: $(basename "$deb") unpacked into a fresh root"

# Runs inside the namespace, from the temporary folder; the source tree is
# an empty folder there.
cat >"$work/inside.sh" <<'INSIDE'
set -euo pipefail
src=$1 root=$2 work=$3
mount -t tmpfs -o size=1m,mode=0555 pjx-source-hidden "$src"
cd "$work"
if [ -n "$(ls -A "$src")" ]; then
  echo "package-test: the source tree is still visible" >&2
  exit 2
fi
unset PJX_SCENARIOS_DIR
bin=$root/usr/bin
status=0

echo "=== installed pjx-harness conform (quick, the installed pjx-worker and scenarios) ==="
"$bin/pjx-harness" conform --timing quick --quiet --dir "$work/run" \
  --junit "$work/out/junit.xml" --json "$work/out/results.json" || status=1
grep -q "usr/share/pjx-inval/scenarios/conformance/" "$work/out/results.json" || {
  echo "package-test: the results do not name the installed scenarios" >&2
  status=1
}

echo "=== installed pjx-pyjinhx-worker (the Python adapter, upstream emulation) ==="
"$bin/pjx-harness" conform --timing quick --quiet --filter no-replay,keys-and-channels \
  --worker-cmd "$bin/pjx-pyjinhx-worker --cache guarded" --dir "$work/run-python" || status=1

echo "=== find_package(pjx_inval) against the installed package ==="
if cmake -S "$work/consumer" -B "$work/consumer-build" -G Ninja \
     -DCMAKE_PREFIX_PATH="$root/usr" >"$work/consumer.log" 2>&1 &&
   cmake --build "$work/consumer-build" >>"$work/consumer.log" 2>&1 &&
   "$work/consumer-build/consumer" "$work/consumer.db" | tee -a "$work/consumer.log" |
     grep -q "received a with pjx-inval"; then
  echo "consumer: $(tail -n 1 "$work/consumer.log")"
else
  cat "$work/consumer.log" >&2
  echo "package-test: the consumer did not build or run against the package" >&2
  status=1
fi

echo "=== installed man pages ==="
for page in "$root"/usr/share/man/man1/*.1; do
  if ! text=$(MANWIDTH=80 man -l "$page" 2>"$work/man.err") || [ -s "$work/man.err" ] ||
     ! grep -qi "exit status" <<<"$text" || ! grep -q "^EXAMPLES" <<<"$text"; then
    cat "$work/man.err" >&2
    echo "package-test: $(basename "$page") does not render with its exit status and examples" >&2
    status=1
  fi
done
echo "$(ls "$root"/usr/share/man/man1 | wc -l) man pages render"
exit "$status"
INSIDE

if [ "$(id -u)" -eq 0 ]; then
  ns=(unshare --mount --propagation private)
else
  ns=(unshare --mount --propagation private --map-root-user)
fi
if ! "${ns[@]}" true 2>/dev/null; then
  echo "package-test: cannot make a private mount namespace (${ns[*]}); run as root" >&2
  exit 2
fi
status=0
"${ns[@]}" bash "$work/inside.sh" "$src" "$root" "$work" || status=$?
if [ "$status" -eq 0 ]; then
  echo "package-test: the installed package passed with the source tree out of reach"
else
  echo "package-test: FAILED (exit status $status)" >&2
fi
exit "$status"
