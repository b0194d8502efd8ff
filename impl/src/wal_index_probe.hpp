// WalIndexProbe: "has any connection committed since I last looked?",
// answered from the WAL-index header in the -shm file, without a read
// transaction (no BEGIN, no -shm read-mark lock, no PRAGMA, no COMMIT).
// It is a hint that lets a listener skip a poll, never a contract: when it
// cannot answer, or answers "changed", the listener reads as before, and
// PRAGMA data_version inside the read transaction still decides.
//
// What it relies on (SQLite's WAL-index format, https://www.sqlite.org/
// walformat.html, section 2.1, unchanged since WAL appeared in 3.7.0, 2010;
// checked against 3.40.1):
//
//   * The -shm file begins with two copies of the 48-byte WalIndexHdr,
//     native byte order: iVersion (u32, offset 0, always 3007000), unused
//     (u32, 4), iChange (u32, 8, incremented by every commit), isInit (u8,
//     12), bigEndCksum (u8, 13), szPage (u16, 14), mxFrame (u32, 16, the
//     last valid WAL frame), nPage (u32, 20), aFrameCksum (2 x u32, 24),
//     aSalt (2 x u32, 32, changed whenever the WAL starts over), aCksum (2 x
//     u32, 40, over the fields before it). A committing writer writes the
//     second copy, then (after a memory barrier) the first.
//   * SQLite itself decides that a connection's snapshot is still current
//     by comparing these 48 bytes with the copy it cached (walIndexTryHdr):
//     a commit always changes iChange and mxFrame or the salts. So both
//     copies unchanged since a read means no commit became visible since
//     that read. A torn read (a writer mid-update) differs from what was
//     recorded and makes the caller read: it errs towards a poll.
//   * The header is read through the connection's own mapping of -shm,
//     obtained with SQLITE_FCNTL_FILE_POINTER and the file's xShmMap
//     (sqlite3_io_methods version 2 or later) for region 0, without
//     extending it. The mapping lives as long as the connection; the probe
//     must not outlive it.
//
// Fallback: no header is returned (read() is empty) when the VFS has no
// xShmMap (":memory:", a VFS without shared memory), when region 0 is not
// mapped, when the map call fails (an I/O error, a fault injected in
// tests; retried by the next read()), or when the header is not an
// initialised version-3007000 header. The caller then uses data_version.
//
// REQUIRES: the connection is in WAL mode (EventLog verifies it), so its
// -shm is already open: on a rollback-journal connection xShmMap would
// create a -shm file.
//
// Thread safety: one thread at a time, the one that uses the connection.
#pragma once

#include <sqlite3.h>

#include <array>
#include <cstdint>
#include <optional>

namespace pjx::detail {

// Both copies of the WAL-index header, as 32-bit words.
struct WalIndexHeader {
  std::array<std::uint32_t, 24> words{};
  friend bool operator==(const WalIndexHeader&, const WalIndexHeader&) = default;
};

class WalIndexProbe {
 public:
  static constexpr std::uint32_t kVersion = 3007000;  // WALINDEX_MAX_VERSION

  explicit WalIndexProbe(sqlite3* db) noexcept : db_(db) {}

  // The header now, or nullopt when the probe cannot answer (above).
  std::optional<WalIndexHeader> read();

 private:
  // Maps region 0 once; false when it is not available (yet).
  bool bind();

  sqlite3* db_;
  const volatile std::uint32_t* header_ = nullptr;  // SQLite's mapping of -shm
};

}  // namespace pjx::detail
