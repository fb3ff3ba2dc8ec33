# Runs the drill twice with the same flags and fails unless both outputs are byte for byte equal.
# Usage: cmake -DDRILL=<path> -DOUT_DIR=<dir> -P check_drill_reproducible.cmake
file(MAKE_DIRECTORY "${OUT_DIR}")
foreach(run a b)
  execute_process(
    COMMAND "${DRILL}" --alerts=500 --hours=3 --show=5 --list=-1 --seed=42
    OUTPUT_FILE "${OUT_DIR}/drill_${run}.txt"
    RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "drill run ${run} failed: ${result}")
  endif()
endforeach()
execute_process(
  COMMAND ${CMAKE_COMMAND} -E compare_files "${OUT_DIR}/drill_a.txt" "${OUT_DIR}/drill_b.txt"
  RESULT_VARIABLE differ)
if(NOT differ EQUAL 0)
  message(FATAL_ERROR "two drills with the same seed printed different reports: see ${OUT_DIR}")
endif()
file(READ "${OUT_DIR}/drill_a.txt" report)
if(NOT report MATCHES "== Summary" OR NOT report MATCHES "assignments: [1-9]")
  message(FATAL_ERROR "the drill report has no summary or no assignments")
endif()
