# The bad-input catalogue (docs/bad-inputs.md) as tests: the command-line
# rows (each a run of pjx-harness or pjx-worker that must fail with its exit
# status and message), and `bad_inputs_catalogue`, which fails when a row of
# the catalogue names a test that does not exist. Included by the top-level
# CMakeLists.txt when the tests and the harness are built.
find_package(Python3 COMPONENTS Interpreter REQUIRED)

set(_pjx_bad_cli_dir ${PROJECT_BINARY_DIR}/bad-cli)

# pjx_bad_cli_test(NAME CODE n REGEX text [WRITE_FILE path WRITE_TEXT text] COMMAND ...)
function(pjx_bad_cli_test name)
  cmake_parse_arguments(ARG "" "CODE;REGEX;WRITE_FILE;WRITE_TEXT" "COMMAND" ${ARGN})
  set(defs -DEXPECT_CODE=${ARG_CODE} "-DEXPECT_REGEX=${ARG_REGEX}")
  if(ARG_WRITE_FILE)
    list(APPEND defs "-DWRITE_FILE=${ARG_WRITE_FILE}" "-DWRITE_TEXT=${ARG_WRITE_TEXT}")
  endif()
  add_test(NAME ${name}
           COMMAND ${CMAKE_COMMAND} ${defs} -P ${PROJECT_SOURCE_DIR}/cmake/run_expecting.cmake
                   -- ${ARG_COMMAND})
  set_tests_properties(${name} PROPERTIES LABELS "unit;bad_inputs" TIMEOUT 120)
endfunction()

set(_h $<TARGET_FILE:pjx-harness>)
set(_w $<TARGET_FILE:pjx-worker>)
set(_s ${PROJECT_SOURCE_DIR}/scenarios)
pjx_bad_cli_test(bad_cli_harness_without_a_command CODE 2 REGEX "[Ss]ubcommand|required"
                 COMMAND ${_h})
pjx_bad_cli_test(bad_cli_harness_unknown_command CODE 2 REGEX "frobnicate|[Ss]ubcommand is required"
                 COMMAND ${_h} frobnicate)
pjx_bad_cli_test(bad_cli_harness_unknown_timing CODE 2 REGEX "slow"
                 COMMAND ${_h} conform --timing slow --scenarios ${_s})
pjx_bad_cli_test(bad_cli_harness_no_scenario_folder CODE 2 REGEX "no scenario folder"
                 COMMAND ${_h} conform --scenarios ${_pjx_bad_cli_dir}/no-such-folder)
pjx_bad_cli_test(bad_cli_harness_filter_matches_nothing CODE 2
                 REGEX "no scenario matches the filter \"no-such-scenario\""
                 COMMAND ${_h} conform --scenarios ${_s} --filter no-such-scenario)
pjx_bad_cli_test(bad_cli_harness_unterminated_worker_cmd CODE 2 REGEX "--worker-cmd: .*quote"
                 COMMAND ${_h} conform --scenarios ${_s} --filter fanout --worker-cmd "'pjx-worker")
pjx_bad_cli_test(bad_cli_harness_empty_worker_cmd CODE 2 REGEX "--worker-cmd is empty"
                 COMMAND ${_h} conform --scenarios ${_s} --filter fanout "--worker-cmd= ")
pjx_bad_cli_test(bad_cli_harness_missing_scenario_file CODE 2 REGEX "does not exist|File does not exist"
                 COMMAND ${_h} run ${_pjx_bad_cli_dir}/missing.toml)
pjx_bad_cli_test(bad_cli_harness_bad_scenario_file CODE 2 REGEX "bad\\.toml:[0-9]+: .*colour"
                 WRITE_FILE ${_pjx_bad_cli_dir}/bad.toml
                 WRITE_TEXT "name = \"x\"\nguarantee = \"g\"\nchecks = [\"fanout\"]\nworkers = 2\ncolour = \"red\"\n"
                 COMMAND ${_h} run ${_pjx_bad_cli_dir}/bad.toml)
pjx_bad_cli_test(bad_cli_harness_probe_not_a_database CODE 2 REGEX "error:"
                 WRITE_FILE ${_pjx_bad_cli_dir}/notes.txt
                 WRITE_TEXT "This is a text file, not a SQLite database.\n"
                 COMMAND ${_h} probe ${_pjx_bad_cli_dir}/notes.txt)
pjx_bad_cli_test(bad_cli_worker_unknown_argument CODE 2 REGEX "unknown argument \"--colour\""
                 COMMAND ${_w} --colour)

# Every test binary whose cases the catalogue may name.
set(_pjx_gtest_binaries pjx_impl_tests pjx_multiprocess_tests pjx_worker_tests
    pjx_worker_process_tests pjx_harness_check_tests pjx_harness_run_tests pjx_testbed_tests)
set(_pjx_gtest_args)
foreach(t IN LISTS _pjx_gtest_binaries)
  if(TARGET ${t})
    list(APPEND _pjx_gtest_args --gtest $<TARGET_FILE:${t}>)
  endif()
endforeach()
add_test(NAME bad_inputs_catalogue
         COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/docs/check_bad_inputs.py
                 --catalogue ${PROJECT_SOURCE_DIR}/docs/bad-inputs.md
                 --build-dir ${PROJECT_BINARY_DIR}
                 --scenarios ${PROJECT_SOURCE_DIR}/scenarios
                 ${_pjx_gtest_args})
set_tests_properties(bad_inputs_catalogue PROPERTIES LABELS "unit;bad_inputs" TIMEOUT 120)
