# Mutation testing (scripts/mutate.sh, catalogue scripts/mutations.txt).
# Included by the top-level CMakeLists.txt when the tests are built.
#
# * mutation_catalogue (label mutation-check, in the default run): every
#   mutation of the catalogue still applies exactly once to impl/src/, so
#   that a change of the source that a catalogue entry no longer matches
#   fails CI instead of silently shrinking the mutation run. Takes a second.
# * mutation (label mutation): the whole run, a rebuild of pjx-worker and the
#   quick conformance suite per mutant (about 40 minutes on 2 cores). Only with
#   -DPJX_MUTATION=ON, so that the default `ctest` (scripts/test.sh, .ci/run)
#   never runs it: cmake --preset ci -DPJX_MUTATION=ON && ctest --preset ci -L mutation
option(PJX_MUTATION "Register the mutation-testing run (ctest -L mutation; about 40 minutes)" OFF)

add_test(NAME mutation_catalogue
         COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/mutate.sh --check)
set_tests_properties(mutation_catalogue PROPERTIES LABELS mutation-check TIMEOUT 60)

if(PJX_MUTATION AND PJX_HARNESS)
  add_test(NAME mutation
           COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/mutate.sh
                   --harness $<TARGET_FILE:pjx-harness>
                   --markdown ${CMAKE_BINARY_DIR}/mutation/results.md)
  set_tests_properties(mutation PROPERTIES LABELS mutation TIMEOUT 10800 RUN_SERIAL TRUE)
endif()
