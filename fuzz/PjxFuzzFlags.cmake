# Included by the top-level CMakeLists.txt before any target is defined when
# PJX_FUZZ is ON: every target of the project (the library, the harness, the
# tests) is compiled with libFuzzer's coverage instrumentation
# (-fsanitize=fuzzer-no-link), so that the fuzz targets in fuzz/ see the
# coverage of the code they call. Only the fuzz targets themselves link
# libFuzzer's main (-fsanitize=fuzzer, fuzz/CMakeLists.txt).
#
# Add the sanitizers with CMAKE_CXX_FLAGS (the `asan` preset does:
# -fsanitize=address,undefined); without them the targets still find
# crashes, uncaught exceptions and failed property checks.
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR
    "PJX_FUZZ=ON needs clang (libFuzzer); CMAKE_CXX_COMPILER is "
    "${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER}. Configure a fresh build "
    "directory with -DCMAKE_CXX_COMPILER=clang++ (Debian: apt-get install clang "
    "libclang-rt-14-dev), or use the `asan` preset.")
endif()
include(CheckCXXSourceCompiles)
set(CMAKE_REQUIRED_FLAGS "-fsanitize=fuzzer")
check_cxx_source_compiles([[
#include <cstddef>
#include <cstdint>
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t*, std::size_t) { return 0; }
]] PJX_HAVE_LIBFUZZER)
unset(CMAKE_REQUIRED_FLAGS)
if(NOT PJX_HAVE_LIBFUZZER)
  message(FATAL_ERROR
    "PJX_FUZZ=ON: ${CMAKE_CXX_COMPILER} cannot link -fsanitize=fuzzer. On Debian 12 "
    "install libclang-rt-14-dev (scripts/install-deps.sh does).")
endif()
add_compile_options(-fsanitize=fuzzer-no-link)
# Links the coverage callbacks' runtime into every executable (ASan provides
# it too, but a PJX_FUZZ build without sanitizers needs it from here).
add_link_options(-fsanitize=fuzzer-no-link)
