# Runs unit_generator into OUT_DIR and checks that its files equal the committed ones in CONFIG_DIR
# byte for byte. Usage:
#   cmake -DGENERATOR=<path> -DCONFIG_DIR=<dir> -DOUT_DIR=<dir> -P compare_generated_dataset.cmake
foreach(var GENERATOR CONFIG_DIR OUT_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "${var} is not set")
  endif()
endforeach()

file(REMOVE_RECURSE "${OUT_DIR}")
execute_process(
  COMMAND "${GENERATOR}" "--config_dir=${CONFIG_DIR}" "--out_dir=${OUT_DIR}"
  RESULT_VARIABLE result
  OUTPUT_QUIET)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "unit_generator failed: ${result}")
endif()

foreach(file guangzhou_zones.csv guangzhou_units.csv)
  execute_process(
    COMMAND "${CMAKE_COMMAND}" -E compare_files "${OUT_DIR}/${file}" "${CONFIG_DIR}/${file}"
    RESULT_VARIABLE differs)
  if(NOT differs EQUAL 0)
    message(FATAL_ERROR "${OUT_DIR}/${file} differs from the committed ${CONFIG_DIR}/${file}: "
                        "regenerate with unit_generator, or find what broke reproducibility")
  endif()
endforeach()
message(STATUS "unit_generator reproduces ${CONFIG_DIR}/guangzhou_zones.csv and guangzhou_units.csv")
