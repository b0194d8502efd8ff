#include "child_process.hpp"

#include "boost_process.hpp"


#include <chrono>
#include <csignal>
#include <cstdlib>
#include <deque>
#include <stdexcept>
#include <system_error>

#include <boost/asio/read_until.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/writable_pipe.hpp>
#include <boost/asio/write.hpp>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace pjx::harness {

namespace asio = boost::asio;
namespace bp = boost::process::v2;

namespace {

// Runs in the child between fork and exec: only async-signal-safe calls.
struct ChildSetup {
  pid_t parent;
  bp::error_code on_exec_setup(bp::posix::default_launcher& /*launcher*/,
                               const bp::filesystem::path& /*exe*/,
                               const char* const*& /*argv*/) const {
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    die_with_parent(parent);
    return {};
  }
};

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

struct ChildProcess::Impl {
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
  bool exited = false;
  bool eof = false;
  int status = 0;

  void read_next() {
    asio::async_read_until(
        out, asio::dynamic_buffer(read_buffer), '\n',
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
    if (write_in_flight || write_queue.empty() || write_failed) return;
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

ChildProcess::ChildProcess(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ChildProcess::~ChildProcess() {
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

std::filesystem::path ChildProcess::find_program(const std::string& name) {
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

std::unique_ptr<ChildProcess> ChildProcess::spawn(asio::io_context& io,
                                                  const std::vector<std::string>& argv,
                                                  const std::vector<std::string>& env,
                                                  const std::filesystem::path& stderr_file,
                                                  Handlers handlers) {
  require_main_thread("ChildProcess::spawn");
  if (argv.empty()) throw std::runtime_error("cannot start a worker: the command is empty");
  const std::filesystem::path exe = find_program(argv[0]);
  if (exe.empty()) {
    throw std::runtime_error("cannot start \"" + argv[0] +
                             "\": not found in PATH (give a path, e.g. --worker-cmd ./pjx-worker)");
  }
  if (::access(exe.c_str(), X_OK) != 0) {
    throw std::runtime_error("cannot start \"" + exe.string() +
                             "\": " + std::generic_category().message(errno));
  }
  const int err_fd =
      ::open(stderr_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (err_fd < 0) {
    throw std::runtime_error("cannot open \"" + stderr_file.string() +
                             "\" for the worker's stderr: " +
                             std::generic_category().message(errno));
  }
  auto impl = std::make_unique<Impl>(io, std::move(handlers));
  bp::error_code ec;
  std::vector<std::string> args(argv.begin() + 1, argv.end());
  bp::process proc = bp::default_process_launcher()(
      io.get_executor(), ec, exe, args, bp::process_environment(env),
      bp::process_stdio{impl->in, impl->out, err_fd}, ChildSetup{::getpid()});
  ::close(err_fd);
  if (ec) {
    throw std::runtime_error("cannot start \"" + exe.string() + "\": " + ec.message());
  }
  impl->pid = proc.id();
  // Not reaped yet, so the pid still names our child.
  impl->pidfd = static_cast<int>(::syscall(SYS_pidfd_open, impl->pid, 0));
  impl->proc = std::make_unique<bp::process>(std::move(proc));
  impl->read_next();
  impl->wait_exit();
  return std::unique_ptr<ChildProcess>(new ChildProcess(std::move(impl)));
}

int ChildProcess::pid() const { return impl_->pid; }

void ChildProcess::write_line(std::string line) {
  if (impl_->write_failed) return;
  line += '\n';
  impl_->write_queue.push_back(std::move(line));
  impl_->write_next();
}

bool ChildProcess::writing() const { return !impl_->write_queue.empty(); }
bool ChildProcess::write_failed() const { return impl_->write_failed; }
bool ChildProcess::exited() const { return impl_->exited; }
int ChildProcess::status() const { return impl_->status; }
bool ChildProcess::eof() const { return impl_->eof; }

bool ChildProcess::signal(int sig) {
  if (impl_->exited || !impl_->proc) return false;
  if (impl_->pidfd >= 0) {
    return ::syscall(SYS_pidfd_send_signal, impl_->pidfd, sig, nullptr, 0) == 0;
  }
  return ::kill(impl_->pid, sig) == 0;
}

std::optional<std::string> run_for_output(const std::vector<std::string>& argv, int timeout_ms) {
  asio::io_context io;
  std::string output;
  bool done = false;
  int status = -1;
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) env.emplace_back(*e);
  std::unique_ptr<ChildProcess> child;
  try {
    child = ChildProcess::spawn(
        io, argv, env, "/dev/null",
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

}  // namespace pjx::harness
