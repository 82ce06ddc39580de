# Run as: cmake -DDIR=<dir> -DFORBIDDEN=<regex> -DRULE=<text> -P check_includes.cmake
# Fails (non-zero exit) if a source under DIR #includes a path that starts
# with FORBIDDEN (a regex of directories, e.g. "grpc|server"), or if one of
# its CMakeLists.txt names a library matching LINKS_FORBIDDEN (if given).
foreach(var DIR FORBIDDEN RULE)
  if(NOT ${var})
    message(FATAL_ERROR "${var} is not set")
  endif()
endforeach()
file(GLOB_RECURSE sources
  ${DIR}/*.h ${DIR}/*.hpp ${DIR}/*.cc ${DIR}/*.cpp ${DIR}/*.txt)
set(violations "")
foreach(src IN LISTS sources)
  file(STRINGS ${src} hits REGEX "#[ \t]*include[ \t]*[<\"](${FORBIDDEN})/")
  if(hits)
    list(APPEND violations "${src}: ${hits}")
  endif()
  if(LINKS_FORBIDDEN AND src MATCHES "CMakeLists.txt$")
    file(STRINGS ${src} link_hits REGEX "(${LINKS_FORBIDDEN})")
    if(link_hits)
      list(APPEND violations "${src}: ${link_hits}")
    endif()
  endif()
endforeach()
if(violations)
  string(REPLACE ";" "\n  " text "${violations}")
  message(FATAL_ERROR "${RULE}:\n  ${text}")
endif()
