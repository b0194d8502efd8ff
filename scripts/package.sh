#!/usr/bin/env bash
# Builds the .deb for target hosts from the ci preset's build (compiling only
# what is out of date), and checks that it holds what a host needs:
#
#   scripts/package.sh            -> build/package/pjx-inval_<version>_<arch>.deb
#
# The package (cmake/PjxPackaging.cmake) installs under /usr: pjx-harness,
# pjx-worker, pjx-report, pjx-pyjinhx-worker and the Python workers, the
# scenarios, the man pages, the library with its headers and CMake package.
# A target host then needs two commands (README.md, "Installing"):
#
#   apt-get install ./pjx-inval_<version>_<arch>.deb
#   pjx-harness conform
#
# Environment: PRESET (default ci), PJX_PACKAGE_DIR (default build/package).
# Prints the path of the .deb on its last line. Exit status: 0 built and
# complete, 1 something the package must hold is missing, 2 the build or
# cpack failed.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${PRESET:-ci}
out=${PJX_PACKAGE_DIR:-build/package}
build=build/$preset

# help2man must be there: a package without man pages is incomplete.
cmake --preset "$preset" -DPJX_MAN_PAGES=ON >/dev/null || exit 2
cmake --build --preset "$preset" --target pjx-harness pjx-worker pjx-report pjx_inval \
  pjx_man_pages || exit 2
rm -rf "$out"
mkdir -p "$out"
# CPack installs the build into its own staging folder, then runs dpkg-deb.
cpack --config "$build/CPackConfig.cmake" -B "$out" >"$out/cpack.log" 2>&1 || {
  cat "$out/cpack.log" >&2
  echo "package: cpack failed" >&2
  exit 2
}
deb=$(find "$out" -maxdepth 1 -name 'pjx-inval_*.deb' | head -n 1)
if [ -z "$deb" ]; then
  echo "package: cpack wrote no .deb into $out (see $out/cpack.log)" >&2
  exit 2
fi

contents=$(dpkg-deb -c "$deb" | awk '{print $6, $7, $8}')
missing=0
for path in ./usr/bin/pjx-harness ./usr/bin/pjx-worker ./usr/bin/pjx-report \
    ./usr/bin/pjx-pyjinhx-worker \
    ./usr/share/pjx-inval/worker/pyjinhx_worker.py ./usr/share/pjx-inval/worker/upstream_worker.py \
    ./usr/share/pjx-inval/scenarios/conformance/fanout.toml \
    ./usr/share/pjx-inval/scenarios/repro/stale-after-pause.toml \
    ./usr/share/pjx-inval/ci/conform.sh ./usr/share/pjx-inval/ci/github-actions.yml \
    ./usr/share/man/man1/pjx-harness.1 ./usr/share/man/man1/pjx-harness-conform.1 \
    ./usr/share/man/man1/pjx-worker.1 ./usr/share/man/man1/pjx-pyjinhx-worker.1 \
    ./usr/share/man/man1/pjx-report.1 \
    ./usr/include/pjx/version.hpp ./usr/lib/cmake/pjx_inval/pjx_inval-config.cmake \
    ./usr/share/doc/pjx-inval/copyright; do
  if ! grep -q "^$path\( \|$\)" <<<"$contents"; then
    echo "package: $deb lacks $path" >&2
    missing=1
  fi
done
if ! grep -q '^./usr/bin/pjx-pyjinhx-worker -> ../share/pjx-inval/worker/pyjinhx_worker.py' \
    <<<"$contents"; then
  echo "package: ./usr/bin/pjx-pyjinhx-worker is not the link to the Python worker" >&2
  missing=1
fi
depends=$(dpkg-deb -f "$deb" Depends)
for dep in libsqlite3-0 libhiredis python3; do
  if ! grep -q "$dep" <<<"$depends"; then
    echo "package: Depends lacks $dep: $depends" >&2
    missing=1
  fi
done
[ "$missing" -eq 0 ] || exit 1
echo "package: $(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)," \
     "$(du -h "$deb" | cut -f1), $(wc -l <<<"$contents") entries; Depends: $depends"
echo "$deb"
