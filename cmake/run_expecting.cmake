# Runs a command and checks its exit status and output, for tests of bad
# command-line input. Usage:
#   cmake -DEXPECT_CODE=2 -DEXPECT_REGEX=text [-DWORK_DIR=dir] [-DWRITE_FILE=path
#         -DWRITE_TEXT=text] -P run_expecting.cmake -- COMMAND ARGS...
# Fails unless COMMAND exits with EXPECT_CODE and its stdout+stderr match
# EXPECT_REGEX. WRITE_FILE is written with WRITE_TEXT first (a bad input file).
set(cmd)
set(after_dashes OFF)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE 1 ${last})
  if(after_dashes)
    list(APPEND cmd "${CMAKE_ARGV${i}}")
  elseif(CMAKE_ARGV${i} STREQUAL "--")
    set(after_dashes ON)
  endif()
endforeach()
if(NOT cmd)
  message(FATAL_ERROR "run_expecting.cmake: no command after --")
endif()
if(DEFINED WRITE_FILE)
  get_filename_component(parent "${WRITE_FILE}" DIRECTORY)
  file(MAKE_DIRECTORY "${parent}")
  file(WRITE "${WRITE_FILE}" "${WRITE_TEXT}")
endif()
execute_process(COMMAND ${cmd} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err
                TIMEOUT 120)
set(all "${out}${err}")
if(NOT code STREQUAL EXPECT_CODE)
  message(FATAL_ERROR "expected exit status ${EXPECT_CODE}, got ${code}: ${cmd}\n${all}")
endif()
if(NOT all MATCHES "${EXPECT_REGEX}")
  message(FATAL_ERROR "output does not match \"${EXPECT_REGEX}\": ${cmd}\n${all}")
endif()
message(STATUS "exit ${code} and output matching \"${EXPECT_REGEX}\" as expected")
