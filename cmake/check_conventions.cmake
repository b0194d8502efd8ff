# cmake -P script: the conventions every program and the build follow.
#
#   -DMODE=version -DVERSION=x.y.z -DPROGRAMS="a;b"   each prints a line ending in
#       "<VERSION>" for --version and exits 0
#   -DMODE=help -DCOMMANDS="a|sub --help;b --help"    each help shows the exit
#       statuses and examples (the man pages' sections) and exits 0
#   -DMODE=signal -DHARNESS=pjx-harness               a run interrupted by SIGINT
#       exits 130, by SIGTERM 143 (a worker command that signals its parent, so
#       no timing is involved)
#   -DMODE=subproject -DPJX_SOURCE_DIR=src -DWORK_DIR=scratch -DGENERATOR=Ninja
#       add_subdirectory() of the source tree forces no CMAKE_BUILD_TYPE and
#       builds no tests, harness or benchmarks
cmake_minimum_required(VERSION 3.25)

if(MODE STREQUAL "version")
  foreach(program IN LISTS PROGRAMS)
    execute_process(COMMAND ${program} --version RESULT_VARIABLE rc OUTPUT_VARIABLE out)
    string(STRIP "${out}" out)
    if(NOT rc EQUAL 0 OR NOT out MATCHES " ${VERSION}$")
      message(FATAL_ERROR "${program} --version: rc=${rc}, \"${out}\" (expected \"... ${VERSION}\")")
    endif()
    message(STATUS "${out}")
  endforeach()
elseif(MODE STREQUAL "help")
  foreach(command IN LISTS COMMANDS)
    string(REPLACE "|" " " argv "${command}")
    separate_arguments(argv UNIX_COMMAND "${argv}")
    execute_process(COMMAND ${argv} RESULT_VARIABLE rc OUTPUT_VARIABLE out)
    if(NOT rc EQUAL 0 OR NOT out MATCHES "Exit status" OR NOT out MATCHES "Examples:")
      message(FATAL_ERROR "${command}: rc=${rc}; no \"Exit status\" or \"Examples:\" in:\n${out}")
    endif()
  endforeach()
elseif(MODE STREQUAL "signal")
  foreach(pair "INT;130" "TERM;143")
    list(GET pair 0 signal)
    list(GET pair 1 expected)
    execute_process(
      COMMAND ${HARNESS} conform --filter no-replay --quiet
              --worker-cmd "sh -c 'kill -${signal} $PPID; exec cat >/dev/null'"
      RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    if(NOT rc EQUAL expected)
      message(FATAL_ERROR "SIG${signal} during a run: exit status ${rc}, expected ${expected}:\n${out}")
    endif()
    message(STATUS "SIG${signal}: exit status ${rc}")
  endforeach()
elseif(MODE STREQUAL "subproject")
  file(REMOVE_RECURSE ${WORK_DIR})
  execute_process(
    COMMAND ${CMAKE_COMMAND} -S ${PJX_SOURCE_DIR}/cmake/test/subproject -B ${WORK_DIR}
            -G ${GENERATOR} -DPJX_SOURCE_DIR=${PJX_SOURCE_DIR}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(rc)
    message(FATAL_ERROR "configuring a parent project failed:\n${out}")
  endif()
  foreach(expected "CMAKE_BUILD_TYPE=\\[\\]" "PJX_TEST=OFF" "PJX_HARNESS=OFF" "PJX_BENCH=OFF")
    if(NOT out MATCHES "parent sees ${expected}")
      message(FATAL_ERROR "under add_subdirectory(), expected ${expected}:\n${out}")
    endif()
  endforeach()
  message(STATUS "add_subdirectory(): no build type forced, only the library")
else()
  message(FATAL_ERROR "check_conventions.cmake: MODE must be version, help, signal or subproject")
endif()
