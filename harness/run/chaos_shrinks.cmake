# A chaos run finds a defect and shrinks what failed: pjx-worker --defect
# no-gap-detection (it never notices rows pruned before it read them) under
# random pauses must fail (exit 1), write failing.toml and a minimal.toml
# with no more faults and operations than the failing plan, and the minimal
# plan must fail again when replayed with `pjx-harness run`.
#
#   cmake -DHARNESS=pjx-harness -DWORKER=pjx-worker -DOUT=folder -P chaos_shrinks.cmake
cmake_minimum_required(VERSION 3.25)
foreach(var HARNESS WORKER OUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "chaos_shrinks.cmake needs -D${var}=...")
  endif()
endforeach()
file(REMOVE_RECURSE "${OUT}")
set(worker "${WORKER} --defect no-gap-detection")
execute_process(
  COMMAND "${HARNESS}" chaos --seed 3 --duration 30s --epoch 15s --faults pause -q
          --worker-cmd "${worker}" --shrink-budget 150s --shrink-runs 2 --dir "${OUT}"
  RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}")
if(NOT status EQUAL 1)
  message(FATAL_ERROR "chaos against the no-gap-detection defect exited ${status}, not 1:\n${err}")
endif()
foreach(f failing.toml minimal.toml summary.json)
  if(NOT EXISTS "${OUT}/${f}")
    message(FATAL_ERROR "chaos wrote no ${f} in ${OUT}")
  endif()
endforeach()
file(READ "${OUT}/summary.json" summary)
string(JSON failing_faults GET "${summary}" failing faults)
string(JSON minimal_faults GET "${summary}" minimal faults)
string(JSON failing_ops GET "${summary}" failing ops)
string(JSON minimal_ops GET "${summary}" minimal ops)
message("failing plan: ${failing_faults} faults, ${failing_ops} ops; minimal: ${minimal_faults} faults, ${minimal_ops} ops")
if(minimal_faults GREATER failing_faults OR minimal_ops GREATER failing_ops)
  message(FATAL_ERROR "the minimal plan is larger than the failing one")
endif()
# Replays (a real-process run is not deterministic: up to three tries).
foreach(try 1 2 3)
  execute_process(
    COMMAND "${HARNESS}" run "${OUT}/minimal.toml" --worker-cmd "${worker}" --dir "${OUT}/replay-${try}"
    RESULT_VARIABLE replay OUTPUT_QUIET ERROR_QUIET)
  if(replay EQUAL 1)
    message("the minimal plan failed again on replay ${try}")
    return()
  endif()
endforeach()
message(FATAL_ERROR "the minimal plan did not fail in 3 replays")
