# Where the harness's files live, relative to a prefix: the same in an
# installed tree (cmake/PjxInstall.cmake, the .deb) and in the build tree, so
# that pjx-harness finds its scenarios and workers relative to its own
# location (bin/../share/pjx-inval/...) wherever it runs, and never through a
# source path compiled into it.
#
#   bin/pjx-harness, bin/pjx-worker, bin/pjx-report
#   bin/pjx-pyjinhx-worker                 -> ../share/pjx-inval/worker/pyjinhx_worker.py
#   share/pjx-inval/scenarios/             conformance/ and repro/
#   share/pjx-inval/worker/                pyjinhx_worker.py, upstream_worker.py
#   share/pjx-inval/ci/                    conform.sh, github-actions.yml (installed only)
include(GNUInstallDirs)
set(PJX_DATA_DIR ${CMAKE_INSTALL_DATADIR}/pjx-inval)
set(PJX_PYTHON_WORKER_FILES
    ${PROJECT_SOURCE_DIR}/harness/worker/pyjinhx_worker.py
    ${PROJECT_SOURCE_DIR}/harness/worker/upstream_worker.py)

# The build tree: links into the source tree (a build tree belongs to its
# source tree; an installed tree has copies).
set(pjx_build_data ${PROJECT_BINARY_DIR}/${PJX_DATA_DIR})
file(MAKE_DIRECTORY ${pjx_build_data}/worker ${PROJECT_BINARY_DIR}/bin)
file(CREATE_LINK ${PROJECT_SOURCE_DIR}/scenarios ${pjx_build_data}/scenarios SYMBOLIC)
foreach(file IN LISTS PJX_PYTHON_WORKER_FILES)
  get_filename_component(name ${file} NAME)
  file(CREATE_LINK ${file} ${pjx_build_data}/worker/${name} SYMBOLIC)
endforeach()

# bin/pjx-pyjinhx-worker, a relative link that holds in both trees. The copy
# under pjx-links/ is what gets installed (install() keeps it a link).
file(RELATIVE_PATH pjx_worker_link_target ${PROJECT_BINARY_DIR}/${CMAKE_INSTALL_BINDIR}
     ${pjx_build_data}/worker/pyjinhx_worker.py)
file(MAKE_DIRECTORY ${PROJECT_BINARY_DIR}/pjx-links)
foreach(dir ${PROJECT_BINARY_DIR}/bin ${PROJECT_BINARY_DIR}/pjx-links)
  file(CREATE_LINK ${pjx_worker_link_target} ${dir}/pjx-pyjinhx-worker SYMBOLIC)
endforeach()
