// FuseMount: a FUSE filesystem (bindfs, mirroring another folder) mounted
// for one run, so that a scenario can put a database where SQLite's locks
// and shared memory are not those of a local filesystem, and show that an
// implementation refuses it (the documented "network filesystems are
// unsafe"; the reference refuses NFS, SMB, FUSE, Ceph, 9P and others by
// their filesystem type).
//
// bindfs runs in the foreground as a child of the harness (dying with it),
// and mounts inside the run's private mount namespace (mount_namespace.hpp),
// so a killed harness leaves no mount on the host.
//
// Thread safety: none; use from the runner's thread.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "subprocess.hpp"

namespace pjx::harness {

class FuseMount {
 public:
  // "" when this host can mount one (bindfs installed, /dev/fuse present, a
  // private mount namespace), else the reason and the fix.
  static std::string unavailable();

  // Mirrors `backing` (created if missing) on `mountpoint` (created if
  // missing) and waits up to 5 s until the mount shows as FUSE. Throws
  // std::runtime_error with bindfs's stderr file named when it does not.
  FuseMount(boost::asio::io_context& io, const std::filesystem::path& backing,
            const std::filesystem::path& mountpoint, const std::filesystem::path& stderr_file);
  ~FuseMount();
  FuseMount(const FuseMount&) = delete;
  FuseMount& operator=(const FuseMount&) = delete;

  // Unmounts (lazily when a file is still open) and ends bindfs. Idempotent.
  // Returns an error message, or "" when it worked.
  std::string undo();

 private:
  std::filesystem::path mountpoint_;
  std::unique_ptr<pjx::testing::Subprocess> bindfs_;
  bool mounted_ = false;
};

// True when `path` is on a FUSE filesystem (statfs f_type FUSE_SUPER_MAGIC).
bool on_fuse(const std::filesystem::path& path);

}  // namespace pjx::harness
