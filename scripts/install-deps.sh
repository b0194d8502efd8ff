#!/usr/bin/env bash
# Installs every Debian 12 package that pjx-inval needs to build, test,
# benchmark and render reports. Idempotent: packages already present are
# skipped, and apt-get is not touched at all when nothing is missing.
# Run as root (or through sudo) on Debian 12 (bookworm).
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git
  clang libclang-rt-14-dev
  # libraries
  libsqlite3-dev libgtest-dev libgmock-dev libbenchmark-dev
  libboost1.81-dev nlohmann-json3-dev libcli11-dev libtomlplusplus-dev
  libhiredis-dev
  # tools the tests and the harness drive
  sqlite3 python3 faketime libfaketime redis-server procps util-linux
  redis-sentinel  # the failover tests' three sentinels (impl/src/redis_sentinel_test.cpp)
  bindfs  # a FUSE filesystem for the network-filesystem scenario
  iproute2 nftables  # hosts in network namespaces and their partitions (redis-partition-*)
  python3-redis  # redis-py, for the Redis interop tests (upstream's client)
  python3-yaml   # checks the CI workflow under docs/ci/ (ctest ci_recipe)
  # packaging: man pages from --help, and the .deb (cpack, dpkg-shlibdeps)
  help2man dpkg-dev
  chromium
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
# Debian enables redis-server as a service on install; the tests start their
# own instance on a free loopback port, so a system one is not needed.
if command -v systemctl >/dev/null 2>&1; then
  $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
  $SUDO systemctl disable --now redis-sentinel >/dev/null 2>&1 || true
fi
