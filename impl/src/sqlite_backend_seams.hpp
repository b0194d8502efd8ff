// Test seams of SqliteInvalidationBackend: points where a test makes a race
// happen deterministically instead of hoping for it. Not part of the public
// API; the library's own tests use them.
#pragma once

#include <functional>

namespace pjx::detail {

// Called by start() on its thread between reading the cursor seed (MAX(id))
// and PRAGMA data_version (I2), where a commit by another connection used to
// be lost. Empty by default; thread-safe to set.
void set_start_seed_hook(std::function<void()> hook);

// Called on the opening thread each time the backend has opened a
// connection to the database file (SQLite holds the file open and has set
// the schema up), before it records which file that is (I9): where a file
// renamed onto the path used to be taken for the one it replaced. Empty by
// default; thread-safe to set.
void set_after_open_hook(std::function<void()> hook);

// The library's side: run the hook set, if any (outside the seams' lock).
void run_start_seed_hook();
void run_after_open_hook();

}  // namespace pjx::detail
