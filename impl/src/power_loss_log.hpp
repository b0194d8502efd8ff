// The power-loss log of FaultVfs (pjx/fault_vfs.hpp, "Power loss"): its
// record format, the appends the shim makes and the rollback.
//
// A log is a sequence of records, each written by one write(2) on a file
// opened O_APPEND, so records of several processes never interleave:
//
//   u32 magic "PJXL"   u8 type   u8 0 u8 0 u8 0   u32 path_len   u32 old_len
//   u32 new_len   u32 0   i64 t_ns (CLOCK_MONOTONIC)   i64 offset   i64 old_size
//   path_len bytes: the file's path     old_len bytes: what was overwritten
//   new_len bytes: what a write wrote (so that a rollback can keep it)
//
// (host byte order: a log is read back on the machine that wrote it).
//   write     before an xWrite of [offset, offset + n): old_size is the size
//             before it, and the old bytes are [offset, min(offset + n,
//             old_size)).
//   truncate  before an xTruncate to `offset`: old_size is the size before
//             it, and the old bytes are [offset, old_size) when it shrinks.
//   sync      after an xSync that succeeded: what came before is durable.
//   delete    after an xDelete that succeeded: the file's earlier records
//             describe a file that is gone.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pjx::detail {

enum class LogRecordType : std::uint8_t { kWrite = 1, kTruncate = 2, kSync = 3, kDelete = 4 };

// Appends one record; false when the log could not take it whole (the shim
// then fails the call instead of making a change it cannot undo).
bool append_log_record(int fd, LogRecordType type, std::string_view path, std::int64_t offset,
                       std::int64_t old_size, std::string_view old_bytes,
                       std::string_view new_bytes = {}) noexcept;

}  // namespace pjx::detail
