#include "redis_client.hpp"

#include <hiredis/hiredis.h>

#include <sstream>
#include <utility>

namespace pjx::testing {
namespace {

RedisReply convert(const redisReply* r) {
  RedisReply out;
  if (r == nullptr) return out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      break;
  }
  return out;
}

}  // namespace

std::string RedisReply::render() const {
  switch (type) {
    case Type::kInteger:
      return std::to_string(integer);
    case Type::kError:
      return "(error) " + text;
    case Type::kString:
    case Type::kStatus:
      return text;
    case Type::kNil:
      return "(nil)";
    case Type::kArray:
      break;
  }
  std::string out = "[";
  for (std::size_t i = 0; i < elements.size(); ++i) {
    if (i != 0) out += ", ";
    out += elements[i].render();
  }
  return out + "]";
}

std::string RedisEndpoint::describe() const {
  if (!socket.empty()) return "unix://" + socket.string();
  return host + ":" + std::to_string(port);
}

// ---------------------------------------------------------------- client

RedisClient::RedisClient(RedisEndpoint endpoint, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)), timeout_(timeout) {
  connect();
}

RedisClient::~RedisClient() {
  if (ctx_ != nullptr) redisFree(ctx_);
}

void RedisClient::connect() {
  if (ctx_ != nullptr) {
    redisFree(ctx_);
    ctx_ = nullptr;
  }
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout_.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout_.count() % 1000) * 1000);
  redisContext* c = endpoint_.socket.empty()
                        ? redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, tv)
                        : redisConnectUnixWithTimeout(endpoint_.socket.c_str(), tv);
  if (c == nullptr || c->err != 0) {
    const std::string why = c != nullptr ? c->errstr : "out of memory";
    if (c != nullptr) redisFree(c);
    throw RedisError("cannot connect to Redis at " + endpoint_.describe() + ": " + why);
  }
  redisSetTimeout(c, tv);
  ctx_ = c;
  if (!endpoint_.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!endpoint_.username.empty()) auth.push_back(endpoint_.username);
    auth.push_back(endpoint_.password);
    checked(auth);
  }
  if (endpoint_.db != 0) checked({"SELECT", std::to_string(endpoint_.db)});
}

RedisReply RedisClient::command(const std::vector<std::string>& args) {
  if (ctx_ == nullptr) connect();
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()));
  if (reply == nullptr) {
    const std::string why = ctx_->errstr;
    redisFree(ctx_);
    ctx_ = nullptr;
    throw RedisError("Redis at " + endpoint_.describe() + ": " +
                     (args.empty() ? std::string("command") : args[0]) + " failed: " + why);
  }
  RedisReply out = convert(reply);
  freeReplyObject(reply);
  return out;
}

RedisReply RedisClient::checked(const std::vector<std::string>& args) {
  RedisReply r = command(args);
  if (r.type == RedisReply::Type::kError) {
    std::string cmd;
    for (std::size_t i = 0; i < args.size() && i < 2; ++i) cmd += (i ? " " : "") + args[i];
    throw RedisError("Redis at " + endpoint_.describe() + " refused " + cmd + ": " + r.text);
  }
  return r;
}

void RedisClient::config_set(const std::string& name, const std::string& value) {
  checked({"CONFIG", "SET", name, value});
}

std::vector<RedisClientInfo> RedisClient::client_list() {
  const RedisReply r = checked({"CLIENT", "LIST"});
  std::vector<RedisClientInfo> out;
  std::stringstream lines(r.text);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    RedisClientInfo info;
    std::stringstream fields(line);
    std::string field;
    while (fields >> field) {
      const std::size_t eq = field.find('=');
      if (eq == std::string::npos) continue;
      info.fields[field.substr(0, eq)] = field.substr(eq + 1);
    }
    info.line = line;
    info.id = info.fields["id"];
    info.name = info.fields["name"];
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<RedisClientInfo> RedisClient::clients_named(const std::string& name) {
  std::vector<RedisClientInfo> named;
  for (RedisClientInfo& c : client_list()) {
    if (c.name == name) named.push_back(std::move(c));
  }
  return named;
}

int RedisClient::kill_clients_named(const std::string& name) {
  int killed = 0;
  for (const RedisClientInfo& c : clients_named(name)) {
    if (c.id.empty()) continue;
    const RedisReply r = command({"CLIENT", "KILL", "ID", c.id});
    if (r.type == RedisReply::Type::kInteger) killed += static_cast<int>(r.integer);
  }
  return killed;
}

}  // namespace pjx::testing
