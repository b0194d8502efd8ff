// The power-loss log: see power_loss_log.hpp for the format and
// pjx/fault_vfs.hpp for the contract.
#include "power_loss_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "pjx/fault_vfs.hpp"

namespace pjx {
namespace detail {
namespace {

constexpr std::uint32_t kMagic = 0x4C584A50;  // "PJXL" read as little-endian bytes

struct Header {
  std::uint32_t magic;
  std::uint8_t type;
  std::uint8_t pad[3];
  std::uint32_t path_len;
  std::uint32_t old_len;
  std::uint32_t new_len;
  std::uint32_t pad2;
  std::int64_t t_ns;
  std::int64_t offset;
  std::int64_t old_size;
};
static_assert(sizeof(Header) == 48, "the record header is 48 bytes");

std::int64_t monotonic_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

bool append_log_record(int fd, LogRecordType type, std::string_view path, std::int64_t offset,
                       std::int64_t old_size, std::string_view old_bytes, std::string_view new_bytes) noexcept {
  Header h{};
  h.magic = kMagic;
  h.type = static_cast<std::uint8_t>(type);
  h.path_len = static_cast<std::uint32_t>(path.size());
  h.old_len = static_cast<std::uint32_t>(old_bytes.size());
  h.new_len = static_cast<std::uint32_t>(new_bytes.size());
  h.t_ns = monotonic_ns();
  h.offset = offset;
  h.old_size = old_size;
  std::string record;
  record.reserve(sizeof h + path.size() + old_bytes.size() + new_bytes.size());
  record.append(reinterpret_cast<const char*>(&h), sizeof h);
  record.append(path);
  record.append(old_bytes);
  record.append(new_bytes);
  // One write(2) on an O_APPEND file: whole, or reported as failed.
  ssize_t n = 0;
  do {
    n = ::write(fd, record.data(), record.size());
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(record.size());
}

}  // namespace detail

namespace {

using detail::Header;
using detail::LogRecordType;

struct Record {
  LogRecordType type;
  std::int64_t t_ns;
  std::int64_t offset;
  std::int64_t old_size;
  std::string old_bytes;
  std::string new_bytes;
};

// SplitMix64: which unsynced changes a power loss keeps, from a seed.
class Draw {
 public:
  explicit Draw(std::uint64_t seed) : state_(seed) {}
  bool chance(double p) {
    state_ += 0x9E3779B97F4A7C15ULL;
    std::uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1.0p-53 < p;
  }

 private:
  std::uint64_t state_;
};

std::string read_all(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw std::runtime_error("cannot read the power-loss log \"" + path + "\": " + std::strerror(errno));
  }
  std::string data;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      throw std::runtime_error("cannot read the power-loss log \"" + path + "\": " + std::strerror(e));
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return data;
}

[[noreturn]] void fail_on(const std::string& file, const char* what) {
  throw std::runtime_error(std::string("power-loss rollback: cannot ") + what + " \"" + file +
                           "\": " + std::strerror(errno));
}

void write_at(int fd, const std::string& file, const std::string& bytes, std::int64_t at) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done,
                               static_cast<off_t>(at) + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail_on(file, "write back");
    done += static_cast<std::size_t>(n);
  }
}

void resize(int fd, const std::string& file, std::int64_t size) {
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) fail_on(file, "resize");
}

// Restores the state before `r` in the open file `fd`.
void undo(int fd, const std::string& file, const Record& r, UnsyncedRollback& out) {
  if (r.type == LogRecordType::kWrite) {
    write_at(fd, file, r.old_bytes, r.offset);
    resize(fd, file, r.old_size);
  } else {
    resize(fd, file, r.old_size);
    write_at(fd, file, r.old_bytes, r.offset);
  }
  out.bytes_undone += r.old_bytes.size();
  ++out.changes_undone;
}

// Makes `r` again (a change the power loss kept).
void redo(int fd, const std::string& file, const Record& r, UnsyncedRollback& out) {
  if (r.type == LogRecordType::kWrite) {
    write_at(fd, file, r.new_bytes, r.offset);
  } else {
    resize(fd, file, r.offset);
  }
  ++out.changes_kept;
  --out.changes_undone;
}

}  // namespace

UnsyncedRollback roll_back_unsynced(const std::string& log_path, const PowerLossModel& model) {
  const std::string data = read_all(log_path);
  UnsyncedRollback out;
  std::map<std::string, std::vector<Record>> by_file;  // since its last sync or deletion
  std::size_t at = 0;
  while (at < data.size()) {
    Header h{};
    const auto not_a_log = [&] {
      return std::runtime_error("\"" + log_path + "\" is not a power-loss log (bad record at byte " +
                                std::to_string(at) + ")");
    };
    if (std::uint32_t magic = 0; data.size() - at >= sizeof magic) {
      std::memcpy(&magic, data.data() + at, sizeof magic);
      if (magic != detail::kMagic) throw not_a_log();
    }
    if (data.size() - at < sizeof h) {
      out.notes.push_back("the last record is torn (" + std::to_string(data.size() - at) +
                          " bytes): its writer died while appending it; ignored");
      break;
    }
    std::memcpy(&h, data.data() + at, sizeof h);
    if (h.type < 1 || h.type > 4) throw not_a_log();
    const std::size_t size = sizeof h + std::size_t{h.path_len} + std::size_t{h.old_len} + std::size_t{h.new_len};
    if (data.size() - at < size) {
      out.notes.push_back("the last record is torn: its writer died while appending it; ignored");
      break;
    }
    const std::string file = data.substr(at + sizeof h, h.path_len);
    const auto type = static_cast<LogRecordType>(h.type);
    ++out.records;
    std::vector<Record>& pending = by_file[file];
    if (type == LogRecordType::kSync || type == LogRecordType::kDelete) {
      pending.clear();
      if (type == LogRecordType::kSync) out.last_sync_ns = std::max(out.last_sync_ns, h.t_ns);
    } else {
      pending.push_back(Record{type, h.t_ns, h.offset, h.old_size,
                               data.substr(at + sizeof h + h.path_len, h.old_len),
                               data.substr(at + sizeof h + h.path_len + h.old_len, h.new_len)});
    }
    at += size;
  }
  Draw draw(model.seed);
  for (const auto& [file, pending] : by_file) {
    if (pending.empty()) continue;
    const int fd = ::open(file.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      out.notes.push_back("\"" + file + "\" has " + std::to_string(pending.size()) +
                          " unsynced changes but cannot be opened (" + std::strerror(errno) + "); left as it is");
      continue;
    }
    ++out.files;
    try {
      // Back to the last sync, then forward again through the changes the
      // disk happened to keep (in order: a later kept write lands on top).
      for (auto it = pending.rbegin(); it != pending.rend(); ++it) undo(fd, file, *it, out);
      if (model.keep > 0) {
        for (const Record& r : pending) {
          if (draw.chance(model.keep)) redo(fd, file, r, out);
        }
      }
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
  }
  return out;
}

}  // namespace pjx
