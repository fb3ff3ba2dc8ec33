# dispatch_proto_library(<target> <file.proto>...)
#
# Compiles .proto files (paths relative to the calling directory) into a static library. protoc runs
# with the project root as its import root, so a file is known as "<dir>/<name>.proto" and its
# headers are included as "<dir>/<name>.pb.h"; outputs land in the build tree at the same relative
# path, and the build root is on the library's public include path.
#
# Why not protobuf_generate(): CMake 3.25's version always puts the current source directory first
# on protoc's -I path, which would name the file plain "<name>.proto"; neither IMPORT_DIRS nor
# PROTOC_OUT_DIR changes that.
function(dispatch_proto_library target)
  file(RELATIVE_PATH _rel_dir "${PROJECT_SOURCE_DIR}" "${CMAKE_CURRENT_SOURCE_DIR}")
  set(_generated)
  foreach(_proto IN LISTS ARGN)
    get_filename_component(_stem "${_proto}" NAME_WLE)
    set(_outputs
      "${PROJECT_BINARY_DIR}/${_rel_dir}/${_stem}.pb.h"
      "${PROJECT_BINARY_DIR}/${_rel_dir}/${_stem}.pb.cc")
    add_custom_command(
      OUTPUT ${_outputs}
      COMMAND protobuf::protoc
        "--cpp_out=${PROJECT_BINARY_DIR}"
        "-I${PROJECT_SOURCE_DIR}"
        "${CMAKE_CURRENT_SOURCE_DIR}/${_proto}"
      DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/${_proto}" protobuf::protoc
      COMMENT "protoc: ${_rel_dir}/${_proto}"
      VERBATIM)
    list(APPEND _generated ${_outputs})
  endforeach()
  add_library(${target} STATIC ${_generated})
  target_include_directories(${target} PUBLIC "${PROJECT_BINARY_DIR}")
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf)
endfunction()
