// Ctrl-C during `garbage train`: a checkpoint is written, the exit code is 130, and --resume
// finishes the run.

#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "../support/spawn.hpp"
#include "../support/train_fixture.hpp"
#include "garbage/loading/checkpoint.hpp"

namespace fs = std::filesystem;

using garbage::testing::spawn_garbage;
using garbage::testing::wait_exit_code;

TEST(Interrupt, SigintSavesACheckpointExits130AndResumeFinishes) {
  garbage::testing::TempDir dir("sigint");
  garbage::testing::write_synthetic_dataset(dir / "data", 3, 24, 64);
  auto doc = garbage::testing::tiny_train_document(dir / "data", 200);
  doc["train"]["early_stopping"]["patience"] = 0;
  std::ofstream(dir / "long.json") << doc.dump();
  auto run = dir / "run";

  pid_t pid = spawn_garbage(
      {"train", "--config", (dir / "long.json").string(), "--out", run.string()}, dir / "log.txt");
  ASSERT_GT(pid, 0);
  // Interrupt once training is under way (an epoch has finished), not during start-up.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(run / "metrics.csv") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(fs::exists(run / "metrics.csv"));
  kill(pid, SIGINT);
  EXPECT_EQ(wait_exit_code(pid), 130);
  ASSERT_TRUE(fs::exists(run / "last.pt"));
  auto meta = garbage::loading::read_checkpoint_meta(run / "last.pt");
  int64_t stopped_at = meta["loop"]["epoch"].get<int64_t>();
  EXPECT_GE(stopped_at, 1);
  EXPECT_LT(stopped_at, 200);

  pid = spawn_garbage({"train", "--config", (dir / "long.json").string(), "--out", run.string(),
                       "--resume", "--set", "train.epochs=" + std::to_string(stopped_at + 1)},
                      dir / "log2.txt");
  EXPECT_EQ(wait_exit_code(pid), 0);
  meta = garbage::loading::read_checkpoint_meta(run / "last.pt");
  EXPECT_EQ(meta["loop"]["epoch"], stopped_at + 1);
  EXPECT_TRUE(meta["loop"]["finished"].get<bool>());
}
