# Smoke test of `pjx-harness bench --quick`: it exits 0, bench.json holds
# runs of each kind (latency, idle, throughput), and no latency run missed a
# delivery and no throughput run lost one. No timing is asserted.
#
#   cmake -DHARNESS=pjx-harness -DWORKER=pjx-worker -DJSON=bench.json
#         -P bench_smoke.cmake
cmake_minimum_required(VERSION 3.25)

foreach(var HARNESS WORKER JSON)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "bench_smoke.cmake needs -D${var}=...")
  endif()
endforeach()

file(REMOVE "${JSON}")
execute_process(
  COMMAND "${HARNESS}" bench --quick --worker-cmd "${WORKER}" --json "${JSON}"
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pjx-harness bench --quick exited with ${rc}")
endif()

file(READ "${JSON}" doc)
string(JSON kind GET "${doc}" kind)
if(NOT kind STREQUAL "bench")
  message(FATAL_ERROR "bench.json kind is '${kind}', not 'bench'")
endif()
string(JSON n LENGTH "${doc}" runs)
set(seen_latency 0)
set(seen_idle 0)
set(seen_throughput 0)
math(EXPR last "${n} - 1")
foreach(i RANGE ${last})
  string(JSON bench GET "${doc}" runs ${i} bench)
  set(seen_${bench} 1)
  if(bench STREQUAL "latency")
    string(JSON missing GET "${doc}" runs ${i} metrics missing)
    if(NOT missing EQUAL 0)
      message(FATAL_ERROR "latency run ${i} missed ${missing} deliveries")
    endif()
  elseif(bench STREQUAL "throughput")
    string(JSON lost GET "${doc}" runs ${i} metrics lost)
    if(NOT lost EQUAL 0)
      message(FATAL_ERROR "throughput run ${i} lost ${lost} acknowledged publishes")
    endif()
  endif()
endforeach()
foreach(b latency idle throughput)
  if(NOT seen_${b})
    message(FATAL_ERROR "bench.json has no ${b} run")
  endif()
endforeach()
message(STATUS "bench smoke: ${n} runs, nothing missed or lost")
