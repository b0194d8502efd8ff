# Shared build helpers: one place for warnings and one helper per kind of test.

# pjx_set_warnings(target): the project's warning set; errors when PJX_WERROR.
function(pjx_set_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
    -Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual
    -Wimplicit-fallthrough)
  if(PJX_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# add_pjx_test(name SOURCES a.cpp b.cpp [LIBS ...] [LABELS ...] [TIMEOUT s])
# One GoogleTest executable registered with ctest as one test, so that its
# cases share the process-level fixtures (temporary directories, children).
function(add_pjx_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main)
  pjx_set_warnings(${name})
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT}
                       LABELS "${ARG_LABELS}")
endfunction()
