# The CI recipe of docs/ci/: the shell recipe run as a CI job would run it
# (ci_recipe), and the GitHub Actions workflow shown to be valid YAML with
# the keys a runner needs (ci_workflow_yaml; python3-yaml). Label `ci`.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME ci_workflow_yaml
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/docs/ci/check_workflow.py
            ${PROJECT_SOURCE_DIR}/docs/ci/github-actions.yml)
  set_tests_properties(ci_workflow_yaml PROPERTIES LABELS ci TIMEOUT 60
                       ENVIRONMENT PYTHONDONTWRITEBYTECODE=1)
  if(TARGET pjx-harness)
    add_test(NAME ci_recipe
      COMMAND ${CMAKE_COMMAND}
              -DRECIPE=${PROJECT_SOURCE_DIR}/docs/ci/conform.sh
              -DHARNESS=$<TARGET_FILE:pjx-harness>
              "-DPYTHON_WORKER=${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/harness/worker/pyjinhx_worker.py"
              -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/ci-recipe
              -P ${PROJECT_SOURCE_DIR}/cmake/check_ci_recipe.cmake)
    set_tests_properties(ci_recipe PROPERTIES LABELS ci TIMEOUT 300
                         ENVIRONMENT PYTHONDONTWRITEBYTECODE=1)
  endif()
endif()
