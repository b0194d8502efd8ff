# cmake -P script: one man page from a program's --help, by help2man.
#   -DHELP2MAN=help2man -DPROGRAM=exe -DPAGE=name -DHELP_OPTION="sub --help"
#   -DWHAT="one line" -DVERSION=x.y.z -DOUT=page.1
# The page's NAME is PAGE (pjx-harness-conform for a subcommand), and its SEE
# ALSO names the other programs.
foreach(var HELP2MAN PROGRAM PAGE HELP_OPTION WHAT VERSION OUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "pjx_help2man.cmake needs -D${var}=...")
  endif()
endforeach()
get_filename_component(dir ${OUT} DIRECTORY)
file(MAKE_DIRECTORY ${dir})
set(include_file ${OUT}.h2m)
set(see_also "pjx-harness (1), pjx-worker (1), pjx-pyjinhx-worker (1), pjx-report (1)")
if(PAGE MATCHES "^pjx-harness")
  string(APPEND see_also ", pjx-harness-conform (1), pjx-harness-run (1), "
         "pjx-harness-analyze (1), pjx-harness-probe (1), pjx-harness-report (1), "
         "pjx-harness-bench (1), pjx-harness-cleanup (1)")
endif()
file(WRITE ${include_file}
     "[NAME]\n${PAGE} \\- ${WHAT}\n"
     "[SEE ALSO]\n${see_also}.\n"
     "README.md and PROTOCOL.md (the worker protocol) in /usr/share/doc/pjx-inval.\n")
execute_process(
  COMMAND ${HELP2MAN} --no-info --no-discard-stderr --section 1
          --source "pjx-inval ${VERSION}" --manual "pjx-inval"
          "--help-option=${HELP_OPTION}" --version-option=--version
          --include ${include_file} --output ${OUT} ${PROGRAM}
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  file(REMOVE ${OUT})
  message(FATAL_ERROR "help2man ${PROGRAM} ${HELP_OPTION}: ${err}")
endif()
file(REMOVE ${include_file})
