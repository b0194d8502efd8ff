# Tests of the conventions a user of the programs and of the CMake project
# relies on (cmake/check_conventions.cmake does the work). Label `conventions`.
set(pjx_programs "")
set(pjx_help_commands "")
if(TARGET pjx-harness)
  list(APPEND pjx_programs $<TARGET_FILE:pjx-harness> $<TARGET_FILE:pjx-worker>
       $<TARGET_FILE:pjx-report> ${PROJECT_BINARY_DIR}/bin/pjx-pyjinhx-worker)
  list(APPEND pjx_help_commands "$<TARGET_FILE:pjx-harness>|--help"
       "$<TARGET_FILE:pjx-worker>|--help" "$<TARGET_FILE:pjx-report>|--help"
       "${PROJECT_BINARY_DIR}/bin/pjx-pyjinhx-worker|--help")
  foreach(sub conform run analyze probe report bench cleanup)
    list(APPEND pjx_help_commands "$<TARGET_FILE:pjx-harness>|${sub} --help")
  endforeach()
endif()
if(TARGET pjx_bench_micro)
  list(APPEND pjx_programs $<TARGET_FILE:pjx_bench_micro>)
  list(APPEND pjx_help_commands "$<TARGET_FILE:pjx_bench_micro>|--help")
endif()
if(TARGET pjx_bench_fanout)
  list(APPEND pjx_programs $<TARGET_FILE:pjx_bench_fanout>)
  list(APPEND pjx_help_commands "$<TARGET_FILE:pjx_bench_fanout>|--help")
endif()

set(pjx_check ${PROJECT_SOURCE_DIR}/cmake/check_conventions.cmake)
if(pjx_programs)
  add_test(NAME cli_version
    COMMAND ${CMAKE_COMMAND} -DMODE=version -DVERSION=${PROJECT_VERSION}
            "-DPROGRAMS=${pjx_programs}" -P ${pjx_check})
  add_test(NAME cli_help_footer
    COMMAND ${CMAKE_COMMAND} -DMODE=help "-DCOMMANDS=${pjx_help_commands}" -P ${pjx_check})
  set_tests_properties(cli_version cli_help_footer PROPERTIES LABELS conventions TIMEOUT 60)
endif()
if(TARGET pjx-harness)
  add_test(NAME cli_signal_exit_status
    COMMAND ${CMAKE_COMMAND} -DMODE=signal -DHARNESS=$<TARGET_FILE:pjx-harness> -P ${pjx_check})
  set_tests_properties(cli_signal_exit_status PROPERTIES LABELS conventions TIMEOUT 120)
endif()
add_test(NAME cmake_add_subdirectory
  COMMAND ${CMAKE_COMMAND} -DMODE=subproject -DPJX_SOURCE_DIR=${PROJECT_SOURCE_DIR}
          -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/subproject -DGENERATOR=${CMAKE_GENERATOR}
          -P ${pjx_check})
set_tests_properties(cmake_add_subdirectory PROPERTIES LABELS "conventions;package" TIMEOUT 300)
