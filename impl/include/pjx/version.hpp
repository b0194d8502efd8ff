// pjx/version.hpp: the version of pjx-inval these headers belong to.
//
// This file is the one place the version is written: the top-level
// CMakeLists.txt reads it for project(VERSION), so the CMake package
// (pjx_inval-config-version.cmake), the shared library's SOVERSION, the
// .deb and every program's --version follow it (ctest cli_version checks
// them, the Python worker's VERSION included).
//
// Compatibility while the major version is 0: releases with the same major
// and minor version are compatible (source and ABI); a new minor version may
// break either. find_package(pjx_inval 0.1) accepts 0.1.x only.
#pragma once

#define PJX_INVAL_VERSION_MAJOR 0
#define PJX_INVAL_VERSION_MINOR 1
#define PJX_INVAL_VERSION_PATCH 0

// "MAJOR.MINOR.PATCH".
#define PJX_INVAL_VERSION_STRING "0.1.0"

// MAJOR * 10000 + MINOR * 100 + PATCH, for #if comparisons.
#define PJX_INVAL_VERSION                                           \
  (PJX_INVAL_VERSION_MAJOR * 10000 + PJX_INVAL_VERSION_MINOR * 100 + \
   PJX_INVAL_VERSION_PATCH)

namespace pjx {

inline constexpr int kVersionMajor = PJX_INVAL_VERSION_MAJOR;
inline constexpr int kVersionMinor = PJX_INVAL_VERSION_MINOR;
inline constexpr int kVersionPatch = PJX_INVAL_VERSION_PATCH;
inline constexpr const char* kVersionString = PJX_INVAL_VERSION_STRING;

}  // namespace pjx
