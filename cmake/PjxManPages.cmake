# Man pages generated from each program's --help and --version by help2man
# (Debian package help2man), built with the programs into <build>/man/ and
# installed in component `man` (cmake/PjxInstall.cmake). pjx-harness gets one
# page and one per subcommand (pjx-harness-conform(1), ...), as git does.
#
# Without help2man, or in a sanitizer build, the pages are not built (a
# status message says so) unless PJX_MAN_PAGES is ON, which makes a missing
# help2man an error; scripts/package.sh turns it on.
set(PJX_MAN_PAGES AUTO CACHE STRING "Generate man pages with help2man: AUTO, ON or OFF")
set_property(CACHE PJX_MAN_PAGES PROPERTY STRINGS AUTO ON OFF)
if(PJX_MAN_PAGES STREQUAL "OFF")
  return()
endif()
# A sanitizer build's programs may report at exit (leaks), which help2man
# would take for a failure: pages come from ordinary builds.
if(PJX_MAN_PAGES STREQUAL "AUTO" AND CMAKE_CXX_FLAGS MATCHES "-fsanitize")
  message(STATUS "sanitizer build: no man pages (-DPJX_MAN_PAGES=ON to make them anyway)")
  return()
endif()
find_program(PJX_HELP2MAN help2man)
if(NOT PJX_HELP2MAN)
  if(PJX_MAN_PAGES STREQUAL "ON")
    message(FATAL_ERROR "PJX_MAN_PAGES=ON but help2man was not found: apt-get install help2man "
                        "(scripts/install-deps.sh), or configure with -DPJX_MAN_PAGES=OFF")
  endif()
  message(STATUS "help2man not found: no man pages (apt-get install help2man)")
  return()
endif()

set(PJX_MAN_DIR ${PROJECT_BINARY_DIR}/man)
set(pjx_man_outputs "")

# pjx_man_page(PAGE DEPENDENCY PROGRAM "HELP OPTION" "WHAT IT DOES"): PAGE.1
# from `PROGRAM HELP OPTION`, rebuilt when DEPENDENCY (a target or a file)
# changes.
function(pjx_man_page page target program help_option what)
  set(out ${PJX_MAN_DIR}/${page}.1)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND}
            -DHELP2MAN=${PJX_HELP2MAN} -DPROGRAM=${program} -DPAGE=${page}
            "-DHELP_OPTION=${help_option}" "-DWHAT=${what}"
            -DVERSION=${PROJECT_VERSION} -DOUT=${out}
            -P ${PROJECT_SOURCE_DIR}/cmake/pjx_help2man.cmake
    DEPENDS ${target} ${PROJECT_SOURCE_DIR}/cmake/pjx_help2man.cmake
    COMMENT "Man page ${page}(1)"
    VERBATIM)
  set(pjx_man_outputs ${pjx_man_outputs} ${out} PARENT_SCOPE)
endfunction()

pjx_man_page(pjx-harness pjx-harness $<TARGET_FILE:pjx-harness> "--help"
             "conformance and chaos tests for cross-process cache invalidation")
foreach(sub_what IN ITEMS
        "conform|run the conformance suite and print the verdicts"
        "run|run scenario files, such as the reproductions of upstream's incidents"
        "analyze|judge saved histories again, without running anything"
        "probe|describe a live invalidation database without writing to it"
        "report|render results files into an HTML/Markdown/JUnit report"
        "bench|multi-process benchmarks of delivery, CPU, throughput and file growth"
        "cleanup|remove what killed runs left")
  string(REPLACE "|" ";" sub_what "${sub_what}")
  list(GET sub_what 0 sub)
  list(GET sub_what 1 what)
  pjx_man_page(pjx-harness-${sub} pjx-harness $<TARGET_FILE:pjx-harness> "${sub} --help" "${what}")
endforeach()
pjx_man_page(pjx-worker pjx-worker $<TARGET_FILE:pjx-worker> "--help"
             "the reference worker that pjx-harness drives")
pjx_man_page(pjx-report pjx-report $<TARGET_FILE:pjx-report> "--help"
             "render pjx-harness results into HTML, Markdown and JUnit reports")
pjx_man_page(pjx-pyjinhx-worker ${PROJECT_SOURCE_DIR}/harness/worker/pyjinhx_worker.py
             ${PROJECT_BINARY_DIR}/bin/pjx-pyjinhx-worker "--help"
             "drive a Python pyjinhx invalidation backend for pjx-harness")

add_custom_target(pjx_man_pages ALL DEPENDS ${pjx_man_outputs})
if(PJX_INSTALL)
  install(FILES ${pjx_man_outputs} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT man)
endif()
