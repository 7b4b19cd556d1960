# KilnModel.cmake — kiln_add_model(): compile a model with `kiln compile` at
# build time and use it as a target (docs/cmake.md).  Included by
# KilnConfig.cmake, so `find_package(Kiln REQUIRED)` is all a project needs.
#
#   kiln_add_model(<name> MODEL <file.pb|file.onnx>
#                  [FEEDS <name>[:d0,d1,...] ...] [FETCHES <name> ...]
#                  [PREFIX <p>] [THREADS <n>] [TARGET <triple>] [TARGET_CPU <cpu>]
#                  [OPT <0-3>] [RUNTIME AUTO|ON|OFF] [OUTPUT_DIR <dir>]
#                  [DEPENDS <file> ...] [EXTRA_ARGS <arg> ...])
#
# Writes <OUTPUT_DIR>/<p>.o and <p>.h (OUTPUT_DIR defaults to
# ${CMAKE_CURRENT_BINARY_DIR}/kiln_models/<name>), rebuilt when the model,
# the kiln binary or a DEPENDS file changes.  <name> is an INTERFACE library:
# linking it adds the object, the header's directory (#include "<p>.h") and,
# when RUNTIME is on, Kiln::runtime (libkilnrt with OpenBLAS, pthread, dl).
# RUNTIME AUTO (the default) is on for THREADS > 1 or OPT 0 on the host and
# for CUDA targets, off for other cross targets;
# the build then checks the header's <P>_NEEDS_RUNTIME and fails, naming the
# option to add, when a host object needs libkilnrt that is not linked.

if(CMAKE_SCRIPT_MODE_FILE AND KILN_CHECK_HEADER)
  # cmake -P KilnModel.cmake: the build-time check of one compiled model.
  file(STRINGS "${KILN_CHECK_HEADER}" _line REGEX "^#define ${KILN_CHECK_MACRO} ")
  if(_line MATCHES "^#define ${KILN_CHECK_MACRO} 1")
    file(REMOVE "${KILN_CHECK_OBJECT}")
    message(FATAL_ERROR "kiln_add_model(${KILN_CHECK_NAME}): the compiled object calls libkilnrt "
      "(${KILN_CHECK_MACRO} is 1 in ${KILN_CHECK_HEADER}) but the target does not link it; "
      "add RUNTIME ON to kiln_add_model(${KILN_CHECK_NAME} ...)")
  endif()
  return()
endif()

if(CMAKE_VERSION VERSION_LESS 3.19)
  message(FATAL_ERROR "kiln_add_model() needs CMake 3.19 or newer (INTERFACE libraries with sources)")
endif()
set(_KILN_MODEL_SCRIPT "${CMAKE_CURRENT_LIST_FILE}")

function(kiln_add_model name)
  cmake_parse_arguments(PARSE_ARGV 1 arg ""
    "MODEL;PREFIX;THREADS;TARGET;TARGET_CPU;OPT;RUNTIME;OUTPUT_DIR" "FEEDS;FETCHES;DEPENDS;EXTRA_ARGS")
  set(who "kiln_add_model(${name})")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "${who}: unexpected arguments: ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT arg_MODEL)
    message(FATAL_ERROR "${who}: MODEL <file> is required")
  endif()
  if(NOT TARGET Kiln::kiln)
    message(FATAL_ERROR "${who}: no Kiln::kiln target; call find_package(Kiln REQUIRED) first")
  endif()
  get_filename_component(model "${arg_MODEL}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  if(NOT EXISTS "${model}")
    message(FATAL_ERROR "${who}: model file ${model} does not exist")
  endif()
  set(prefix "${name}")
  if(DEFINED arg_PREFIX)
    set(prefix "${arg_PREFIX}")
  endif()
  if(NOT prefix MATCHES "^[A-Za-z_][A-Za-z0-9_]*$")
    message(FATAL_ERROR "${who}: PREFIX '${prefix}' is not a C identifier (give PREFIX <p>)")
  endif()
  set(dir "${CMAKE_CURRENT_BINARY_DIR}/kiln_models/${name}")
  if(arg_OUTPUT_DIR)
    get_filename_component(dir "${arg_OUTPUT_DIR}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")
  endif()
  set(obj "${dir}/${prefix}.o")
  set(hdr "${dir}/${prefix}.h")

  set(args compile "${model}" -o "${obj}" --header "${hdr}" --prefix "${prefix}")
  foreach(f IN LISTS arg_FEEDS)
    list(APPEND args --feed "${f}")
  endforeach()
  foreach(f IN LISTS arg_FETCHES)
    list(APPEND args --fetch "${f}")
  endforeach()
  set(threads 1)
  if(DEFINED arg_THREADS)
    if(NOT arg_THREADS MATCHES "^[0-9]+$" OR arg_THREADS LESS 1 OR arg_THREADS GREATER 256)
      message(FATAL_ERROR "${who}: THREADS wants a count from 1 to 256, not '${arg_THREADS}'")
    endif()
    set(threads ${arg_THREADS})
    list(APPEND args --threads ${threads})
  endif()
  if(DEFINED arg_OPT)
    if(NOT arg_OPT MATCHES "^[0-3]$")
      message(FATAL_ERROR "${who}: OPT wants 0, 1, 2 or 3, not '${arg_OPT}'")
    endif()
    list(APPEND args -O${arg_OPT})
  endif()
  if(arg_TARGET)
    list(APPEND args --target "${arg_TARGET}")
  endif()
  if(arg_TARGET_CPU)
    list(APPEND args --target-cpu "${arg_TARGET_CPU}")
  endif()
  list(APPEND args ${arg_EXTRA_ARGS})

  # The host: no TARGET, or Kiln's default triple for this processor.
  set(host_target OFF)
  if(NOT arg_TARGET OR arg_TARGET STREQUAL "${CMAKE_SYSTEM_PROCESSOR}-linux-gnu")
    set(host_target ON)
  endif()
  set(runtime "${arg_RUNTIME}")
  if(NOT DEFINED arg_RUNTIME OR runtime STREQUAL "AUTO")
    set(runtime OFF)
    if((host_target AND (threads GREATER 1 OR "${arg_OPT}" STREQUAL "0")) OR "${arg_TARGET}" MATCHES "^cuda")
      set(runtime ON)
    endif()
  elseif(NOT runtime MATCHES "^(ON|OFF)$")
    message(FATAL_ERROR "${who}: RUNTIME wants AUTO, ON or OFF, not '${arg_RUNTIME}'")
  endif()

  set(check "")
  if(NOT runtime AND host_target)
    string(TOUPPER "${prefix}_NEEDS_RUNTIME" macro)
    set(check COMMAND "${CMAKE_COMMAND}" "-DKILN_CHECK_HEADER=${hdr}" "-DKILN_CHECK_OBJECT=${obj}"
      "-DKILN_CHECK_MACRO=${macro}" "-DKILN_CHECK_NAME=${name}" -P "${_KILN_MODEL_SCRIPT}")
  endif()

  add_custom_command(OUTPUT "${obj}" "${hdr}"
    COMMAND "${CMAKE_COMMAND}" -E make_directory "${dir}"
    COMMAND Kiln::kiln ${args}
    ${check}
    DEPENDS "${model}" "$<TARGET_FILE:Kiln::kiln>" ${arg_DEPENDS}
    COMMENT "kiln compile ${arg_MODEL} -> ${prefix}.o, ${prefix}.h"
    VERBATIM)
  add_library(${name} INTERFACE "${obj}" "${hdr}")
  target_include_directories(${name} INTERFACE "${dir}")
  target_link_libraries(${name} INTERFACE "${obj}")
  if(runtime)
    target_link_libraries(${name} INTERFACE Kiln::runtime)
  endif()
  set_target_properties(${name} PROPERTIES KILN_OBJECT "${obj}" KILN_HEADER "${hdr}" KILN_PREFIX "${prefix}"
    KILN_RUNTIME ${runtime})
endfunction()
