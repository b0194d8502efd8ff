// FaultVfs: see pjx/fault_vfs.hpp for the contract.
//
// Layout: a file opened through the shim is a FaultFile (our pMethods and a
// pointer to the shim's state) immediately followed by the real VFS's file
// object, which the real xOpen fills in; szOsFile covers both. Our
// sqlite3_io_methods table has the same iVersion as the real file's, so
// SQLite uses the shm methods (WAL) and xFetch (mmap) exactly when the real
// file offers them.
//
// The armed fault is one atomic 64-bit word, so a call sees a whole fault
// or none: bit 63 armed, bits 59-62 the kind, 56-58 the error, 55
// persistent, 0-54 the absolute call number (of that kind's never-reset
// counter) that fails first.
#include "pjx/fault_vfs.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "power_loss_log.hpp"

namespace pjx {
namespace {

constexpr std::array<std::string_view, kFaultKindCount> kKindNames = {
    "open", "delete", "access", "read", "write", "sync", "truncate", "file_size", "lock", "shm_map", "shm_lock"};
constexpr std::array<std::string_view, 5> kErrorNames = {"io", "full", "cantopen", "busy", "readonly"};

std::string kind_list() {
  std::string list;
  for (const auto name : kKindNames) list += (list.empty() ? "" : ", ") + std::string(name);
  return list;
}

std::string error_list() {
  std::string list;
  for (const auto name : kErrorNames) list += (list.empty() ? "" : ", ") + std::string(name);
  return list;
}

constexpr std::uint64_t kArmedBit = 1ull << 63;
constexpr std::uint64_t kPersistentBit = 1ull << 55;
constexpr std::uint64_t kTargetMask = kPersistentBit - 1;

constexpr std::uint64_t pack(FaultKind kind, FaultError error, bool persistent, std::uint64_t target) {
  return kArmedBit | (static_cast<std::uint64_t>(kind) << 59) | (static_cast<std::uint64_t>(error) << 56) |
         (persistent ? kPersistentBit : 0) | (target & kTargetMask);
}

}  // namespace

std::string_view to_string(FaultKind kind) noexcept { return kKindNames[static_cast<std::size_t>(kind)]; }
std::string_view to_string(FaultError error) noexcept { return kErrorNames[static_cast<std::size_t>(error)]; }

std::optional<FaultKind> parse_fault_kind(std::string_view text) noexcept {
  for (std::size_t i = 0; i < kKindNames.size(); ++i) {
    if (kKindNames[i] == text) return static_cast<FaultKind>(i);
  }
  return std::nullopt;
}

std::optional<FaultError> parse_fault_error(std::string_view text) noexcept {
  for (std::size_t i = 0; i < kErrorNames.size(); ++i) {
    if (kErrorNames[i] == text) return static_cast<FaultError>(i);
  }
  return std::nullopt;
}

bool fault_applies(FaultKind kind, FaultError error) noexcept {
  switch (error) {
    case FaultError::kIo:
      return true;
    case FaultError::kFull:
      return kind == FaultKind::kWrite || kind == FaultKind::kTruncate || kind == FaultKind::kSync ||
             kind == FaultKind::kShmMap || kind == FaultKind::kOpen;
    case FaultError::kCantOpen:
    case FaultError::kReadonly:
      return kind == FaultKind::kOpen;
    case FaultError::kBusy:
      return kind == FaultKind::kLock || kind == FaultKind::kShmLock;
  }
  return false;
}

int fault_result_code(FaultKind kind, FaultError error) noexcept {
  switch (error) {
    case FaultError::kFull: return SQLITE_FULL;
    case FaultError::kCantOpen: return SQLITE_CANTOPEN;
    case FaultError::kBusy: return SQLITE_BUSY;
    case FaultError::kReadonly: return SQLITE_READONLY;
    case FaultError::kIo: break;
  }
  switch (kind) {
    case FaultKind::kOpen: return SQLITE_IOERR;
    case FaultKind::kDelete: return SQLITE_IOERR_DELETE;
    case FaultKind::kAccess: return SQLITE_IOERR_ACCESS;
    case FaultKind::kRead: return SQLITE_IOERR_READ;
    case FaultKind::kWrite: return SQLITE_IOERR_WRITE;
    case FaultKind::kSync: return SQLITE_IOERR_FSYNC;
    case FaultKind::kTruncate: return SQLITE_IOERR_TRUNCATE;
    case FaultKind::kFileSize: return SQLITE_IOERR_FSTAT;
    case FaultKind::kLock: return SQLITE_IOERR_LOCK;
    case FaultKind::kShmMap: return SQLITE_IOERR_SHMMAP;
    case FaultKind::kShmLock: return SQLITE_IOERR_SHMLOCK;
  }
  return SQLITE_IOERR;
}

FaultSpec parse_fault_spec(std::string_view text) {
  const std::string whole(text);
  auto bad = [&whole](const std::string& why) {
    return std::invalid_argument("fault spec \"" + whole + "\": " + why +
                                 "; expected kind=K[,nth=N][,error=E][,persistent=0|1], e.g. "
                                 "\"kind=write,nth=5,error=full,persistent=1\"");
  };
  FaultSpec spec;
  bool seen_kind = false, seen_nth = false, seen_error = false, seen_persistent = false;
  if (text.empty()) throw bad("empty");
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view part = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (comma != std::string_view::npos && text.empty()) throw bad("trailing ','");
    const auto eq = part.find('=');
    if (eq == std::string_view::npos) throw bad("\"" + std::string(part) + "\" is not key=value");
    const std::string_view key = part.substr(0, eq);
    const std::string_view value = part.substr(eq + 1);
    if (key == "kind") {
      if (std::exchange(seen_kind, true)) throw bad("kind given twice");
      const auto kind = parse_fault_kind(value);
      if (!kind) throw bad("unknown kind \"" + std::string(value) + "\" (known: " + kind_list() + ")");
      spec.kind = *kind;
    } else if (key == "nth") {
      if (std::exchange(seen_nth, true)) throw bad("nth given twice");
      std::uint64_t n = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || end != value.data() + value.size() || n < 1 || n > kTargetMask / 2) {
        throw bad("nth \"" + std::string(value) + "\" is not a positive integer (1 is the first call)");
      }
      spec.nth = n;
    } else if (key == "error") {
      if (std::exchange(seen_error, true)) throw bad("error given twice");
      const auto error = parse_fault_error(value);
      if (!error) throw bad("unknown error \"" + std::string(value) + "\" (known: " + error_list() + ")");
      spec.error = *error;
    } else if (key == "persistent") {
      if (std::exchange(seen_persistent, true)) throw bad("persistent given twice");
      if (value != "0" && value != "1") throw bad("persistent \"" + std::string(value) + "\" is not 0 or 1");
      spec.persistent = value == "1";
    } else {
      throw bad("unknown key \"" + std::string(key) + "\" (known: kind, nth, error, persistent)");
    }
  }
  if (!seen_kind) throw bad("kind is required");
  if (!fault_applies(spec.kind, spec.error)) {
    throw bad("error " + std::string(to_string(spec.error)) + " does not apply to kind " +
              std::string(to_string(spec.kind)) +
              " (full: write, truncate, sync, shm_map, open; cantopen, readonly: open; busy: lock, shm_lock; io: any)");
  }
  return spec;
}

std::string to_string(const FaultSpec& spec) {
  return "kind=" + std::string(to_string(spec.kind)) + ",nth=" + std::to_string(spec.nth) +
         ",error=" + std::string(to_string(spec.error)) + ",persistent=" + (spec.persistent ? "1" : "0");
}

struct FaultVfs::State {
  sqlite3_vfs vfs{};            // what SQLite sees; pAppData points here
  sqlite3_vfs* base = nullptr;  // the real VFS
  std::string name;
  std::array<std::atomic<std::uint64_t>, kFaultKindCount> total{};  // never reset
  std::array<std::atomic<std::uint64_t>, kFaultKindCount> since{};  // total at reset_counters()
  std::atomic<std::uint64_t> faults{0};
  std::atomic<std::uint64_t> faults_since{0};
  std::atomic<std::uint64_t> armed{0};  // packed (see the top of the file); 0: none
  std::mutex spec_mu;                   // serialises arm()/clear(); guards spec
  std::optional<FaultSpec> spec;        // what armed() reports
  std::unique_ptr<FaultVfs> handle;
  std::atomic<int> log_fd{-1};          // the power-loss log, or -1
  std::string log_path;                 // guarded by spec_mu

  // Counts one call of `kind`; returns the error to inject, or SQLITE_OK.
  int inject(FaultKind kind) noexcept {
    const auto k = static_cast<std::size_t>(kind);
    const std::uint64_t n = total[k].fetch_add(1, std::memory_order_relaxed) + 1;
    const std::uint64_t word = armed.load(std::memory_order_acquire);
    if ((word & kArmedBit) == 0 || ((word >> 59) & 0xF) != k) return SQLITE_OK;
    const std::uint64_t target = word & kTargetMask;
    const bool persistent = (word & kPersistentBit) != 0;
    if (n == target || (persistent && n > target)) {
      faults.fetch_add(1, std::memory_order_relaxed);
      return fault_result_code(kind, static_cast<FaultError>((word >> 56) & 0x7));
    }
    return SQLITE_OK;
  }
};

namespace {

using State = FaultVfs::State;

// SQLite allocates the file object with its own malloc, which promises 8-byte
// alignment: FaultFile must not ask for more, and the real file behind it
// starts at the next multiple of 8.
struct FaultFile {
  sqlite3_file base;  // pMethods: one of kMethods*
  State* state;
  const char* path;   // as SQLite opened it (valid until xClose); may be null
  bool recorded;      // a main database or WAL file: its changes go to the power-loss log
};
static_assert(alignof(FaultFile) <= 8, "SQLite aligns sqlite3_file objects to 8 bytes only");
constexpr int kRealOffset = static_cast<int>((sizeof(FaultFile) + 7) / 8 * 8);

sqlite3_file* real(sqlite3_file* file) {
  return reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kRealOffset);
}
State* state_of(sqlite3_file* file) { return reinterpret_cast<FaultFile*>(file)->state; }
State* state_of(sqlite3_vfs* vfs) { return static_cast<State*>(vfs->pAppData); }

// ---- sqlite3_io_methods

int file_close(sqlite3_file* file) {
  sqlite3_file* r = real(file);
  return r->pMethods != nullptr ? r->pMethods->xClose(r) : SQLITE_OK;
}

int file_read(sqlite3_file* file, void* buffer, int amount, sqlite3_int64 offset) {
  if (const int rc = state_of(file)->inject(FaultKind::kRead)) return rc;
  sqlite3_file* r = real(file);
  return r->pMethods->xRead(r, buffer, amount, offset);
}

// The power-loss log's fd when `file`'s changes are recorded, else -1.
int log_fd_for(sqlite3_file* file) {
  const auto* f = reinterpret_cast<FaultFile*>(file);
  return f->recorded ? f->state->log_fd.load(std::memory_order_acquire) : -1;
}

// Writes down what a write of [offset, offset + amount) or a truncate to
// `offset` (amount < 0) of `file` will overwrite; false when it cannot.
bool record_before_change(sqlite3_file* file, int fd, sqlite3_int64 offset, sqlite3_int64 amount,
                          const void* buffer = nullptr) {
  sqlite3_file* r = real(file);
  sqlite3_int64 old_size = 0;
  if (r->pMethods->xFileSize(r, &old_size) != SQLITE_OK) return false;
  const sqlite3_int64 end = amount < 0 ? old_size : std::min(old_size, offset + amount);
  std::string old_bytes(static_cast<std::size_t>(std::max<sqlite3_int64>(0, end - offset)), '\0');
  if (!old_bytes.empty() &&
      r->pMethods->xRead(r, old_bytes.data(), static_cast<int>(old_bytes.size()), offset) != SQLITE_OK) {
    return false;
  }
  const auto* f = reinterpret_cast<FaultFile*>(file);
  return detail::append_log_record(
      fd, amount < 0 ? detail::LogRecordType::kTruncate : detail::LogRecordType::kWrite, f->path, offset,
      old_size, old_bytes,
      amount < 0 ? std::string_view{} : std::string_view(static_cast<const char*>(buffer), static_cast<std::size_t>(amount)));
}

int file_write(sqlite3_file* file, const void* buffer, int amount, sqlite3_int64 offset) {
  if (const int rc = state_of(file)->inject(FaultKind::kWrite)) return rc;
  if (const int fd = log_fd_for(file); fd >= 0 && !record_before_change(file, fd, offset, amount, buffer)) {
    return SQLITE_IOERR_WRITE;
  }
  sqlite3_file* r = real(file);
  return r->pMethods->xWrite(r, buffer, amount, offset);
}

int file_truncate(sqlite3_file* file, sqlite3_int64 size) {
  if (const int rc = state_of(file)->inject(FaultKind::kTruncate)) return rc;
  if (const int fd = log_fd_for(file); fd >= 0 && !record_before_change(file, fd, size, -1)) {
    return SQLITE_IOERR_TRUNCATE;
  }
  sqlite3_file* r = real(file);
  return r->pMethods->xTruncate(r, size);
}

int file_sync(sqlite3_file* file, int flags) {
  if (const int rc = state_of(file)->inject(FaultKind::kSync)) return rc;
  sqlite3_file* r = real(file);
  const int rc = r->pMethods->xSync(r, flags);
  // A mark that cannot be written only makes the rollback undo more.
  if (const int fd = log_fd_for(file); fd >= 0 && rc == SQLITE_OK) {
    static_cast<void>(detail::append_log_record(fd, detail::LogRecordType::kSync,
                                                reinterpret_cast<FaultFile*>(file)->path, 0, 0, {}));
  }
  return rc;
}

int file_size(sqlite3_file* file, sqlite3_int64* size) {
  if (const int rc = state_of(file)->inject(FaultKind::kFileSize)) return rc;
  sqlite3_file* r = real(file);
  return r->pMethods->xFileSize(r, size);
}

int file_lock(sqlite3_file* file, int level) {
  if (const int rc = state_of(file)->inject(FaultKind::kLock)) return rc;
  sqlite3_file* r = real(file);
  return r->pMethods->xLock(r, level);
}

int file_unlock(sqlite3_file* file, int level) {
  sqlite3_file* r = real(file);
  return r->pMethods->xUnlock(r, level);
}

int file_check_reserved_lock(sqlite3_file* file, int* out) {
  sqlite3_file* r = real(file);
  return r->pMethods->xCheckReservedLock(r, out);
}

int file_control(sqlite3_file* file, int op, void* arg) {
  sqlite3_file* r = real(file);
  return r->pMethods->xFileControl(r, op, arg);
}

int file_sector_size(sqlite3_file* file) {
  sqlite3_file* r = real(file);
  return r->pMethods->xSectorSize(r);
}

int file_device_characteristics(sqlite3_file* file) {
  sqlite3_file* r = real(file);
  return r->pMethods->xDeviceCharacteristics(r);
}

int file_shm_map(sqlite3_file* file, int page, int page_size, int extend, void volatile** out) {
  if (const int rc = state_of(file)->inject(FaultKind::kShmMap)) {
    *out = nullptr;
    return rc;
  }
  sqlite3_file* r = real(file);
  return r->pMethods->xShmMap(r, page, page_size, extend, out);
}

int file_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  if ((flags & SQLITE_SHM_LOCK) != 0) {
    if (const int rc = state_of(file)->inject(FaultKind::kShmLock)) return rc;
  }
  sqlite3_file* r = real(file);
  return r->pMethods->xShmLock(r, offset, n, flags);
}

void file_shm_barrier(sqlite3_file* file) {
  sqlite3_file* r = real(file);
  r->pMethods->xShmBarrier(r);
}

int file_shm_unmap(sqlite3_file* file, int delete_flag) {
  sqlite3_file* r = real(file);
  return r->pMethods->xShmUnmap(r, delete_flag);
}

int file_fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  sqlite3_file* r = real(file);
  return r->pMethods->xFetch(r, offset, amount, out);
}

int file_unfetch(sqlite3_file* file, sqlite3_int64 offset, void* page) {
  sqlite3_file* r = real(file);
  return r->pMethods->xUnfetch(r, offset, page);
}

constexpr sqlite3_io_methods make_methods(int version) {
  sqlite3_io_methods m{};
  m.iVersion = version;
  m.xClose = file_close;
  m.xRead = file_read;
  m.xWrite = file_write;
  m.xTruncate = file_truncate;
  m.xSync = file_sync;
  m.xFileSize = file_size;
  m.xLock = file_lock;
  m.xUnlock = file_unlock;
  m.xCheckReservedLock = file_check_reserved_lock;
  m.xFileControl = file_control;
  m.xSectorSize = file_sector_size;
  m.xDeviceCharacteristics = file_device_characteristics;
  if (version >= 2) {
    m.xShmMap = file_shm_map;
    m.xShmLock = file_shm_lock;
    m.xShmBarrier = file_shm_barrier;
    m.xShmUnmap = file_shm_unmap;
  }
  if (version >= 3) {
    m.xFetch = file_fetch;
    m.xUnfetch = file_unfetch;
  }
  return m;
}

// One table per io_methods version: a real file of version 1 (no shm
// methods) must look like version 1 to SQLite, and so on.
const sqlite3_io_methods kMethods1 = make_methods(1);
const sqlite3_io_methods kMethods2 = make_methods(2);
const sqlite3_io_methods kMethods3 = make_methods(3);

const sqlite3_io_methods* methods_for(int version) {
  if (version >= 3) return &kMethods3;
  return version == 2 ? &kMethods2 : &kMethods1;
}

// ---- sqlite3_vfs

int vfs_open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  State* s = state_of(vfs);
  auto* f = reinterpret_cast<FaultFile*>(file);
  f->base.pMethods = nullptr;  // SQLite calls xClose only when this is set
  f->state = s;
  f->path = name;
  f->recorded = name != nullptr && (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL)) != 0;
  sqlite3_file* r = real(file);
  r->pMethods = nullptr;
  if (const int rc = s->inject(FaultKind::kOpen)) {
    if (rc != SQLITE_READONLY) return rc;
    // What SQLite's unix VFS does when open(O_RDWR) fails with EROFS: the
    // file is opened read-only, and every write through it is refused.
    flags = (flags & ~(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_READONLY;
  }
  const int rc = s->base->xOpen(s->base, name, r, flags, out_flags);
  // A failed real open that still set pMethods needs its xClose: forward it.
  if (r->pMethods != nullptr) f->base.pMethods = methods_for(r->pMethods->iVersion);
  return rc;
}

int vfs_delete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  State* s = state_of(vfs);
  if (const int rc = s->inject(FaultKind::kDelete)) return rc;
  const int rc = s->base->xDelete(s->base, name, sync_dir);
  if (const int fd = s->log_fd.load(std::memory_order_acquire); fd >= 0 && rc == SQLITE_OK && name != nullptr) {
    static_cast<void>(detail::append_log_record(fd, detail::LogRecordType::kDelete, name, 0, 0, {}));
  }
  return rc;
}

int vfs_access(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  State* s = state_of(vfs);
  if (const int rc = s->inject(FaultKind::kAccess)) {
    *out = 0;
    return rc;
  }
  return s->base->xAccess(s->base, name, flags, out);
}

int vfs_full_pathname(sqlite3_vfs* vfs, const char* name, int size, char* out) {
  sqlite3_vfs* b = state_of(vfs)->base;
  return b->xFullPathname(b, name, size, out);
}

void* vfs_dl_open(sqlite3_vfs* vfs, const char* name) {
  sqlite3_vfs* b = state_of(vfs)->base;
  return b->xDlOpen(b, name);
}

void vfs_dl_error(sqlite3_vfs* vfs, int size, char* out) {
  sqlite3_vfs* b = state_of(vfs)->base;
  b->xDlError(b, size, out);
}

void (*vfs_dl_sym(sqlite3_vfs* vfs, void* handle, const char* symbol))(void) {
  sqlite3_vfs* b = state_of(vfs)->base;
  return b->xDlSym(b, handle, symbol);
}

void vfs_dl_close(sqlite3_vfs* vfs, void* handle) {
  sqlite3_vfs* b = state_of(vfs)->base;
  b->xDlClose(b, handle);
}

int vfs_randomness(sqlite3_vfs* vfs, int size, char* out) {
  sqlite3_vfs* b = state_of(vfs)->base;
  return b->xRandomness(b, size, out);
}

int vfs_sleep(sqlite3_vfs* vfs, int microseconds) {
  sqlite3_vfs* b = state_of(vfs)->base;
  return b->xSleep(b, microseconds);
}

int vfs_current_time(sqlite3_vfs* vfs, double* out) {
  sqlite3_vfs* b = state_of(vfs)->base;
  return b->xCurrentTime(b, out);
}

int vfs_get_last_error(sqlite3_vfs* vfs, int size, char* out) {
  sqlite3_vfs* b = state_of(vfs)->base;
  return b->xGetLastError != nullptr ? b->xGetLastError(b, size, out) : 0;
}

int vfs_current_time_int64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  sqlite3_vfs* b = state_of(vfs)->base;
  return b->xCurrentTimeInt64(b, out);
}

int vfs_set_system_call(sqlite3_vfs* vfs, const char* name, sqlite3_syscall_ptr call) {
  sqlite3_vfs* b = state_of(vfs)->base;
  return b->xSetSystemCall(b, name, call);
}

sqlite3_syscall_ptr vfs_get_system_call(sqlite3_vfs* vfs, const char* name) {
  sqlite3_vfs* b = state_of(vfs)->base;
  return b->xGetSystemCall(b, name);
}

const char* vfs_next_system_call(sqlite3_vfs* vfs, const char* name) {
  sqlite3_vfs* b = state_of(vfs)->base;
  return b->xNextSystemCall(b, name);
}

std::mutex& registry_mu() {
  static std::mutex mu;
  return mu;
}

// Installed shims by name; never freed (SQLite may use them until exit).
std::map<std::string, State*>& registry() {
  static auto* shims = new std::map<std::string, State*>();
  return *shims;
}

}  // namespace

FaultVfs& FaultVfs::install(const std::string& name) {
  if (name.empty()) throw std::invalid_argument("FaultVfs::install: the VFS name is empty; pass e.g. \"pjx-fault\"");
  std::lock_guard lock(registry_mu());
  if (const auto it = registry().find(name); it != registry().end()) return *it->second->handle;
  if (sqlite3_vfs_find(name.c_str()) != nullptr) {
    throw std::invalid_argument("FaultVfs::install: a VFS named \"" + name +
                                "\" is registered already and is not a FaultVfs; choose another name");
  }
  sqlite3_vfs* base = sqlite3_vfs_find(nullptr);
  if (base == nullptr) throw std::runtime_error("FaultVfs::install: SQLite has no default VFS to wrap");

  auto state = std::make_unique<State>();
  state->base = base;
  state->name = name;
  sqlite3_vfs& v = state->vfs;
  v.iVersion = std::min(base->iVersion, 3);
  v.szOsFile = kRealOffset + base->szOsFile;
  v.mxPathname = base->mxPathname;
  v.zName = state->name.c_str();
  v.pAppData = state.get();
  v.xOpen = vfs_open;
  v.xDelete = vfs_delete;
  v.xAccess = vfs_access;
  v.xFullPathname = vfs_full_pathname;
  v.xDlOpen = vfs_dl_open;
  v.xDlError = vfs_dl_error;
  v.xDlSym = vfs_dl_sym;
  v.xDlClose = vfs_dl_close;
  v.xRandomness = vfs_randomness;
  v.xSleep = vfs_sleep;
  v.xCurrentTime = vfs_current_time;
  v.xGetLastError = vfs_get_last_error;
  if (v.iVersion >= 2) v.xCurrentTimeInt64 = base->xCurrentTimeInt64 != nullptr ? vfs_current_time_int64 : nullptr;
  if (v.iVersion >= 3) {
    v.xSetSystemCall = base->xSetSystemCall != nullptr ? vfs_set_system_call : nullptr;
    v.xGetSystemCall = base->xGetSystemCall != nullptr ? vfs_get_system_call : nullptr;
    v.xNextSystemCall = base->xNextSystemCall != nullptr ? vfs_next_system_call : nullptr;
  }
  state->handle.reset(new FaultVfs(state.get()));
  if (const int rc = sqlite3_vfs_register(&state->vfs, /*makeDflt=*/0); rc != SQLITE_OK) {
    throw std::runtime_error("FaultVfs::install: sqlite3_vfs_register(\"" + name + "\") failed: " +
                             sqlite3_errstr(rc));
  }
  State* raw = state.release();  // lives until exit: SQLite holds pointers into it
  registry()[name] = raw;
  return *raw->handle;
}

const std::string& FaultVfs::name() const noexcept { return state_->name; }

void FaultVfs::arm(const FaultSpec& spec) {
  if (spec.nth < 1 || spec.nth > kTargetMask / 2) {
    throw std::invalid_argument("FaultVfs::arm: nth " + std::to_string(spec.nth) + " must be 1 or more");
  }
  if (!fault_applies(spec.kind, spec.error)) {
    throw std::invalid_argument("FaultVfs::arm: error " + std::string(to_string(spec.error)) +
                                " does not apply to kind " + std::string(to_string(spec.kind)));
  }
  std::lock_guard lock(state_->spec_mu);
  const auto k = static_cast<std::size_t>(spec.kind);
  const std::uint64_t target = state_->total[k].load(std::memory_order_relaxed) + spec.nth;
  state_->spec = spec;
  state_->armed.store(pack(spec.kind, spec.error, spec.persistent, target), std::memory_order_release);
}

void FaultVfs::clear() noexcept {
  std::lock_guard lock(state_->spec_mu);
  state_->armed.store(0, std::memory_order_release);
  state_->spec.reset();
}

std::optional<FaultSpec> FaultVfs::armed() const noexcept {
  std::lock_guard lock(state_->spec_mu);
  return state_->spec;
}

void FaultVfs::record_unsynced(const std::string& log_path) {
  const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw std::runtime_error("FaultVfs::record_unsynced: cannot open the power-loss log \"" + log_path +
                             "\": " + std::strerror(errno));
  }
  std::lock_guard lock(state_->spec_mu);
  // A previous log's fd is kept open: a call under way may still write to it.
  state_->log_fd.store(fd, std::memory_order_release);
  state_->log_path = log_path;
}

std::string FaultVfs::recording() const {
  std::lock_guard lock(state_->spec_mu);
  return state_->log_path;
}

std::uint64_t FaultVfs::calls(FaultKind kind) const noexcept {
  const auto k = static_cast<std::size_t>(kind);
  return state_->total[k].load(std::memory_order_relaxed) - state_->since[k].load(std::memory_order_relaxed);
}

std::uint64_t FaultVfs::faults_injected() const noexcept {
  return state_->faults.load(std::memory_order_relaxed) - state_->faults_since.load(std::memory_order_relaxed);
}

void FaultVfs::reset_counters() noexcept {
  for (std::size_t k = 0; k < state_->total.size(); ++k) {
    state_->since[k].store(state_->total[k].load(std::memory_order_relaxed), std::memory_order_relaxed);
  }
  state_->faults_since.store(state_->faults.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

}  // namespace pjx
