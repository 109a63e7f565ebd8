// `garbage sweep` end to end on synthetic images: a tiny real sweep (3 trials x 2 epochs), its
// report, and the CLI's config errors.

#include <fstream>
#include <map>

#include <gtest/gtest.h>

#include "../support/run_cli.hpp"
#include "garbage/config/train_config.hpp"
#include "garbage/core/json_io.hpp"
#include "garbage/report/tensorboard.hpp"
#include "sweep_fixture.hpp"

namespace fs = std::filesystem;
using garbage::testing::TempDir;
using nlohmann::json;

using garbage::testing::run_garbage;

TEST(SweepCli, TinySweepOnSyntheticDataAndItsReport) {
  TempDir dir("sweep-cli");
  garbage::testing::write_synthetic_dataset(dir / "data", 3, 16, 64);
  json base = garbage::testing::tiny_train_document(dir / "data", 2);
  json doc = {{"method", "random"},
              {"metric", {{"name", "val_acc"}, {"goal", "maximize"}}},
              {"parameters",
               {{"lr", {{"distribution", "log_uniform_values"}, {"min", 1e-3}, {"max", 1e-2}}},
                {"num_dense", {{"values", {8, 16}}}}}},
              {"run_cap", 3},
              {"base", base}};
  std::ofstream(dir / "sweep.json") << doc.dump(2);
  const std::string storage = "--storage sqlite:///" + (dir / "s.db").string();
  auto run = run_garbage("-q sweep --config " + (dir / "sweep.json").string() + " --name tiny " +
                         storage + " --out " + (dir / "runs").string());
  ASSERT_EQ(run.code, 0) << run.output;
  for (int i = 1; i <= 3; ++i)
    EXPECT_TRUE(fs::exists(dir / "runs" / ("trial-00" + std::to_string(i)) / "metrics.csv"));

  // TensorBoard's HParams dashboard: the experiment in the sweep folder, a session per trial.
  auto experiment_files = garbage::report::event_files(dir / "runs");
  ASSERT_EQ(experiment_files.size(), 1u);
  auto experiment = garbage::report::read_event_file(experiment_files[0]);
  ASSERT_EQ(experiment.size(), 2u);
  auto exp = garbage::report::hparams_to_json(experiment[1])["experiment"];
  EXPECT_EQ(exp["hparamInfos"].size(), 2u);
  EXPECT_EQ(exp["metricInfos"][0]["name"]["tag"], "epoch/val_accuracy");
  std::map<std::string, json> session;
  for (const auto& file : garbage::report::event_files(dir / "runs" / "trial-001" / "tb"))
    for (const auto& r : garbage::report::read_event_file(file))
      if (r.kind == "hparams") session[r.tag] = garbage::report::hparams_to_json(r);
  ASSERT_EQ(session.size(), 2u);
  EXPECT_TRUE(
      session["_hparams_/session_start_info"]["sessionStartInfo"]["hparams"].contains("num_dense"));
  EXPECT_EQ(session["_hparams_/session_end_info"]["sessionEndInfo"]["status"], 1);

  auto report = run_garbage(
      "-q sweep report --name tiny " + storage + " --json --out " + (dir / "report").string(),
      false);
  ASSERT_EQ(report.code, 0) << report.output;
  json r = json::parse(report.output);
  ASSERT_EQ(r["trials"].size(), 3u);
  EXPECT_EQ(r["epochs_trained"], 6);
  EXPECT_EQ(r["metric"], "val_accuracy");
  EXPECT_FALSE(r["best"].is_null());
  EXPECT_EQ(r["parameters"].size(), 2u);
  for (const char* f :
       {"report.json", "best_config.json", "parallel_coordinates.png", "metric_vs_trial.png"})
    EXPECT_TRUE(fs::exists(dir / "report" / f)) << f;
  // The best config is ready to train: it validates and carries the best trial's parameters.
  json best = garbage::load_json_file(dir / "report" / "best_config.json");
  EXPECT_NO_THROW(garbage::config::resolve_train_document(best, "best"));
  EXPECT_EQ(best["model"]["num_dense"], r["best"]["params"]["num_dense"]);

  // Running it again continues the finished sweep: nothing left to do.
  auto again = run_garbage("sweep --config " + (dir / "sweep.json").string() + " --name tiny " +
                           storage + " --out " + (dir / "runs").string());
  EXPECT_EQ(again.code, 0) << again.output;
  EXPECT_NE(again.output.find("ran 0 trial"), std::string::npos) << again.output;

  // The same name with another space is refused.
  doc["parameters"]["num_dense"]["values"] = {8, 32};
  std::ofstream(dir / "other.json") << doc.dump(2);
  auto clash =
      run_garbage("sweep --config " + (dir / "other.json").string() + " --name tiny " + storage);
  EXPECT_EQ(clash.code, 2) << clash.output;
  EXPECT_NE(clash.output.find("/parameters/num_dense"), std::string::npos) << clash.output;
}

TEST(SweepCli, UsageAndConfigErrorsExitTwo) {
  TempDir dir("sweep-cli");
  EXPECT_EQ(run_garbage("sweep --help").code, 0);
  EXPECT_EQ(run_garbage("sweep").code, 2);
  std::ofstream(dir / "bad.json") << R"({"method": "bayes", "metric": {"name": "val_accuracy"},
    "run_cap": 3, "base": {}, "parameters": {"lr": {"distribution": "log_uniform_values",
    "min": 0, "max": 0.1}}})";
  auto r = run_garbage("sweep --config " + (dir / "bad.json").string() + " --storage sqlite:///" +
                       (dir / "s.db").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("parameters.lr.min"), std::string::npos) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  auto missing =
      run_garbage("sweep --name nope --worker --storage sqlite:///" + (dir / "s.db").string());
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.output.find("no sweep named nope"), std::string::npos) << missing.output;
  EXPECT_EQ(
      run_garbage("sweep report --name nope --storage sqlite:///" + (dir / "s.db").string()).code,
      2);
}
