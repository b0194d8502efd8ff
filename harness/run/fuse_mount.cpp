#include "fuse_mount.hpp"

#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "mount_namespace.hpp"

namespace pjx::harness {
namespace fs = std::filesystem;

namespace {
constexpr long kFuseSuperMagic = 0x65735546;  // <linux/magic.h> FUSE_SUPER_MAGIC
}  // namespace

bool on_fuse(const fs::path& path) {
  struct statfs st {};
  return ::statfs(path.c_str(), &st) == 0 && static_cast<long>(st.f_type) == kFuseSuperMagic;
}

std::string FuseMount::unavailable() {
  if (pjx::testing::Subprocess::find_program("bindfs").empty()) {
    return "needs bindfs to mount a FUSE filesystem (Debian: apt-get install bindfs)";
  }
  if (::access("/dev/fuse", R_OK | W_OK) != 0) {
    return "needs /dev/fuse, readable and writable, to mount a FUSE filesystem (run as root, "
           "or give the container the fuse device)";
  }
  if (std::string why = mount_faults_unavailable(); !why.empty()) {
    return "will not mount a FUSE filesystem: " + why;
  }
  return "";
}

FuseMount::FuseMount(boost::asio::io_context& io, const fs::path& backing, const fs::path& mountpoint,
                     const fs::path& stderr_file)
    : mountpoint_(mountpoint) {
  if (std::string why = unavailable(); !why.empty()) throw std::runtime_error(why);
  std::error_code ec;
  fs::create_directories(backing, ec);
  fs::create_directories(mountpoint, ec);
  // -f: stay in the foreground, a child of the harness that dies with it.
  bindfs_ = pjx::testing::Subprocess::spawn(io, {"bindfs", "-f", backing.string(), mountpoint.string()}, {},
                                stderr_file, {});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!on_fuse(mountpoint)) {
    io.poll();
    if (bindfs_->exited() || std::chrono::steady_clock::now() > deadline) {
      bindfs_.reset();
      throw std::runtime_error("bindfs did not mount \"" + backing.string() + "\" on \"" +
                               mountpoint.string() + "\" within 5 s (its stderr: " +
                               stderr_file.string() + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  mounted_ = true;
}

FuseMount::~FuseMount() { undo(); }

std::string FuseMount::undo() {
  std::string error;
  if (mounted_ && ::umount2(mountpoint_.c_str(), 0) != 0) {
    const std::string why = std::generic_category().message(errno);
    if (::umount2(mountpoint_.c_str(), MNT_DETACH) != 0) {
      error = "cannot unmount the FUSE filesystem on \"" + mountpoint_.string() + "\": " + why;
    }
  }
  mounted_ = false;
  bindfs_.reset();  // bindfs ends with its mount; whatever is left is killed and reaped
  return error;
}

}  // namespace pjx::harness
