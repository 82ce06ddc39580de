# Run as: cmake -DRT_DIR=<dir> -P check_rt_includes.cmake
# Fails (non-zero exit) if any source under RT_DIR includes a grpc, protobuf
# or prometheus header.
if(NOT RT_DIR)
  message(FATAL_ERROR "RT_DIR is not set")
endif()
file(GLOB_RECURSE sources
  ${RT_DIR}/*.h ${RT_DIR}/*.hpp ${RT_DIR}/*.cc ${RT_DIR}/*.cpp ${RT_DIR}/*.txt)
set(violations "")
foreach(src IN LISTS sources)
  file(STRINGS ${src} hits
    REGEX "#[ \t]*include[ \t]*[<\"](grpc|grpcpp|google/protobuf|prometheus)/")
  if(hits)
    list(APPEND violations "${src}: ${hits}")
  endif()
  if(src MATCHES "CMakeLists.txt$")
    file(STRINGS ${src} link_hits REGEX "(gRPC|grpc|protobuf|prometheus)")
    if(link_hits)
      list(APPEND violations "${src}: ${link_hits}")
    endif()
  endif()
endforeach()
if(violations)
  string(REPLACE ";" "\n  " text "${violations}")
  message(FATAL_ERROR
    "The real-time core must not use grpc, protobuf or prometheus:\n  ${text}")
endif()
