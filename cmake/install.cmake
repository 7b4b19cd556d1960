# Install and export (docs/cmake.md): `cmake --install build --prefix P` puts
# the `kiln` tool, libkiln (the compiler API of include/kiln/kiln.h),
# libkilnrt (the runtime generated objects may call), the public headers, the
# CMake package (KilnConfig.cmake, Kiln::kiln / Kiln::compiler /
# Kiln::runtime, kiln_add_model()) and kiln.pc / kilnrt.pc under P.
#
# The installed libraries are built here from the objects of the internal
# static libraries (kiln_ir, kiln_passes, the frontends, kiln_codegen, kiln,
# kilnrt), so a source or directory added above needs no edit here.  Included
# at the end of the top-level CMakeLists.txt, after those targets exist.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

option(KILN_SHARED_LIBS "Also build and install libkiln.so and libkilnrt.so (the static libraries always are)" ON)
# The version is the one include/kiln/kiln.h states (kiln_version(), kiln --version).
file(STRINGS ${CMAKE_SOURCE_DIR}/include/kiln/kiln.h _kiln_version_line REGEX "^#define KILN_VERSION \"")
string(REGEX MATCH "[0-9]+\\.[0-9]+\\.[0-9]+" KILN_VERSION "${_kiln_version_line}")
if(NOT KILN_VERSION)
  message(FATAL_ERROR "no '#define KILN_VERSION \"X.Y.Z\"' in include/kiln/kiln.h")
endif()
string(REGEX MATCH "^[0-9]+\\.[0-9]+" KILN_SOVERSION ${KILN_VERSION})

set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)

# libkiln's parts: the `kiln` target and every static library of this
# project it links, found by walking LINK_LIBRARIES (kilnrt stays apart).
function(kiln_collect_parts tgt)
  get_target_property(type ${tgt} TYPE)
  get_target_property(imported ${tgt} IMPORTED)
  if(NOT type STREQUAL STATIC_LIBRARY OR imported OR tgt STREQUAL kilnrt OR tgt IN_LIST KILN_COMPILER_PARTS)
    return()
  endif()
  list(APPEND KILN_COMPILER_PARTS ${tgt})
  get_target_property(deps ${tgt} LINK_LIBRARIES)
  foreach(dep IN LISTS deps)
    if(TARGET ${dep})
      kiln_collect_parts(${dep}) # appends to this scope's KILN_COMPILER_PARTS
    endif()
  endforeach()
  set(KILN_COMPILER_PARTS ${KILN_COMPILER_PARTS} PARENT_SCOPE)
endfunction()
set(KILN_COMPILER_PARTS "")
kiln_collect_parts(kiln)
message(STATUS "libkiln is made of: ${KILN_COMPILER_PARTS}")
if(KILN_SHARED_LIBS)
  set_target_properties(${KILN_COMPILER_PARTS} kilnrt PROPERTIES POSITION_INDEPENDENT_CODE ON)
endif()
set(KILN_COMPILER_OBJECTS "")
foreach(part ${KILN_COMPILER_PARTS})
  list(APPEND KILN_COMPILER_OBJECTS $<TARGET_OBJECTS:${part}>)
endforeach()

# What each library needs at link time.  libkilnrt: OpenBLAS (kiln_rt_sgemm),
# the thread pool, dlopen (the CUDA driver); never LLVM or protobuf-c.
# libkiln: LLVM, protobuf-c, libm, and libkilnrt (the JIT binds its symbols).
set(KILN_RT_DEPS ${OPENBLAS_LIB} Threads::Threads ${CMAKE_DL_LIBS})
# Open MPI (runtime/dist.c) when the build found it: plain library paths, so
# the exported targets need no find_package(MPI) on the user's side.
set(KILN_PC_MPI "")
if(MPI_C_FOUND)
  list(APPEND KILN_RT_DEPS ${MPI_C_LIBRARIES})
  foreach(_lib ${MPI_C_LIBRARIES})
    get_filename_component(_dir ${_lib} DIRECTORY)
    get_filename_component(_name ${_lib} NAME_WE)
    string(REGEX REPLACE "^lib" "" _name ${_name})
    string(APPEND KILN_PC_MPI " -L${_dir} -l${_name}")
  endforeach()
endif()
set(KILN_COMPILER_DEPS ${LLVM_LIB} ${PROTOBUFC_LINK_LIBRARIES} m)
set(KILN_PKG_LIB ${CMAKE_BINARY_DIR}/pkg/lib)

function(kiln_installed_library tgt kind output export_name)
  set_target_properties(${tgt} PROPERTIES OUTPUT_NAME ${output} EXPORT_NAME ${export_name}
    ARCHIVE_OUTPUT_DIRECTORY ${KILN_PKG_LIB} LIBRARY_OUTPUT_DIRECTORY ${KILN_PKG_LIB}
    LINKER_LANGUAGE C INSTALL_RPATH_USE_LINK_PATH TRUE)
  target_include_directories(${tgt} INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  if(kind STREQUAL SHARED)
    # $ORIGIN: libkiln.so finds libkilnrt.so next to it in any prefix.
    set_target_properties(${tgt} PROPERTIES VERSION ${KILN_VERSION} SOVERSION ${KILN_SOVERSION} INSTALL_RPATH "\$ORIGIN")
    # A part missing from the objects above fails the link, not the user's program.
    target_link_options(${tgt} PRIVATE LINKER:--no-undefined)
  endif()
endfunction()

add_library(kiln_runtime_static STATIC $<TARGET_OBJECTS:kilnrt>)
kiln_installed_library(kiln_runtime_static STATIC kilnrt runtime_static)
target_link_libraries(kiln_runtime_static INTERFACE ${KILN_RT_DEPS})

add_library(kiln_compiler_static STATIC ${KILN_COMPILER_OBJECTS})
kiln_installed_library(kiln_compiler_static STATIC kiln compiler_static)
target_link_libraries(kiln_compiler_static INTERFACE kiln_runtime_static ${KILN_COMPILER_DEPS})
set(KILN_INSTALL_TARGETS kiln_runtime_static kiln_compiler_static)

if(KILN_SHARED_LIBS)
  add_library(kiln_runtime_shared SHARED $<TARGET_OBJECTS:kilnrt>)
  kiln_installed_library(kiln_runtime_shared SHARED kilnrt runtime_shared)
  target_link_libraries(kiln_runtime_shared PRIVATE ${KILN_RT_DEPS})

  add_library(kiln_compiler_shared SHARED ${KILN_COMPILER_OBJECTS})
  kiln_installed_library(kiln_compiler_shared SHARED kiln compiler_shared)
  target_link_libraries(kiln_compiler_shared PUBLIC kiln_runtime_shared PRIVATE ${KILN_COMPILER_DEPS})
  list(APPEND KILN_INSTALL_TARGETS kiln_runtime_shared kiln_compiler_shared)
endif()

# The tool keeps linking the internal static libraries (no libkiln.so at run
# time); LLVM's directory stays in its installed RPATH.
set_target_properties(kiln_cli PROPERTIES EXPORT_NAME kiln INSTALL_RPATH_USE_LINK_PATH TRUE)

install(TARGETS kiln_cli ${KILN_INSTALL_TARGETS} EXPORT KilnTargets
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/include/kiln DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")

set(KILN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/Kiln)
install(EXPORT KilnTargets NAMESPACE Kiln:: DESTINATION ${KILN_CMAKE_DIR})
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/KilnConfig.cmake.in ${CMAKE_BINARY_DIR}/pkg/KilnConfig.cmake
  INSTALL_DESTINATION ${KILN_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/pkg/KilnConfigVersion.cmake VERSION ${KILN_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/pkg/KilnConfig.cmake ${CMAKE_BINARY_DIR}/pkg/KilnConfigVersion.cmake
  ${CMAKE_SOURCE_DIR}/cmake/KilnModel.cmake DESTINATION ${KILN_CMAKE_DIR})

# pkg-config: the prefix is found from the .pc file's own place, so the
# files stay right for `cmake --install --prefix P` whatever prefix the
# build was configured with.
set(KILN_PC_PREFIX "\${pcfiledir}")
string(REPLACE "/" ";" _kiln_libdir_parts "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
foreach(_p ${_kiln_libdir_parts})
  string(APPEND KILN_PC_PREFIX "/..")
endforeach()
get_filename_component(KILN_PC_LLVM_LIBDIR ${LLVM_LIB} DIRECTORY)
get_filename_component(KILN_PC_LLVM_NAME ${LLVM_LIB} NAME_WE)
string(REGEX REPLACE "^lib" "" KILN_PC_LLVM_NAME ${KILN_PC_LLVM_NAME})
get_filename_component(KILN_PC_BLAS_LIBDIR ${OPENBLAS_LIB} DIRECTORY)
if(KILN_SHARED_LIBS)
  set(KILN_PC_RT_PUBLIC "")
  set(KILN_PC_RT_PRIVATE "-L${KILN_PC_BLAS_LIBDIR} -lopenblas -pthread -ldl${KILN_PC_MPI}")
  set(KILN_PC_PUBLIC "")
  set(KILN_PC_PRIVATE "-L${KILN_PC_LLVM_LIBDIR} -l${KILN_PC_LLVM_NAME} -lm")
  set(KILN_PC_REQUIRES "")
  set(KILN_PC_REQUIRES_PRIVATE "libprotobuf-c")
else()
  set(KILN_PC_RT_PUBLIC "-L${KILN_PC_BLAS_LIBDIR} -lopenblas -pthread -ldl${KILN_PC_MPI}")
  set(KILN_PC_RT_PRIVATE "")
  set(KILN_PC_PUBLIC "-L${KILN_PC_LLVM_LIBDIR} -l${KILN_PC_LLVM_NAME} -lm")
  set(KILN_PC_PRIVATE "")
  set(KILN_PC_REQUIRES "libprotobuf-c")
  set(KILN_PC_REQUIRES_PRIVATE "")
endif()
configure_file(${CMAKE_SOURCE_DIR}/cmake/kilnrt.pc.in ${CMAKE_BINARY_DIR}/pkg/kilnrt.pc @ONLY)
configure_file(${CMAKE_SOURCE_DIR}/cmake/kiln.pc.in ${CMAKE_BINARY_DIR}/pkg/kiln.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/pkg/kiln.pc ${CMAKE_BINARY_DIR}/pkg/kilnrt.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
