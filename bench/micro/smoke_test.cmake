# bench_micro_smoke: runs every micro-benchmark briefly and checks that the
# run succeeded and wrote a JSON report in which every benchmark ran without
# error. Times are not checked.
# Usage: cmake -DBENCH=<pjx_bench_micro> -DOUT=<report.json> -P smoke_test.cmake
if(NOT BENCH OR NOT OUT)
  message(FATAL_ERROR "pass -DBENCH=<path of pjx_bench_micro> -DOUT=<json report path>")
endif()
file(REMOVE ${OUT})
# --benchmark_min_time is a plain number of seconds in Google Benchmark 1.7.
execute_process(
  COMMAND ${BENCH} --benchmark_min_time=0.01 --benchmark_format=json
          --benchmark_out=${OUT} --benchmark_out_format=json
  RESULT_VARIABLE status
  OUTPUT_QUIET
  ERROR_VARIABLE errors)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "pjx_bench_micro exited with ${status}:\n${errors}")
endif()
if(NOT EXISTS ${OUT})
  message(FATAL_ERROR "pjx_bench_micro did not write ${OUT}")
endif()
file(READ ${OUT} report)
string(JSON count ERROR_VARIABLE json_error LENGTH "${report}" benchmarks)
if(json_error)
  message(FATAL_ERROR "${OUT} is not a benchmark JSON report: ${json_error}")
endif()
# Every family must have reported: publish x4 threads, bare publish, upstream x3, idle poll,
# poll x3, decode x3, eviction x3, table size x3, prune burst x3.
set(expected 24)
if(count LESS expected)
  message(FATAL_ERROR "${OUT} lists ${count} benchmarks, expected at least ${expected}")
endif()
math(EXPR last "${count} - 1")
foreach(i RANGE ${last})
  string(JSON name GET "${report}" benchmarks ${i} name)
  string(JSON failed ERROR_VARIABLE no_error GET "${report}" benchmarks ${i} error_occurred)
  if(NOT no_error AND failed)
    string(JSON why GET "${report}" benchmarks ${i} error_message)
    message(FATAL_ERROR "benchmark ${name} failed: ${why}")
  endif()
endforeach()
message(STATUS "${count} benchmarks ran; report in ${OUT}")
