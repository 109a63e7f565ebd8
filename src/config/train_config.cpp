#include "garbage/config/train_config.hpp"

#include <cstdlib>
#include <thread>

#include "garbage/config/schema.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/core/json_io.hpp"
#include "garbage/models/registry.hpp"

namespace garbage::config {
namespace {

json base_defaults() {
  const data::AugmentOptions a;
  const data::Normalize n;
  return {
      {"name", "run"},
      {"seed", 42},
      {"threads", 0},
      {"model", json::object()},
      {"data",
       {{"root", ""},
        {"layout", "auto"},
        {"val_fraction", 0.13},
        {"test_fraction", 0.17},
        {"split_seed", 42},
        {"subset", 1.0},
        {"on_bad_file", "skip"},
        {"workers", 2},
        {"prefetch", 4},
        {"channels_last", true}}},
      {"preprocess",
       {{"resize", 0},
        {"resize_mode", "square"},
        {"crop", 0},
        {"mean", {n.mean[0], n.mean[1], n.mean[2]}},
        {"std", {n.std[0], n.std[1], n.std[2]}}}},
      {"augment",
       {{"enabled", true},
        {"hflip_p", a.hflip_p},
        {"rotate_p", a.rotate_p},
        {"rotate_deg", a.rotate_deg},
        {"affine_p", a.affine_p},
        {"shift", a.shift},
        {"scale", a.scale},
        {"color_p", a.color_p},
        {"brightness", a.brightness},
        {"contrast", a.contrast},
        {"random_resized_crop", a.random_resized_crop},
        {"rrc_min_scale", a.rrc_min_scale}}},
      {"train",
       {{"epochs", 20},
        {"batch_size", 32},
        {"eval_batch_size", 64},
        {"eval_engine", "auto"},
        {"label_smoothing", 0.0},
        {"test_at_end", true},
        {"optimizer",
         {{"name", "adam"},
          {"lr", 1e-4},
          {"momentum", 0.9},
          {"nesterov", false},
          {"weight_decay", 0.0},
          {"beta1", 0.9},
          {"beta2", 0.999}}},
        {"scheduler",
         {{"name", "none"},
          {"step_size", 10},
          {"gamma", 0.1},
          {"min_lr", 0.0},
          {"warmup_epochs", 0}}},
        {"early_stopping", {{"metric", "val_accuracy"}, {"patience", 5}, {"min_delta", 0.0}}}}}};
}

Rules base_rules() {
  return {
      {"seed", Rule::at_least(0)},
      {"threads", Rule::range(0, 1024)},
      {"data.layout", Rule::one_of({"auto", "trashnet", "folder"})},
      {"data.val_fraction", Rule::range(0, 0.9)},
      {"data.test_fraction", Rule::range(0, 0.9)},
      {"data.split_seed", Rule::at_least(0)},
      {"data.subset", Rule::positive(1.0)},
      {"data.on_bad_file", Rule::one_of({"skip", "error"})},
      {"data.workers", Rule::range(1, 64)},
      {"data.prefetch", Rule::range(1, 256)},
      {"preprocess.resize", Rule::range(0, 4096)},
      {"preprocess.resize_mode", Rule::one_of({"square", "shorter"})},
      {"preprocess.crop", Rule::range(0, 4096)},
      {"augment.hflip_p", Rule::range(0, 1)},
      {"augment.rotate_p", Rule::range(0, 1)},
      {"augment.rotate_deg", Rule::range(0, 180)},
      {"augment.affine_p", Rule::range(0, 1)},
      {"augment.shift", Rule::range(0, 0.5)},
      {"augment.scale", Rule::range(0, 0.9)},
      {"augment.color_p", Rule::range(0, 1)},
      {"augment.brightness", Rule::range(0, 1)},
      {"augment.contrast", Rule::range(0, 1)},
      {"augment.rrc_min_scale", Rule::positive(1.0)},
      {"train.epochs", Rule::range(1, 100000)},
      {"train.batch_size", Rule::range(1, 65536)},
      {"train.eval_batch_size", Rule::range(1, 65536)},
      {"train.eval_engine", Rule::one_of({"auto", "native", "torch"})},
      {"train.label_smoothing", Rule::range(0, 0.99)},
      {"train.optimizer.name", Rule::one_of({"adam", "adamw", "sgd"})},
      {"train.optimizer.lr", Rule::positive(10.0)},
      {"train.optimizer.momentum", Rule::range(0, 0.999)},
      {"train.optimizer.weight_decay", Rule::range(0, 1)},
      {"train.optimizer.beta1", Rule::range(0, 0.9999)},
      {"train.optimizer.beta2", Rule::range(0, 0.99999)},
      {"train.scheduler.name", Rule::one_of({"none", "step", "cosine"})},
      {"train.scheduler.step_size", Rule::range(1, 100000)},
      {"train.scheduler.gamma", Rule::positive(1.0)},
      {"train.scheduler.min_lr", Rule::range(0, 10)},
      {"train.scheduler.warmup_epochs", Rule::range(0, 100000)},
      {"train.early_stopping.metric", Rule::one_of({"val_accuracy", "val_loss"})},
      {"train.early_stopping.patience", Rule::range(0, 100000)},
      {"train.early_stopping.min_delta", Rule::range(0, 1)},
  };
}

int model_input_size(const json& model) {
  return model.contains("img_size") ? model["img_size"].get<int>() : 224;
}

void check_cross_fields(const json& doc, const std::string& source) {
  const auto& pre = doc["preprocess"];
  int resize = pre["resize"].get<int>();
  int crop = pre["crop"].get<int>();
  int input = model_input_size(doc["model"]);
  int out = crop > 0 ? crop : (resize > 0 ? resize : input);
  if (doc["model"].contains("img_size") && out != input)
    throw ConfigError(source + ": preprocess: produces " + std::to_string(out) + " px images but " +
                      "model.img_size is " + std::to_string(input));
  if (crop > 0 && resize > 0 && crop > resize)
    throw ConfigError(source + ": preprocess.crop: " + std::to_string(crop) +
                      " is larger than preprocess.resize " + std::to_string(resize));
  const auto& d = doc["data"];
  if (d["val_fraction"].get<double>() + d["test_fraction"].get<double>() >= 0.95)
    throw ConfigError(source + ": data: val_fraction + test_fraction leave no training data");
}

}  // namespace

json default_train_document() {
  json doc = base_defaults();
  doc["model"] = models::resolve_model_config(json::object(), "defaults");
  return doc;
}

json resolve_train_document(const json& user, const std::string& source) {
  if (!user.is_object()) throw ConfigError(source + ": expected a JSON object at the top level");
  json defaults = base_defaults();
  json user_without_model = user;
  json user_model = json::object();
  if (user.contains("model")) {
    if (!user["model"].is_object())
      throw ConfigError(source + ": model: expected an object, got " + user["model"].dump());
    user_model = user["model"];
    user_without_model.erase("model");
  }
  json doc = validate_and_merge(defaults, user_without_model, base_rules(), source);
  doc["model"] = models::resolve_model_config(user_model, source);
  check_cross_fields(doc, source);
  return doc;
}

data::TransformSpec transform_from_document(const json& doc) {
  data::TransformSpec t;
  const auto& pre = doc.at("preprocess");
  int resize = pre.at("resize").get<int>();
  t.resize.size = resize > 0 ? resize : model_input_size(doc.at("model"));
  t.resize.mode = pre.at("resize_mode").get<std::string>() == "shorter"
                      ? data::ResizeSpec::Mode::shorter
                      : data::ResizeSpec::Mode::square;
  t.resize.crop = pre.at("crop").get<int>();
  for (int c = 0; c < 3; ++c) {
    t.normalize.mean[c] = pre.at("mean")[c].get<float>();
    t.normalize.std[c] = pre.at("std")[c].get<float>();
  }
  const auto& a = doc.at("augment");
  t.augment.enabled = a.at("enabled").get<bool>();
  t.augment.hflip_p = a.at("hflip_p").get<double>();
  t.augment.rotate_p = a.at("rotate_p").get<double>();
  t.augment.rotate_deg = a.at("rotate_deg").get<double>();
  t.augment.affine_p = a.at("affine_p").get<double>();
  t.augment.shift = a.at("shift").get<double>();
  t.augment.scale = a.at("scale").get<double>();
  t.augment.color_p = a.at("color_p").get<double>();
  t.augment.brightness = a.at("brightness").get<double>();
  t.augment.contrast = a.at("contrast").get<double>();
  t.augment.random_resized_crop = a.at("random_resized_crop").get<bool>();
  t.augment.rrc_min_scale = a.at("rrc_min_scale").get<double>();
  return t;
}

TrainConfig make_train_config(const json& doc) {
  TrainConfig c;
  c.resolved = doc;
  c.name = doc["name"].get<std::string>();
  c.seed = doc["seed"].get<uint64_t>();
  c.threads = doc["threads"].get<int>();
  c.model = doc["model"];

  const auto& d = doc["data"];
  c.dataset.root = d["root"].get<std::string>();
  c.dataset.layout = d["layout"].get<std::string>();
  c.dataset.val_fraction = d["val_fraction"].get<double>();
  c.dataset.test_fraction = d["test_fraction"].get<double>();
  c.dataset.split_seed = d["split_seed"].get<uint64_t>();
  c.dataset.subset = d["subset"].get<double>();
  c.dataset.subset_seed = c.seed;
  c.dataset.on_bad_file = data::parse_bad_file_policy(d["on_bad_file"].get<std::string>());
  c.loader.workers = d["workers"].get<int>();
  c.loader.prefetch = d["prefetch"].get<int>();
  c.loader.channels_last = d["channels_last"].get<bool>();

  c.transform = transform_from_document(doc);

  const auto& t = doc["train"];
  c.epochs = t["epochs"].get<int64_t>();
  c.batch_size = t["batch_size"].get<int64_t>();
  c.eval_batch_size = t["eval_batch_size"].get<int64_t>();
  c.eval_engine = t["eval_engine"].get<std::string>();
  c.label_smoothing = t["label_smoothing"].get<double>();
  c.test_at_end = t["test_at_end"].get<bool>();
  const auto& o = t["optimizer"];
  c.optimizer.name = o["name"].get<std::string>();
  c.optimizer.lr = o["lr"].get<double>();
  c.optimizer.momentum = o["momentum"].get<double>();
  c.optimizer.nesterov = o["nesterov"].get<bool>();
  c.optimizer.weight_decay = o["weight_decay"].get<double>();
  c.optimizer.beta1 = o["beta1"].get<double>();
  c.optimizer.beta2 = o["beta2"].get<double>();
  const auto& s = t["scheduler"];
  c.scheduler.name = s["name"].get<std::string>();
  c.scheduler.step_size = s["step_size"].get<int64_t>();
  c.scheduler.gamma = s["gamma"].get<double>();
  c.scheduler.min_lr = s["min_lr"].get<double>();
  c.scheduler.warmup_epochs = s["warmup_epochs"].get<int64_t>();
  const auto& e = t["early_stopping"];
  c.early_stopping.metric = e["metric"].get<std::string>();
  c.early_stopping.patience = e["patience"].get<int64_t>();
  c.early_stopping.min_delta = e["min_delta"].get<double>();
  return c;
}

TrainConfig load_train_config(const std::filesystem::path& path,
                              const std::vector<std::string>& overrides) {
  json user = load_json_file(path);
  for (const auto& o : overrides) apply_override(user, o);
  return make_train_config(resolve_train_document(user, path.string()));
}

std::string resolve_data_root(const std::optional<std::string>& cli_data,
                              const std::string& config_root) {
  if (cli_data && !cli_data->empty()) return *cli_data;
  if (!config_root.empty()) return config_root;
  if (const char* env = std::getenv("GARBAGE_DATA"); env && *env) return env;
  return "data/trashnet";
}

}  // namespace garbage::config
