#include "garbage/models/pretrained.hpp"

#include <cstdlib>
#include <map>
#include <set>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "garbage/core/errors.hpp"
#include "garbage/io/to_torch.hpp"
#include "garbage/io/weights_file.hpp"
#include "garbage/models/registry.hpp"

namespace garbage::models {
namespace fs = std::filesystem;
namespace {

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shape_text(c10::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string list_text(const std::vector<std::string>& names, size_t limit = 8) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < limit; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > limit) s += ", ... (" + std::to_string(names.size()) + " in all)";
  return s;
}

}  // namespace

std::string LoadReport::describe() const {
  std::string s = file + ": loaded " + std::to_string(loaded.size()) + " tensors";
  if (!head_replaced.empty())
    s += "\n  classifier head replaced (kept at its initialisation): " + list_text(head_replaced);
  if (!new_modules.empty())
    s += "\n  new modules, not in the file (initialised): " + list_text(new_modules);
  if (!missing.empty()) s += "\n  missing from the file: " + list_text(missing);
  if (!unexpected.empty()) s += "\n  unexpected in the file: " + list_text(unexpected);
  if (!mismatched.empty()) s += "\n  shape mismatch: " + list_text(mismatched);
  return s;
}

LoadReport load_state_dict(ClassifierImpl& model, const io::StateDict& tensors,
                           const LoadOptions& options, const std::string& context) {
  LoadReport r;
  r.file = context;
  std::map<std::string, const io::TensorData*> file;
  for (const auto& [name, t] : tensors) file[name] = &t;
  const std::string head = model.head_name().empty() ? "" : model.head_name() + ".";
  std::set<std::string> used;
  torch::NoGradGuard no_grad;

  auto visit = [&](const std::string& name, torch::Tensor& target) {
    auto it = file.find(name);
    if (it == file.end()) {
      if (model.is_new_parameter(name))
        r.new_modules.push_back(name);
      else if (!ends_with(name, "num_batches_tracked"))  // absent from pre-0.4.1 files
        r.missing.push_back(name);
      return;
    }
    used.insert(name);
    torch::Tensor source = io::to_torch(*it->second, context + ": " + name);
    if (source.sizes() != target.sizes()) {
      std::string what =
          name + ": file " + shape_text(source.sizes()) + " vs model " + shape_text(target.sizes());
      if (options.replace_mismatched_head && !head.empty() && starts_with(name, head))
        r.head_replaced.push_back(what);
      else
        r.mismatched.push_back(what);
      return;
    }
    target.copy_(source);  // converts float16/bfloat16 files to the model's dtype
    r.loaded.push_back(name);
  };
  for (auto& p : model.named_parameters()) visit(p.key(), p.value());
  for (auto& b : model.named_buffers()) visit(b.key(), b.value());
  for (const auto& [name, t] : tensors)
    if (!used.count(name)) r.unexpected.push_back(name);

  if (options.strict && (!r.missing.empty() || !r.unexpected.empty() || !r.mismatched.empty()))
    throw Error("weights do not fit the model: " + r.describe());
  return r;
}

LoadReport load_weights_file(ClassifierImpl& model, const fs::path& path,
                             const LoadOptions& options) {
  auto file = io::read_weights_file(path);
  if (!file.nested_key.empty())
    spdlog::debug("{}: state_dict found under \"{}\"", path.string(), file.nested_key);
  if (file.stripped_module_prefix)
    spdlog::debug("{}: removed the \"module.\" prefix of every key", path.string());
  return load_state_dict(model, file.tensors, options, path.string());
}

std::optional<int64_t> head_classes(const fs::path& path, const std::string& head_name) {
  if (head_name.empty()) return std::nullopt;
  auto file = io::read_weights_file(path);
  for (const auto& [name, t] : file.tensors)
    if (name == head_name + ".weight" && t.shape.size() == 2) return t.shape[0];
  return std::nullopt;
}

std::string official_weights_name(const std::string& model_name) {
  const auto& files = find_model(model_name).pretrained;
  return files.empty() ? "" : files.front().file;
}

std::vector<fs::path> weights_search_path() {
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("GARBAGE_WEIGHTS"); env && *env) dirs.emplace_back(env);
  dirs.emplace_back("weights");
  dirs.emplace_back("../shared/weights");
  return dirs;
}

fs::path find_official_weights(const std::string& model_name) {
  const auto& files = find_model(model_name).pretrained;
  if (files.empty())
    throw ConfigError("model.pretrained: there are no official pretrained weights for \"" +
                      model_name + "\"");
  std::string searched;
  for (const auto& dir : weights_search_path()) {
    for (const auto& official : files) {
      std::error_code ec;
      if (fs::is_regular_file(dir / official.file, ec)) return dir / official.file;
    }
    searched += (searched.empty() ? "" : ", ") + dir.string();
  }
  throw ConfigError("model.pretrained: " + files.front().file + " not found in " + searched +
                    "; download it with scripts/get_weights.sh " + model_name +
                    " (or set $GARBAGE_WEIGHTS, or model.weights to a file)");
}

std::optional<fs::path> configured_weights_file(const nlohmann::json& model_config) {
  const std::string weights = model_config.value("weights", std::string());
  if (!weights.empty()) {
    std::error_code ec;
    if (!fs::is_regular_file(weights, ec))
      throw ConfigError("model.weights: " + weights + " does not exist");
    return fs::path(weights);
  }
  if (model_config.value("pretrained", false))
    return find_official_weights(model_config.at("name").get<std::string>());
  return std::nullopt;
}

std::optional<LoadReport> apply_weights_config(ClassifierImpl& model,
                                               const nlohmann::json& model_config) {
  auto path = configured_weights_file(model_config);
  if (!path) return std::nullopt;
  auto report = load_weights_file(model, *path);
  spdlog::info("weights {}", report.describe());
  if (!report.head_replaced.empty())
    spdlog::info("classifier head {} replaced for the data set's {} classes: {}", model.head_name(),
                 model_config.value("num_classes", 0), list_text(report.head_replaced));
  return report;
}

}  // namespace garbage::models
