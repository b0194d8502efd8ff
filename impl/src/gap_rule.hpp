// The gap rule: from what one poll read, whether this listener may have
// missed invalidations and must flush its cache. Pure functions.
//
//   I8. Ids are issued by AUTOINCREMENT and a rolled-back insert gives its
//       id back, so ids above the cursor are contiguous unless rows were
//       deleted. A missing id in (cursor, top], top being the highest id
//       issued (fewer rows there than top - cursor, counted in the poll's
//       snapshot) means rows were pruned before this listener read them: a
//       gap. The hole can be anywhere in the range, not only just above the
//       cursor: pruning goes by created_at, which need not follow id order
//       (upstream reads its clock before waiting for the lock; wall clocks
//       step back). With detect_gaps, a gap, or a poll that finds new
//       commits after more than `retention` without polling (a stall),
//       calls the FlushHandler once, before the rows of that poll are
//       delivered.
//  I14. Ids never go back by themselves (AUTOINCREMENT), so a highest id
//       issued below the cursor means the file was rewritten in place: a
//       restore with the backup API (`sqlite3 pjx.db ".restore b.db"`, same
//       inode, so I9 does not see it) or the table and sqlite_sequence
//       emptied by hand. Every id up to the old cursor would be skipped
//       without a sign. With detect_gaps it is a gap: the FlushHandler is
//       called (kGap, counted in gaps_detected) and the cursor reseeded at
//       the highest id issued; the flush covers every row up to it. (A
//       restore that is not polled before the ids pass the old cursor again
//       cannot be told from normal running, apart from the gap it leaves.)
//
// A replaced file (I9, listener.cpp) is flushed for whatever this rule says:
// the new file is read from its first row.
#pragma once

#include <chrono>
#include <cstdint>

namespace pjx::detail {

// What one poll found, as the gap rule needs it. Every id count is of the
// poll's snapshot (one read transaction).
struct PollFacts {
  std::int64_t cursor = 0;   // the listener's cursor when the poll read
  std::int64_t top = 0;      // the highest id ever issued (MAX(id) or sqlite_sequence)
  std::int64_t present = 0;  // rows with an id in (cursor, top]
  bool stalled = false;      // no poll for longer than retention (is_stall())
  bool replaced = false;     // the file at the path was replaced or deleted and reopened (I9)
  bool detect_gaps = true;   // SqliteOptions::detect_gaps
};

enum class GapVerdict {
  kNone,          // nothing missed: deliver
  kReplacedFile,  // flush (kReplacedFile): the old file's invalidations are lost to us (I9)
  kRegression,    // ids below the cursor: flush (kGap) and reseed at `top` (I14)
  kGap,           // `missing` ids pruned unread: flush (kGap) (I8)
  kStall,         // a stall with new commits: flush (kStall) (I8)
};

struct GapAssessment {
  GapVerdict verdict = GapVerdict::kNone;
  std::int64_t missing = 0;  // ids in (cursor, top] that are not present (an upper bound of our rows)
};

// Ids in (cursor, top] with no row: pruned (or deleted) before this listener
// read them. 0 when top <= cursor.
std::int64_t missing_ids(std::int64_t cursor, std::int64_t top, std::int64_t present);

// The verdict for one poll that found new commits (data_version changed).
GapAssessment assess_gap(const PollFacts& facts);

// True when the poll at `now` comes more than `retention` after the previous
// successful one (`previous`, negative for none yet). Both are monotonic
// readings (Clock::monotonic()).
bool is_stall(std::chrono::nanoseconds previous, std::chrono::nanoseconds now,
              std::chrono::nanoseconds retention);

}  // namespace pjx::detail
