// Leftovers: what a run may leave on the host when it is killed (SIGKILL,
// the OOM killer, a CI timeout) before its own cleanup runs, how each is
// named after the run that made it, and how a later run, or `pjx-harness
// cleanup`, removes those whose run is dead.
//
// A run's owner is the pjx-harness process: its pid and its start time
// (clock ticks after boot, field 22 of /proc/<pid>/stat), which tell it apart
// from a later process that got the same pid. Names carry the owner:
//
//   kind              name                                  where
//   run folder        pjx-harness-<pid>-<start>-XXXXXX      $TMPDIR, else /tmp
//   redis socket      pjx-redis-<pid>-<start>-XXXXXX        $TMPDIR, else /tmp
//   network namespace pjx-<pid>-<start>-<label>             /run/netns (ip netns)
//   network link      pjx<pid>-<label>  (15 bytes at most)  /sys/class/net
//
// Rules:
//  1. A leftover is removed only when its owner is dead: no process has the
//     pid, or the one that has it started at another time, or it is a zombie.
//     A link name has no room for the start time, so a link is kept while
//     any live process has its pid.
//  2. A folder holding `.pjx-keep` (a run given --keep) is never removed.
//  3. A folder is removed only when it is a real directory (not a symlink)
//     owned by the current user with nothing mounted below it.
//  4. Names without an owner (an older harness's pjx-harness-XXXXXX) are
//     never touched.
//
// Mounts are not in this list: a run mounts only in its private mount
// namespace (mount_namespace.hpp), which the kernel destroys with the last
// process of the run. Processes are not either: each one the harness starts
// dies with it (PR_SET_PDEATHSIG, subprocess.hpp).
//
// Thread safety: no shared state.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "temp_dir.hpp"

namespace pjx::harness {

// A process, identified across pid reuse.
struct RunOwner {
  pid_t pid = 0;
  std::uint64_t start_ticks = 0;

  // The calling process. Throws std::runtime_error when /proc cannot tell.
  static RunOwner self();
  // "<pid>-<start_ticks>", the part of a name that says whose it is.
  std::string tag() const;
};

// The start time of `pid` (clock ticks after boot), or nullopt when no
// process has that pid or it is a zombie.
std::optional<std::uint64_t> live_process_start(pid_t pid);

// Rule 1: whether `pid` still runs, and, when `start_ticks` is given,
// whether it is the process that started then.
bool owner_alive(pid_t pid, std::optional<std::uint64_t> start_ticks);

// $TMPDIR when set and not empty, else /tmp (temp_dir.hpp).
using pjx::testing::temp_root;

// Creates a fresh folder `<root>/pjx-<kind>-<owner tag>-XXXXXX` (mkdtemp, so
// the owner is in the name from the first instant) and, when `keep`, the
// `.pjx-keep` marker in it. `kind` is "harness" or "redis". Throws
// std::runtime_error naming the folder and the system's reason.
std::filesystem::path make_run_folder(const std::filesystem::path& root, std::string_view kind,
                                      bool keep);

// The name of a network namespace made by this run: "pjx-<tag>-<label>".
// `label`: letters, digits and '-', not empty. Throws std::invalid_argument.
std::string netns_name(const RunOwner& owner, std::string_view label);
// The name of a network link (veth end) made by this run: "pjx<pid>-<label>",
// at most 15 bytes (IFNAMSIZ - 1). Throws std::invalid_argument when it does
// not fit or `label` is not letters, digits and '-'.
std::string link_name(const RunOwner& owner, std::string_view label);

// One thing a run left, found by its name.
struct Leftover {
  enum class Kind { kFolder, kNetns, kLink };
  Kind kind = Kind::kFolder;
  std::string name;                         // as found
  std::filesystem::path path;               // folder or /run/netns entry; empty for links
  pid_t pid = 0;                            // owner
  std::optional<std::uint64_t> start_ticks;  // owner's start (none for links)
};

// Parses a name of the table above; nullopt for any other name. Pure.
std::optional<Leftover> parse_folder_name(std::string_view name);
std::optional<Leftover> parse_netns_name(std::string_view name);
std::optional<Leftover> parse_link_name(std::string_view name);

// Where to look. The defaults are the host's places.
struct CleanupPlaces {
  std::vector<std::filesystem::path> temp_roots = {temp_root()};
  std::filesystem::path netns_dir = "/run/netns";
  std::filesystem::path net_class_dir = "/sys/class/net";
};

struct CleanupReport {
  std::vector<std::string> removed;  // "removed <what>" lines
  std::vector<std::string> kept;     // "<what>: <why kept>" for a live owner or --keep
  std::vector<std::string> failed;   // "<what>: <why not removed>"
};

// Finds every leftover of `places` and removes those of dead owners (rules
// 1-4); with `dry_run` only says what it would remove. Never throws: what
// cannot be removed is in `failed`.
//
// Network namespaces are unmounted from the caller's mount namespace, so
// call it before enter_private_mount_namespace() (mount_namespace.hpp).
CleanupReport remove_dead_runs(const CleanupPlaces& places, bool dry_run);

}  // namespace pjx::harness
