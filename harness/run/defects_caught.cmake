# Runs pjx-harness against each deliberately broken worker (pjx-worker
# --defect NAME) and checks that the checkers catch it: the harness exits 1
# and the scenario the defect breaks has verdict "fail" in results.json.
#
#   cmake -DHARNESS=pjx-harness -DWORKER=pjx-worker -DSCENARIOS=scenarios
#         -DOUT=folder -P defects_caught.cmake
cmake_minimum_required(VERSION 3.25)

foreach(var HARNESS WORKER SCENARIOS OUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "defects_caught.cmake needs -D${var}=...")
  endif()
endforeach()

# defect -> the conformance scenario (by name) that must fail, optionally
# followed by "=BACKEND" (default sqlite): "=redis" runs it with --backend
# redis (the harness starts its own redis-server), where its result is named
# "redis/<scenario>".
set(DEFECTS
  "ignore-channel=channel-isolation"
  "replay-history=no-replay"
  "deliver-own=fanout"
  "never-prune=pruning"
  "drop-when-busy=lock-contention"
  "accept-memory=rejection"
  "skip-rows=fanout"
  "deliver-late=latency"
  "silent-wake-loss=wake-fallback"
  "silent-wake-loss=wake-without-doorbell"
  "no-gap-detection=pause-long"
  "ack-failed-publish=io-faults"
  "ack-failed-publish=disk-full"
  "no-flush-on-reconnect=redis-client-kill=redis"
  "drop-own=fanout=redis")

set(missed "")
set(report "")
foreach(entry IN LISTS DEFECTS)
  string(REPLACE "=" ";" pair "${entry}")
  list(GET pair 0 defect)
  list(GET pair 1 scenario)
  set(backend sqlite)
  list(LENGTH pair fields)
  if(fields GREATER 2)
    list(GET pair 2 backend)
  endif()
  set(result_name "${scenario}")
  if(NOT backend STREQUAL "sqlite")
    set(result_name "${backend}/${scenario}")
  endif()
  set(json "${OUT}/${defect}/${scenario}/results.json")
  file(REMOVE "${json}")
  execute_process(
    COMMAND "${HARNESS}" conform --timing quick --seed 1
            --scenarios "${SCENARIOS}"
            --worker-cmd "${WORKER} --defect ${defect}"
            --filter "${scenario}"
            --backend "${backend}"
            --dir "${OUT}/${defect}/${scenario}/run"
            --json "${json}"
    RESULT_VARIABLE code
    OUTPUT_VARIABLE out
    ERROR_VARIABLE err
    TIMEOUT 300)
  set(verdict "(none)")
  if(EXISTS "${json}")
    file(READ "${json}" doc)
    string(JSON count LENGTH "${doc}" scenarios)
    if(count GREATER 0)
      math(EXPR last "${count} - 1")
      foreach(i RANGE ${last})
        string(JSON name GET "${doc}" scenarios ${i} name)
        if(name STREQUAL result_name)
          string(JSON verdict GET "${doc}" scenarios ${i} verdict)
        endif()
      endforeach()
    endif()
  endif()
  if(code EQUAL 1 AND verdict STREQUAL "fail")
    string(APPEND report "caught  ${defect}: ${result_name} -> fail (exit 1)\n")
  else()
    string(APPEND report "MISSED  ${defect}: ${result_name} -> ${verdict} (exit ${code})\n")
    list(APPEND missed "${defect}")
    message("---- output of the run with --defect ${defect}:\n${out}\n${err}")
  endif()
endforeach()

message("${report}")
if(missed)
  message(FATAL_ERROR "the checkers missed: ${missed}")
endif()
