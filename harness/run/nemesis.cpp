#include "nemesis.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <sched.h>
#include <sqlite3.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "subprocess.hpp"
#include "db_probe.hpp"
#include "mount_namespace.hpp"

namespace pjx::harness {

namespace fs = std::filesystem;

DbWriteLock::DbWriteLock(const fs::path& db, int acquire_timeout_ms) {
  std::error_code ec;
  if (!fs::exists(db, ec)) {
    throw std::runtime_error("cannot lock \"" + db.string() + "\": the file does not exist");
  }
  const std::string uri = sqlite_uri(db, "");
  if (sqlite3_open_v2(uri.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI, nullptr) !=
      SQLITE_OK) {
    const std::string why = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
    release();
    throw std::runtime_error("cannot open \"" + db.string() + "\" to lock it: " + why);
  }
  sqlite3_busy_timeout(db_, acquire_timeout_ms);
  char* err = nullptr;
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string why = err != nullptr ? err : "unknown error";
    sqlite3_free(err);
    release();
    throw std::runtime_error("cannot take the write lock of \"" + db.string() + "\" within " +
                             std::to_string(acquire_timeout_ms) + " ms: " + why);
  }
}

DbWriteLock::~DbWriteLock() { release(); }

void DbWriteLock::release() {
  if (db_ == nullptr) return;
  sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close_v2(db_);
  db_ = nullptr;
}

fs::path find_libfaketime() {
  std::error_code ec;
  fs::path plain;
  for (const char* root_name : {"/usr/lib", "/usr/local/lib"}) {
    const fs::path root(root_name);
    for (const auto& entry : fs::directory_iterator(root, ec)) {
      const fs::path dir = entry.path() / "faketime";
      if (fs::exists(dir / "libfaketimeMT.so.1", ec)) return dir / "libfaketimeMT.so.1";
      if (plain.empty() && fs::exists(dir / "libfaketime.so.1", ec)) plain = dir / "libfaketime.so.1";
    }
    if (fs::exists(root / "faketime" / "libfaketimeMT.so.1", ec)) {
      return root / "faketime" / "libfaketimeMT.so.1";
    }
    if (plain.empty() && fs::exists(root / "faketime" / "libfaketime.so.1", ec)) {
      plain = root / "faketime" / "libfaketime.so.1";
    }
  }
  return plain;
}

void write_faketime_offset(const fs::path& file, double offset_s) {
  char text[64];
  if (offset_s == std::floor(offset_s)) {
    std::snprintf(text, sizeof text, "%+.0f\n", offset_s);
  } else {
    std::snprintf(text, sizeof text, "%+.3f\n", offset_s);
  }
  const fs::path tmp = file.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw std::runtime_error("cannot write \"" + tmp.string() + "\"");
  }
  std::error_code ec;
  fs::rename(tmp, file, ec);
  if (ec) {
    throw std::runtime_error("cannot rename \"" + tmp.string() + "\" to \"" + file.string() +
                             "\": " + ec.message());
  }
}

std::string delete_db(const fs::path& db, bool sidecars) {
  std::string done;
  std::vector<fs::path> files = {db};
  if (sidecars) {
    files.emplace_back(db.string() + "-wal");
    files.emplace_back(db.string() + "-shm");
  }
  for (const fs::path& file : files) {
    std::error_code ec;
    if (!done.empty()) done += "; ";
    if (fs::remove(file, ec)) {
      done += "unlinked " + file.string();
    } else if (ec) {
      done += "could not unlink " + file.string() + ": " + ec.message();
    } else {
      done += file.string() + " did not exist";
    }
  }
  return done;
}

namespace {

// Copies every page of `from` into `to` with the online backup API, waiting
// out other connections' locks (5 s at most).
void backup_pages(const fs::path& from, const fs::path& to) {
  sqlite3* src = nullptr;
  sqlite3* dst = nullptr;
  auto close_both = [&] {
    sqlite3_close_v2(src);
    sqlite3_close_v2(dst);
  };
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI;
  if (sqlite3_open_v2(sqlite_uri(from, "").c_str(), &src, flags, nullptr) != SQLITE_OK ||
      sqlite3_open_v2(sqlite_uri(to, "").c_str(), &dst, flags, nullptr) != SQLITE_OK) {
    const std::string why =
        src != nullptr ? sqlite3_errmsg(dst != nullptr ? dst : src) : "out of memory";
    close_both();
    throw std::runtime_error("cannot open \"" + from.string() + "\" or \"" + to.string() +
                             "\": " + why);
  }
  sqlite3_busy_timeout(src, 5000);
  sqlite3_busy_timeout(dst, 5000);
  sqlite3_backup* backup = sqlite3_backup_init(dst, "main", src, "main");
  if (backup == nullptr) {
    const std::string why = sqlite3_errmsg(dst);
    close_both();
    throw std::runtime_error("backup from \"" + from.string() + "\" failed: " + why);
  }
  int rc = SQLITE_OK;
  for (int tries = 0; tries < 500; ++tries) {
    rc = sqlite3_backup_step(backup, -1);
    if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) break;
    sqlite3_sleep(10);
  }
  sqlite3_backup_finish(backup);
  const std::string why = sqlite3_errmsg(dst);
  close_both();
  if (rc != SQLITE_DONE) {
    throw std::runtime_error("backup from \"" + from.string() + "\" into \"" + to.string() +
                             "\" failed: " + why);
  }
}

}  // namespace

std::string snapshot_db(const fs::path& db, const fs::path& snapshot) {
  std::error_code ec;
  fs::remove(snapshot, ec);
  backup_pages(db, snapshot);
  return "copied " + db.string() + " to " + snapshot.string();
}

std::string restore_db(const fs::path& db, const fs::path& snapshot) {
  if (!fs::exists(snapshot)) {
    throw std::runtime_error("no snapshot at \"" + snapshot.string() +
                             "\": a restore_db fault needs a snapshot_db fault before it");
  }
  backup_pages(snapshot, db);
  return "restored " + snapshot.string() + " into " + db.string() + " in place";
}

std::string replace_db(const fs::path& db, bool sidecars) {
  const fs::path tmp = db.string() + ".replacement";
  std::error_code ec;
  fs::remove(tmp, ec);
  sqlite3* handle = nullptr;
  const std::string uri = sqlite_uri(tmp, "");
  int rc = sqlite3_open_v2(uri.c_str(), &handle,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, nullptr);
  if (rc == SQLITE_OK) {
    // Writing the header makes it a real (empty) database rather than a 0-byte file.
    rc = sqlite3_exec(handle, "PRAGMA user_version = 1", nullptr, nullptr, nullptr);
  }
  const std::string why = handle != nullptr ? sqlite3_errmsg(handle) : "out of memory";
  sqlite3_close_v2(handle);
  if (rc != SQLITE_OK) {
    throw std::runtime_error("cannot create the replacement database \"" + tmp.string() +
                             "\": " + why);
  }
  // The sidecars go before the rename: after it, a process opening the new
  // file would find the old -wal beside it and replay it into the new file.
  std::string unlinked;
  if (sidecars) {
    for (const char* suffix : {"-wal", "-shm"}) {
      const fs::path side = db.string() + suffix;
      if (fs::remove(side, ec)) {
        unlinked += "; unlinked " + side.string();
      } else if (ec) {
        throw std::runtime_error("cannot unlink \"" + side.string() + "\": " + ec.message());
      }
    }
  }
  fs::rename(tmp, db, ec);
  if (ec) {
    throw std::runtime_error("cannot rename \"" + tmp.string() + "\" over \"" + db.string() +
                             "\": " + ec.message());
  }
  return "replaced " + db.string() + " with a new empty SQLite database" + unlinked;
}

ReadonlyBind::ReadonlyBind(const fs::path& dir) : dir_(dir) {
  if (const std::string why = mount_faults_unavailable(); !why.empty()) {
    throw std::runtime_error("will not bind-mount \"" + dir.string() + "\" read-only: " + why);
  }
  if (::mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    throw std::runtime_error("cannot bind-mount \"" + dir.string() +
                             "\" onto itself: " + std::generic_category().message(errno) +
                             " (needs root or CAP_SYS_ADMIN)");
  }
  mounted_ = true;
  if (::mount(nullptr, dir.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
    const std::string why = std::generic_category().message(errno);
    undo();
    throw std::runtime_error("cannot remount \"" + dir.string() + "\" read-only: " + why);
  }
}

ReadonlyBind::~ReadonlyBind() { undo(); }

std::string ReadonlyBind::undo() {
  if (!mounted_) return "";
  // Writable again first, as `mount -o remount,rw` would be: a worker that
  // opened a file through the bind keeps that descriptor, and a bind
  // detached while still read-only would leave it read-only for good.
  ::mount(nullptr, dir_.c_str(), nullptr, MS_REMOUNT | MS_BIND, nullptr);
  if (::umount2(dir_.c_str(), 0) != 0) {
    const std::string why = std::generic_category().message(errno);
    // Busy (a file is open through the bind): detach it instead.
    if (::umount2(dir_.c_str(), MNT_DETACH) != 0) {
      return "cannot unmount \"" + dir_.string() + "\": " + why;
    }
  }
  mounted_ = false;
  return "";
}

SizeLimitedFs::SizeLimitedFs(const fs::path& dir, std::uint64_t bytes) : dir_(dir) {
  const std::string options = "size=" + std::to_string(bytes) + ",mode=0755";
  if (const std::string why = mount_faults_unavailable(); !why.empty()) {
    throw std::runtime_error("will not mount a size-limited filesystem on \"" + dir.string() +
                             "\": " + why + "; run the harness as root (CI does)");
  }
  if (::mount("pjx-disk-full", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
    throw std::runtime_error("needs root to mount a size-limited filesystem (tmpfs, " + options + ") on \"" +
                             dir.string() + "\": " + std::generic_category().message(errno) +
                             "; run the harness as root or with CAP_SYS_ADMIN (CI does)");
  }
  mounted_ = true;
}

SizeLimitedFs::~SizeLimitedFs() { undo(); }

std::string SizeLimitedFs::undo() {
  if (!mounted_) return "";
  if (::umount2(dir_.c_str(), 0) != 0) {
    const std::string why = std::generic_category().message(errno);
    // Busy (a worker that would not die still has a file open): detach.
    if (::umount2(dir_.c_str(), MNT_DETACH) != 0) {
      return "cannot unmount the size-limited filesystem on \"" + dir_.string() + "\": " + why;
    }
  }
  mounted_ = false;
  return "";
}

std::uint64_t free_bytes(const fs::path& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) {
    throw std::runtime_error("statvfs \"" + path.string() + "\": " + std::generic_category().message(errno));
  }
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

FillResult fill_filesystem(const fs::path& filler) {
  FillResult result;
  result.free_before = free_bytes(filler.parent_path());
  const int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw std::runtime_error("cannot create the filler file \"" + filler.string() +
                             "\": " + std::generic_category().message(errno));
  }
  const std::vector<char> zeros(1 << 20, '\0');
  std::size_t chunk = zeros.size();
  while (chunk >= 512) {
    const ssize_t n = ::write(fd, zeros.data(), chunk);
    if (n > 0) {
      result.written += static_cast<std::uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != ENOSPC && errno != EDQUOT) {
      const std::string why = std::generic_category().message(errno);
      ::close(fd);
      throw std::runtime_error("writing the filler file \"" + filler.string() + "\": " + why);
    }
    chunk /= 2;  // full for this size: try smaller writes for the last pages
  }
  ::close(fd);
  result.free_after = free_bytes(filler.parent_path());
  return result;
}

namespace {

// Writes `text` to `path` with system calls only (safe in a forked child).
bool write_proc_file(const char* path, const char* text, std::size_t n) {
  const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text, n) == static_cast<ssize_t>(n);
  ::close(fd);
  return ok;
}

// The decimal digits of `a` into buf (no allocation); returns the length.
std::size_t decimal(unsigned a, char* buf) {
  char digits[16];
  std::size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + a % 10);
    a /= 10;
  } while (a != 0);
  for (std::size_t i = 0; i < n; ++i) buf[i] = digits[n - 1 - i];
  return n;
}

// "<a> <a> 1\n" into buf (a uid_map line mapping `a` onto itself); returns
// the length.
std::size_t identity_map(unsigned a, char* buf) {
  std::size_t len = decimal(a, buf);
  buf[len++] = ' ';
  len += decimal(a, buf + len);
  buf[len++] = ' ';
  buf[len++] = '1';
  buf[len++] = '\n';
  return len;
}

// Moves the calling process into a new user namespace mapped onto its own
// uid and gid and sets that namespace's max_inotify_instances. System calls
// only. Returns nullptr, or the step that failed (errno says why).
const char* apply_inotify_limit(int instances) {
  const unsigned uid = ::getuid();
  const unsigned gid = ::getgid();
  if (::unshare(CLONE_NEWUSER) != 0) return "unshare(CLONE_NEWUSER)";
  char buf[48];
  if (!write_proc_file("/proc/self/setgroups", "deny", 4)) return "writing /proc/self/setgroups";
  if (!write_proc_file("/proc/self/uid_map", buf, identity_map(uid, buf))) {
    return "writing /proc/self/uid_map";
  }
  if (!write_proc_file("/proc/self/gid_map", buf, identity_map(gid, buf))) {
    return "writing /proc/self/gid_map";
  }
  std::size_t n = decimal(static_cast<unsigned>(instances), buf);
  buf[n++] = '\n';
  if (!write_proc_file("/proc/sys/user/max_inotify_instances", buf, n)) {
    return "writing /proc/sys/user/max_inotify_instances";
  }
  return nullptr;
}

}  // namespace

std::string inotify_limit_unavailable() {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return std::string("pipe: ") + std::generic_category().message(errno);
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return std::string("fork: ") + std::generic_category().message(e);
  }
  if (pid == 0) {
    // The child: system calls only. Reports the failed step, else whether
    // inotify_init1 now fails as it should.
    pjx::testing::die_with_parent(parent);
    ::close(pipe_fds[0]);
    const char* step = apply_inotify_limit(0);
    const int e = errno;
    if (step == nullptr) {
      const int fd = ::inotify_init1(IN_CLOEXEC);
      if (fd >= 0 || errno != EMFILE) step = "inotify_init1 still worked with the limit at 0";
    }
    if (step != nullptr) {
      ssize_t ignored = ::write(pipe_fds[1], step, std::strlen(step));
      ignored = ::write(pipe_fds[1], ": ", 2);
      const char* why = std::strerror(e);
      ignored = ::write(pipe_fds[1], why, std::strlen(why));
      (void)ignored;
    }
    ::_exit(step == nullptr ? 0 : 1);
  }
  ::close(pipe_fds[1]);
  std::string reason;
  char buf[256];
  for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    reason.append(buf, static_cast<std::size_t>(n));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  return "cannot limit inotify for one process (" +
         (reason.empty() ? std::string("the probe failed") : reason) +
         "): user namespaces are needed (sysctl user.max_user_namespaces > 0)";
}

std::vector<std::string> inotify_limit_prefix(int instances) {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot find this executable (/proc/self/exe): " + ec.message());
  return {self.string(), "with-inotify-limit", std::to_string(instances), "--"};
}

int exec_with_inotify_limit(int argc, char** argv) {
  // argv: pjx-harness with-inotify-limit N -- CMD [ARGS...]
  if (argc < 5 || std::string(argv[3]) != "--") {
    std::fprintf(stderr, "usage: pjx-harness with-inotify-limit N -- COMMAND [ARGS...]\n");
    return 2;
  }
  char* end = nullptr;
  const long instances = std::strtol(argv[2], &end, 10);
  if (end == argv[2] || *end != '\0' || instances < 0 || instances > 65536) {
    std::fprintf(stderr, "pjx-harness with-inotify-limit: N must be 0..65536, not \"%s\"\n",
                 argv[2]);
    return 2;
  }
  if (const char* step = apply_inotify_limit(static_cast<int>(instances))) {
    std::fprintf(stderr, "pjx-harness with-inotify-limit: %s: %s\n", step, std::strerror(errno));
    return 126;
  }
  ::execvp(argv[4], argv + 4);
  std::fprintf(stderr, "pjx-harness with-inotify-limit: cannot run \"%s\": %s\n", argv[4],
               std::strerror(errno));
  return 126;
}

}  // namespace pjx::harness
