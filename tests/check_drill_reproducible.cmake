# Runs the drill twice on the same scenario and fails unless both printed the same bytes and wrote
# the same report.md and report.html.
# Usage: cmake -DDRILL=<path> -DOUT_DIR=<dir> -P check_drill_reproducible.cmake
file(MAKE_DIRECTORY "${OUT_DIR}")
foreach(run a b)
  execute_process(
    COMMAND "${DRILL}" --show=3 --out=${OUT_DIR}/${run}
    OUTPUT_FILE "${OUT_DIR}/drill_${run}.txt"
    RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "drill run ${run} failed: ${result}")
  endif()
endforeach()
foreach(pair "drill_a.txt;drill_b.txt" "a/report.md;b/report.md" "a/report.html;b/report.html")
  list(GET pair 0 first)
  list(GET pair 1 second)
  execute_process(
    COMMAND ${CMAKE_COMMAND} -E compare_files "${OUT_DIR}/${first}" "${OUT_DIR}/${second}"
    RESULT_VARIABLE differ)
  if(NOT differ EQUAL 0)
    message(FATAL_ERROR "two drills of the same scenario differ: ${first} vs ${second} in ${OUT_DIR}")
  endif()
endforeach()
file(READ "${OUT_DIR}/drill_a.txt" report)
if(NOT report MATCHES "# Drill report" OR NOT report MATCHES "assignment [0-9]+ to unit")
  message(FATAL_ERROR "the drill printed no report or no assignments")
endif()
