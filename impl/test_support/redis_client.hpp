// RedisClient: a small synchronous Redis command connection (hiredis) for the
// tests and the harness: the nemesis's CLIENT KILL, the probes' CLIENT LIST,
// a test's raw commands. Arguments are sent binary-safe, never pasted into a
// command string.
//
// A REDIS_URL is read with the library's parser and converted by
// redis_endpoint() (redis_endpoint.hpp), so that a client logs in exactly
// as the workers do.
//
// Thread safety: none; use each object from one thread.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

struct redisContext;

namespace pjx::testing {

// A server cannot be found, started or talked to. what() says why and,
// where there is one, the fix (e.g. "apt-get install redis-server").
class RedisError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Where a RedisClient connects: a unix socket, else host:port; optional AUTH
// and SELECT.
struct RedisEndpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::filesystem::path socket;  // used when not empty
  std::string username;
  std::string password;
  int db = 0;

  // "unix:///path" or "host:port", for messages.
  std::string describe() const;
};

// One entry of CLIENT LIST.
struct RedisClientInfo {
  std::string id;
  std::string name;                           // CLIENT SETNAME, may be empty
  std::map<std::string, std::string> fields;  // every field as listed (addr, cmd, flags, ...)
  std::string line;                           // the line as listed
};

// A reply, flattened.
struct RedisReply {
  enum class Type { kNil, kString, kStatus, kInteger, kArray, kError };
  Type type = Type::kNil;
  std::string text;  // kString, kStatus, kError
  long long integer = 0;
  std::vector<RedisReply> elements;  // kArray

  // An integer as its decimal text, a string or status as is, an error as
  // "(error) ...", nil as "(nil)", an array as "[a, b, ...]".
  std::string render() const;
};

class RedisClient {
 public:
  // Connects (and AUTH/SELECT when the endpoint says so); connecting and
  // each command give up after `timeout`. Throws RedisError.
  explicit RedisClient(RedisEndpoint endpoint,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Sends one command. A Redis error reply is returned as Type::kError, not
  // thrown. Throws RedisError when the connection fails; the next command
  // reconnects.
  RedisReply command(const std::vector<std::string>& args);
  // command() that throws RedisError for an error reply too.
  RedisReply checked(const std::vector<std::string>& args);

  // CONFIG SET name value. Throws RedisError.
  void config_set(const std::string& name, const std::string& value);
  // CLIENT LIST, parsed. Throws RedisError.
  std::vector<RedisClientInfo> client_list();
  // The clients named `name`.
  std::vector<RedisClientInfo> clients_named(const std::string& name);
  // CLIENT KILL ID <id> for every client named `name`; returns how many were
  // killed (0 when none has that name). Throws RedisError.
  int kill_clients_named(const std::string& name);

  const RedisEndpoint& endpoint() const { return endpoint_; }

 private:
  void connect();

  RedisEndpoint endpoint_;
  std::chrono::milliseconds timeout_;
  redisContext* ctx_ = nullptr;
};

}  // namespace pjx::testing
