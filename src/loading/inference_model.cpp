#include "garbage/loading/inference_model.hpp"
#include "garbage/core/device.hpp"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "garbage/config/train_config.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/data/dataset.hpp"
#include "garbage/data/image.hpp"
#include "garbage/loading/checkpoint.hpp"
#include "garbage/loading/standalone.hpp"
#include "garbage/models/classifier.hpp"
#include "garbage/models/pretrained.hpp"

namespace garbage::loading {

void ModelSource::validate(const std::string& command) const {
  if (checkpoint.empty() == model_name.empty())
    throw ConfigError(command + ": give --checkpoint, or --model [--weights]");
}

const std::string& InferenceModel::model_name() const {
  return document.at("model").at("name").get_ref<const std::string&>();
}

namespace {

std::vector<std::string> numbered_classes(int64_t n) {
  std::vector<std::string> names;
  for (int64_t i = 0; i < n; ++i) names.push_back("class_" + std::to_string(i));
  return names;
}

}  // namespace

InferenceModel load_inference_model(const ModelSource& source) {
  source.validate("load");
  InferenceModel out;
  if (!source.model_name.empty()) {
    auto loaded =
        loading::load_standalone_model(source.model_name, source.weights, source.num_classes);
    out.model = loaded.model;
    out.document = loaded.document;
    out.source = source.weights.empty() ? "--model " + source.model_name : source.weights.string();
    out.class_names = numbered_classes(out.document.at("model").value("num_classes", int64_t{0}));
  } else {
    auto loaded = loading::load_checkpoint(source.checkpoint);
    out.model = loaded.model;
    // A run with train.ema validated and chose its best epoch on the averaged weights.
    if (loaded.state.ema) {
      out.model = loaded.state.ema;
      out.ema = true;
      spdlog::info("{}: using the EMA weights (train.ema)", source.checkpoint.string());
    }
    out.meta = loaded.state.meta;
    out.document = out.meta.at("config");
    out.source = source.checkpoint.string();
    out.class_names = out.meta.at("class_names").get<std::vector<std::string>>();
  }
  out.transform = config::transform_from_document(out.document);
  out.transform.augment.enabled = false;
  out.model->to(resolve_device(source.device, "--device"));
  out.model->eval();
  return out;
}

bool name_classes_from_data(InferenceModel& model, const std::optional<std::string>& data_root) {
  try {
    data::DatasetOptions opts;
    opts.root = config::resolve_data_root(data_root,
                                          model.document.at("data").value("root", std::string()));
    auto names = data::index_split(opts, data::Split::val).class_names;
    if (static_cast<int64_t>(names.size()) != model.num_classes()) return false;
    model.class_names = names;
    return true;
  } catch (const Error& e) {
    spdlog::debug("classes not named from data: {}", e.what());
    return false;
  }
}

torch::Tensor preprocess(const cv::Mat& rgb, const data::TransformSpec& spec) {
  cv::Mat img = data::apply_eval(data::resize_for_cache(rgb, spec.resize), spec);
  const int side = spec.resize.output_size();
  auto out = torch::empty({side, side, 3}, torch::kFloat32);
  data::write_normalized(img, spec.normalize, out.data_ptr<float>(), /*channels_last=*/true);
  return out.permute({2, 0, 1}).contiguous();
}

torch::Tensor load_image_tensor(const std::filesystem::path& path,
                                const data::TransformSpec& spec) {
  return preprocess(data::decode_rgb8(path.string()), spec);
}

}  // namespace garbage::loading
