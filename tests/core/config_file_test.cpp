// YAML config files: typed like YAML's core schema, validated exactly like JSON, and errors name
// the line.

#include <fstream>

#include <gtest/gtest.h>

#include "../support/synthetic_data.hpp"
#include "garbage/config/train_config.hpp"
#include "garbage/core/config_file.hpp"

namespace garbage {
namespace {

using nlohmann::json;

std::string error_of(const std::filesystem::path& path) {
  try {
    config::load_train_config(path);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ConfigFile, YamlScalarsAreTypedByTheirSpelling) {
  auto j = yaml_to_json(R"(# comment
int: 3
float: 1e-3
neg: -0.5
yes_bool: true
quoted: "3"
single: '1e-3'
word: sgd
nothing: ~
list: [16, 32, "64"]
nested:
  key: value   # trailing comment
)",
                        "t.yaml");
  EXPECT_EQ(j["int"], 3);
  EXPECT_TRUE(j["int"].is_number_integer());
  EXPECT_DOUBLE_EQ(j["float"].get<double>(), 1e-3);
  EXPECT_DOUBLE_EQ(j["neg"].get<double>(), -0.5);
  EXPECT_EQ(j["yes_bool"], true);
  EXPECT_EQ(j["quoted"], "3");
  EXPECT_EQ(j["single"], "1e-3");
  EXPECT_EQ(j["word"], "sgd");
  EXPECT_TRUE(j["nothing"].is_null());
  EXPECT_EQ(j["list"], json({16, 32, "64"}));
  EXPECT_EQ(j["nested"]["key"], "value");
}

TEST(ConfigFile, YamlTrainConfigEqualsItsJsonTwinAndErrorsNameTheLine) {
  testing::TempDir dir("yaml");
  std::ofstream(dir / "run.yaml") << "name: yaml_run\n"
                                     "train:\n"
                                     "  epochs: 3\n"
                                     "  optimizer:\n"
                                     "    name: sgd\n"
                                     "    lr: 0.01\n";
  std::ofstream(dir / "run.json")
      << R"({"name": "yaml_run", "train": {"epochs": 3, "optimizer": {"name": "sgd", "lr": 0.01}}})";
  EXPECT_EQ(config::load_train_config(dir / "run.yaml").resolved,
            config::load_train_config(dir / "run.json").resolved);

  std::ofstream(dir / "typo.yaml") << "train:\n  epochs: 3\n  optimizer:\n    lrr: 0.01\n";
  auto typo = error_of(dir / "typo.yaml");
  EXPECT_NE(typo.find("typo.yaml:4: train.optimizer.lrr: unknown key"), std::string::npos) << typo;
  std::ofstream(dir / "range.yml") << "seed: 1\ntrain:\n  epochs: 0\n";
  auto range = error_of(dir / "range.yml");
  EXPECT_NE(range.find("range.yml:3: train.epochs"), std::string::npos) << range;
  std::ofstream(dir / "broken.yaml") << "train:\n  epochs: [3\nseed: 2\n";
  auto broken = error_of(dir / "broken.yaml");
  EXPECT_NE(broken.find("broken.yaml:"), std::string::npos) << broken;
  EXPECT_NE(error_of(dir / "missing.yaml").find("missing.yaml"), std::string::npos);
}

}  // namespace
}  // namespace garbage
