// `garbage predict` end to end: exit codes, and the JSON and CSV it prints.

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <nlohmann/json.hpp>

#include "../support/checkpoint_fixture.hpp"
#include "../support/run_cli.hpp"

namespace garbage {
namespace {

using testing::run_garbage;
using testing::TempDir;

class PredictCli : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_synthetic_dataset(dir_ / "photos", 2, 3, 40);
    std::ofstream(dir_ / "photos" / "class_0" / "corrupt.jpg") << "\xff\xd8 truncated";
    testing::write_untrained_tiny_checkpoint(dir_ / "ck.pt", dir_ / "photos", {"paper", "plastic"});
  }
  std::string predict(const std::string& args) const {
    return "predict --checkpoint " + (dir_ / "ck.pt").string() + " " + args;
  }
  TempDir dir_{"predict-cli"};
};

TEST_F(PredictCli, DeviceAutoRunsOnTheCpuAndAnAbsentGpuIsAUsageError) {
  auto on_auto = run_garbage(predict((dir_ / "photos" / "class_1").string() + " --device auto"));
  EXPECT_EQ(on_auto.code, 0) << on_auto.output;
  if (torch::cuda::is_available()) GTEST_SKIP() << "this machine has a GPU";
  auto cuda = run_garbage(predict((dir_ / "photos").string() + " --device cuda:0"));
  EXPECT_EQ(cuda.code, 2) << cuda.output;
  EXPECT_NE(cuda.output.find("CUDA is not available"), std::string::npos) << cuda.output;
}

TEST_F(PredictCli, JsonListsEveryFileAndExitsWith4ForTheCorruptOne) {
  auto r = run_garbage(predict((dir_ / "photos").string() + " --json --top-k 2 --batch 4"),
                       /*with_stderr=*/false);
  EXPECT_EQ(r.code, 4) << r.output;
  auto j = nlohmann::json::parse(r.output);
  ASSERT_EQ(j.size(), 7u);  // 6 images + corrupt.jpg
  int failed = 0;
  for (const auto& row : j) {
    SCOPED_TRACE(row.dump());
    if (row.contains("error")) {
      ++failed;
      EXPECT_NE(row["path"].get<std::string>().find("corrupt.jpg"), std::string::npos);
      continue;
    }
    ASSERT_EQ(row["top"].size(), 2u);
    double p0 = row["top"][0]["probability"], p1 = row["top"][1]["probability"];
    EXPECT_GE(p0, p1);
    EXPECT_NEAR(p0 + p1, 1.0, 1e-5);  // two classes: the top 2 are all of them
  }
  EXPECT_EQ(failed, 1);

  auto stderr_run = run_garbage(predict((dir_ / "photos").string() + " --json"));
  EXPECT_NE(stderr_run.output.find("1 of 7 files could not be read"), std::string::npos)
      << stderr_run.output;
}

TEST_F(PredictCli, CsvAndTableForGoodFilesExitWith0) {
  auto good = (dir_ / "photos" / "class_1").string();
  auto r = run_garbage(predict(good + " --csv --top-k 1"), /*with_stderr=*/false);
  EXPECT_EQ(r.code, 0) << r.output;
  std::istringstream lines(r.output);
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line, "path,rank,label,probability,error");
  int rows = 0;
  while (std::getline(lines, line)) {
    ++rows;
    EXPECT_EQ(std::count(line.begin(), line.end(), ','), 4) << line;
    EXPECT_NE(line.find(",1,"), std::string::npos) << line;
    EXPECT_TRUE(line.find(",paper,") != std::string::npos ||
                line.find(",plastic,") != std::string::npos)
        << line;
  }
  EXPECT_EQ(rows, 3);

  auto table =
      run_garbage(predict(good + " " + (dir_ / "photos" / "class_0" / "img_0.png").string()),
                  /*with_stderr=*/false);
  EXPECT_EQ(table.code, 0) << table.output;
  EXPECT_NE(table.output.find("img_0.png"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("%"), std::string::npos) << table.output;
}

TEST_F(PredictCli, UsageErrorsExitWith2) {
  EXPECT_EQ(run_garbage(predict("")).code, 2);  // no path
  auto missing = run_garbage(predict((dir_ / "nope").string()));
  EXPECT_EQ(missing.code, 2) << missing.output;
  EXPECT_NE(missing.output.find("nope"), std::string::npos) << missing.output;
  EXPECT_EQ(run_garbage("predict " + (dir_ / "photos").string()).code, 2);  // no model
  EXPECT_EQ(run_garbage(predict((dir_ / "photos").string() + " --json --csv")).code, 2);
}

}  // namespace
}  // namespace garbage
