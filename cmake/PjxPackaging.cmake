# CPack: one .deb of every install component (cmake/PjxInstall.cmake) for
# target hosts, built from an existing build tree without compiling again:
#
#   cpack --config build/ci/CPackConfig.cmake -B build/package
#   (scripts/package.sh does it and lists the result)
#
# gives build/package/pjx-inval_<version>_<arch>.deb, installed under /usr.
# Its dependencies on shared libraries (libsqlite3-0, libhiredis0.14,
# libstdc++6, ...) are computed by dpkg-shlibdeps (Debian's dpkg-dev);
# python3 is declared for the Python workers.
set(CPACK_PACKAGE_NAME pjx-inval)
set(CPACK_PACKAGE_VENDOR "pjx-inval")
set(CPACK_PACKAGE_CONTACT "pjx-inval team <team@pjx-inval.invalid>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Cross-process cache invalidation over SQLite: library, conformance harness, workers")
set(CPACK_PACKAGE_DESCRIPTION
    "The C++ reference of pyjinhx's SQLite (and Redis) invalidation backend, with
pjx-harness, which proves on a target host that an implementation delivers
every invalidation, survives faults, and never serves stale reads; pjx-worker
(the reference worker), pjx-pyjinhx-worker (drives an installed Python
pyjinhx backend), pjx-report, the scenarios, headers and the CMake package.")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_SOURCE_GENERATOR "")
# Every component in the one package (cmake --install --component installs
# one alone).
set(CPACK_DEB_COMPONENT_INSTALL OFF)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "python3 (>= 3.9)")
# faketime: the clock-step scenarios; redis-server: --backend redis; the
# -dev packages: building against the headers with find_package(SQLite3).
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libfaketime, redis-server")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libsqlite3-dev")
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
# Without debug information: a fifth of the size; debug with a build tree.
set(CPACK_STRIP_FILES ON)

include(CPack)
