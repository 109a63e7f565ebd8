#include "garbage/distributed/launcher.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "garbage/core/errors.hpp"

extern char** environ;

namespace garbage::distributed {
namespace {

using Clock = std::chrono::steady_clock;

// Reaping also runs on this period, so a lost SIGCHLD costs at most this much latency.
constexpr int kPollMillis = 100;
constexpr int kExitInterrupted = static_cast<int>(ExitCode::interrupted);
constexpr int kExitCannotStart = static_cast<int>(ExitCode::runtime);

void validate(const LaunchOptions& o) {
  if (o.nproc_per_node < 1) {
    throw ConfigError(fmt::format("--nproc-per-node: {} is not at least 1", o.nproc_per_node));
  }
  if (o.nnodes < 1) throw ConfigError(fmt::format("--nnodes: {} is not at least 1", o.nnodes));
  if (static_cast<long long>(o.nnodes) * o.nproc_per_node > INT_MAX) {
    throw ConfigError(fmt::format("--nnodes {} times --nproc-per-node {} is too many workers",
                                  o.nnodes, o.nproc_per_node));
  }
  if (o.node_rank < 0) throw ConfigError(fmt::format("--node-rank: {} is negative", o.node_rank));
  if (o.node_rank >= o.nnodes) {
    throw ConfigError(
        fmt::format("--node-rank: {} is not below --nnodes {}", o.node_rank, o.nnodes));
  }
  if (o.master_addr.empty()) throw ConfigError("--master-addr: empty");
  if (o.master_port < 1 || o.master_port > 65535) {
    throw ConfigError(fmt::format("--master-port: {} is not in 1..65535", o.master_port));
  }
  if (o.executable.empty()) throw ConfigError("launch: no worker executable given");
  // The upper bound (a day) keeps the deadline's clock arithmetic far from overflow.
  if (!(o.grace_seconds >= 0 && o.grace_seconds <= 86400)) {
    throw ConfigError(fmt::format("launch: grace period {} s is not in 0..86400", o.grace_seconds));
  }
}

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? fmt::format("SIG{}", abbrev) : fmt::format("signal {}", sig);
}

/// What a wait status means as a process exit code (128 + signal, like a shell).
int exit_code_of(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string describe_exit(int rank, int status) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    return fmt::format("rank {} was killed by signal {} ({})", rank, sig, signal_name(sig));
  }
  return fmt::format("rank {} exited with code {}", rank, WEXITSTATUS(status));
}

[[noreturn]] void throw_errno(const std::string& what) {
  throw Error(fmt::format("launch: {}: {}", what, std::strerror(errno)));
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// ---------------------------------------------------------------------------------------------
// Signals: the handler only writes the signal number into a non-blocking self-pipe, which the
// poll loop watches, so all real work happens outside signal context.

std::atomic<int> g_wake_fd{-1};

extern "C" void on_launcher_signal(int sig) {
  int saved_errno = errno;
  int fd = g_wake_fd.load();
  if (fd >= 0) {
    auto byte = static_cast<unsigned char>(sig);
    [[maybe_unused]] ssize_t written = ::write(fd, &byte, 1);
  }
  errno = saved_errno;
}

constexpr std::array<int, 3> kHandledSignals = {SIGINT, SIGTERM, SIGCHLD};

/// Installs the launcher's handlers for its lifetime and puts the previous ones back after.
class SignalScope {
 public:
  SignalScope() {
    if (::pipe2(fds_, O_CLOEXEC | O_NONBLOCK) != 0) throw_errno("cannot create a pipe");
    int expected = -1;
    if (!g_wake_fd.compare_exchange_strong(expected, fds_[1])) {
      close_fd(fds_[0]);
      close_fd(fds_[1]);
      throw Error("launch: another launch_workers is already running in this process");
    }
    for (size_t i = 0; i < kHandledSignals.size(); ++i) {
      struct sigaction action {};
      action.sa_handler = on_launcher_signal;
      sigemptyset(&action.sa_mask);
      action.sa_flags = SA_RESTART | (kHandledSignals[i] == SIGCHLD ? SA_NOCLDSTOP : 0);
      ::sigaction(kHandledSignals[i], &action, &previous_[i]);
    }
  }
  ~SignalScope() {
    for (size_t i = 0; i < kHandledSignals.size(); ++i) {
      ::sigaction(kHandledSignals[i], &previous_[i], nullptr);
    }
    g_wake_fd.store(-1);
    close_fd(fds_[0]);
    close_fd(fds_[1]);
  }
  SignalScope(const SignalScope&) = delete;
  SignalScope& operator=(const SignalScope&) = delete;

  int fd() const { return fds_[0]; }

  /// The signals received since the last call, in order.
  std::vector<int> take() {
    std::vector<int> signals;
    unsigned char buffer[64];
    ssize_t n;
    while ((n = ::read(fds_[0], buffer, sizeof buffer)) > 0)
      signals.insert(signals.end(), buffer, buffer + n);
    return signals;
  }

 private:
  int fds_[2] = {-1, -1};
  std::array<struct sigaction, kHandledSignals.size()> previous_{};
};

// ---------------------------------------------------------------------------------------------
// Workers

/// One of a worker's output pipes and the line it has not finished yet.
struct Stream {
  int fd = -1;
  int rank = 0;
  bool is_stderr = false;
  std::string partial;
  bool after_cr = false;  // a '\n' right after '\r' ends no second line
};

struct Worker {
  int rank = 0;
  pid_t pid = -1;
  bool running = false;
  Stream out, err;
};

/// The worker's environment: the launcher's, with the rendezvous variables set (torchrun's names).
std::vector<std::string> worker_environment(const LaunchOptions& o, int local_rank) {
  std::vector<std::pair<std::string, std::string>> set = {
      {"RANK", std::to_string(o.node_rank * o.nproc_per_node + local_rank)},
      {"LOCAL_RANK", std::to_string(local_rank)},
      {"WORLD_SIZE", std::to_string(o.nnodes * o.nproc_per_node)},
      {"LOCAL_WORLD_SIZE", std::to_string(o.nproc_per_node)},
      {"GROUP_RANK", std::to_string(o.node_rank)},
      {"MASTER_ADDR", o.master_addr},
      {"MASTER_PORT", std::to_string(o.master_port)}};
  // Several workers each starting one OpenMP thread per core would oversubscribe the CPU.
  if (o.nproc_per_node > 1 && std::getenv("OMP_NUM_THREADS") == nullptr) {
    set.emplace_back("OMP_NUM_THREADS", "1");
  }
  std::vector<std::string> env;
  for (char** entry = environ; entry && *entry; ++entry) {
    std::string text = *entry;
    std::string key = text.substr(0, text.find('='));
    bool replaced = std::any_of(set.begin(), set.end(), [&](auto& kv) { return kv.first == key; });
    if (!replaced) env.push_back(std::move(text));
  }
  for (auto& [key, value] : set) env.push_back(key + "=" + value);
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (auto& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

/// Everything a forked child needs, prepared before fork() so the child only makes
/// async-signal-safe calls (the launcher may have other threads).
struct ChildPlan {
  const char* path;
  char* const* argv;
  char* const* envp;
  int stdin_fd, stdout_fd, stderr_fd, error_fd;
  pid_t parent;
  const sigset_t* mask;
};

[[noreturn]] void report_and_exit(int error_fd, int error) {
  [[maybe_unused]] ssize_t written = ::write(error_fd, &error, sizeof error);
  ::_exit(127);
}

[[noreturn]] void run_child(const ChildPlan& plan) {
  // Until exec, a signal would still run the launcher's handler and wake the launcher's loop.
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (int sig : kHandledSignals) ::sigaction(sig, &default_action, nullptr);
  // An own process group: a terminal's Ctrl-C reaches only the launcher, which forwards it once.
  ::setpgid(0, 0);
  // Workers never outlive a killed launcher; if it died before prctl, exit now.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) report_and_exit(plan.error_fd, errno);
  if (::getppid() != plan.parent) ::_exit(1);
  if (::dup2(plan.stdin_fd, STDIN_FILENO) < 0 || ::dup2(plan.stdout_fd, STDOUT_FILENO) < 0 ||
      ::dup2(plan.stderr_fd, STDERR_FILENO) < 0) {
    report_and_exit(plan.error_fd, errno);
  }
  ::pthread_sigmask(SIG_SETMASK, plan.mask, nullptr);
  ::execve(plan.path, plan.argv, plan.envp);
  report_and_exit(plan.error_fd, errno);
}

class Launch {
 public:
  explicit Launch(const LaunchOptions& options) : options_(options) {}
  ~Launch() { kill_and_reap_all(); }
  Launch(const Launch&) = delete;
  Launch& operator=(const Launch&) = delete;

  int run() {
    SignalScope signals;
    start_workers();
    while (any_running()) {
      wait_for_events(signals.fd());
      for (int sig : signals.take()) on_signal(sig);
      reap();
      if (kill_at_ && Clock::now() >= *kill_at_) {
        spdlog::warn("workers still running {} s after SIGTERM: sending SIGKILL",
                     options_.grace_seconds);
        signal_running(SIGKILL);
      }
    }
    drain_output();
    return result();
  }

 private:
  void start_workers() {
    int first_rank = options_.node_rank * options_.nproc_per_node;
    spdlog::info("launching {} worker(s): ranks {}..{} of {}, master {}:{}",
                 options_.nproc_per_node, first_rank, first_rank + options_.nproc_per_node - 1,
                 options_.nnodes * options_.nproc_per_node, options_.master_addr,
                 options_.master_port);
    dev_null_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (dev_null_ < 0) throw_errno("cannot open /dev/null");
    workers_.resize(options_.nproc_per_node);
    for (int i = 0; i < options_.nproc_per_node; ++i) {
      Worker& w = workers_[i];
      w.rank = w.out.rank = w.err.rank = first_rank + i;
      w.err.is_stderr = true;
      if (!start(w, i)) {
        failure_code_ = kExitCannotStart;
        stop_after_failure();
        return;
      }
    }
  }

  /// Forks and execs one worker; false (after logging why) when it could not be started.
  bool start(Worker& worker, int local_rank) {
    std::vector<std::string> args = {options_.executable};
    args.insert(args.end(), options_.worker_args.begin(), options_.worker_args.end());
    std::vector<std::string> env = worker_environment(options_, local_rank);
    std::vector<char*> argv = c_strings(args), envp = c_strings(env);

    int out[2], err[2], exec_error[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw_errno("cannot create a pipe");
    worker.out.fd = out[0];
    if (::pipe2(err, O_CLOEXEC) != 0) {
      ::close(out[1]);
      throw_errno("cannot create a pipe");
    }
    worker.err.fd = err[0];
    if (::pipe2(exec_error, O_CLOEXEC) != 0) {
      ::close(out[1]);
      ::close(err[1]);
      throw_errno("cannot create a pipe");
    }

    // Signals stay blocked across fork so none runs the launcher's handler in the child.
    sigset_t all, previous;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &previous);
    ChildPlan plan{options_.executable.c_str(),
                   argv.data(),
                   envp.data(),
                   dev_null_,
                   out[1],
                   err[1],
                   exec_error[1],
                   ::getpid(),
                   &previous};
    pid_t pid = ::fork();
    if (pid == 0) run_child(plan);
    int fork_errno = errno;
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    ::close(out[1]);
    ::close(err[1]);
    ::close(exec_error[1]);
    if (pid < 0) {
      ::close(exec_error[0]);
      spdlog::error("rank {}: cannot start a worker process: {}", worker.rank,
                    std::strerror(fork_errno));
      return false;
    }
    worker.pid = pid;
    worker.running = true;
    ::setpgid(pid, pid);  // also here, so signals to the group work whichever runs first

    // exec closes the CLOEXEC pipe (EOF); a failure writes errno into it first.
    int child_errno = 0;
    ssize_t n;
    do n = ::read(exec_error[0], &child_errno, sizeof child_errno);
    while (n < 0 && errno == EINTR);
    ::close(exec_error[0]);
    if (n <= 0) return true;
    int status = 0;
    ::waitpid(pid, &status, 0);
    worker.running = false;
    spdlog::error("rank {}: cannot run {}: {}", worker.rank, options_.executable,
                  std::strerror(child_errno));
    return false;
  }

  bool any_running() const {
    return std::any_of(workers_.begin(), workers_.end(), [](auto& w) { return w.running; });
  }

  /// Sleeps until output, a signal, the next reaping tick, or the SIGKILL deadline.
  void wait_for_events(int signal_fd) {
    std::vector<pollfd> fds = {{signal_fd, POLLIN, 0}};
    std::vector<Stream*> streams = {nullptr};
    for (auto& w : workers_) {
      for (Stream* s : {&w.out, &w.err}) {
        if (s->fd < 0) continue;
        fds.push_back({s->fd, POLLIN, 0});
        streams.push_back(s);
      }
    }
    int timeout = kPollMillis;
    if (kill_at_) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(*kill_at_ - Clock::now()).count();
      timeout = static_cast<int>(std::clamp<long long>(left, 0, kPollMillis));
    }
    if (::poll(fds.data(), fds.size(), timeout) < 0) {
      if (errno == EINTR) return;
      throw_errno("poll");
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents != 0) read_stream(*streams[i]);
    }
  }

  /// Reads what is there now (one chunk); at EOF flushes the unfinished line and closes.
  /// Returns false when nothing more will come from this read.
  bool read_stream(Stream& stream) {
    char buffer[65536];
    ssize_t n = ::read(stream.fd, buffer, sizeof buffer);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return false;
    if (n <= 0) {
      if (!stream.partial.empty()) emit(stream, stream.partial);
      stream.partial.clear();
      close_fd(stream.fd);
      return false;
    }
    split_lines(stream, buffer, static_cast<size_t>(n));
    return true;
  }

  void split_lines(Stream& stream, const char* data, size_t size) {
    std::string_view rest(data, size);
    if (stream.after_cr && !rest.empty() && rest.front() == '\n') rest.remove_prefix(1);
    stream.after_cr = false;
    while (!rest.empty()) {
      size_t end = rest.find_first_of("\r\n");
      if (end == std::string_view::npos) {
        stream.partial.append(rest);
        return;
      }
      stream.partial.append(rest.substr(0, end));
      emit(stream, stream.partial);
      stream.partial.clear();
      bool crlf = rest[end] == '\r' && end + 1 < rest.size() && rest[end + 1] == '\n';
      stream.after_cr = rest[end] == '\r' && end + 1 == rest.size();
      rest.remove_prefix(end + (crlf ? 2 : 1));
    }
  }

  void emit(const Stream& stream, const std::string& line) {
    if (options_.on_line) {
      options_.on_line(stream.rank, stream.is_stderr, line);
      return;
    }
    std::FILE* file = stream.is_stderr ? stderr : stdout;
    std::string text = fmt::format("[rank {}] {}\n", stream.rank, line);
    std::fwrite(text.data(), 1, text.size(), file);
    std::fflush(file);
  }

  /// After the last worker exits: what is still buffered in the pipes (bounded, because a
  /// worker's own children may keep writing).
  void drain_output() {
    for (auto& w : workers_) {
      for (Stream* s : {&w.out, &w.err}) {
        if (s->fd < 0) continue;
        ::fcntl(s->fd, F_SETFL, ::fcntl(s->fd, F_GETFL) | O_NONBLOCK);
        for (int chunk = 0; chunk < 64 && read_stream(*s); ++chunk) {
        }
        if (!s->partial.empty()) emit(*s, s->partial);
        s->partial.clear();
        close_fd(s->fd);
      }
    }
  }

  void on_signal(int sig) {
    if (sig != SIGINT && sig != SIGTERM) return;  // SIGCHLD: reap() runs every iteration
    if (forwarded_ == 0 && !failure_code_) {
      forwarded_ = sig;
      spdlog::warn("{}: forwarding it to the workers (again to kill them)", signal_name(sig));
      signal_running(sig);
      return;
    }
    spdlog::warn("{} again: killing the workers", signal_name(sig));
    if (forwarded_ == 0) forwarded_ = sig;
    signal_running(SIGKILL);
  }

  void reap() {
    for (auto& w : workers_) {
      if (!w.running) continue;
      int status = 0;
      pid_t pid = ::waitpid(w.pid, &status, WNOHANG);
      if (pid == 0 || (pid < 0 && errno == EINTR)) continue;
      w.running = false;
      if (pid < 0) {
        spdlog::error("rank {}: waitpid: {}", w.rank, std::strerror(errno));
        status = 1 << 8;  // unknown: count it as a failure
      }
      handle_exit(w, status);
    }
  }

  void handle_exit(const Worker& worker, int status) {
    int code = exit_code_of(status);
    if (code != 0) stopped_nonzero_ = true;
    if (code == 0 || expected_stop(status)) {
      spdlog::debug("{}", describe_exit(worker.rank, status));
      return;
    }
    if (failure_code_) {
      spdlog::info("{} while stopping", describe_exit(worker.rank, status));
      return;
    }
    failure_code_ = code;
    bool others = any_running();
    spdlog::error("{}{}", describe_exit(worker.rank, status),
                  others ? ": stopping the other workers" : "");
    stop_after_failure();
  }

  /// Whether a non-zero exit is the answer to a signal the launcher sent.
  bool expected_stop(int status) const {
    if (sent_sigkill_ && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) return true;
    if (forwarded_ == 0) return false;
    int code = exit_code_of(status);
    return code == kExitInterrupted || code == 128 + forwarded_;
  }

  void stop_after_failure() {
    if (!any_running()) return;
    if (options_.grace_seconds <= 0) {
      signal_running(SIGKILL);
      return;
    }
    signal_running(SIGTERM);
    kill_at_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(options_.grace_seconds));
  }

  /// Signals each running worker's process group (the worker and anything it started).
  void signal_running(int sig) {
    if (sig == SIGKILL) {
      sent_sigkill_ = true;
      kill_at_.reset();
    }
    for (auto& w : workers_) {
      if (!w.running) continue;
      if (::kill(-w.pid, sig) != 0) ::kill(w.pid, sig);
    }
  }

  int result() const {
    if (failure_code_) return *failure_code_;
    if (forwarded_ != 0 && stopped_nonzero_) {
      return forwarded_ == SIGINT ? kExitInterrupted : 128 + forwarded_;
    }
    return 0;
  }

  /// Only runs with workers still alive when an exception (from on_line, say) leaves run().
  void kill_and_reap_all() noexcept {
    for (auto& w : workers_) {
      if (w.running) {
        ::kill(-w.pid, SIGKILL);
        ::kill(w.pid, SIGKILL);
        int status;
        while (::waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
        }
        w.running = false;
      }
      close_fd(w.out.fd);
      close_fd(w.err.fd);
    }
    close_fd(dev_null_);
  }

  const LaunchOptions& options_;
  std::vector<Worker> workers_;
  int dev_null_ = -1;
  int forwarded_ = 0;  // SIGINT or SIGTERM, once forwarded to the workers
  bool sent_sigkill_ = false;
  bool stopped_nonzero_ = false;
  std::optional<int> failure_code_;
  std::optional<Clock::time_point> kill_at_;
};

}  // namespace

int launch_workers(const LaunchOptions& options) {
  validate(options);
  return Launch(options).run();
}

}  // namespace garbage::distributed
