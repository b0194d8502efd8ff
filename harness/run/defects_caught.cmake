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
# "redis/<scenario>". A trailing "@CHECK" says that CHECK must be among the
# failing checks of that scenario (the checker is shown to catch it);
# "@CHECK!" that it must be the only one: the cache defects serve stale
# data while their deliveries are right, so stale_reads alone must catch
# them.
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
  "no-gap-detection=gap-without-stall@staleness"
  "no-gap-detection=restore-in-place@stale_reads"
  "ack-failed-publish=io-faults"
  "ack-failed-publish=disk-full"
  "stale-fill=fanout@stale_reads!"
  "evict-wrong-key=fanout@stale_reads!"
  "flush-not-applied=pause-long@stale_reads!"
  "channel-like=keys-and-channels@isolation"
  "fail-publishes=fanout@fanout"
  "spurious-flush=fanout@flush_causes"
  "crash-mid-run=fanout@exits"
  "slow-poll=latency-polling@latency"
  "prune-late=pruning@pruning"
  "no-wal=wal-sidecars@sidecars"
  "scribble-on-stop=wal-sidecars@integrity"
  "ack-before-commit=crash-safety@crash_safety"
  "outbox-claimed=lock-contention@outbox"
  "no-flush-on-reconnect=redis-client-kill=redis"
  "no-health-check=redis-silent-server=redis"
  "no-health-check=redis-partition-heal=redis@stale_reads"
  "no-flush-on-reconnect=redis-partition-heal=redis@reconnect"
  "no-flush-on-reconnect=redis-partition-aborted=redis@stale_reads"
  "no-flush-on-reconnect=redis-failover=redis@stale_reads"
  "ack-failed-redis-publish=redis-failover=redis@reconnect"
  "no-health-check=redis-partition-oneway=redis@stale_reads"
  "drop-own=fanout=redis")

set(missed "")
set(report "")
foreach(entry IN LISTS DEFECTS)
  set(only_check "")
  set(alone FALSE)
  if(entry MATCHES "^(.*)@([a-z_]+)(!?)$")
    set(entry "${CMAKE_MATCH_1}")
    set(only_check "${CMAKE_MATCH_2}")
    if(CMAKE_MATCH_3 STREQUAL "!")
      set(alone TRUE)
    endif()
  endif()
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
  # A run that could not run (exit 2: a defect worker that failed to start
  # on a loaded host, say) is tried once more; a pass is never retried, so a
  # missed defect stays missed.
  foreach(attempt 1 2)
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
    if(NOT code EQUAL 2)
      break()
    endif()
    if(attempt EQUAL 1)
      message("retrying ${defect} on ${scenario}: the first run could not run (exit 2):\n${err}")
    endif()
  endforeach()
  set(verdict "(none)")
  set(failing "")
  if(EXISTS "${json}")
    file(READ "${json}" doc)
    string(JSON count LENGTH "${doc}" scenarios)
    if(count GREATER 0)
      math(EXPR last "${count} - 1")
      foreach(i RANGE ${last})
        string(JSON name GET "${doc}" scenarios ${i} name)
        if(name STREQUAL result_name)
          string(JSON verdict GET "${doc}" scenarios ${i} verdict)
          string(JSON nchecks LENGTH "${doc}" scenarios ${i} checks)
          if(nchecks GREATER 0)
            math(EXPR clast "${nchecks} - 1")
            foreach(c RANGE ${clast})
              string(JSON cverdict GET "${doc}" scenarios ${i} checks ${c} verdict)
              if(cverdict STREQUAL "fail")
                string(JSON cname GET "${doc}" scenarios ${i} checks ${c} name)
                list(APPEND failing "${cname}")
              endif()
            endforeach()
          endif()
        endif()
      endforeach()
    endif()
  endif()
  set(by_only "")
  if(only_check AND alone)
    set(by_only " by ${only_check} alone")
    if(NOT failing STREQUAL only_check)
      set(verdict "${verdict} (failing checks: ${failing}; expected ${only_check} alone)")
    endif()
  elseif(only_check)
    set(by_only " by ${only_check}")
    if(NOT only_check IN_LIST failing)
      set(verdict "${verdict} (failing checks: ${failing}; expected ${only_check} among them)")
    endif()
  endif()
  if(code EQUAL 1 AND verdict STREQUAL "fail")
    string(APPEND report "caught  ${defect}: ${result_name} -> fail${by_only} (exit 1)\n")
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
