// The type of the filesystem a directory lives on, as recorded with test and
// benchmark results (results.json's machine.filesystem, the micro
// benchmarks' context): the one probe for it.
//
// Thread safety: a pure function of the host's state.
#pragma once

#include <filesystem>
#include <string>

namespace pjx::testing {

// The type /proc/self/mounts gives for the innermost mount holding `dir`
// ("ext4", "tmpfs", "nfs4", "overlay", ...); where that cannot be read, the
// name of statfs()'s magic number ("ext2/3/4", "xfs", "btrfs", ...), else
// that number in hex ("0x9123683e"); "unknown (<reason>)" when statfs fails.
std::string filesystem_type(const std::filesystem::path& dir);

}  // namespace pjx::testing
