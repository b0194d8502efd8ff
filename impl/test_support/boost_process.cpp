// The compiled part of Boost.Process v2 (see boost_process.hpp).
#include "boost_process.hpp"

#include <boost/process/v2/src.hpp>
