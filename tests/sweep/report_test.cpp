// Sweep reports: ranking, best config, correlation and random-forest importance, figures.

#include <gtest/gtest.h>

#include "garbage/sweep/forest.hpp"
#include "garbage/sweep/report.hpp"
#include "garbage/sweep/runner.hpp"
#include "sweep_fixture.hpp"

namespace sweep = garbage::sweep;
using nlohmann::json;

TEST(SweepReport, ForestImportanceFindsTheRelevantColumn) {
  std::mt19937_64 rng(2);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<std::vector<double>> x;
  std::vector<double> y;
  for (int i = 0; i < 60; ++i) {
    x.push_back({u(rng), u(rng), u(rng)});
    y.push_back(3 * x.back()[1] + 1.0 * x.back()[2]);
  }
  auto imp = sweep::forest_importance(x, y);
  EXPECT_NEAR(imp[0] + imp[1] + imp[2], 1.0, 1e-9);
  EXPECT_GT(imp[1], 0.7);
  EXPECT_GT(imp[2], imp[0]);
  EXPECT_NEAR(sweep::pearson({1, 2, 3}, {2, 4, 6.5}), 1.0, 0.01);
  EXPECT_TRUE(std::isnan(sweep::pearson({1, 1, 1}, {1, 2, 3})));
}

TEST(SweepReport, RanksTrialsAndExplainsParameters) {
  garbage::testing::TempDir dir("report");
  json space = {{"lr", {{"distribution", "log_uniform_values"}, {"min", 1e-4}, {"max", 1e-1}}},
                {"dropout", {{"distribution", "uniform"}, {"min", 0.0}, {"max", 0.5}}},
                {"conv_activation", {{"values", {"relu", "mish"}}}}};
  auto config =
      garbage::testing::parse_sweep(garbage::testing::sweep_document("random", space, 24));
  auto storage = sweep::open_storage("sqlite:///" + (dir / "s.db").string());
  storage->create_sweep("r", config.document);
  sweep::RunOptions options;
  options.name = "r";
  options.out_root = dir / "runs";
  // Accuracy falls with log lr, mish helps a little, dropout does nothing.
  sweep::run_sweep(*storage, config, options,
                   garbage::testing::curve_trial([](const json& p, int64_t e) {
                     double q = 0.5 - 0.1 * std::log10(p["lr"].get<double>()) +
                                (p["conv_activation"] == "mish" ? 0.02 : 0.0);
                     return q * (1 - std::pow(0.5, static_cast<double>(e)));
                   }));
  auto trials = storage->trials("r");
  auto report = sweep::build_report("r", config, trials);
  ASSERT_EQ(report.data["trials"].size(), 24u);
  double previous = 2;
  for (const auto& t : report.data["trials"]) {
    EXPECT_LE(t["value"].get<double>(), previous);
    previous = t["value"].get<double>();
  }
  ASSERT_EQ(report.parameters.size(), 3u);
  EXPECT_EQ(report.parameters[0].name, "lr");  // ranked by importance
  EXPECT_LT(report.parameters[0].correlations[0].second, -0.9);
  ASSERT_TRUE(report.best_config);
  EXPECT_EQ((*report.best_config)["train"]["optimizer"]["lr"], report.data["best"]["params"]["lr"]);
  EXPECT_NE(report.text.find("importance"), std::string::npos);
  sweep::write_report_files(report, config, trials, dir / "out");
  for (const char* f :
       {"report.json", "best_config.json", "parallel_coordinates.png", "metric_vs_trial.png"})
    EXPECT_TRUE(std::filesystem::exists(dir / "out" / f)) << f;
}
