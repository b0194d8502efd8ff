#include "db_path.hpp"

#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "pjx/errors.hpp"
#include "quoted.hpp"

namespace pjx::detail {
namespace {

std::string shown(const std::string& db_path) { return escaped(db_path); }

[[noreturn]] void reject(const std::string& db_path, const std::string& why_and_fix) {
  throw ConfigError("db_path \"" + shown(db_path) + "\": " + why_and_fix);
}

const char* const kPrivate =
    " gives each process a private database, so no invalidation would reach other workers;"
    " pass the path of a file that every worker of this host opens, such as /var/lib/app/pjx.db";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Parses a SQLite `file:` URI far enough to find the file and the options
// that make a database private (https://sqlite.org/uri.html).
std::string uri_file(const std::string& db_path) {
  std::string_view rest = std::string_view(db_path).substr(5);  // after "file:"
  const auto query_at = rest.find_first_of("?#");
  std::string_view path = rest.substr(0, query_at);
  std::string_view query = query_at == std::string_view::npos ? "" : rest.substr(query_at + 1);
  if (const auto hash = query.find('#'); hash != std::string_view::npos) query = query.substr(0, hash);

  if (path.starts_with("//")) {  // authority: empty or "localhost" only
    const auto slash = path.find('/', 2);
    const auto authority = path.substr(2, slash == std::string_view::npos ? path.npos : slash - 2);
    if (!authority.empty() && authority != "localhost") {
      reject(db_path, "the URI names host \"" + std::string(authority) +
                          "\"; SQLite opens only local files: use file:///path or a plain path");
    }
    path = slash == std::string_view::npos ? "" : path.substr(slash);
  }
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
    const auto eq = pair.find('=');
    const auto key = percent_decode(pair.substr(0, eq));
    const auto value = eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
    if (key == "mode" && value == "memory") reject(db_path, std::string("mode=memory") + kPrivate);
    if (key == "vfs" && value == "memdb") reject(db_path, std::string("vfs=memdb") + kPrivate);
    if (key == "mode" && value == "ro") {
      reject(db_path, "mode=ro opens the database read-only, but every worker publishes; drop mode=ro");
    }
  }
  const auto file = percent_decode(path);
  if (file.empty()) reject(db_path, std::string("an empty URI path opens a temporary database, which") + kPrivate);
  if (file == ":memory:") reject(db_path, std::string("file::memory:") + kPrivate);
  return file;
}

// `file` made absolute with every symlink resolved, as SQLite resolves it
// when it opens the file; also a symlink whose target does not exist yet
// (SQLite creates the target). Lexical where nothing can be resolved.
std::filesystem::path resolve_symlinks(const std::filesystem::path& file) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path path = fs::absolute(file, ec);
  if (ec) return file;
  // weakly_canonical resolves a symlink only when its target exists.
  constexpr int kMaxHops = 40;  // as the kernel's ELOOP
  for (int hop = 0; hop < kMaxHops && fs::is_symlink(fs::symlink_status(path, ec)); ++hop) {
    const fs::path target = fs::read_symlink(path, ec);
    if (ec) break;
    path = target.is_absolute() ? target : path.parent_path() / target;
  }
  fs::path resolved = fs::weakly_canonical(path, ec);
  return ec ? path.lexically_normal() : resolved;
}

}  // namespace

std::string unsafe_filesystem_name(std::int64_t type) {
  // Magic numbers from <linux/magic.h> and the filesystems' sources.
  static constexpr std::pair<std::int64_t, const char*> kUnsafe[] = {
      {0x6969, "NFS"},           {0xFF534D42, "CIFS"},     {0xFE534D42, "SMB2"},
      {0x517B, "SMB"},           {0x65735546, "FUSE"},     {0x5346414F, "AFS"},
      {0x6B414653, "kAFS"},      {0x00C36400, "Ceph"},     {0x01021997, "9P"},
      {0x01161970, "GFS2"},      {0x7461636F, "OCFS2"},    {0x0BD00BD0, "Lustre"},
      {0x47504653, "GPFS"},      {0x013111A8, "IBRIX"},    {0x564C, "NCP"},
      {0x19830326, "FhGFS/BeeGFS"}, {0xAAD7AAEA, "PanFS"}, {0x73757245, "Coda"},
  };
  for (const auto& [magic, name] : kUnsafe) {
    if (magic == type) return name;
  }
  return "";
}

std::int64_t statfs_type(const std::string& directory) {
  struct statfs info {};
  if (::statfs(directory.c_str(), &info) != 0) return -1;
  return static_cast<std::int64_t>(info.f_type);
}

DbLocation check_db_path(const std::string& db_path, const FilesystemTypeProbe& probe,
                         bool allow_network_filesystem) {
  if (db_path.empty()) reject(db_path, std::string("the empty path opens a temporary database, which") + kPrivate);
  if (db_path == ":memory:") reject(db_path, std::string(":memory:") + kPrivate);
  if (db_path.find('\0') != std::string::npos) reject(db_path, "the path contains a NUL byte; pass a plain file path");

  DbLocation loc;
  loc.open_name = db_path;
  if (db_path.starts_with("file:")) {
    loc.uri = true;
    loc.file = uri_file(db_path);
  } else {
    loc.file = db_path;
  }

  std::error_code ec;
  const auto status = std::filesystem::status(loc.file, ec);
  if (std::filesystem::is_directory(status)) {
    reject(db_path, "is a directory; pass the path of a database file inside it, such as \"" +
                        (loc.file / "pjx.db").string() + "\"");
  }
  if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
    reject(db_path, "exists but is not a regular file; pass the path of a database file");
  }
  loc.exists = std::filesystem::exists(status);
  loc.resolved = resolve_symlinks(loc.file);

  // The directory where SQLite creates the -wal and -shm files of `file`
  // (named after `name`): it must exist, be writable and be local.
  const auto check_directory = [&](std::filesystem::path parent, const std::string& name) {
    if (parent.empty()) parent = ".";
    const auto parent_status = std::filesystem::status(parent, ec);
    if (!std::filesystem::exists(parent_status)) {
      reject(db_path, "its directory \"" + parent.string() +
                          "\" does not exist; create it first (mkdir -p) or choose another path");
    }
    if (!std::filesystem::is_directory(parent_status)) {
      reject(db_path, "\"" + parent.string() + "\" is not a directory; choose another path");
    }
    if (::access(parent.c_str(), W_OK | X_OK) != 0) {
      const int err = errno;
      reject(db_path, "SQLite must create \"" + name + "-wal\" and \"" + name + "-shm\" in \"" +
                          parent.string() + "\", which is not writable (" + std::strerror(err) +
                          "); make the directory writable for every worker or choose another one");
    }
    const std::int64_t type = probe ? probe(parent.string()) : statfs_type(parent.string());
    if (const auto fs_name = unsafe_filesystem_name(type);
        !fs_name.empty() && !allow_network_filesystem) {
      reject(
          db_path,
          "\"" + parent.string() + "\" is on " + fs_name +
              ", a network or FUSE filesystem where SQLite's file locks and shared memory do not "
              "work across processes (the database could be corrupted or commits missed); put the "
              "database on a local filesystem of this host, use Redis for several hosts, or set "
              "allow_network_filesystem if you know this filesystem's locking is sound");
    }
  };
  check_directory(loc.file.parent_path(), loc.file.filename().string());
  // A symlinked file: SQLite follows it, and its sidecars go beside the
  // target, maybe in another directory and on another filesystem.
  if (std::filesystem::is_symlink(std::filesystem::symlink_status(loc.file, ec))) {
    check_directory(loc.resolved.parent_path(), loc.resolved.filename().string());
  }
  return loc;
}

}  // namespace pjx::detail
