// The engine choice where the tool runs models: eval scores a trained checkpoint exactly as
// libtorch does, training validates on the configured engine, and bench reports per engine.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../support/run_cli.hpp"
#include "../support/train_fixture.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/eval/evaluate.hpp"
#include "garbage/train/trainer.hpp"

namespace garbage::engine {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::TempDir;

TEST(EngineWiring, EvalOfATrainedCheckpointMatchesLibtorchAndTrainingValidatesNatively) {
  TempDir dir("engine_eval");
  testing::write_synthetic_dataset(dir / "data", 3, 24, 64);
  auto doc = testing::tiny_train_document(dir / "data", 2);
  doc["train"]["eval_engine"] = "native";
  train::TrainRequest req;
  req.config = config::make_train_config(doc);
  req.out_dir = dir / "run";
  train::run_training(req);

  eval::EvalRequest request;
  request.model.checkpoint = dir / "run" / "best.pt";
  request.split = data::Split::test;
  request.threads = 2;
  request.engine = "torch";
  auto torch_report = eval::evaluate_checkpoint(request);
  request.engine = "native";
  auto native_report = eval::evaluate_checkpoint(request);
  EXPECT_EQ(torch_report.json.at("engine"), "torch");
  EXPECT_EQ(native_report.json.at("engine"), "native");
  EXPECT_EQ(native_report.evaluation.predictions, torch_report.evaluation.predictions);
  EXPECT_EQ(native_report.evaluation.metrics.accuracy, torch_report.evaluation.metrics.accuracy);
  EXPECT_NEAR(native_report.evaluation.metrics.loss, torch_report.evaluation.metrics.loss, 1e-4);
  request.engine = "fast";
  EXPECT_THROW(eval::evaluate_checkpoint(request), ConfigError);

  doc["train"]["eval_engine"] = "gpu";
  EXPECT_THROW(config::resolve_train_document(doc, "test"), ConfigError);
}

TEST(EngineWiring, BenchBothGivesARowPerEngineAndBatchWithPeakMemory) {
  auto r = testing::run_garbage(
      "bench --model mobilenet_v3_small --img 64 --batch 1,2 --iters 2 --warmup 1 --threads 1 "
      "--engine both --json",
      /*with_stderr=*/false);
  ASSERT_EQ(r.code, 0) << r.output;
  json j = json::parse(r.output);
  EXPECT_EQ(j["engine"], "both");
  EXPECT_GT(j["peak_rss_bytes"].get<int64_t>(), 0);
  ASSERT_EQ(j["results"].size(), 4u);
  const std::vector<std::pair<std::string, int>> rows = {
      {"native", 1}, {"native", 2}, {"torch", 1}, {"torch", 2}};
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(j["results"][i]["engine"], rows[i].first);
    EXPECT_EQ(j["results"][i]["batch"], rows[i].second);
    EXPECT_GT(j["results"][i]["images_per_second"].get<double>(), 0.0);
  }
  auto plain = testing::run_garbage(
      "bench --model mobilenet_v3_small --img 64 --batch 1 --iters 1 --json", false);
  ASSERT_EQ(plain.code, 0) << plain.output;
  EXPECT_EQ(json::parse(plain.output)["engine"], "native");  // auto: every op is supported
  EXPECT_EQ(testing::run_garbage("bench --model mobilenet_v3_small --engine fast").code, 2);
}

}  // namespace
}  // namespace garbage::engine
