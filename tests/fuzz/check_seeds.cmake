# Checks that the committed seed corpora and dictionary in FUZZ_DIR are exactly what the seed
# writer produces now (cf. tests/compare_generated_dataset.cmake).
#
#   cmake -DWRITER=<fuzz_write_seeds> -DFUZZ_DIR=<tests/fuzz> -DOUT_DIR=<scratch dir> -P check_seeds.cmake

file(REMOVE_RECURSE "${OUT_DIR}")
file(MAKE_DIRECTORY "${OUT_DIR}")
execute_process(COMMAND "${WRITER}" "${OUT_DIR}" RESULT_VARIABLE status OUTPUT_QUIET)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "fuzz_write_seeds failed with ${status}")
endif()

file(GLOB_RECURSE written RELATIVE "${OUT_DIR}" "${OUT_DIR}/*")
file(GLOB_RECURSE committed RELATIVE "${FUZZ_DIR}" "${FUZZ_DIR}/corpus/*")
list(APPEND committed envelope.dict)
list(SORT written)
list(SORT committed)
set(fix "Regenerate them: <build-fuzz>/tests/fuzz/fuzz_write_seeds tests/fuzz")
if(NOT written STREQUAL committed)
  message(FATAL_ERROR "The committed seeds are not the files the writer makes.\n"
                      "written: ${written}\ncommitted: ${committed}\n${fix}")
endif()
foreach(file IN LISTS written)
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files "${OUT_DIR}/${file}"
                          "${FUZZ_DIR}/${file}" RESULT_VARIABLE differ)
  if(NOT differ EQUAL 0)
    message(FATAL_ERROR "tests/fuzz/${file} differs from what fuzz_write_seeds writes. ${fix}")
  endif()
endforeach()
list(LENGTH written count)
message("fuzz seeds: the ${count} committed files are what the writer makes")
