// InvalidationBackend: fans out sets of dirtied cache keys between the worker
// processes that share one backend (a SQLite file, a Redis channel).
//
// A worker calls publish() after it changed data; every *other* worker that
// has called start() on the same channel receives the key set through its
// handler and evicts the matching cache entries. The publishing worker never
// receives its own keys: it evicts its own cache directly (LoadCache does).
//
// Thread safety: every method may be called from any thread. Handlers run on
// the backend's own listener thread, one call at a time, in publish order.
#pragma once

#include <functional>
#include <set>
#include <string>

namespace pjx {

// A set of cache keys. std::set<std::string> orders by the bytes of the UTF-8
// encoding, which is the order the wire format requires (WIRE.md).
using KeySet = std::set<std::string>;

// Called on the listener thread for every key set published by another worker.
using InvalidationHandler = std::function<void(const KeySet& keys)>;

// Why a listener asks for the whole cache to be dropped.
enum class FlushReason {
  kGap,           // rows addressed to this listener were pruned before it read them
  kStall,         // the listener did not poll for longer than retention
  kReplacedFile,  // the database file at the path is not the one that was open
  kReconnect,     // subscribed again after a lost pub/sub connection; messages may have been missed
  kHandlerError,  // the invalidation handler threw, so a key set it got may not have been applied
  // The pub/sub connection was lost: until the listener reports kReconnect,
  // nothing published reaches this process, so an entry cached meanwhile
  // could go stale unseen. A cache must not keep entries until then
  // (LoadCache serves loads uncached; see load_cache.hpp).
  kDisconnected,
};
const char* to_string(FlushReason reason) noexcept;

// Called on the listener thread when the listener cannot know which keys it
// missed; the only safe reaction is to drop every cached entry. After
// kDisconnected, also keep nothing new until the next kReconnect.
using FlushHandler = std::function<void(FlushReason reason)>;

class InvalidationBackend {
 public:
  virtual ~InvalidationBackend() = default;

  // Publishes `keys` to every other listener on the channel. An empty set is
  // a no-op. Returns once the event is durable in the backend (committed),
  // or, for a backend with an outbox (SqliteInvalidationBackend), once it is
  // queued there to be committed in order after a transient failure.
  // Throws std::invalid_argument for a key that is not valid UTF-8 and
  // BackendError when the event could not be committed (nor queued); nothing
  // was published then.
  virtual void publish(const KeySet& keys) = 0;

  // Starts listening. Returns only once the listener's position is fixed, so
  // that an event published by anyone after start() returns is delivered,
  // and nothing published before is replayed (also when started again after
  // stop()). A second call while started is a no-op. `on_flush` may be
  // empty. Throws BackendError when the backend cannot be reached.
  virtual void start(InvalidationHandler handler, FlushHandler on_flush = {}) = 0;

  // Stops listening; returns once the listener thread has exited and any
  // handler call under way on another thread (a poll run on the caller's
  // thread) has returned, so no handler runs after stop() returns (unless
  // stop() is called from a handler, then the listener stops as soon as
  // that handler returns). Idempotent.
  virtual void stop() = 0;

  InvalidationBackend() = default;
  InvalidationBackend(const InvalidationBackend&) = delete;
  InvalidationBackend& operator=(const InvalidationBackend&) = delete;
};

}  // namespace pjx
