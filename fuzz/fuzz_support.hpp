// Shared by the fuzz targets: a property check that aborts (so libFuzzer
// records the input as a crash) with a message saying which property broke.
#pragma once

#include <cstdio>
#include <cstdlib>

#define PJX_FUZZ_CHECK(cond, what)                                                     \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: property violated: %s (%s)\n", __FILE__, __LINE__, \
                   what, #cond);                                                       \
      std::abort();                                                                    \
    }                                                                                  \
  } while (false)
