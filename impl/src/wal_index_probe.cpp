#include "wal_index_probe.hpp"

#include <cstddef>
#include <cstring>

namespace pjx::detail {
namespace {

constexpr int kRegionSize = 32 * 1024;  // WALINDEX_PGSZ: the size SQLite maps -shm regions in
constexpr std::size_t kIsInitByte = 12;  // WalIndexHdr.isInit, in the first copy

}  // namespace

bool WalIndexProbe::bind() {
  if (header_ != nullptr) return true;
  sqlite3_file* file = nullptr;
  if (sqlite3_file_control(db_, "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK || file == nullptr ||
      file->pMethods == nullptr || file->pMethods->iVersion < 2 || file->pMethods->xShmMap == nullptr) {
    return false;
  }
  void volatile* region = nullptr;
  if (file->pMethods->xShmMap(file, 0, kRegionSize, 0, &region) != SQLITE_OK || region == nullptr) return false;
  header_ = static_cast<const volatile std::uint32_t*>(region);
  return true;
}

std::optional<WalIndexHeader> WalIndexProbe::read() {
  if (!bind()) return std::nullopt;
  WalIndexHeader header;
  // Word by word: another process may be writing the header. A read that
  // overlaps a commit's update differs from the header recorded before it,
  // so the caller polls; one that finds both copies as recorded was made
  // before the commit became visible, and the commit's wake follows it.
  for (std::size_t i = 0; i < header.words.size(); ++i) header.words[i] = __atomic_load_n(header_ + i, __ATOMIC_ACQUIRE);
  unsigned char is_init = 0;
  static_assert(kIsInitByte % sizeof(std::uint32_t) == 0);
  // isInit is the first byte of word 3 in memory order, whatever the byte order.
  const std::uint32_t word = header.words[kIsInitByte / sizeof(std::uint32_t)];
  std::memcpy(&is_init, &word, 1);
  if (header.words[0] != kVersion || is_init == 0) return std::nullopt;
  return header;
}

}  // namespace pjx::detail
