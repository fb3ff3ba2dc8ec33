# Runs one libFuzzer target for SECONDS seconds and prints what it did (the CI smoke; scripts/fuzz
# runs the long campaigns). Every run starts from a fresh working corpus in WORK_DIR/corpus, read
# together with the committed SEEDS and REGRESSIONS (which libFuzzer runs first, so a fixed bug that
# comes back fails here), so two runs start from the same place.
#
#   cmake -DFUZZER=<binary> -DSECONDS=20 -DSEEDS=<dir> -DREGRESSIONS=<dir> -DDICT=<file>
#         -DWORK_DIR=<dir> -P run_fuzzer.cmake

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}/corpus" "${WORK_DIR}/artifacts")
set(corpora "${WORK_DIR}/corpus" "${SEEDS}")
if(EXISTS "${REGRESSIONS}")
  list(APPEND corpora "${REGRESSIONS}")
endif()

get_filename_component(name "${FUZZER}" NAME)
execute_process(
  COMMAND "${FUZZER}"
    -max_total_time=${SECONDS}
    -timeout=10            # seconds for one input: longer is a hang
    -rss_limit_mb=2048
    # libFuzzer 14's entropic schedule spends most of fuzz_commands' time in its own bookkeeping
    # (tens of thousands of features per input): 34 executions a second with it, 576 without.
    -entropic=0
    -print_final_stats=1
    "-dict=${DICT}"
    "-artifact_prefix=${WORK_DIR}/artifacts/"
    ${corpora}
  RESULT_VARIABLE status
  ERROR_VARIABLE log
  OUTPUT_VARIABLE out)
file(WRITE "${WORK_DIR}/fuzzer.log" "${log}")

# libFuzzer's last status line ("#1234 DONE cov: 512 ft: 2048 corp: ...") and final stats. (Not
# through a CMake list: the status lines quote bytes, brackets among them, which lists mangle.)
string(REGEX MATCH "#[0-9]+[ \t]+DONE[^\n]*" summary "${log}")
string(REGEX MATCH "stat::number_of_executed_units: *[0-9]+" executed "${log}")
string(REGEX MATCH "stat::average_exec_per_sec: *[0-9]+" per_second "${log}")
string(REGEX REPLACE "[^0-9]" "" executed "${executed}")
string(REGEX REPLACE "[^0-9]" "" per_second "${per_second}")
file(GLOB artifacts "${WORK_DIR}/artifacts/*")

if(NOT status EQUAL 0 OR artifacts)
  string(LENGTH "${log}" length)
  if(length GREATER 6000)
    math(EXPR start "${length} - 6000")
    string(SUBSTRING "${log}" ${start} 6000 log)
  endif()
  message("${log}")
  message(FATAL_ERROR "${name}: failed (exit ${status}) after ${executed} executions; "
                      "reproducer: ${artifacts}; full log: ${WORK_DIR}/fuzzer.log")
endif()
message("${name}: ${executed} executions in ${SECONDS} s (${per_second}/s), no crash; "
        "last status: ${summary}")
