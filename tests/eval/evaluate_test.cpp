#include <gtest/gtest.h>

#include "../support/train_fixture.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/eval/evaluate.hpp"
#include "garbage/train/trainer.hpp"

namespace fs = std::filesystem;
using garbage::testing::TempDir;

TEST(Evaluate, CheckpointReportHasPerClassMetricsConfusionAndPng) {
  TempDir dir("eval");
  garbage::testing::write_synthetic_dataset(dir / "data", 3, 24, 64);
  garbage::train::TrainRequest req;
  req.config =
      garbage::config::make_train_config(garbage::testing::tiny_train_document(dir / "data", 1));
  req.out_dir = dir / "run";
  garbage::train::run_training(req);

  garbage::eval::EvalRequest er;
  er.model.checkpoint = dir / "run" / "best.pt";
  er.split = garbage::data::Split::test;
  er.threads = 2;
  auto report = garbage::eval::evaluate_checkpoint(er);
  const auto& m = report.json["metrics"];
  EXPECT_EQ(report.json["split"], "test");
  EXPECT_EQ(m["count"], 18);  // 25 % of 3 x 24
  EXPECT_EQ(m["class_names"].size(), 3u);
  int64_t total = 0;
  for (const auto& row : m["confusion_matrix"])
    for (const auto& v : row) total += v.get<int64_t>();
  EXPECT_EQ(total, 18);
  for (const auto& name : {"class_0", "class_1", "class_2"}) {
    EXPECT_EQ(m["per_class"][name]["support"], 6);
    EXPECT_GE(m["per_class"][name]["f1"].get<double>(), 0.0);
  }
  EXPECT_GE(m["accuracy"].get<double>(), 0.0);
  EXPECT_GT(m["loss"].get<double>(), 0.0);

  auto png = garbage::eval::write_eval_report(report, dir / "out" / "report.json");
  EXPECT_TRUE(fs::exists(dir / "out" / "report.json"));
  EXPECT_GT(fs::file_size(png), 1000u);

  double acc = report.evaluation.metrics.accuracy;
  EXPECT_NO_THROW(garbage::eval::enforce_min_accuracy(report.evaluation.metrics, acc));
  try {
    garbage::eval::enforce_min_accuracy(report.evaluation.metrics, acc + 1e-6);
    FAIL();
  } catch (const garbage::Error& e) {
    EXPECT_EQ(e.code(), garbage::ExitCode::gate_failed);
  }
}
