# Test settings shared by every tests/*/CMakeLists.txt (included by the top
# CMakeLists.txt before any test is added).
#
# Every test is labelled by its area (ctest -L AREA) and may carry `mpi` too.
set(TS_TEST_AREAS unit io parallel ref e2e interp slurm multinode quality gpu bench fuzz)

# At the end of a tests/*/CMakeLists.txt: stops configuration when a test of
# this directory has no area label (meta.labels checks all of them at ctest time).
function(ts_check_area_labels)
  get_property(tests DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR} PROPERTY TESTS)
  foreach(t IN LISTS tests)
    get_test_property(${t} LABELS labels)
    set(found FALSE)
    foreach(l IN LISTS labels)
      if(l IN_LIST TS_TEST_AREAS)
        set(found TRUE)
      endif()
    endforeach()
    if(NOT found)
      message(FATAL_ERROR "test ${t} (${CMAKE_CURRENT_SOURCE_DIR}) has no area label; give it one of: ${TS_TEST_AREAS}")
    endif()
  endforeach()
endfunction()

# LeakSanitizer in the sanitizer build (TS_SANITIZE=ON). ASan's leak check is on
# by default; these set it per test, so that no outer ASAN_OPTIONS decides.
#   ts_lsan_tests(TEST...)      leaks are errors (suppressions: lsan.supp, for the
#                               libraries that keep allocations until exit)
#   ts_lsan_mpi_tests(TEST...)  the same for tests that go through MPI: full stacks
#                               and Open MPI's plugins kept loaded, so the
#                               suppressions match Open MPI's own allocations
#   ts_no_lsan_tests(TEST...)   leaks not checked (say why where it is called)
set(TS_LSAN_SUPP ${CMAKE_CURRENT_LIST_DIR}/lsan.supp)
function(ts_lsan_tests)
  if(TS_SANITIZE)
    foreach(t IN LISTS ARGN)
      set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1"
                   "LSAN_OPTIONS=suppressions=${TS_LSAN_SUPP}:print_suppressions=0")
    endforeach()
  endif()
endfunction()
function(ts_lsan_mpi_tests)
  if(TS_SANITIZE)
    foreach(t IN LISTS ARGN)
      set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0"
                   "LSAN_OPTIONS=suppressions=${TS_LSAN_SUPP}:print_suppressions=0"
                   "OMPI_MCA_mca_base_component_disable_dlclose=1")
    endforeach()
  endif()
endfunction()
function(ts_no_lsan_tests)
  if(TS_SANITIZE)
    foreach(t IN LISTS ARGN)
      set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")
    endforeach()
  endif()
endfunction()
