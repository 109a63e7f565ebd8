#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include <gtest/gtest.h>

#include "../support/synthetic_data.hpp"
#include "garbage/config/train_config.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/core/json_io.hpp"
#include "garbage/core/schema.hpp"

using garbage::ConfigError;
using garbage::config::resolve_train_document;
using nlohmann::json;

namespace {
// The error message of resolving `user`, or "" when it resolves.
std::string error_of(const json& user) {
  try {
    resolve_train_document(user, "cfg.json");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(TrainConfig, ShippedSimpleCnnConfigIsTheSeedArchitectureWithTheResultsRecipe) {
  auto cfg = garbage::config::load_train_config(GARBAGE_SOURCE_DIR "/configs/simple_cnn.json");
  // The seed's architecture (547,334 parameters at 128 px) ...
  EXPECT_EQ(cfg.model["name"], "simple_cnn");
  EXPECT_EQ(cfg.model["base_features"], 64);
  EXPECT_EQ(cfg.model["num_conv_layers"], 5);
  EXPECT_EQ(cfg.model["filter_size"], 5);
  EXPECT_EQ(cfg.model["conv_activation"], "mish");
  EXPECT_EQ(cfg.model["num_dense"], 128);
  EXPECT_EQ(cfg.transform.resize.output_size(), 128);
  // ... with the recipe of docs/results.md (sweep_simple_cnn_recipe's best trial, 50 epochs).
  EXPECT_EQ(cfg.optimizer.name, "adamw");
  EXPECT_DOUBLE_EQ(cfg.optimizer.lr, 6.319e-4);
  EXPECT_TRUE(cfg.optimizer.no_decay_norm_bias);
  EXPECT_EQ(cfg.scheduler.name, "onecycle");
  EXPECT_EQ(cfg.batch_size, 16);
  EXPECT_EQ(cfg.epochs, 50);
  EXPECT_EQ(cfg.early_stopping.patience, 0);
  EXPECT_TRUE(cfg.transform.augment.enabled);
  EXPECT_FALSE(cfg.transform.augment.trivial_augment);
  EXPECT_GT(cfg.ema.decay, 0.0);
}

TEST(TrainConfig, EveryShippedTrainConfigLoads) {
  int loaded = 0;
  for (const auto& entry : std::filesystem::directory_iterator(GARBAGE_SOURCE_DIR "/configs")) {
    const auto file = entry.path().filename().string();
    if (entry.path().extension() != ".json" || file.rfind("sweep_", 0) == 0) continue;
    EXPECT_NO_THROW(garbage::config::load_train_config(entry.path())) << file;
    ++loaded;
  }
  EXPECT_GE(loaded, 5);
}

TEST(TrainConfig, ScratchRecipesUseNoPretrainedWeightsAndLiveBatchNormStatistics) {
  for (const char* name : {"resnet18_scratch", "mobilenet_v3_small_scratch"}) {
    auto cfg = garbage::config::load_train_config(std::string(GARBAGE_SOURCE_DIR "/configs/") +
                                                  name + ".json");
    EXPECT_FALSE(cfg.model.value("pretrained", true)) << name;
    // torchvision's MobileNetV3 momentum (0.01) lets the running statistics lag the weights
    // over a short from-scratch run (test accuracy collapsed to 25 %).
    EXPECT_DOUBLE_EQ(cfg.model.value("bn_momentum", 0.0), 0.1) << name;
    EXPECT_GT(cfg.test_crop, cfg.transform.resize.output_size()) << name << ": FixRes";
  }
}

TEST(TrainConfig, UnknownKeyNamesThePathAndTheNearestKey) {
  auto msg = error_of({{"train", {{"optimizer", {{"lrr", 0.1}}}}}});
  EXPECT_NE(msg.find("cfg.json: train.optimizer.lrr: unknown key"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean \"train.optimizer.lr\""), std::string::npos) << msg;
}

TEST(TrainConfig, UnknownModelKeyIsReportedUnderModel) {
  auto msg = error_of({{"model", {{"base_featurs", 32}}}});
  EXPECT_NE(msg.find("model.base_featurs: unknown key"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.base_features"), std::string::npos) << msg;
}

TEST(TrainConfig, WrongTypeIsRejected) {
  EXPECT_NE(
      error_of({{"train", {{"batch_size", "32"}}}}).find("train.batch_size: expected an integer"),
      std::string::npos);
  EXPECT_NE(error_of({{"train", {{"batch_size", 2.5}}}}).find("train.batch_size"),
            std::string::npos);
  EXPECT_NE(error_of({{"augment", {{"enabled", 1}}}}).find("augment.enabled: expected a boolean"),
            std::string::npos);
  EXPECT_NE(error_of({{"model", {{"batchnorm", "yes"}}}}).find("model.batchnorm"),
            std::string::npos);
  EXPECT_NE(error_of(json::array()).find("object"), std::string::npos);
}

TEST(TrainConfig, OutOfRangeAndBadChoicesAreRejected) {
  EXPECT_NE(error_of({{"train", {{"optimizer", {{"lr", -1}}}}}})
                .find("train.optimizer.lr: -1 is out of range"),
            std::string::npos);
  EXPECT_NE(error_of({{"model", {{"dropout", 1.5}}}}).find("model.dropout"), std::string::npos);
  auto msg = error_of({{"model", {{"strategy", "doubled"}}}});
  EXPECT_NE(msg.find("model.strategy: \"doubled\" is not one of same | doubling | halving"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("did you mean \"doubling\""), std::string::npos) << msg;
  EXPECT_NE(error_of({{"model", {{"name", "resnet9000"}}}}).find("model.name: unknown model"),
            std::string::npos);
  EXPECT_NE(error_of({{"preprocess", {{"resize", 64}}}}).find("model.img_size is 128"),
            std::string::npos);
}

TEST(TrainConfig, IntegerIsAcceptedWhereANumberIsExpected) {
  EXPECT_EQ(error_of({{"train", {{"optimizer", {{"lr", 1}}}}}}), "");
  auto doc = resolve_train_document({{"train", {{"epochs", 3.0}}}}, "cfg");
  EXPECT_TRUE(doc["train"]["epochs"].is_number_integer());
}

TEST(TrainConfig, OverridesParseJsonOrFallBackToStrings) {
  json cfg = json::object();
  garbage::apply_override(cfg, "train.optimizer.lr=0.01");
  garbage::apply_override(cfg, "train.optimizer.name=sgd");
  garbage::apply_override(cfg, "augment.enabled=false");
  EXPECT_DOUBLE_EQ(cfg["train"]["optimizer"]["lr"].get<double>(), 0.01);
  EXPECT_EQ(cfg["train"]["optimizer"]["name"], "sgd");
  EXPECT_EQ(cfg["augment"]["enabled"], false);
  EXPECT_THROW(garbage::apply_override(cfg, "no-equals-sign"), ConfigError);
  EXPECT_THROW(garbage::apply_override(cfg, "train.epochs=1e999"), ConfigError);  // > DBL_MAX
  EXPECT_EQ(resolve_train_document(cfg, "cfg")["train"]["optimizer"]["name"], "sgd");
}

TEST(TrainConfig, JsonWithCommentsLoadsAndMalformedJsonNamesTheFile) {
  garbage::testing::TempDir dir("config");
  {
    std::ofstream(dir / "ok.json") << "// comment\n{\"seed\": 3 /* inline */}\n";
    std::ofstream(dir / "bad.json") << "{\"seed\": 3,,}\n";
    std::ofstream(dir / "huge.json") << "{\"seed\": 1e999}\n";  // found by fuzz_train_config
  }
  EXPECT_EQ(garbage::load_json_file(dir / "ok.json")["seed"], 3);
  try {
    garbage::load_json_file(dir / "bad.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos);
  }
  EXPECT_THROW(garbage::load_json_file(dir / "missing.json"), ConfigError);
  try {
    garbage::load_json_file(dir / "huge.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("huge.json: invalid JSON"), std::string::npos) << e.what();
  }
}

TEST(TrainConfig, DataRootPrecedence) {
  using garbage::config::resolve_data_root;
  ::setenv("GARBAGE_DATA", "/from/env", 1);
  EXPECT_EQ(resolve_data_root(std::string("/cli"), "/config"), "/cli");
  EXPECT_EQ(resolve_data_root(std::nullopt, "/config"), "/config");
  EXPECT_EQ(resolve_data_root(std::nullopt, ""), "/from/env");
  ::unsetenv("GARBAGE_DATA");
  EXPECT_EQ(resolve_data_root(std::nullopt, ""), "data/trashnet");
}

// Every field is declared once in the table: the defaults document holds exactly the table's
// paths, and a document survives document -> typed config -> document.
TEST(TrainConfig, FieldTableCoversTheDefaultDocument) {
  auto defaults = garbage::config::default_train_document();
  auto flat = defaults.flatten();
  std::set<std::string> documented;
  for (const auto& [pointer, value] : flat.items())
    if (pointer.rfind("/model/", 0) != 0) documented.insert(pointer);
  std::set<std::string> table;
  for (const auto& path : garbage::config::field_paths()) {
    std::string pointer;
    for (const auto& part : garbage::split_path(path)) pointer += "/" + part;
    // Arrays flatten to one pointer per element.
    if (defaults.at(json::json_pointer(pointer)).is_array()) {
      for (size_t i = 0; i < defaults.at(json::json_pointer(pointer)).size(); ++i)
        table.insert(pointer + "/" + std::to_string(i));
    } else {
      table.insert(pointer);
    }
  }
  EXPECT_EQ(table, documented);
}

TEST(TrainConfig, TypedConfigRoundTripsThroughJson) {
  json user = {{"name", "round"},
               {"seed", 7},
               {"data", {{"on_bad_file", "error"}, {"subset", 0.5}, {"workers", 3}}},
               {"preprocess", {{"resize", 144}, {"resize_mode", "shorter"}, {"crop", 128}}},
               {"augment", {{"enabled", false}, {"rotate_deg", 7.5}}},
               {"train",
                {{"epochs", 3},
                 {"optimizer", {{"name", "sgd"}, {"nesterov", true}, {"lr", 0.05}}},
                 {"scheduler", {{"name", "cosine"}, {"warmup_epochs", 1}}},
                 {"early_stopping", {{"metric", "val_loss"}}}}}};
  auto doc = resolve_train_document(user, "cfg");
  auto cfg = garbage::config::make_train_config(doc);
  EXPECT_EQ(cfg.dataset.on_bad_file, garbage::data::BadFilePolicy::error);
  EXPECT_EQ(cfg.transform.resize.mode, garbage::data::ResizeSpec::Mode::shorter);
  EXPECT_EQ(cfg.transform.resize.size, 144);
  EXPECT_EQ(cfg.transform.resize.crop, 128);
  EXPECT_TRUE(cfg.optimizer.nesterov);
  EXPECT_DOUBLE_EQ(cfg.transform.augment.rotate_deg, 7.5);
  auto written = garbage::config::to_document(cfg);
  EXPECT_EQ(written["data"]["on_bad_file"], "error");
  EXPECT_EQ(written["preprocess"]["resize_mode"], "shorter");
  EXPECT_EQ(written["train"]["optimizer"]["lr"], 0.05);
  // Mean/std are float32 in the typed config: compare after one more round.
  auto again = garbage::config::make_train_config(resolve_train_document(written, "written"));
  EXPECT_EQ(garbage::config::to_document(again), written);
}
