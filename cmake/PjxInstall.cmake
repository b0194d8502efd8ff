# What `cmake --install` (and the .deb, cmake/PjxPackaging.cmake) installs,
# in components, so that a part can be installed alone:
#
#   cmake --install build/ci --component dev --prefix /opt/pjx
#
# | component | what |
# |---|---|
# | runtime | the shared library, libpjx_inval.so.<SOVERSION> (shared builds only) |
# | dev     | headers (include/pjx/), the static library or the .so link, the CMake package (find_package(pjx_inval)) |
# | harness | pjx-harness, pjx-worker, pjx-report, pjx-pyjinhx-worker and the Python workers, the scenarios, the CI recipe (share/pjx-inval/ci/) |
# | man     | man pages of the programs (help2man; cmake/PjxManPages.cmake) |
# | doc     | LICENSE (as copyright), README.md, PROTOCOL.md (the worker protocol) |
#
# Layout: cmake/PjxLayout.cmake.
include(CMakePackageConfigHelpers)

set(PJX_CMAKE_PACKAGE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/pjx_inval)

# The library and its CMake package.
install(TARGETS pjx_inval EXPORT pjx_inval_targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime
                NAMELINK_COMPONENT dev)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/impl/include/pjx
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
install(EXPORT pjx_inval_targets NAMESPACE pjx::
        FILE pjx_inval-targets.cmake
        DESTINATION ${PJX_CMAKE_PACKAGE_DIR} COMPONENT dev)
# The package config needs to know whether the consumer links a static
# library (and so its private dependencies' libraries).
get_target_property(pjx_inval_type pjx_inval TYPE)
if(pjx_inval_type STREQUAL "STATIC_LIBRARY")
  set(PJX_INVAL_STATIC ON)
else()
  set(PJX_INVAL_STATIC OFF)
endif()
configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/pjx_inval-config.cmake.in
  ${PROJECT_BINARY_DIR}/pjx_inval-config.cmake
  INSTALL_DESTINATION ${PJX_CMAKE_PACKAGE_DIR})
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/pjx_inval-config-version.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/pjx_inval-config.cmake
              ${PROJECT_BINARY_DIR}/pjx_inval-config-version.cmake
        DESTINATION ${PJX_CMAKE_PACKAGE_DIR} COMPONENT dev)

# The harness: programs, the Python workers, the scenarios.
if(TARGET pjx-harness)
  install(TARGETS pjx-harness pjx-worker pjx-report
          RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT harness)
  install(PROGRAMS ${PJX_PYTHON_WORKER_FILES}
          DESTINATION ${PJX_DATA_DIR}/worker COMPONENT harness)
  install(FILES ${PROJECT_BINARY_DIR}/pjx-links/pjx-pyjinhx-worker
          DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT harness)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/scenarios/
          DESTINATION ${PJX_DATA_DIR}/scenarios COMPONENT harness)
  # The CI recipe (docs/ci/): the shell step and the GitHub Actions workflow.
  install(PROGRAMS ${PROJECT_SOURCE_DIR}/docs/ci/conform.sh
          DESTINATION ${PJX_DATA_DIR}/ci COMPONENT harness)
  install(FILES ${PROJECT_SOURCE_DIR}/docs/ci/github-actions.yml
          DESTINATION ${PJX_DATA_DIR}/ci COMPONENT harness)
endif()

install(FILES ${PROJECT_SOURCE_DIR}/LICENSE
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/pjx-inval RENAME copyright COMPONENT doc)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/harness/PROTOCOL.md
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/pjx-inval COMPONENT doc)
