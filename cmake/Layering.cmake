# The layers (DESIGN.md, "Layout"), from the bottom: rt_engine (the real-time
# core) and fidelity (engine simulation, on the engine alone), spec_files
# (files to messages), server (the daemon), clients. A
# layer includes nothing from the layers above it, and the real-time core
# nothing of grpc, protobuf or prometheus. Two guards keep it so:
#  1. dynclamp_check_layer(): a build step that scans every file under a
#     directory for forbidden #includes and fails the build if it finds one.
#  2. dynclamp_check_rt_links(): at the end of configuration, fails if the
#     target (or anything it links) names a forbidden library.
set(DYNCLAMP_LAYERING_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/check_includes.cmake)
# What each layer may not include (the first directory of the path).
set(DYNCLAMP_RT_FORBIDDEN_INCLUDES
    "grpc|grpcpp|google/protobuf|prometheus|dynclamp/v1|spec_files|server|clients")
set(DYNCLAMP_RT_FORBIDDEN_LINKS "gRPC|grpc|protobuf|prometheus")
set(DYNCLAMP_SPEC_FILES_FORBIDDEN_INCLUDES "rt_engine|server|clients")
set(DYNCLAMP_SERVER_FORBIDDEN_INCLUDES "clients")
# The clients speak to the daemon only through the API.
set(DYNCLAMP_CLIENTS_FORBIDDEN_INCLUDES "rt_engine|fidelity|server")

# dynclamp_check_layer(TARGET DIR FORBIDDEN RULE [LINKS_FORBIDDEN])
function(dynclamp_check_layer target dir forbidden rule)
  set(links "")
  if(ARGC GREATER 4)
    set(links "-DLINKS_FORBIDDEN=${ARGV4}")
  endif()
  add_custom_target(${target}_layer_check ALL
    COMMAND ${CMAKE_COMMAND} -DDIR=${dir} "-DFORBIDDEN=${forbidden}"
            "-DRULE=${rule}" ${links} -P ${DYNCLAMP_LAYERING_SCRIPT}
    COMMENT "Checking that ${dir} includes nothing from ${forbidden}"
    VERBATIM)
  add_dependencies(${target} ${target}_layer_check)
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
    if(lower MATCHES "grpc|protobuf|prometheus")
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
