// Sweep files as the cloud sweep services document them: YAML with comments, `program` and
// `command` (ignored), `values` lists, log_uniform_values and exponent-bound log_uniform,
// hyperband with min_iter, and no `base` (given with --base).

#include <cmath>
#include <fstream>

#include <gtest/gtest.h>

#include "../support/run_cli.hpp"
#include "../support/train_fixture.hpp"
#include "garbage/core/config_file.hpp"
#include "garbage/sweep/sweep_file.hpp"

namespace garbage::sweep {
namespace {

namespace fs = std::filesystem;
using testing::run_garbage;
using testing::TempDir;

const char* kSweepYaml = R"(# sweep.yaml, as the services' docs write it
program: train.py
command:
  - ${env}
  - python
  - ${program}
method: bayes
metric:
  name: val_accuracy
  goal: maximize
parameters:
  lr:
    distribution: log_uniform   # bounds are exponents: e^-9.21 .. e^-4.61
    min: -9.21
    max: -4.61
  weight_decay:
    distribution: log_uniform_values
    min: 0.00001
    max: 0.01
  batch_size:
    values: [16, 32, 64]
  optimizer:
    values: ["adam", "sgd"]
early_terminate:
  type: hyperband
  min_iter: 3
run_cap: 4
)";

TEST(YamlSweep, CloudStyleFileParsesWithABaseFromTheCommandLine) {
  TempDir dir("yaml-sweep");
  ParseOptions options;
  options.base_file = fs::path(GARBAGE_SOURCE_DIR) / "configs" / "simple_cnn.json";
  auto sweep = parse_sweep_config(yaml_to_json(kSweepYaml, "sweep.yaml"), "sweep.yaml", options);
  ASSERT_EQ(sweep.parameters.size(), 4u);
  std::map<std::string, const Parameter*> by_name;
  for (const auto& p : sweep.parameters) by_name[p.name] = &p;
  EXPECT_EQ(by_name.at("lr")->path, "train.optimizer.lr");
  EXPECT_EQ(by_name.at("lr")->distribution, Distribution::log_uniform_values);
  EXPECT_NEAR(by_name.at("lr")->min, std::exp(-9.21), 1e-12);
  EXPECT_NEAR(by_name.at("lr")->max, std::exp(-4.61), 1e-12);
  EXPECT_EQ(by_name.at("optimizer")->path, "train.optimizer.name");
  EXPECT_EQ(by_name.at("batch_size")->values.size(), 3u);
  EXPECT_EQ(sweep.run_cap, 4);
  EXPECT_EQ(sweep.base["name"], "simple_cnn");
  EXPECT_THROW(parse_sweep_config(yaml_to_json(kSweepYaml, "sweep.yaml"), "sweep.yaml"),
               ConfigError);  // no base anywhere
}

TEST(YamlSweep, CliTakesYamlAndNamesTheLineOfAnError) {
  TempDir dir("yaml-sweep-cli");
  testing::write_synthetic_dataset(dir / "data", 3, 8, 64);
  std::ofstream(dir / "base.json") << testing::tiny_train_document(dir / "data", 1).dump(2);
  std::ofstream(dir / "sweep.yaml") << kSweepYaml;
  const std::string storage = " --storage sqlite:///" + (dir / "s.db").string();
  auto ok = run_garbage("sweep --config " + (dir / "sweep.yaml").string() + " --base " +
                        (dir / "base.json").string() + " --name y --create-only" + storage);
  EXPECT_EQ(ok.code, 0) << ok.output;

  std::string typo = kSweepYaml;
  typo.replace(typo.find("goal: maximize"), 14, "gaol: maximize");
  std::ofstream(dir / "typo.yaml") << typo;
  auto bad = run_garbage("sweep --config " + (dir / "typo.yaml").string() + " --base " +
                         (dir / "base.json").string() + " --name t --create-only" + storage);
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_NE(bad.output.find("typo.yaml:10: metric.gaol"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace garbage::sweep
