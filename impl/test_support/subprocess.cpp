#include "subprocess.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/writable_pipe.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <deque>
#include <stdexcept>
#include <system_error>

#include "boost_process.hpp"

extern char** environ;

namespace pjx::testing {

namespace asio = boost::asio;
namespace bp = boost::process::v2;

namespace {

// Runs in the child between fork and exec: only async-signal-safe calls.
struct ChildSetup {
  pid_t parent;
  bool new_session;
  int netns_fd;  // -1: stay in the caller's network namespace
  bp::error_code on_exec_setup(bp::posix::default_launcher& /*launcher*/,
                               const bp::filesystem::path& /*exe*/,
                               const char* const*& /*argv*/) const {
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    die_with_parent(parent);
    if (new_session) ::setsid();
    if (netns_fd >= 0 && ::setns(netns_fd, CLONE_NEWNET) != 0) {
      return bp::error_code(errno, boost::system::system_category());
    }
    return {};
  }
};

// argv[0] found and executable, else std::runtime_error saying why.
std::filesystem::path executable_of(const std::vector<std::string>& argv) {
  if (argv.empty()) throw std::runtime_error("cannot start a program: the command is empty");
  const std::filesystem::path exe = Subprocess::find_program(argv[0]);
  if (exe.empty()) {
    throw std::runtime_error("cannot start \"" + argv[0] +
                             "\": not found in PATH (give its path, e.g. ./pjx-worker)");
  }
  if (::access(exe.c_str(), X_OK) != 0) {
    throw std::runtime_error("cannot start \"" + exe.string() +
                             "\": " + std::generic_category().message(errno));
  }
  return exe;
}

// `file` opened for appending, else std::runtime_error naming it and `what`.
int open_append(const std::filesystem::path& file, const char* what) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw std::runtime_error("cannot open \"" + file.string() + "\" for " + what + ": " +
                             std::generic_category().message(errno));
  }
  return fd;
}

}  // namespace

void die_with_parent(pid_t parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
}

void require_main_thread(const char* what) {
  if (::syscall(SYS_gettid) != ::getpid()) {
    throw std::logic_error(std::string(what) +
                           " must be called on the main thread: PR_SET_PDEATHSIG would kill the "
                           "child when the calling thread exits");
  }
}

struct Subprocess::Impl {
  Impl(asio::io_context& io, Handlers h) : in(io), out(io), handlers(std::move(h)) {}

  asio::writable_pipe in;
  asio::readable_pipe out;
  std::unique_ptr<bp::process> proc;
  Handlers handlers;
  int pid = -1;
  int pidfd = -1;  // our own pidfd (Boost 1.81 does not expose its one)
  std::string read_buffer;
  std::deque<std::string> write_queue;
  bool write_in_flight = false;
  bool write_failed = false;
  bool close_when_written = false;  // close_stdin(): close `in` once the queue is empty
  bool exited = false;
  bool eof = false;
  int status = 0;

  void read_next() {
    asio::async_read_until(out, asio::dynamic_buffer(read_buffer), '\n',
                           [this](const boost::system::error_code& ec, std::size_t n) {
                             if (!ec) {
                               std::string line = read_buffer.substr(0, n - 1);
                               read_buffer.erase(0, n);
                               if (!line.empty() && line.back() == '\r') line.pop_back();
                               if (handlers.on_line) handlers.on_line(std::move(line));
                               read_next();
                               return;
                             }
                             if (ec == asio::error::operation_aborted) return;
                             if (!read_buffer.empty() && handlers.on_line) {
                               std::string rest;
                               rest.swap(read_buffer);
                               handlers.on_line(std::move(rest));  // a last line without "\n"
                             }
                             eof = true;
                             if (handlers.on_eof) handlers.on_eof();
                           });
  }

  void write_next() {
    if (write_in_flight) return;
    if (close_when_written && (write_queue.empty() || write_failed)) {
      write_queue.clear();
      boost::system::error_code ignored;
      in.close(ignored);
      return;
    }
    if (write_queue.empty() || write_failed) return;
    write_in_flight = true;
    asio::async_write(in, asio::buffer(write_queue.front()),
                      [this](const boost::system::error_code& ec, std::size_t /*n*/) {
                        write_in_flight = false;
                        if (ec == asio::error::operation_aborted) return;
                        write_queue.pop_front();
                        if (ec) {
                          write_failed = true;
                          write_queue.clear();
                          return;
                        }
                        write_next();
                      });
  }

  // Starts argv (found by executable_of) with `stdio`.
  template <typename Stdio>
  void start(asio::io_context& io, const std::vector<std::string>& argv,
             const std::vector<std::string>& env, Stdio stdio, bool new_session, int netns_fd) {
    const std::filesystem::path exe = executable_of(argv);
    bp::error_code ec;
    std::vector<std::string> args(argv.begin() + 1, argv.end());
    bp::process started = bp::default_process_launcher()(
        io.get_executor(), ec, exe, args, bp::process_environment(env), stdio,
        ChildSetup{::getpid(), new_session, netns_fd});
    if (ec) throw std::runtime_error("cannot start \"" + exe.string() + "\": " + ec.message());
    pid = started.id();
    // Not reaped yet, so the pid still names our child.
    pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    proc = std::make_unique<bp::process>(std::move(started));
  }

  void wait_exit() {
    proc->async_wait([this](const boost::system::error_code& ec, int /*code*/) {
      if (ec == asio::error::operation_aborted) return;
      const int native = proc->native_exit_code();
      exited = true;
      if (ec) {
        status = -SIGKILL;  // cannot know; treat as killed
      } else if (WIFSIGNALED(native)) {
        status = -WTERMSIG(native);
      } else if (WIFEXITED(native)) {
        status = WEXITSTATUS(native);
      } else {
        status = native;
      }
      if (handlers.on_exit) handlers.on_exit(status);
    });
  }
};

Subprocess::Subprocess(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Subprocess::~Subprocess() {
  if (!impl_) return;
  if (impl_->proc) {
    if (!impl_->exited) {
      signal(SIGKILL);
      int native = 0;
      // Not reaped yet, so the pid is still ours; the child is being killed,
      // so this wait is short.
      ::waitpid(impl_->pid, &native, 0);
    }
    // Never let Boost wait on a pid we reaped: it may have been reused.
    impl_->proc->detach();
  }
  if (impl_->pidfd >= 0) ::close(impl_->pidfd);
  boost::system::error_code ignored;
  impl_->in.close(ignored);
  impl_->out.close(ignored);
}

std::filesystem::path Subprocess::find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    if (dir.empty()) dir = ".";
    const std::filesystem::path candidate = std::filesystem::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0 && !std::filesystem::is_directory(candidate)) {
      return candidate;
    }
    start = end + 1;
  }
  return {};
}

std::unique_ptr<Subprocess> Subprocess::spawn(asio::io_context& io,
                                              const std::vector<std::string>& argv,
                                              const std::vector<std::string>& env,
                                              const std::filesystem::path& stderr_file,
                                              Handlers handlers) {
  return spawn(io, argv, env, Options{Options::Stdio::kPipes, stderr_file, false},
               std::move(handlers));
}

std::unique_ptr<Subprocess> Subprocess::spawn(asio::io_context& io,
                                              const std::vector<std::string>& argv,
                                              const std::vector<std::string>& env,
                                              const Options& options, Handlers handlers) {
  require_main_thread("Subprocess::spawn");
  executable_of(argv);  // before the output file is created
  using Stdio = Options::Stdio;
  const int fd =
      options.stdio == Stdio::kInherit
          ? -1
          : open_append(options.file, options.stdio == Stdio::kPipes ? "the child's stderr"
                                                                     : "the child's output");
  int netns_fd = -1;
  if (!options.network_namespace.empty()) {
    netns_fd = ::open(options.network_namespace.c_str(), O_RDONLY | O_CLOEXEC);
    if (netns_fd < 0) {
      const int err = errno;
      if (fd >= 0) ::close(fd);
      throw std::runtime_error("cannot start \"" + argv[0] + "\" in the network namespace " +
                               options.network_namespace.string() + ": " +
                               std::generic_category().message(err));
    }
  }
  auto impl = std::make_unique<Impl>(io, std::move(handlers));
  try {
    if (options.stdio == Stdio::kPipes) {
      impl->start(io, argv, env, bp::process_stdio{impl->in, impl->out, fd}, options.new_session,
                  netns_fd);
    } else if (options.stdio == Stdio::kFile) {
      impl->start(io, argv, env, bp::process_stdio{nullptr, fd, fd}, options.new_session, netns_fd);
    } else {
      impl->start(io, argv, env, bp::process_stdio{}, options.new_session, netns_fd);
    }
  } catch (...) {
    if (fd >= 0) ::close(fd);
    if (netns_fd >= 0) ::close(netns_fd);
    throw;
  }
  if (fd >= 0) ::close(fd);
  if (netns_fd >= 0) ::close(netns_fd);
  if (options.stdio == Stdio::kPipes) {
    impl->read_next();
  } else {
    impl->eof = true;  // no stdout pipe
  }
  impl->wait_exit();
  return std::unique_ptr<Subprocess>(new Subprocess(std::move(impl)));
}

int Subprocess::pid() const { return impl_->pid; }

void Subprocess::write_line(std::string line) {
  if (impl_->write_failed || impl_->close_when_written) return;
  line += '\n';
  impl_->write_queue.push_back(std::move(line));
  impl_->write_next();
}

void Subprocess::close_stdin() {
  impl_->close_when_written = true;
  impl_->write_next();
}

bool Subprocess::writing() const { return !impl_->write_queue.empty(); }
bool Subprocess::write_failed() const { return impl_->write_failed; }
bool Subprocess::exited() const { return impl_->exited; }
int Subprocess::status() const { return impl_->status; }
bool Subprocess::eof() const { return impl_->eof; }

bool Subprocess::signal(int sig) {
  if (impl_->exited || !impl_->proc) return false;
  if (impl_->pidfd >= 0) {
    return ::syscall(SYS_pidfd_send_signal, impl_->pidfd, sig, nullptr, 0) == 0;
  }
  return ::kill(impl_->pid, sig) == 0;
}

std::vector<std::string> current_environment() {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) env.emplace_back(*e);
  return env;
}

bool run_io_until(asio::io_context& io, const std::function<bool()>& done,
                  std::chrono::steady_clock::time_point deadline,
                  const std::function<bool()>& stop) {
  if (done()) return true;
  auto fired = std::make_shared<bool>(false);
  asio::steady_timer timer(io, deadline);
  timer.async_wait([fired](const boost::system::error_code&) { *fired = true; });
  while (!done() && !*fired && !(stop && stop())) {
    if (io.stopped()) io.restart();
    io.run_one();
  }
  timer.cancel();
  return done();
}

std::optional<std::string> run_for_output(const std::vector<std::string>& argv, int timeout_ms) {
  asio::io_context io;
  std::string output;
  bool done = false;
  int status = -1;
  const std::vector<std::string> env = current_environment();
  std::unique_ptr<Subprocess> child;
  try {
    child = Subprocess::spawn(io, argv, env, "/dev/null",
                              {[&output](std::string line) { output += line + "\n"; }, nullptr,
                               [&](int s) {
                                 status = s;
                                 done = true;
                               }});
  } catch (const std::exception&) {
    return std::nullopt;
  }
  io.run_for(std::chrono::milliseconds(timeout_ms));
  if (!done) return std::nullopt;  // the destructor kills it
  // Output still in the pipe after the exit.
  while (!child->eof() && io.run_one_for(std::chrono::milliseconds(200)) > 0) {
  }
  if (status != 0) return std::nullopt;
  return output;
}

}  // namespace pjx::testing
