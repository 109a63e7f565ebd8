// Data-parallel training end to end on loopback: worker processes of the real binary, started
// the way torchrun or `--nproc-per-node` start them, compared with single-process runs.

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../support/spawn.hpp"
#include "../support/synthetic_data.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/distributed/process_group.hpp"
#include "garbage/loading/checkpoint.hpp"
#include "garbage/models/classifier.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

/// A training job's files: synthetic data (3 classes, 48 training images) and a config with
/// nothing that depends on how a batch is split: no BatchNorm, no dropout, no augmentation.
struct Job {
  garbage::testing::TempDir dir{"ddp"};
  fs::path config = dir / "job.json";

  explicit Job(int epochs = 3, bool batchnorm = false) {
    garbage::testing::write_synthetic_dataset(dir / "data", 3, 32, 32);
    json doc = {{"name", "ddp"},
                {"seed", 11},
                {"threads", 1},
                {"model",
                 {{"name", "simple_cnn"},
                  {"base_features", 8},
                  {"num_conv_layers", 2},
                  {"filter_size", 3},
                  {"num_dense", 16},
                  {"img_size", 32},
                  {"dropout", 0.0},
                  {"batchnorm", batchnorm}}},
                {"data",
                 {{"root", (dir / "data").string()},
                  {"layout", "folder"},
                  {"val_fraction", 0.25},
                  {"test_fraction", 0.25},
                  {"workers", 1}}},
                {"augment", {{"enabled", false}}},
                {"train",
                 {{"epochs", epochs},
                  {"batch_size", 32},
                  {"test_at_end", false},
                  {"early_stopping", {{"patience", 0}}},
                  {"optimizer", {{"name", "sgd"}, {"lr", 0.05}, {"momentum", 0.9}}}}}};
    std::ofstream(config) << doc.dump();
  }
};

struct Process {
  pid_t pid = -1;
  fs::path log;
};

Process spawn(const std::vector<std::string>& args, const std::vector<std::string>& env,
              const fs::path& log) {
  return {garbage::testing::spawn_garbage(args, log, env), log};
}

int wait_exit(const Process& p, std::chrono::seconds limit = std::chrono::seconds(120)) {
  return garbage::testing::wait_exit_code(p.pid, limit);
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> train_args(const Job& job, const fs::path& out,
                                    std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"train", "--config", job.config.string(), "--out", out.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::vector<std::string> rank_env(int rank, int world, int port) {
  return {"RANK=" + std::to_string(rank),
          "LOCAL_RANK=" + std::to_string(rank),
          "WORLD_SIZE=" + std::to_string(world),
          "LOCAL_WORLD_SIZE=" + std::to_string(world),
          "MASTER_ADDR=127.0.0.1",
          "MASTER_PORT=" + std::to_string(port),
          "OMP_NUM_THREADS=1"};
}

/// Starts `world` workers through the environment, as torchrun or Slurm would.
std::vector<Process> spawn_env_workers(const Job& job, const fs::path& out, int world,
                                       std::vector<std::string> extra = {}) {
  const int port = free_port();
  std::vector<Process> workers;
  for (int r = 0; r < world; ++r)
    workers.push_back(
        spawn(train_args(job, out, extra), rank_env(r, world, port),
              job.dir / ("rank" + std::to_string(r) + "-" + out.filename().string() + ".log")));
  return workers;
}

std::vector<int> wait_all(const std::vector<Process>& workers) {
  std::vector<int> codes;
  for (const auto& w : workers) codes.push_back(wait_exit(w));
  return codes;
}

/// The largest difference between two checkpoints' parameters (and buffers: running statistics),
/// also recorded in the test's XML output (--gtest_output=xml) under `property`.
double max_weight_difference(const fs::path& a, const fs::path& b,
                             const std::string& property = "") {
  auto x = garbage::loading::load_checkpoint(a), y = garbage::loading::load_checkpoint(b);
  auto y_params = y.model->named_parameters();
  auto y_buffers = y.model->named_buffers();
  double worst = 0;
  for (const auto& p : x.model->named_parameters())
    worst = std::max(worst, (p.value() - y_params[p.key()]).abs().max().item<double>());
  for (const auto& b : x.model->named_buffers())
    worst = std::max(worst, (b.value().to(torch::kDouble) - y_buffers[b.key()].to(torch::kDouble))
                                .abs()
                                .max()
                                .item<double>());
  if (!property.empty()) ::testing::Test::RecordProperty(property, fmt::format("{:.3g}", worst));
  return worst;
}

json history(const fs::path& run) {
  return garbage::loading::read_checkpoint_meta(run / "last.pt").at("loop").at("history");
}

void wait_for_file(const fs::path& path, std::chrono::seconds limit = std::chrono::seconds(120)) {
  const auto deadline = Clock::now() + limit;
  while (!fs::exists(path) && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

}  // namespace

TEST(DataParallel, TwoRanksOfBatch16MatchOneRankOfBatch32) {
  Job job;
  auto single =
      spawn(train_args(job, job.dir / "single"), {"OMP_NUM_THREADS=1"}, job.dir / "single.log");
  ASSERT_EQ(wait_exit(single), 0) << read_text(single.log);
  auto workers = spawn_env_workers(job, job.dir / "pair", 2, {"--set", "train.batch_size=16"});
  EXPECT_EQ(wait_all(workers), std::vector<int>({0, 0}))
      << read_text(workers[0].log) << read_text(workers[1].log);

  EXPECT_LE(
      max_weight_difference(job.dir / "single/last.pt", job.dir / "pair/last.pt", "max_abs_diff"),
      1e-5);
  auto h1 = history(job.dir / "single"), h2 = history(job.dir / "pair");
  ASSERT_EQ(h1.size(), 3u);
  ASSERT_EQ(h2.size(), 3u);
  for (size_t e = 0; e < h1.size(); ++e) {
    EXPECT_DOUBLE_EQ(h1[e]["val_accuracy"].get<double>(), h2[e]["val_accuracy"].get<double>());
    EXPECT_NEAR(h1[e]["val_loss"].get<double>(), h2[e]["val_loss"].get<double>(), 1e-5);
    EXPECT_NEAR(h1[e]["train_loss"].get<double>(), h2[e]["train_loss"].get<double>(), 1e-5);
  }
  // Only rank 0 writes the run folder's files; the log says what the global batch is.
  EXPECT_TRUE(fs::exists(job.dir / "pair/metrics.csv"));
  EXPECT_NE(read_text(workers[0].log).find("global batch 32"), std::string::npos);
  EXPECT_EQ(read_text(workers[1].log).find("epoch 1/3:"), std::string::npos)
      << "rank 1 should log warnings and errors only";
}

TEST(DataParallel, SyncBatchNormTwoRanksOfBatch16MatchOneRankOfBatch32) {
  Job job(2, /*batchnorm=*/true);
  auto single =
      spawn(train_args(job, job.dir / "single"), {"OMP_NUM_THREADS=1"}, job.dir / "single.log");
  ASSERT_EQ(wait_exit(single), 0) << read_text(single.log);
  auto synced = spawn_env_workers(job, job.dir / "synced", 2,
                                  {"--set", "train.batch_size=16", "--set", "train.sync_bn=true"});
  ASSERT_EQ(wait_all(synced), std::vector<int>({0, 0})) << read_text(synced[0].log);
  // Weights and running statistics: the global batch's, as in one process.
  EXPECT_LE(max_weight_difference(job.dir / "single/last.pt", job.dir / "synced/last.pt",
                                  "max_abs_diff_sync_bn"),
            1e-5);

  // Without synchronisation each rank normalises its own half-batch: the runs differ.
  auto local = spawn_env_workers(job, job.dir / "local", 2, {"--set", "train.batch_size=16"});
  ASSERT_EQ(wait_all(local), std::vector<int>({0, 0}));
  EXPECT_GT(max_weight_difference(job.dir / "single/last.pt", job.dir / "local/last.pt",
                                  "max_abs_diff_local_bn"),
            1e-4);
}

TEST(DataParallel, LauncherRunEqualsEnvironmentRun) {
  Job job(2);
  auto launched = spawn(train_args(job, job.dir / "launched",
                                   {"--nproc-per-node", "2", "--master-port",
                                    std::to_string(free_port()), "--set", "train.batch_size=16"}),
                        {}, job.dir / "launched.log");
  ASSERT_EQ(wait_exit(launched), 0) << read_text(launched.log);
  auto workers = spawn_env_workers(job, job.dir / "env", 2, {"--set", "train.batch_size=16"});
  ASSERT_EQ(wait_all(workers), std::vector<int>({0, 0}));
  EXPECT_EQ(max_weight_difference(job.dir / "launched/last.pt", job.dir / "env/last.pt"), 0.0);
  EXPECT_NE(read_text(launched.log).find("[rank 0]"), std::string::npos);
}

TEST(DataParallel, ADeadRankStopsTheOthersWithAnErrorNamingIt) {
  Job job(100000);
  auto workers = spawn_env_workers(job, job.dir / "run", 2, {"--dist-timeout", "20"});
  wait_for_file(job.dir / "run/metrics.csv");  // training is under way
  ASSERT_TRUE(fs::exists(job.dir / "run/metrics.csv")) << read_text(workers[0].log);
  kill(workers[1].pid, SIGKILL);
  const auto killed = Clock::now();
  const int code = wait_exit(workers[0], std::chrono::seconds(30));
  const double seconds = std::chrono::duration<double>(Clock::now() - killed).count();
  wait_exit(workers[1]);
  EXPECT_EQ(code, 1);
  EXPECT_LT(seconds, 20.0);
  RecordProperty("seconds_to_stop", fmt::format("{:.2f}", seconds));
  const auto log = read_text(workers[0].log);
  EXPECT_NE(log.find("rank 1"), std::string::npos) << log;
  EXPECT_NE(log.find("stopped responding"), std::string::npos) << log;
}

/// Starts an endless 2-rank run, interrupts it (as a terminal's Ctrl-C, which reaches every
/// process) once an epoch has finished, and returns the epoch (0-based) it stopped in.
int64_t interrupt_two_ranks(const Job& job, const fs::path& out,
                            const std::vector<std::string>& extra) {
  auto workers = spawn_env_workers(job, out, 2, extra);
  wait_for_file(out / "metrics.csv");
  for (const auto& w : workers) kill(w.pid, SIGINT);
  EXPECT_EQ(wait_all(workers), std::vector<int>({130, 130})) << read_text(workers[0].log);
  const auto meta = garbage::loading::read_checkpoint_meta(out / "last.pt");
  EXPECT_FALSE(meta["loop"]["finished"].get<bool>());
  EXPECT_EQ(meta["world_size"], 2);
  return meta["loop"]["epoch"].get<int64_t>();
}

TEST(DataParallel, InterruptedTwoRankRunResumesToTheUninterruptedResult) {
  Job job(100000);  // until interrupted; the resume then sets the epoch count
  // Batch 4 per rank: 6 steps per epoch, so the interrupt most likely lands mid-epoch.
  const std::vector<std::string> small = {"--set", "train.batch_size=4"};
  const auto stopped_in = interrupt_two_ranks(job, job.dir / "stopped", small);
  const auto epochs = "train.epochs=" + std::to_string(stopped_in + 1);

  auto resumed = spawn_env_workers(job, job.dir / "stopped", 2,
                                   {"--set", "train.batch_size=4", "--set", epochs, "--resume"});
  ASSERT_EQ(wait_all(resumed), std::vector<int>({0, 0})) << read_text(resumed[0].log);
  auto whole = spawn_env_workers(job, job.dir / "whole", 2,
                                 {"--set", "train.batch_size=4", "--set", epochs});
  ASSERT_EQ(wait_all(whole), std::vector<int>({0, 0}));

  EXPECT_EQ(max_weight_difference(job.dir / "whole/last.pt", job.dir / "stopped/last.pt"), 0.0);
  auto h1 = history(job.dir / "whole"), h2 = history(job.dir / "stopped");
  ASSERT_EQ(h1.size(), static_cast<size_t>(stopped_in + 1));
  ASSERT_EQ(h1.size(), h2.size());
  for (size_t e = 0; e < h1.size(); ++e) {
    EXPECT_DOUBLE_EQ(h1[e]["val_accuracy"].get<double>(), h2[e]["val_accuracy"].get<double>());
    EXPECT_NEAR(h1[e]["val_loss"].get<double>(), h2[e]["val_loss"].get<double>(), 1e-12);
    EXPECT_NEAR(h1[e]["train_loss"].get<double>(), h2[e]["train_loss"].get<double>(), 1e-9);
    EXPECT_NEAR(h1[e]["train_accuracy"].get<double>(), h2[e]["train_accuracy"].get<double>(),
                1e-12);
  }
}

TEST(DataParallel, ATwoRankCheckpointResumesWithOneRank) {
  Job job(100000);
  const auto stopped_in =
      interrupt_two_ranks(job, job.dir / "run", {"--set", "train.batch_size=4"});
  auto single = spawn(train_args(job, job.dir / "run",
                                 {"--resume", "--set", "train.batch_size=8", "--set",
                                  "train.epochs=" + std::to_string(stopped_in + 1)}),
                      {"OMP_NUM_THREADS=1"}, job.dir / "single.log");
  ASSERT_EQ(wait_exit(single), 0) << read_text(single.log);
  const auto log = read_text(single.log);
  EXPECT_NE(log.find("with 2 processes and this run has 1"), std::string::npos) << log;
  auto h = history(job.dir / "run");
  ASSERT_EQ(h.size(), static_cast<size_t>(stopped_in + 1));
  for (size_t e = 0; e < h.size(); ++e) EXPECT_EQ(h[e]["epoch"], static_cast<int>(e) + 1);
  const auto meta = garbage::loading::read_checkpoint_meta(job.dir / "run/last.pt");
  EXPECT_EQ(meta["world_size"], 1);
  EXPECT_TRUE(meta["loop"]["finished"].get<bool>());
}

TEST(DataParallelEnvironment, ReadsTorchrunVariablesAndRejectsBadOnes) {
  struct Env {
    std::vector<std::pair<std::string, const char*>> vars;
    explicit Env(std::vector<std::pair<std::string, const char*>> v) : vars(std::move(v)) {
      for (const auto& [k, val] : vars)
        if (val)
          setenv(k.c_str(), val, 1);
        else
          unsetenv(k.c_str());
    }
    ~Env() {
      for (const auto& [k, val] : vars) unsetenv(k.c_str());
    }
  };
  using garbage::distributed::world_from_environment;
  {
    Env env({{"WORLD_SIZE", nullptr}});
    EXPECT_FALSE(world_from_environment().has_value());
  }
  {
    Env env({{"WORLD_SIZE", "4"},
             {"RANK", "3"},
             {"LOCAL_RANK", "1"},
             {"LOCAL_WORLD_SIZE", "2"},
             {"MASTER_ADDR", "node7"},
             {"MASTER_PORT", "1234"}});
    auto world = world_from_environment();
    ASSERT_TRUE(world.has_value());
    EXPECT_EQ(world->rank, 3);
    EXPECT_EQ(world->local_rank, 1);
    EXPECT_EQ(world->world_size, 4);
    EXPECT_EQ(world->local_world_size, 2);
    EXPECT_EQ(world->master_addr, "node7");
    EXPECT_EQ(world->master_port, 1234);
  }
  const std::vector<std::vector<std::pair<std::string, const char*>>> bad = {
      {{"WORLD_SIZE", "2"}, {"RANK", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}},
      {{"WORLD_SIZE", "2"}, {"RANK", "-1"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}},
      {{"WORLD_SIZE", "two"}},
      {{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_ADDR", nullptr}, {"MASTER_PORT", "1"}},
      {{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}},
      {{"WORLD_SIZE", "2"},
       {"RANK", "1"},
       {"LOCAL_RANK", "2"},
       {"LOCAL_WORLD_SIZE", "2"},
       {"MASTER_ADDR", "h"},
       {"MASTER_PORT", "1"}}};
  for (const auto& vars : bad) {
    Env env(vars);
    EXPECT_THROW(world_from_environment(), garbage::ConfigError) << vars.front().second;
  }
}
