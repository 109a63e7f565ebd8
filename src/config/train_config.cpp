#include "garbage/config/train_config.hpp"

#include <cstdlib>
#include <functional>
#include <thread>
#include <type_traits>

#include "garbage/core/config_file.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/core/json_io.hpp"
#include "garbage/core/schema.hpp"
#include "garbage/models/registry.hpp"

namespace garbage::data {
// Enum fields are stored under their config spelling.
NLOHMANN_JSON_SERIALIZE_ENUM(BadFilePolicy,
                             {{BadFilePolicy::skip, "skip"}, {BadFilePolicy::error, "error"}})
NLOHMANN_JSON_SERIALIZE_ENUM(ResizeSpec::Mode, {{ResizeSpec::Mode::square, "square"},
                                                {ResizeSpec::Mode::shorter, "shorter"}})
}  // namespace garbage::data

namespace garbage::config {
namespace {

/// One config key: where it lives in the document, its default and rule, and the member of
/// TrainConfig it fills.
struct Field {
  std::string path;
  json default_value;
  Rule rule;
  std::function<void(TrainConfig&, const json&)> read;
  std::function<json(const TrainConfig&)> write;
};

/// `access` returns the member (e.g. [](TrainConfig& c) -> auto& { return c.seed; }).
template <typename Access>
Field field(std::string path, json default_value, Rule rule, Access access) {
  using Member = std::decay_t<decltype(access(std::declval<TrainConfig&>()))>;
  return {std::move(path), std::move(default_value), std::move(rule),
          [access](TrainConfig& c, const json& v) { access(c) = v.get<Member>(); },
          [access](const TrainConfig& c) { return json(access(const_cast<TrainConfig&>(c))); }};
}

const Rule kAny{};

#define GARBAGE_MEMBER(expr)     \
  [](TrainConfig & c) -> auto& { \
    return c.expr;               \
  }

/// Every key of the train document but the model section (which the registry validates).
const std::vector<Field>& fields() {
  using R = Rule;
  const data::AugmentOptions a;
  const data::Normalize n;
  static const std::vector<Field> table = {
      field("name", "run", kAny, GARBAGE_MEMBER(name)),
      field("seed", 42, R::at_least(0), GARBAGE_MEMBER(seed)),
      field("threads", 0, R::range(0, 1024), GARBAGE_MEMBER(threads)),
      // data
      field("data.root", "", kAny, GARBAGE_MEMBER(dataset.root)),
      field("data.layout", "auto", R::one_of({"auto", "trashnet", "folder"}),
            GARBAGE_MEMBER(dataset.layout)),
      field("data.val_fraction", 0.13, R::range(0, 0.9), GARBAGE_MEMBER(dataset.val_fraction)),
      field("data.test_fraction", 0.17, R::range(0, 0.9), GARBAGE_MEMBER(dataset.test_fraction)),
      field("data.split_seed", 42, R::at_least(0), GARBAGE_MEMBER(dataset.split_seed)),
      field("data.subset", 1.0, R::positive(1.0), GARBAGE_MEMBER(dataset.subset)),
      field("data.on_bad_file", "skip", R::one_of({"skip", "error"}),
            GARBAGE_MEMBER(dataset.on_bad_file)),
      field("data.workers", 2, R::range(1, 64), GARBAGE_MEMBER(loader.workers)),
      field("data.prefetch", 4, R::range(1, 256), GARBAGE_MEMBER(loader.prefetch)),
      field("data.channels_last", true, kAny, GARBAGE_MEMBER(loader.channels_last)),
      // preprocess
      field("preprocess.resize", 0, R::range(0, 4096), GARBAGE_MEMBER(preprocess_resize)),
      field("preprocess.resize_mode", "square", R::one_of({"square", "shorter"}),
            GARBAGE_MEMBER(transform.resize.mode)),
      field("preprocess.crop", 0, R::range(0, 4096), GARBAGE_MEMBER(transform.resize.crop)),
      field("preprocess.test_resize", 0, R::range(0, 4096), GARBAGE_MEMBER(test_resize)),
      field("preprocess.test_crop", 0, R::range(0, 4096), GARBAGE_MEMBER(test_crop)),
      field("preprocess.mean", {n.mean[0], n.mean[1], n.mean[2]}, kAny,
            GARBAGE_MEMBER(transform.normalize.mean)),
      field("preprocess.std", {n.std[0], n.std[1], n.std[2]}, kAny,
            GARBAGE_MEMBER(transform.normalize.std)),
      // augment
      field("augment.enabled", true, kAny, GARBAGE_MEMBER(transform.augment.enabled)),
      field("augment.hflip_p", a.hflip_p, R::range(0, 1),
            GARBAGE_MEMBER(transform.augment.hflip_p)),
      field("augment.rotate_p", a.rotate_p, R::range(0, 1),
            GARBAGE_MEMBER(transform.augment.rotate_p)),
      field("augment.rotate_deg", a.rotate_deg, R::range(0, 180),
            GARBAGE_MEMBER(transform.augment.rotate_deg)),
      field("augment.affine_p", a.affine_p, R::range(0, 1),
            GARBAGE_MEMBER(transform.augment.affine_p)),
      field("augment.shift", a.shift, R::range(0, 0.5), GARBAGE_MEMBER(transform.augment.shift)),
      field("augment.scale", a.scale, R::range(0, 0.9), GARBAGE_MEMBER(transform.augment.scale)),
      field("augment.color_p", a.color_p, R::range(0, 1),
            GARBAGE_MEMBER(transform.augment.color_p)),
      field("augment.brightness", a.brightness, R::range(0, 1),
            GARBAGE_MEMBER(transform.augment.brightness)),
      field("augment.contrast", a.contrast, R::range(0, 1),
            GARBAGE_MEMBER(transform.augment.contrast)),
      field("augment.random_resized_crop", a.random_resized_crop, kAny,
            GARBAGE_MEMBER(transform.augment.random_resized_crop)),
      field("augment.rrc_min_scale", a.rrc_min_scale, R::positive(1.0),
            GARBAGE_MEMBER(transform.augment.rrc_min_scale)),
      field("augment.trivial_augment", a.trivial_augment, kAny,
            GARBAGE_MEMBER(transform.augment.trivial_augment)),
      field("augment.random_erasing_p", a.random_erasing_p, R::range(0, 1),
            GARBAGE_MEMBER(transform.augment.random_erasing_p)),
      // train
      field("train.epochs", 20, R::range(1, 100000), GARBAGE_MEMBER(epochs)),
      field("train.batch_size", 32, R::range(1, 65536), GARBAGE_MEMBER(batch_size)),
      field("train.eval_batch_size", 64, R::range(1, 65536), GARBAGE_MEMBER(eval_batch_size)),
      field("train.eval_engine", "auto", R::one_of({"auto", "native", "torch"}),
            GARBAGE_MEMBER(eval_engine)),
      field("train.label_smoothing", 0.0, R::range(0, 0.99), GARBAGE_MEMBER(label_smoothing)),
      field("train.mixup.mixup_alpha", 0.0, R::range(0, 100), GARBAGE_MEMBER(mixup.mixup_alpha)),
      field("train.mixup.cutmix_alpha", 0.0, R::range(0, 100), GARBAGE_MEMBER(mixup.cutmix_alpha)),
      field("train.mixup.prob", 1.0, R::range(0, 1), GARBAGE_MEMBER(mixup.prob)),
      field("train.mixup.switch_prob", 0.5, R::range(0, 1), GARBAGE_MEMBER(mixup.switch_prob)),
      field("train.ema.decay", 0.0, R::range(0, 0.999999), GARBAGE_MEMBER(ema.decay)),
      field("train.ema.warmup", false, kAny, GARBAGE_MEMBER(ema.warmup)),
      field("train.class_weights", "none", R::one_of({"none", "balanced"}),
            GARBAGE_MEMBER(class_weights)),
      field("train.test_at_end", true, kAny, GARBAGE_MEMBER(test_at_end)),
      field("train.tensorboard", true, kAny, GARBAGE_MEMBER(tensorboard)),
      field("train.fused_kernels", true, kAny, GARBAGE_MEMBER(fused_kernels)),
      field("train.sync_bn", false, kAny, GARBAGE_MEMBER(sync_bn)),
      field("train.micro_batches", 1, R::range(0, 256), GARBAGE_MEMBER(micro_batches)),
      field("train.device", "cpu", kAny, GARBAGE_MEMBER(device)),
      field("train.optimizer.name", "adam", R::one_of({"adam", "adamw", "sgd"}),
            GARBAGE_MEMBER(optimizer.name)),
      field("train.optimizer.lr", 1e-4, R::positive(10.0), GARBAGE_MEMBER(optimizer.lr)),
      field("train.optimizer.momentum", 0.9, R::range(0, 0.999),
            GARBAGE_MEMBER(optimizer.momentum)),
      field("train.optimizer.nesterov", false, kAny, GARBAGE_MEMBER(optimizer.nesterov)),
      field("train.optimizer.weight_decay", 0.0, R::range(0, 1),
            GARBAGE_MEMBER(optimizer.weight_decay)),
      field("train.optimizer.no_decay_norm_bias", false, kAny,
            GARBAGE_MEMBER(optimizer.no_decay_norm_bias)),
      field("train.optimizer.beta1", 0.9, R::range(0, 0.9999), GARBAGE_MEMBER(optimizer.beta1)),
      field("train.optimizer.beta2", 0.999, R::range(0, 0.99999), GARBAGE_MEMBER(optimizer.beta2)),
      field("train.scheduler.name", "none", R::one_of({"none", "step", "cosine", "onecycle"}),
            GARBAGE_MEMBER(scheduler.name)),
      field("train.scheduler.step_size", 10, R::range(1, 100000),
            GARBAGE_MEMBER(scheduler.step_size)),
      field("train.scheduler.gamma", 0.1, R::positive(1.0), GARBAGE_MEMBER(scheduler.gamma)),
      field("train.scheduler.min_lr", 0.0, R::range(0, 10), GARBAGE_MEMBER(scheduler.min_lr)),
      field("train.scheduler.warmup_epochs", 0, R::range(0, 100000),
            GARBAGE_MEMBER(scheduler.warmup_epochs)),
      field("train.scheduler.per_step", false, kAny, GARBAGE_MEMBER(scheduler.per_step)),
      field("train.scheduler.warmup_steps", 0, R::range(0, 10000000),
            GARBAGE_MEMBER(scheduler.warmup_steps)),
      field("train.scheduler.pct_start", 0.3, R::positive(0.99),
            GARBAGE_MEMBER(scheduler.pct_start)),
      field("train.scheduler.div_factor", 25.0, R::at_least(1),
            GARBAGE_MEMBER(scheduler.div_factor)),
      field("train.scheduler.final_div_factor", 1e4, R::at_least(1),
            GARBAGE_MEMBER(scheduler.final_div_factor)),
      field("train.early_stopping.metric", "val_accuracy", R::one_of({"val_accuracy", "val_loss"}),
            GARBAGE_MEMBER(early_stopping.metric)),
      field("train.early_stopping.patience", 5, R::range(0, 100000),
            GARBAGE_MEMBER(early_stopping.patience)),
      field("train.early_stopping.min_delta", 0.0, R::range(0, 1),
            GARBAGE_MEMBER(early_stopping.min_delta)),
  };
  return table;
}

#undef GARBAGE_MEMBER

json::json_pointer pointer_of(const std::string& path) {
  std::string pointer;
  for (const auto& part : split_path(path)) pointer += "/" + part;
  return json::json_pointer(pointer);
}

json base_defaults() {
  json doc = {{"model", json::object()}};
  for (const auto& f : fields()) doc[pointer_of(f.path)] = f.default_value;
  return doc;
}

Rules base_rules() {
  Rules rules;
  for (const auto& f : fields())
    if (f.rule.min || f.rule.max || !f.rule.choices.empty()) rules[f.path] = f.rule;
  return rules;
}

bool has_prefix(const std::string& path, const char* prefix) {
  return path.rfind(prefix, 0) == 0;
}

/// The side of the images a model section expects: its img_size, else the registry's.
int model_input_size(const json& model) {
  if (model.contains("img_size")) return model["img_size"].get<int>();
  const auto name = model.value("name", std::string());
  for (const auto& spec : models::all_models())
    if (spec.name == name) return spec.input_size;
  return 224;
}

/// Fills the derived part of the transform (the effective resize).
void finish_transform(TrainConfig& c, const json& model) {
  c.transform.resize.size = c.preprocess_resize > 0 ? c.preprocess_resize : model_input_size(model);
  c.eval_resize = c.transform.resize;
  if (c.test_resize > 0) c.eval_resize.size = c.test_resize;
  if (c.test_crop > 0) c.eval_resize.crop = c.test_crop;
}

/// FixRes: evaluation may run at another size, except where the model fixes its input size.
void check_test_resolution(const json& pre, const json& model, int train_out,
                           const std::string& source) {
  const int test_resize = pre["test_resize"].get<int>(), test_crop = pre["test_crop"].get<int>();
  if (test_resize == 0 && test_crop == 0) return;
  const int crop = pre["crop"].get<int>();
  const int resize = test_resize > 0 ? test_resize : pre["resize"].get<int>();
  const int out = test_crop > 0 ? test_crop : (crop > 0 ? crop : (resize > 0 ? resize : train_out));
  if (model.contains("img_size") && out != train_out)
    throw ConfigError(source + ": preprocess.test_crop/test_resize: evaluating at " +
                      std::to_string(out) + " px, but model.img_size fixes the input at " +
                      std::to_string(train_out) + " px (the flatten layer)");
  if (test_crop > 0 && resize > 0 && test_crop > resize)
    throw ConfigError(source + ": preprocess.test_crop: " + std::to_string(test_crop) +
                      " is larger than the test resize " + std::to_string(resize));
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
  check_test_resolution(pre, doc["model"], out, source);
  const auto& d = doc["data"];
  if (d["val_fraction"].get<double>() + d["test_fraction"].get<double>() >= 0.95)
    throw ConfigError(source + ": data: val_fraction + test_fraction leave no training data");
}

/// Model options added since a document was written (e.g. bn_momentum) take their defaults.
void add_missing_model_defaults(json& doc) {
  if (!doc.contains("model") || !doc["model"].is_object() || !doc["model"].contains("name")) return;
  const auto name = doc["model"]["name"].get<std::string>();
  for (const auto& spec : models::all_models()) {
    if (spec.name != name) continue;
    for (const auto& [key, value] : spec.defaults.items())
      if (!doc["model"].contains(key)) doc["model"][key] = value;
  }
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

data::TransformSpec transform_from_document(const json& stored) {
  const json doc = upgrade_document(stored);
  TrainConfig c;
  for (const auto& f : fields())
    if (has_prefix(f.path, "preprocess.") || has_prefix(f.path, "augment."))
      f.read(c, doc.at(pointer_of(f.path)));
  finish_transform(c, doc.at("model"));
  c.transform.resize = c.eval_resize;  // inference sees the test resolution (FixRes)
  return c.transform;
}

json upgrade_document(const json& doc) {
  json out = doc;
  for (const auto& f : fields()) {
    const auto pointer = pointer_of(f.path);
    if (!out.contains(pointer)) out[pointer] = f.default_value;
  }
  add_missing_model_defaults(out);
  return out;
}

TrainConfig make_train_config(const json& stored) {
  TrainConfig c;
  const json doc = upgrade_document(stored);
  c.resolved = doc;
  for (const auto& f : fields()) f.read(c, doc.at(pointer_of(f.path)));
  c.model = doc.at("model");
  c.dataset.subset_seed = c.seed;
  finish_transform(c, c.model);
  return c;
}

json to_document(const TrainConfig& c) {
  json doc = {{"model", c.model}};
  for (const auto& f : fields()) doc[pointer_of(f.path)] = f.write(c);
  return doc;
}

std::vector<std::string> field_paths() {
  std::vector<std::string> paths;
  for (const auto& f : fields()) paths.push_back(f.path);
  return paths;
}

TrainConfig load_train_config(const std::filesystem::path& path,
                              const std::vector<std::string>& overrides) {
  auto document = load_config_document(path);
  for (const auto& o : overrides) apply_override(document.value, o);
  try {
    return make_train_config(resolve_train_document(document.value, document.source));
  } catch (const ConfigError& e) {
    throw with_line(e, document);
  }
}

std::string resolve_data_root(const std::optional<std::string>& cli_data,
                              const std::string& config_root) {
  if (cli_data && !cli_data->empty()) return *cli_data;
  if (!config_root.empty()) return config_root;
  if (const char* env = std::getenv("GARBAGE_DATA"); env && *env) return env;
  return "data/trashnet";
}

}  // namespace garbage::config
