// Boost.Process v2 as this project uses it: with std::filesystem (no
// Boost.Filesystem library) and compiled separately in boost_process.cpp,
// because Boost 1.81's header-only mode leaves process_environment::on_setup
// undefined. Include this instead of <boost/process/v2.hpp>.
#pragma once

#ifndef BOOST_PROCESS_USE_STD_FS
#define BOOST_PROCESS_USE_STD_FS 1
#endif
#ifndef BOOST_PROCESS_V2_SEPARATE_COMPILATION
#define BOOST_PROCESS_V2_SEPARATE_COMPILATION 1
#endif

// Boost 1.81's v2 headers miss these includes with BOOST_PROCESS_USE_STD_FS.
#include <type_traits>

#include <boost/optional.hpp>
#include <boost/type_traits/remove_pointer.hpp>

#include <boost/process/v2.hpp>
