// Sweep files: the shipped config, parameter name resolution, every schema error, encoding.

#include <gtest/gtest.h>

#include "garbage/core/errors.hpp"
#include "garbage/core/json_io.hpp"
#include "garbage/sweep/space.hpp"
#include "sweep_fixture.hpp"

using garbage::ConfigError;
using garbage::testing::parse_sweep;
using garbage::testing::sweep_document;
using nlohmann::json;
namespace sweep = garbage::sweep;

namespace {

json lr_param() {
  return {{"lr", {{"distribution", "log_uniform_values"}, {"min", 1e-4}, {"max", 1e-2}}}};
}

/// Expects a ConfigError whose message contains every fragment.
void expect_error(const json& doc, std::vector<std::string> fragments) {
  try {
    parse_sweep(doc);
    ADD_FAILURE() << "no error for " << doc.dump();
  } catch (const ConfigError& e) {
    std::string what = e.what();
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    for (const auto& f : fragments)
      EXPECT_NE(what.find(f), std::string::npos) << what << " / " << f;
  }
}

}  // namespace

TEST(SweepConfig, ShippedConfigParsesWithTheSeedSpace) {
  auto path = std::string(GARBAGE_SOURCE_DIR) + "/configs/sweep_simple_cnn.json";
  auto s = sweep::parse_sweep_config(garbage::load_json_file(path), path);
  EXPECT_EQ(s.method, sweep::Method::bayes);
  EXPECT_EQ(s.metric, "val_accuracy");
  EXPECT_EQ(s.goal, sweep::Goal::maximize);
  EXPECT_EQ(s.run_cap, 50);
  EXPECT_EQ(s.epochs(), 20);
  ASSERT_EQ(s.parameters.size(), 11u);
  std::map<std::string, std::string> paths;
  for (const auto& p : s.parameters) paths[p.name] = p.path;
  EXPECT_EQ(paths["lr"], "train.optimizer.lr");
  EXPECT_EQ(paths["batch_size"], "train.batch_size");
  EXPECT_EQ(paths["augmentation"], "augment.enabled");
  EXPECT_EQ(paths["base_features"], "model.base_features");
  EXPECT_EQ(paths["conv_activation"], "model.conv_activation");
  EXPECT_EQ(s.early_terminate.brackets(20), (std::vector<int64_t>{5, 15}));
  // The base is the seed's training recipe (Adam 1e-4, batch 32, 20 epochs): the sweep searches
  // the seed's space under the seed's conditions, on configs/simple_cnn.json's architecture.
  auto simple = garbage::config::resolve_train_document(
      garbage::load_json_file(std::string(GARBAGE_SOURCE_DIR) + "/configs/simple_cnn.json"), "x");
  EXPECT_EQ(s.base["model"], simple["model"]);
  EXPECT_EQ(s.base["train"]["optimizer"]["name"], "adam");
  EXPECT_DOUBLE_EQ(s.base["train"]["optimizer"]["lr"].get<double>(), 1e-4);
  EXPECT_EQ(s.base["train"]["batch_size"], 32);
  EXPECT_EQ(s.base["train"]["epochs"], 20);
  // Every assignment it can draw is a valid train config.
  std::mt19937_64 rng(1);
  for (int i = 0; i < 20; ++i)
    EXPECT_NO_THROW(sweep::apply_params(s, sweep::sample_params(s, rng)));
}

TEST(SweepConfig, OverridesAndMaxEpochsApplyToTheBase) {
  auto path = std::string(GARBAGE_SOURCE_DIR) + "/configs/sweep_simple_cnn.json";
  sweep::ParseOptions o;
  o.overrides = {"data.subset=0.3", "model.img_size=32", "preprocess.resize=32"};
  o.max_epochs = 9;
  auto s = sweep::parse_sweep_config(garbage::load_json_file(path), path, o);
  EXPECT_EQ(s.epochs(), 9);
  EXPECT_DOUBLE_EQ(s.base["data"]["subset"].get<double>(), 0.3);
  EXPECT_EQ(s.base["model"]["img_size"], 32);
  // The stored document re-parses to the same sweep without the options.
  auto again = sweep::parse_sweep_config(s.document, "stored");
  EXPECT_EQ(again.base, s.base);
  EXPECT_EQ(again.document, s.document);
}

TEST(SweepConfig, ParameterNamesResolveFlatDottedAndAliased) {
  json base = garbage::testing::tiny_train_document("/x");
  EXPECT_EQ(sweep::resolve_parameter_path(base, "lr", "s"), "train.optimizer.lr");
  EXPECT_EQ(sweep::resolve_parameter_path(base, "optimizer.lr", "s"), "train.optimizer.lr");
  EXPECT_EQ(sweep::resolve_parameter_path(base, "model.base_features", "s"), "model.base_features");
  EXPECT_EQ(sweep::resolve_parameter_path(base, "augmentation", "s"), "augment.enabled");
  try {
    sweep::resolve_parameter_path(base, "name", "s");
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("ambiguous"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("model.name"), std::string::npos) << e.what();
  }
  EXPECT_THROW(sweep::resolve_parameter_path(base, "learnin_rate_x", "s"), ConfigError);
}

TEST(SweepConfig, EverySchemaErrorNamesItsJsonPath) {
  auto doc = [] { return sweep_document("bayes", lr_param(), 5); };
  auto with = [&](const std::string& ptr, const json& v) {
    json d = doc();
    d[json::json_pointer(ptr)] = v;
    return d;
  };
  auto without = [&](const std::string& key) {
    json d = doc();
    d.erase(key);
    return d;
  };
  expect_error(json::array(), {"(top level)"});
  expect_error(with("/methd", "bayes"), {"methd", "unknown key", "did you mean \"method\""});
  expect_error(without("method"), {"method", "required"});
  expect_error(with("/method", "bayesian"), {"method", "\"bayesian\"", "did you mean \"bayes\""});
  expect_error(without("metric"), {"metric", "required"});
  expect_error(with("/metric", "val_accuracy"), {"metric", "expected an object"});
  expect_error(with("/metric/name", "val_acuracy"),
               {"metric.name", "did you mean \"val_accuracy\""});
  expect_error(with("/metric/goal", "max"), {"metric.goal", "minimize | maximize"});
  expect_error(with("/metric/gaol", "maximize"), {"metric.gaol", "unknown key"});
  expect_error(without("parameters"), {"parameters", "required"});
  expect_error(with("/parameters", json::object()), {"parameters", "non-empty"});
  expect_error(with("/parameters/lr", 0.1), {"parameters.lr", "expected an object"});
  expect_error(with("/parameters/lr/mx", 1), {"parameters.lr.mx", "unknown key"});
  expect_error(with("/parameters/lr/distribution", "q_log_uniform_values"),
               {"parameters.lr.distribution", "not supported"});
  expect_error(with("/parameters/lr/distribution", "unifrom"),
               {"parameters.lr.distribution", "did you mean \"uniform\""});
  expect_error(with("/parameters/lr/min", 0), {"parameters.lr.min", "positive"});
  expect_error(with("/parameters/lr/min", 0.1), {"parameters.lr", "min must be below max"});
  expect_error(with("/parameters/lr/min", "small"),
               {"parameters.lr.min", "expected a finite number"});
  expect_error(with("/parameters/lr/values", json::array({1})),
               {"parameters.lr.values", "not used"});
  expect_error(with("/parameters/lr/max", 20.0),
               {"parameters.lr.max", "train.optimizer.lr", "out of range"});
  expect_error(with("/parameters/dropout", {{"values", json::array()}}),
               {"parameters.dropout.values", "non-empty"});
  expect_error(with("/parameters/dropout", {{"values", {0.1, 0.1}}}),
               {"parameters.dropout.values[1]", "duplicate"});
  expect_error(with("/parameters/dropout", {{"values", {0.1, 2.0}}}),
               {"parameters.dropout.values[1]", "model.dropout"});
  expect_error(with("/parameters/dropout", {{"value", "high"}}),
               {"parameters.dropout.value", "expected a number"});
  expect_error(
      with("/parameters/num_dense", {{"distribution", "int_uniform"}, {"min", 8.5}, {"max", 9}}),
      {"parameters.num_dense.min", "expected an integer"});
  expect_error(
      with("/parameters/num_dense", {{"distribution", "uniform"}, {"min", 8.5}, {"max", 64}}),
      {"parameters.num_dense.min", "model.num_dense", "integer"});
  expect_error(with("/parameters/dropout",
                    {{"distribution", "q_uniform"}, {"min", 0.1}, {"max", 0.5}, {"q", 0}}),
               {"parameters.dropout.q", "positive"});
  expect_error(
      with("/parameters/dropout", {{"distribution", "normal"}, {"mu", 0.2}, {"sigma", -1}}),
      {"parameters.dropout.sigma", "positive"});
  expect_error(with("/parameters/dropout", {{"q", 1}}), {"parameters.dropout", "needs `value`"});
  expect_error(with("/parameters/nonsense", {{"value", 1}}), {"parameters.nonsense", "not a key"});
  expect_error(with("/parameters/name", {{"value", "x"}}), {"parameters.name", "ambiguous"});
  expect_error(with("/parameters/train.optimizer.lr", {{"value", 0.1}}),
               {"parameters.train.optimizer.lr", "like parameters.lr"});
  expect_error(with("/parameters/dropout", {{"parameters", json::object()}}), {"nested"});
  expect_error(with("/early_terminate", {{"type", "asha"}, {"min_iter", 3}}),
               {"early_terminate.type", "hyperband"});
  expect_error(with("/early_terminate", {{"type", "hyperband"}}), {"early_terminate", "min_iter"});
  expect_error(with("/early_terminate", {{"type", "hyperband"}, {"min_iter", 0}}),
               {"early_terminate.min_iter", "at least 1"});
  expect_error(with("/early_terminate", {{"type", "hyperband"}, {"min_iter", 3}, {"eta", 1}}),
               {"early_terminate.eta", "greater than 1"});
  expect_error(with("/early_terminate", {{"type", "hyperband"}, {"min_iter", 3}, {"max_iter", 2}}),
               {"early_terminate.max_iter", "above min_iter"});
  expect_error(with("/early_terminate", {{"type", "hyperband"}, {"min_iter", 3}, {"strict", true}}),
               {"early_terminate.strict", "unknown key"});
  expect_error(without("run_cap"), {"run_cap", "required for method bayes"});
  expect_error(with("/run_cap", 0), {"run_cap", "at least 1"});
  expect_error(with("/run_cap", 2.5), {"run_cap", "integer"});
  expect_error(without("base"), {"base", "required"});
  expect_error(with("/base", 3), {"base", "expected a train config"});
  expect_error(with("/base/train/optimizer/name", "adma"),
               {"base", "train.optimizer.name", "did you mean \"adam\""});
  expect_error(with("/method", "grid"), {"parameters.lr", "grid search needs discrete values"});
  expect_error(with("/seed", -1), {"seed", "at least 0"});
}

TEST(SweepConfig, CloudOnlyKeysAreAcceptedAndDistributionsInferred) {
  json d = sweep_document("random",
                          {{"lr", {{"min", 1e-4}, {"max", 1e-2}}},
                           {"num_dense", {{"min", 8}, {"max", 64}}},
                           {"dropout", {{"value", 0.3}}},
                           {"conv_activation", {{"values", {"relu", "mish"}}}}},
                          4);
  d["program"] = "train.py";
  d["project"] = "trashnet";
  auto s = parse_sweep(d);
  std::map<std::string, sweep::Distribution> dist;
  for (const auto& p : s.parameters) dist[p.name] = p.distribution;
  EXPECT_EQ(dist["lr"], sweep::Distribution::uniform);
  EXPECT_EQ(dist["num_dense"], sweep::Distribution::int_uniform);
  EXPECT_EQ(dist["dropout"], sweep::Distribution::constant);
  EXPECT_EQ(dist["conv_activation"], sweep::Distribution::categorical);
  EXPECT_EQ(s.dims(), 1 + 1 + 0 + 2);  // one-hot activation
}

TEST(SweepConfig, EncodeDecodeRoundTripsAndRespectsTypes) {
  auto s = parse_sweep(sweep_document(
      "bayes",
      {{"lr", {{"distribution", "log_uniform_values"}, {"min", 1e-4}, {"max", 1e-2}}},
       {"num_dense", {{"distribution", "int_uniform"}, {"min", 8}, {"max", 64}}},
       {"dropout", {{"distribution", "q_uniform"}, {"min", 0.1}, {"max", 0.5}, {"q", 0.1}}},
       {"base_features", {{"values", {16, 4, 8}}}},
       {"conv_activation", {{"values", {"relu", "gelu", "mish"}}}},
       {"batchnorm", {{"values", {true, false}}}}},
      10));
  EXPECT_EQ(s.dims(), 1 + 1 + 1 + 1 + 3 + 1);
  std::mt19937_64 rng(3);
  for (int i = 0; i < 50; ++i) {
    json p = sweep::sample_params(s, rng);
    EXPECT_TRUE(p["num_dense"].is_number_integer());
    double q = p["dropout"].get<double>() / 0.1;
    EXPECT_NEAR(q, std::round(q), 1e-9);
    auto x = sweep::encode_params(s, p);
    for (double v : x) EXPECT_TRUE(v >= 0 && v <= 1) << v;
    json back = sweep::decode_params(s, x);
    EXPECT_NEAR(back["lr"].get<double>(), p["lr"].get<double>(), 1e-12);
    EXPECT_EQ(back["num_dense"], p["num_dense"]);
    EXPECT_EQ(back["base_features"], p["base_features"]);
    EXPECT_EQ(back["conv_activation"], p["conv_activation"]);
    EXPECT_EQ(back["batchnorm"], p["batchnorm"]);
  }
  // Log scale: the geometric middle encodes to 0.5; ordinal choices encode by rank.
  json mid = {{"lr", 1e-3},
              {"num_dense", 8},
              {"dropout", 0.1},
              {"base_features", 8},
              {"conv_activation", "gelu"},
              {"batchnorm", true}};
  // Parameters are ordered by name: base_features, batchnorm, conv_activation (3 one-hot),
  // dropout, lr, num_dense.
  auto x = sweep::encode_params(s, mid);
  const std::vector<double> expected = {0.5, 1, 0, 1, 0, 0, 0.5, 0};  // 8: middle of {4, 8, 16}
  ASSERT_EQ(x.size(), expected.size());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(x[i], expected[i], 1e-12) << i;
}

TEST(SweepConfig, GridEnumeratesDiscreteParameters) {
  auto s = parse_sweep(
      sweep_document("grid",
                     {{"num_dense", {{"distribution", "int_uniform"}, {"min", 8}, {"max", 10}}},
                      {"conv_activation", {{"values", {"relu", "mish"}}}},
                      {"dropout", {{"value", 0.2}}}},
                     100));
  auto points = sweep::grid_points(s);
  ASSERT_EQ(points.size(), 6u);
  EXPECT_EQ(points[0], (json{{"num_dense", 8}, {"conv_activation", "relu"}, {"dropout", 0.2}}));
  json d = sweep_document("grid", {{"conv_activation", {{"values", {"relu", "mish"}}}}}, 1);
  d.erase("run_cap");
  EXPECT_EQ(parse_sweep(d).run_cap, 2);
}

TEST(SweepConfig, HyperbandBrackets) {
  sweep::HyperbandConfig h;
  h.enabled = true;
  h.min_iter = 5;
  EXPECT_EQ(h.brackets(20), (std::vector<int64_t>{5, 15}));
  EXPECT_EQ(h.brackets(50), (std::vector<int64_t>{5, 15, 45}));
  EXPECT_EQ(h.brackets(5), (std::vector<int64_t>{}));
  h.s = 1;
  EXPECT_EQ(h.brackets(50), (std::vector<int64_t>{5}));
  h.s.reset();
  h.max_iter = 27;
  h.min_iter = 1;
  EXPECT_EQ(h.brackets(100), (std::vector<int64_t>{1, 3, 9}));
  h.min_iter = 0;
  h.s = 2;  // max_iter 27, s 2: brackets at 27/9 and 27/3
  EXPECT_EQ(h.brackets(100), (std::vector<int64_t>{3, 9}));
}
