# The real-time core must never depend on grpc, protobuf or prometheus
# (DESIGN.md, "Layout"). Two guards keep it so:
#  1. dynclamp_check_rt_sources(): a build step that scans every file under
#     the directory for forbidden #includes and fails the build if it finds one.
#  2. dynclamp_check_rt_links(): at the end of configuration, fails if the
#     target (or anything it links) names a forbidden library.
set(DYNCLAMP_RT_FORBIDDEN_REGEX "grpc|protobuf|prometheus")
set(DYNCLAMP_RT_BOUNDARY_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/check_rt_includes.cmake)

function(dynclamp_check_rt_sources target dir)
  add_custom_target(${target}_boundary_check ALL
    COMMAND ${CMAKE_COMMAND} -DRT_DIR=${dir} -P ${DYNCLAMP_RT_BOUNDARY_SCRIPT}
    COMMENT "Checking that ${dir} includes no grpc/protobuf/prometheus header"
    VERBATIM)
  add_dependencies(${target} ${target}_boundary_check)
endfunction()

function(_dynclamp_collect_links target out_var)
  set(seen "")
  set(queue ${target})
  while(queue)
    list(POP_FRONT queue item)
    if(item IN_LIST seen)
      continue()
    endif()
    list(APPEND seen ${item})
    if(TARGET ${item})
      get_target_property(libs ${item} LINK_LIBRARIES)
      get_target_property(ilibs ${item} INTERFACE_LINK_LIBRARIES)
      foreach(lib IN LISTS libs ilibs)
        if(lib AND NOT lib MATCHES "-NOTFOUND$")
          list(APPEND queue ${lib})
        endif()
      endforeach()
    endif()
  endwhile()
  set(${out_var} ${seen} PARENT_SCOPE)
endfunction()

function(_dynclamp_check_rt_links_now target)
  _dynclamp_collect_links(${target} all_links)
  foreach(lib IN LISTS all_links)
    string(TOLOWER "${lib}" lower)
    if(lower MATCHES "${DYNCLAMP_RT_FORBIDDEN_REGEX}")
      message(FATAL_ERROR
        "${target} links '${lib}': the real-time core must not depend on "
        "grpc, protobuf or prometheus (see DESIGN.md).")
    endif()
  endforeach()
endfunction()

function(dynclamp_check_rt_links target)
  # Deferred arguments are expanded when the call runs, so bake the name in.
  cmake_language(EVAL CODE "cmake_language(DEFER DIRECTORY [[${CMAKE_SOURCE_DIR}]] CALL _dynclamp_check_rt_links_now [[${target}]])")
endfunction()
