// The torchrun-style launcher with /bin/sh workers: the rendezvous environment per rank, output
// lines per rank and stream, exit codes and fail-fast, signal forwarding, and option errors.
// Tests that signal the launcher run it in a forked child so the test process keeps its own
// signal dispositions.

#include <gtest/gtest.h>
#include <signal.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "garbage/core/errors.hpp"
#include "garbage/distributed/launcher.hpp"

namespace fs = std::filesystem;
using garbage::distributed::launch_workers;
using garbage::distributed::LaunchOptions;
using Clock = std::chrono::steady_clock;

namespace {

struct Line {
  int rank;
  bool is_stderr;
  std::string text;
};

/// Workers run `sh -c script`; their lines are collected in `lines`.
LaunchOptions sh_workers(int nproc, const std::string& script, std::vector<Line>& lines) {
  LaunchOptions options;
  options.nproc_per_node = nproc;
  options.executable = "/bin/sh";
  options.worker_args = {"-c", script};
  options.on_line = [&lines](int rank, bool is_stderr, const std::string& text) {
    lines.push_back({rank, is_stderr, text});
  };
  return options;
}

std::vector<std::string> texts(const std::vector<Line>& lines, int rank, bool is_stderr) {
  std::vector<std::string> out;
  for (auto& line : lines) {
    if (line.rank == rank && line.is_stderr == is_stderr) out.push_back(line.text);
  }
  return out;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// A fresh directory the workers write marker files into.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "garbage-launcher-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool wait_until(const std::function<bool()>& done, double seconds = 5) {
  auto start = Clock::now();
  while (!done()) {
    if (seconds_since(start) > seconds) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

/// Gone or a zombie (an orphan's zombie may wait for a container's init to reap it).
bool process_gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  if (all.empty()) return true;
  auto paren = all.rfind(')');
  return paren != std::string::npos && paren + 2 < all.size() && all[paren + 2] == 'Z';
}

pid_t read_pid(const std::string& path) {
  return static_cast<pid_t>(std::stol(read_text(path)));
}

/// Copies what spdlog's default logger writes while it lives.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(text_)) {
    spdlog::default_logger()->sinks().push_back(sink_);
  }
  ~LogCapture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  std::string text() const { return text_.str(); }

 private:
  std::ostringstream text_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

/// Sets (or unsets, for nullopt) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

/// Runs launch_workers in a forked child (its exit status is the launcher's return value).
pid_t launch_in_child(const LaunchOptions& options) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int code = 99;
    try {
      code = launch_workers(options);
    } catch (...) {
    }
    ::_exit(code);
  }
  return pid;
}

/// The child's exit code, or nullopt (after killing it) when it did not exit in time.
std::optional<int> wait_exit_code(pid_t pid, double seconds = 8) {
  int status = 0;
  bool exited = wait_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, seconds);
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return std::nullopt;
  }
  if (!WIFEXITED(status)) return 1000 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

/// A worker loop (30 s at most, so a failed test leaves no endless process) that records each
/// SIGINT/SIGTERM in got.<local rank> and then runs `then`.
std::string trapping_worker(const TempDir& dir, const std::string& then) {
  std::string got = dir / "got.$LOCAL_RANK";
  return "trap 'echo INT >> " + got + "; " + then + " 130' INT; trap 'echo TERM >> " + got + "; " +
         then + " 143' TERM; echo $$ > " + dir / "pid.$LOCAL_RANK" + "; touch " +
         dir / "ready.$LOCAL_RANK" +
         "; i=0; while [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done";
}

void expect_config_error(LaunchOptions options, const std::string& expected) {
  try {
    launch_workers(options);
    ADD_FAILURE() << "no ConfigError; expected: " << expected;
  } catch (const garbage::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(LauncherEnvironment, SetsRendezvousVariablesPerRank) {
  ScopedEnv omp("OMP_NUM_THREADS", std::nullopt);
  ScopedEnv stale_rank("RANK", "99");  // the launcher's own value must not leak through
  std::vector<Line> lines;
  auto options = sh_workers(2,
                            "echo $RANK $LOCAL_RANK $WORLD_SIZE $LOCAL_WORLD_SIZE $GROUP_RANK "
                            "$MASTER_ADDR $MASTER_PORT ${OMP_NUM_THREADS:-unset}",
                            lines);
  options.nnodes = 2;
  options.node_rank = 1;
  options.master_addr = "10.1.2.3";
  options.master_port = 12345;
  ASSERT_EQ(launch_workers(options), 0);
  EXPECT_EQ(texts(lines, 2, false), std::vector<std::string>{"2 0 4 2 1 10.1.2.3 12345 1"});
  EXPECT_EQ(texts(lines, 3, false), std::vector<std::string>{"3 1 4 2 1 10.1.2.3 12345 1"});
  EXPECT_EQ(lines.size(), 2u);
}

TEST(LauncherEnvironment, OmpNumThreadsOnlyWhenSeveralWorkersAndUnset) {
  std::vector<Line> lines;
  {
    ScopedEnv omp("OMP_NUM_THREADS", "7");
    ASSERT_EQ(launch_workers(sh_workers(2, "echo ${OMP_NUM_THREADS:-unset}", lines)), 0);
  }
  {
    ScopedEnv omp("OMP_NUM_THREADS", std::nullopt);
    ASSERT_EQ(launch_workers(sh_workers(1, "echo ${OMP_NUM_THREADS:-unset}", lines)), 0);
  }
  std::vector<std::string> rank0 = texts(lines, 0, false);
  EXPECT_EQ(rank0, (std::vector<std::string>{"7", "unset"}));
  EXPECT_EQ(texts(lines, 1, false), std::vector<std::string>{"7"});
}

TEST(LauncherOutput, SplitsLinesPerRankAndStream) {
  std::vector<Line> lines;
  auto options = sh_workers(2,
                            "printf 'a\\n\\nb\\rc\\r\\nd'; printf \"e-$LOCAL_RANK\\n\" >&2; "
                            "printf 'tail' >&2",
                            lines);
  ASSERT_EQ(launch_workers(options), 0);
  for (int rank : {0, 1}) {
    EXPECT_EQ(texts(lines, rank, false), (std::vector<std::string>{"a", "", "b", "c", "d"}));
    EXPECT_EQ(texts(lines, rank, true),
              (std::vector<std::string>{"e-" + std::to_string(rank), "tail"}));
  }
}

TEST(LauncherOutput, DefaultPrefixesTheRank) {
  LaunchOptions options;
  options.executable = "/bin/sh";
  options.worker_args = {"-c", "echo hello; echo oops >&2"};
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  int code = launch_workers(options);
  std::string out = testing::internal::GetCapturedStdout();
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(code, 0);
  EXPECT_NE(out.find("[rank 0] hello\n"), std::string::npos) << out;
  EXPECT_NE(err.find("[rank 0] oops\n"), std::string::npos) << err;
  EXPECT_EQ(out.find("oops"), std::string::npos) << out;
}

TEST(LauncherExit, AllSucceedReturnsZero) {
  std::vector<Line> lines;
  EXPECT_EQ(launch_workers(sh_workers(3, "exit 0", lines)), 0);
}

TEST(LauncherExit, FailingWorkerStopsTheOthers) {
  TempDir dir;
  std::string pid_file = dir / "sleeper";
  // Rank 1 sleeps in a child of its shell: stopping must reach the worker's whole group.
  std::string script = "if [ $LOCAL_RANK = 0 ]; then while [ ! -s " + pid_file +
                       " ]; do sleep 0.02; done; exit 3; fi; sleep 60 & echo $! > " + pid_file +
                       ".tmp; mv " + pid_file + ".tmp " + pid_file + "; wait";
  std::vector<Line> lines;
  LogCapture log;
  auto start = Clock::now();
  EXPECT_EQ(launch_workers(sh_workers(2, script, lines)), 3);
  EXPECT_LT(seconds_since(start), 5.0);
  EXPECT_NE(log.text().find("rank 0 exited with code 3"), std::string::npos) << log.text();
  pid_t sleeper = read_pid(pid_file);
  EXPECT_TRUE(wait_until([&] { return process_gone(sleeper); }, 2)) << "sleep " << sleeper;
}

TEST(LauncherExit, KilledWorkerReturns128PlusSignal) {
  std::vector<Line> lines;
  LogCapture log;
  auto options = sh_workers(2, "if [ $LOCAL_RANK = 0 ]; then kill -9 $$; fi; sleep 60", lines);
  auto start = Clock::now();
  EXPECT_EQ(launch_workers(options), 128 + SIGKILL);
  EXPECT_LT(seconds_since(start), 5.0);
  EXPECT_NE(log.text().find("rank 0 was killed by signal 9 (SIGKILL)"), std::string::npos)
      << log.text();
}

TEST(LauncherExit, SigkillsWorkersThatIgnoreSigterm) {
  TempDir dir;
  std::string ready = dir / "ready";
  std::string script = "if [ $LOCAL_RANK = 0 ]; then while [ ! -e " + ready +
                       " ]; do sleep 0.02; done; exit 5; fi; trap '' TERM; touch " + ready +
                       "; while :; do sleep 0.05; done";
  std::vector<Line> lines;
  auto options = sh_workers(2, script, lines);
  options.grace_seconds = 0.3;
  auto start = Clock::now();
  EXPECT_EQ(launch_workers(options), 5);
  double took = seconds_since(start);
  EXPECT_GT(took, 0.3);  // rank 1 ignored SIGTERM, so only SIGKILL after the grace period ended it
  EXPECT_LT(took, 4.0);
}

TEST(LauncherExit, UnstartableExecutableFailsQuicklyWithItsName) {
  LogCapture log;
  LaunchOptions options;
  options.nproc_per_node = 2;
  options.executable = "/nonexistent/garbage-worker";
  auto start = Clock::now();
  EXPECT_EQ(launch_workers(options), 1);
  EXPECT_LT(seconds_since(start), 3.0);
  EXPECT_NE(log.text().find("cannot run /nonexistent/garbage-worker: No such file or directory"),
            std::string::npos)
      << log.text();
}

TEST(LauncherSignals, ForwardsSigintOnceAndReturns130) {
  TempDir dir;
  std::vector<Line> lines;
  pid_t launcher = launch_in_child(sh_workers(2, trapping_worker(dir, "exit"), lines));
  ASSERT_TRUE(
      wait_until([&] { return fs::exists(dir / "ready.0") && fs::exists(dir / "ready.1"); }));
  ::kill(launcher, SIGINT);
  EXPECT_EQ(wait_exit_code(launcher), 130);
  EXPECT_EQ(read_text(dir / "got.0"), "INT\n");
  EXPECT_EQ(read_text(dir / "got.1"), "INT\n");
}

TEST(LauncherSignals, ForwardsSigterm) {
  TempDir dir;
  std::vector<Line> lines;
  pid_t launcher = launch_in_child(sh_workers(2, trapping_worker(dir, "exit"), lines));
  ASSERT_TRUE(
      wait_until([&] { return fs::exists(dir / "ready.0") && fs::exists(dir / "ready.1"); }));
  ::kill(launcher, SIGTERM);
  EXPECT_EQ(wait_exit_code(launcher), 128 + SIGTERM);
  EXPECT_EQ(read_text(dir / "got.0"), "TERM\n");
  EXPECT_EQ(read_text(dir / "got.1"), "TERM\n");
}

TEST(LauncherSignals, SecondSigintKillsTheWorkers) {
  TempDir dir;
  std::vector<Line> lines;
  // The workers note SIGINT and carry on: only the second Ctrl-C (SIGKILL) stops them.
  pid_t launcher = launch_in_child(sh_workers(2, trapping_worker(dir, "true"), lines));
  ASSERT_TRUE(
      wait_until([&] { return fs::exists(dir / "ready.0") && fs::exists(dir / "ready.1"); }));
  ::kill(launcher, SIGINT);
  ASSERT_TRUE(wait_until([&] { return fs::exists(dir / "got.0") && fs::exists(dir / "got.1"); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(::waitpid(launcher, nullptr, WNOHANG) == 0)
      << "the launcher stopped after one SIGINT";
  ::kill(launcher, SIGINT);
  EXPECT_EQ(wait_exit_code(launcher), 130);
  EXPECT_EQ(read_text(dir / "got.0"), "INT\n");
  EXPECT_TRUE(process_gone(read_pid(dir / "pid.0")));
  EXPECT_TRUE(process_gone(read_pid(dir / "pid.1")));
}

TEST(LauncherSignals, WorkersDieWithAKilledLauncher) {
  TempDir dir;
  std::vector<Line> lines;
  pid_t launcher = launch_in_child(sh_workers(2, trapping_worker(dir, "exit"), lines));
  ASSERT_TRUE(
      wait_until([&] { return fs::exists(dir / "ready.0") && fs::exists(dir / "ready.1"); }));
  ::kill(launcher, SIGKILL);
  ::waitpid(launcher, nullptr, 0);
  for (const char* name : {"pid.0", "pid.1"}) {
    pid_t worker = read_pid(dir / name);
    EXPECT_TRUE(wait_until([&] { return process_gone(worker); }, 3)) << name << " " << worker;
    ::kill(-worker, SIGKILL);  // cleans up after a failure; ESRCH when the test passed
  }
}

TEST(LauncherSignals, RestoresThePreviousHandlers) {
  struct sigaction mine {
  }, before{}, after{};
  mine.sa_handler = SIG_IGN;
  sigemptyset(&mine.sa_mask);
  ::sigaction(SIGTERM, &mine, &before);
  std::vector<Line> lines;
  EXPECT_EQ(launch_workers(sh_workers(1, "exit 0", lines)), 0);
  ::sigaction(SIGTERM, &before, &after);
  EXPECT_EQ(after.sa_handler, SIG_IGN);
}

TEST(LauncherOptions, InvalidValuesAreConfigErrorsNamingTheOption) {
  std::vector<Line> lines;
  auto valid = sh_workers(1, "exit 0", lines);
  auto with = [&](const std::function<void(LaunchOptions&)>& change) {
    LaunchOptions options = valid;
    change(options);
    return options;
  };
  expect_config_error(with([](auto& o) { o.nproc_per_node = 0; }),
                      "--nproc-per-node: 0 is not at least 1");
  expect_config_error(with([](auto& o) { o.nnodes = 0; }), "--nnodes: 0 is not at least 1");
  expect_config_error(with([](auto& o) { o.nnodes = 2, o.node_rank = 2; }),
                      "--node-rank: 2 is not below --nnodes 2");
  expect_config_error(with([](auto& o) { o.node_rank = -1; }), "--node-rank: -1 is negative");
  expect_config_error(with([](auto& o) { o.master_port = 0; }),
                      "--master-port: 0 is not in 1..65535");
  expect_config_error(with([](auto& o) { o.master_port = 65536; }),
                      "--master-port: 65536 is not in 1..65535");
  expect_config_error(with([](auto& o) { o.master_addr = ""; }), "--master-addr");
  expect_config_error(with([](auto& o) { o.grace_seconds = -1; }), "grace period -1 s");
  EXPECT_TRUE(lines.empty());  // nothing was started
}
