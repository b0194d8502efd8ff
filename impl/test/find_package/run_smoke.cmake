# cmake -P script: install the library's components into a scratch prefix,
# then configure, build and run a consumer that uses
# find_package(pjx_inval CONFIG REQUIRED), as a user's project would.
#
#   -DSOURCE_DIR=consumer -DWORK_DIR=scratch -DGENERATOR=Ninja -DVERSION=x.y.z
#   and either -DPJX_BUILD_DIR=build (install what that build made: the
#   static library) or -DPJX_SOURCE_DIR=src -DSHARED=ON (build the library
#   alone as a shared library first, and check its SONAME).
foreach(var SOURCE_DIR WORK_DIR GENERATOR VERSION)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_smoke.cmake needs -D${var}=...")
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(rc)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}")
  endif()
endfunction()

if(SHARED)
  set(PJX_BUILD_DIR ${WORK_DIR}/pjx-shared)
  run("configuring the shared library" ${CMAKE_COMMAND} -S ${PJX_SOURCE_DIR} -B ${PJX_BUILD_DIR}
      -G ${GENERATOR} -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON
      -DPJX_TEST=OFF -DPJX_HARNESS=OFF -DPJX_BENCH=OFF)
  run("building the shared library" ${CMAKE_COMMAND} --build ${PJX_BUILD_DIR} --parallel 2)
endif()

# The library's components only: `runtime` (the .so) and `dev` (headers, the
# static library or .so link, the CMake package).
foreach(component runtime dev)
  run("cmake --install --component ${component}"
      ${CMAKE_COMMAND} --install ${PJX_BUILD_DIR} --prefix ${prefix} --component ${component})
endforeach()
if(EXISTS ${prefix}/bin OR EXISTS ${prefix}/share/pjx-inval)
  message(FATAL_ERROR "the runtime and dev components installed the harness too")
endif()

if(SHARED)
  string(REGEX MATCH "^[0-9]+\\.[0-9]+" minor "${VERSION}")
  file(GLOB_RECURSE sonamed ${prefix}/lib*/libpjx_inval.so.${minor})
  if(NOT sonamed)
    message(FATAL_ERROR "no libpjx_inval.so.${minor} (SOVERSION) under ${prefix}")
  endif()
  execute_process(COMMAND readelf -d ${sonamed} OUTPUT_VARIABLE dynamic)
  if(NOT dynamic MATCHES "SONAME\\) +Library soname: \\[libpjx_inval\\.so\\.${minor}\\]")
    message(FATAL_ERROR "libpjx_inval's SONAME is not libpjx_inval.so.${minor}:\n${dynamic}")
  endif()
endif()

run("configuring the consumer" ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build
    -G ${GENERATOR} -DCMAKE_PREFIX_PATH=${prefix} -DPJX_EXPECTED_VERSION=${VERSION})
run("building the consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/build)
execute_process(COMMAND ${WORK_DIR}/build/consumer ${WORK_DIR}/smoke.db RESULT_VARIABLE rc
                OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "received a with pjx-inval ${VERSION}")
  message(FATAL_ERROR "the consumer did not work: rc=${rc} output=${out}")
endif()
message(STATUS "consumer: ${out}")

# Where the libraries pjx::inval links cannot be found (libraries looked for
# only under an empty root), an optional find_package(pjx_inval) reports it
# not found, with the reason, and the consumer's configure goes on.
if(NOT SHARED)
  file(MAKE_DIRECTORY ${WORK_DIR}/empty-root)
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build-optional
                  -G ${GENERATOR} -DCMAKE_PREFIX_PATH=${prefix} -DPJX_OPTIONAL=ON
                  -DCMAKE_FIND_ROOT_PATH=${WORK_DIR}/empty-root
                  -DCMAKE_FIND_ROOT_PATH_MODE_LIBRARY=ONLY
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(rc OR NOT out MATCHES "pjx_inval not found, going on without it: .*hiredis library")
    message(FATAL_ERROR "an optional find_package(pjx_inval) without hiredis: rc=${rc}\n${out}")
  endif()
  message(STATUS "without the libraries it links, pjx_inval is reported not found; configure goes on")
endif()
