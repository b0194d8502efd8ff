# cmake -P script: the shell recipe of docs/ci/ run as a CI job would run it.
#   -DRECIPE=docs/ci/conform.sh -DHARNESS=pjx-harness -DPYTHON_WORKER="python3 ..."
#   -DWORK_DIR=scratch
# 1. the reference worker, reference profile, two scenarios: exit 0, and the
#    folder to publish holds junit.xml (one test case per check) and report/;
# 2. a worker lacking a capability (the Python adapter has no flush) under
#    the reference profile fails (1); with PJX_REQUIRE_CAPS=0 it is a skip (0);
# 3. a bad PJX_REQUIRE_CAPS is refused (2).
foreach(var RECIPE HARNESS PYTHON_WORKER WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_ci_recipe.cmake needs -D${var}=...")
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

function(recipe expected out)
  execute_process(
    COMMAND ${CMAKE_COMMAND} -E env PJX_HARNESS=${HARNESS} PJX_OUT=${WORK_DIR}/${out} ${ARGN}
    WORKING_DIRECTORY ${WORK_DIR}
    RESULT_VARIABLE rc OUTPUT_VARIABLE text ERROR_VARIABLE text)
  if(NOT rc EQUAL expected)
    message(FATAL_ERROR "the recipe (${out}) exited ${rc}, expected ${expected}:\n${text}")
  endif()
  message(STATUS "recipe ${out}: exit status ${rc}")
endfunction()

recipe(0 reference sh ${RECIPE} --filter no-replay,channel-isolation)
file(READ ${WORK_DIR}/reference/junit.xml junit)
if(NOT junit MATCHES "<testcase" OR NOT EXISTS ${WORK_DIR}/reference/report/index.html
   OR NOT EXISTS ${WORK_DIR}/reference/report/results.json)
  message(FATAL_ERROR "the folder to publish lacks junit.xml test cases or report/index.html")
endif()

recipe(1 lacking PJX_WORKER_CMD=${PYTHON_WORKER} sh ${RECIPE} --filter pause-long)
recipe(0 lacking-allowed PJX_WORKER_CMD=${PYTHON_WORKER} PJX_REQUIRE_CAPS=0
       sh ${RECIPE} --filter pause-long)
recipe(2 bad PJX_REQUIRE_CAPS=yes sh ${RECIPE})
