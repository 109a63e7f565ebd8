#include "garbage/loading/standalone.hpp"

#include <spdlog/spdlog.h>

#include "garbage/config/train_config.hpp"
#include "garbage/io/weights_file.hpp"
#include "garbage/models/classifier.hpp"

namespace garbage::loading {
namespace {

/// The preprocess section a registry entry's weights expect.
nlohmann::json preprocess_section(const models::Preprocessing& p) {
  return {{"resize", p.resize},
          {"resize_mode", p.resize_mode},
          {"crop", p.crop},
          {"mean", p.mean},
          {"std", p.std}};
}

/// Classes of the file's head when it differs from the model section's, so an ImageNet checkpoint
/// runs with its 1000 classes.
std::optional<int64_t> file_head_classes(const io::WeightsFile& file, const std::string& head,
                                         int64_t configured) {
  for (const auto& [key, t] : file.tensors)
    if (key == head + ".weight" && t.shape.size() == 2 && t.shape[0] != configured)
      return t.shape[0];
  return std::nullopt;
}

}  // namespace

StandaloneModel load_standalone_model(const std::string& name, const std::filesystem::path& weights,
                                      int64_t num_classes) {
  const std::string source = "--model " + name;
  const auto& spec = models::find_model(name);
  nlohmann::json user_model = {{"name", name}};
  if (num_classes > 0) user_model["num_classes"] = num_classes;
  std::optional<io::WeightsFile> file;
  if (!weights.empty()) file = io::read_weights_file(weights);

  auto resolve = [&](const nlohmann::json& model_section) {
    nlohmann::json user = {{"name", name},
                           {"model", model_section},
                           {"preprocess", preprocess_section(spec.preprocessing)},
                           {"augment", {{"enabled", false}}}};
    return config::resolve_train_document(user, source);
  };
  auto doc = resolve(user_model);
  if (file && num_classes <= 0 && !spec.head.empty()) {
    const int64_t configured = doc["model"].value("num_classes", int64_t{0});
    if (auto classes = file_head_classes(*file, spec.head, configured)) {
      user_model["num_classes"] = *classes;
      doc = resolve(user_model);
    }
  }
  StandaloneModel out;
  out.model = models::create_model(doc["model"]);
  if (file) {
    models::LoadOptions exact;
    exact.replace_mismatched_head = false;
    out.report = models::load_state_dict(*out.model, file->tensors, exact, weights.string());
    spdlog::info("weights {}", out.report->describe());
  }
  out.model->eval();
  out.document = doc;
  return out;
}

}  // namespace garbage::loading
