// End-to-end checks of garbage explain, eval --grid and garbage bench.

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "../support/checkpoint_fixture.hpp"
#include "../support/run_cli.hpp"
#include "../support/train_fixture.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/eval/bench.hpp"
#include "garbage/report/plots.hpp"

namespace fs = std::filesystem;
using garbage::testing::run_garbage;
using garbage::testing::TempDir;
using nlohmann::json;

namespace {

class ExplainBenchCli : public ::testing::Test {
 protected:
  void SetUp() override {
    garbage::testing::write_synthetic_dataset(dir_ / "data", 3, 24, 64);
    garbage::testing::write_untrained_checkpoint(
        checkpoint(), garbage::testing::tiny_train_document(dir_ / "data"),
        {"class_0", "class_1", "class_2"});
  }
  std::string checkpoint() const { return (dir_ / "ck.pt").string(); }
  TempDir dir_{"cli-explain"};
};

}  // namespace

TEST_F(ExplainBenchCli, ExplainWritesAndListsItsFiles) {
  const std::string image = (dir_ / "data" / "class_1" / "img_3.png").string();
  const std::string out = (dir_ / "out").string();
  auto r = run_garbage("explain --checkpoint " + checkpoint() + " --image " + image + " --out " +
                       out + " --class class_1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("explaining class_1"), std::string::npos) << r.output;
  for (const char* name :
       {"feature_maps.png", "grad_cam.png", "guided_backprop.png", "explain.json"}) {
    EXPECT_NE(r.output.find("wrote " + (dir_ / "out" / name).string()), std::string::npos)
        << name << "\n"
        << r.output;
    EXPECT_TRUE(fs::exists(dir_ / "out" / name)) << name;
  }

  auto bad_class = run_garbage("explain --checkpoint " + checkpoint() + " --image " + image +
                               " --out " + out + " --class plastic");
  EXPECT_EQ(bad_class.code, 2);
  EXPECT_NE(bad_class.output.find("class_0, class_1, class_2"), std::string::npos)
      << bad_class.output;
  EXPECT_EQ(std::count(bad_class.output.begin(), bad_class.output.end(), '\n'), 1)
      << bad_class.output;
  EXPECT_EQ(run_garbage("explain --checkpoint " + checkpoint() + " --out " + out).code, 2);
}

TEST_F(ExplainBenchCli, EvalGridIsAPngOfTheLayoutSize) {
  const fs::path grid = dir_ / "reports" / "grid.png";
  auto r = run_garbage("eval --checkpoint " + checkpoint() + " --grid " + grid.string());
  ASSERT_EQ(r.code, 0) << r.output;
  cv::Mat img = cv::imread(grid.string());
  ASSERT_FALSE(img.empty()) << r.output;
  garbage::report::PredictionGridLayout layout;
  EXPECT_EQ(img.cols, layout.width());
  EXPECT_EQ(img.rows, layout.height());
  EXPECT_NE(r.output.find("prediction grid (18 images)"), std::string::npos) << r.output;
}

TEST_F(ExplainBenchCli, BenchJsonHasOneRowPerBatchSize) {
  auto r = run_garbage(
      "bench --checkpoint " + checkpoint() + " --batch 1,3 --iters 3 --warmup 1 --threads 1 --json",
      /*with_stderr=*/false);
  ASSERT_EQ(r.code, 0) << r.output;
  json j = json::parse(r.output);
  EXPECT_EQ(j["model"], "simple_cnn");
  EXPECT_EQ(j["source"], checkpoint());
  EXPECT_EQ(j["device"], "cpu");
  EXPECT_EQ(j["threads"], 1);
  EXPECT_EQ(j["img_size"], 64);  // the checkpoint's input size
  EXPECT_EQ(j["channels_last"], true);
  EXPECT_EQ(j["half"], false);
  ASSERT_EQ(j["results"].size(), 2u);
  EXPECT_EQ(j["results"][0]["batch"], 1);
  EXPECT_EQ(j["results"][1]["batch"], 3);
  for (const auto& row : j["results"]) {
    EXPECT_EQ(row["iterations"], 3);
    EXPECT_GT(row["latency_ms_median"].get<double>(), 0.0);
    EXPECT_GE(row["latency_ms_p90"].get<double>(), row["latency_ms_median"].get<double>());
    EXPECT_NEAR(row["images_per_second"].get<double>(),
                row["batch"].get<double>() * 1000.0 / row["latency_ms_median"].get<double>(),
                1e-6 * row["images_per_second"].get<double>());
  }

  auto table = run_garbage(
      "bench --model mobilenet_v3_small --img 64 --batch 2 --iters 1 "
      "--warmup 0 --no-channels-last",
      /*with_stderr=*/false);
  ASSERT_EQ(table.code, 0) << table.output;
  EXPECT_NE(table.output.find("mobilenet_v3_small"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("64 px, NCHW, float32"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("img/s"), std::string::npos) << table.output;
}

TEST(BenchCli, UnavailableDeviceAndCpuHalfAreUsageErrors) {
  auto cuda = run_garbage("bench --model mobilenet_v3_small --device cuda");
  EXPECT_EQ(cuda.code, 2) << cuda.output;
  EXPECT_NE(cuda.output.find("--device: \"cuda\": CUDA is not available"), std::string::npos)
      << cuda.output;
  auto unknown = run_garbage("bench --model mobilenet_v3_small --device gpu");
  EXPECT_EQ(unknown.code, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("expected cpu, cuda, cuda:N or auto"), std::string::npos)
      << unknown.output;
  auto half = run_garbage("bench --model mobilenet_v3_small --half");
  EXPECT_EQ(half.code, 2) << half.output;
  EXPECT_NE(half.output.find("--half needs --device cuda"), std::string::npos) << half.output;
  EXPECT_EQ(run_garbage("bench --batch 1").code, 2);
  EXPECT_EQ(run_garbage("bench --model mobilenet_v3_small --batch 0").code, 2);
  EXPECT_EQ(run_garbage("bench --model mobilenet_v3_small --iters 2 --min-time 1").code, 2);
}

TEST(Bench, MedianAndNearestRankP90) {
  auto [median, p90] = garbage::eval::median_and_p90({5, 1, 4, 2, 3, 10, 6, 7, 8, 9});
  EXPECT_DOUBLE_EQ(median, 5.5);
  EXPECT_DOUBLE_EQ(p90, 9);
  auto [one_median, one_p90] = garbage::eval::median_and_p90({2.5});
  EXPECT_DOUBLE_EQ(one_median, 2.5);
  EXPECT_DOUBLE_EQ(one_p90, 2.5);
  EXPECT_THROW(garbage::eval::median_and_p90({}), garbage::Error);
}
