// pjx-with-redis CMD [ARGS...]: runs a command beside a private
// redis-server (scripts/with-redis.sh calls it).
//
// Starts the server with the project's launcher (RedisServer: a free
// loopback port, persistence off, its files in a temporary folder), exports
// PJX_TEST_REDIS_URL=redis://127.0.0.1:PORT/0, runs CMD with this process's
// standard streams, and stops the server afterwards, also when CMD fails or
// is interrupted: a SIGTERM is passed on to CMD; a terminal's SIGINT reaches
// CMD by itself (same process group), so it is only held off here. Exits with CMD's
// status (128 + the signal when a signal ended it); with 2 when the server
// or CMD cannot be started.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "redis_launcher.hpp"
#include "subprocess.hpp"

namespace {

using pjx::testing::RedisServer;
using pjx::testing::Subprocess;

// Runs argv until it exits; a SIGTERM is passed on to it.
int run_command(const std::vector<std::string>& argv) {
  boost::asio::io_context io;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  int status = -1;
  bool done = false;
  Subprocess::Handlers handlers;
  handlers.on_exit = [&](int s) {
    status = s;
    done = true;
  };
  const auto child =
      Subprocess::spawn(io, argv, pjx::testing::current_environment(),
                        {Subprocess::Options::Stdio::kInherit, {}, false}, std::move(handlers));
  std::function<void(const boost::system::error_code&, int)> forward =
      [&](const boost::system::error_code& error, int sig) {
        if (error) return;
        if (sig == SIGTERM) child->signal(sig);
        signals.async_wait(forward);
      };
  signals.async_wait(forward);
  while (!done) io.run_one();
  signals.cancel();
  return status < 0 ? 128 - status : status;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: pjx-with-redis CMD [ARGS...]\n";
    return 2;
  }
  std::unique_ptr<RedisServer> server;
  try {
    server = std::make_unique<RedisServer>();
  } catch (const std::exception& e) {
    std::cerr << "with-redis: " << e.what() << "\n";
    return 2;
  }
  const std::string url = server->url();
  ::setenv("PJX_TEST_REDIS_URL", url.c_str(), 1);
  std::cerr << "with-redis: redis-server " << server->pid() << " on " << url << "\n";
  try {
    return run_command(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::cerr << "with-redis: " << e.what() << "\n";
    return 2;
  }
}
