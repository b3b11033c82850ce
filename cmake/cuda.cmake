# The CUDA backend (src/backend/cuda) and the NCCL halo communicator
# (src/parallel/comm_nccl.c), included by the top CMakeLists.txt when TS_CUDA is ON.
# Builds the static library ts_cuda, links it into timeshard_lib and defines
# TS_CUDA=1 for everything that links timeshard_lib. With TS_BUILD_TESTS, adds
# tests/gpu (ctest label "gpu"; each test exits 77 = skipped without a GPU).
#
#   cmake -S . -B build-cuda -DTS_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a
#
# Both settings below must come before enable_language(CUDA) (ENVIRONMENT.md):
# "native" fails on a machine without a GPU, and the static runtime default
# puts both cudart variants on the link line.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "")
  set(CMAKE_CUDA_ARCHITECTURES "80;90a" CACHE STRING "CUDA architectures to build for (e.g. 80, 90a)" FORCE)
endif()
set(CMAKE_CUDA_RUNTIME_LIBRARY Shared CACHE STRING "CUDA runtime library (Shared: libcudart.so)")
if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
endif()
enable_language(CUDA)
set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)

find_package(CUDAToolkit REQUIRED)
if(NOT TARGET CUDA::cublas)
  message(FATAL_ERROR "cuBLAS not found in the CUDA toolkit at ${CUDAToolkit_LIBRARY_ROOT}")
endif()

# NCCL: next to the toolkit (/usr/local/cuda/{include,lib}) or in the system paths.
find_path(NCCL_INCLUDE_DIR nccl.h
          HINTS ${NCCL_ROOT} $ENV{NCCL_ROOT} ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include
          PATH_SUFFIXES include)
find_library(NCCL_LIBRARY NAMES nccl
             HINTS ${NCCL_ROOT} $ENV{NCCL_ROOT} ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib /usr/local/cuda/lib64
             PATH_SUFFIXES lib lib64)
if(NOT NCCL_INCLUDE_DIR OR NOT NCCL_LIBRARY)
  message(FATAL_ERROR "NCCL not found (nccl.h, libnccl): install NCCL or pass -DNCCL_ROOT=DIR")
endif()
file(STRINGS ${NCCL_INCLUDE_DIR}/nccl.h ts_nccl_ver REGEX "^#define NCCL_(MAJOR|MINOR|PATCH) ")
string(REGEX REPLACE ".*NCCL_MAJOR ([0-9]+).*NCCL_MINOR ([0-9]+).*NCCL_PATCH ([0-9]+).*" "\\1.\\2.\\3"
       NCCL_VERSION_STRING "${ts_nccl_ver}")

# ---- ts_cuda -------------------------------------------------------------------------
file(GLOB TS_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/backend/cuda/*.cu)
add_library(ts_cuda STATIC ${TS_CUDA_SOURCES} ${CMAKE_SOURCE_DIR}/src/backend/cuda/cuda_device.c ${CMAKE_SOURCE_DIR}/src/backend/cuda/cuda_reg.c
            ${CMAKE_SOURCE_DIR}/src/parallel/comm_nccl.c)
# The directory's options (-Wall -Wextra ..., top CMakeLists.txt) are GCC flags:
# give them to C as they are and to nvcc through -Xcompiler.
get_directory_property(ts_dir_opts DIRECTORY ${CMAKE_SOURCE_DIR} COMPILE_OPTIONS)
set(ts_cuda_opts "")
foreach(o IN LISTS ts_dir_opts)
  list(APPEND ts_cuda_opts "$<$<COMPILE_LANGUAGE:C>:${o}>" "$<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=${o}>")
endforeach()
set_target_properties(ts_cuda PROPERTIES COMPILE_OPTIONS "${ts_cuda_opts}" POSITION_INDEPENDENT_CODE ON
                                         CUDA_RUNTIME_LIBRARY Shared)
# nvcc diagnostics with their numbers (to silence one precisely if ever needed)
target_compile_options(ts_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Xcudafe=--display_error_number
                                       --expt-relaxed-constexpr>)
target_include_directories(ts_cuda PUBLIC ${NCCL_INCLUDE_DIR} ${CUDAToolkit_INCLUDE_DIRS})
target_compile_definitions(ts_cuda PUBLIC TS_CUDA=1)
target_link_libraries(ts_cuda PUBLIC ts_parallel ts_core MPI::MPI_C CUDA::cudart CUDA::cublas ${NCCL_LIBRARY})

# comm_nccl.c lives in src/parallel, whose glob also puts it in ts_parallel (compiled
# there without TS_CUDA it is empty): keep it in ts_cuda only.
get_target_property(ts_parallel_srcs ts_parallel SOURCES)
list(FILTER ts_parallel_srcs EXCLUDE REGEX "comm_nccl\\.c$")
set_target_properties(ts_parallel PROPERTIES SOURCES "${ts_parallel_srcs}")

target_link_libraries(timeshard_lib PUBLIC ts_cuda)
target_compile_definitions(timeshard_lib PUBLIC TS_CUDA=1)

message(STATUS "  CUDA       nvcc ${CMAKE_CUDA_COMPILER_VERSION} (${CMAKE_CUDA_COMPILER}), toolkit ${CUDAToolkit_VERSION}")
message(STATUS "             architectures ${CMAKE_CUDA_ARCHITECTURES}, runtime ${CMAKE_CUDA_RUNTIME_LIBRARY}")
message(STATUS "  cuBLAS     ${CUDA_cublas_LIBRARY}")
message(STATUS "  NCCL       ${NCCL_VERSION_STRING} (${NCCL_LIBRARY}, ${NCCL_INCLUDE_DIR})")

if(TS_BUILD_TESTS)
  enable_testing()
  add_subdirectory(${CMAKE_SOURCE_DIR}/tests/gpu ${CMAKE_BINARY_DIR}/tests/gpu)
endif()
