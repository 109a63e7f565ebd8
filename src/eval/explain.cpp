#include "garbage/eval/explain.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <opencv2/imgproc.hpp>

#include "garbage/core/errors.hpp"
#include "garbage/core/json_io.hpp"
#include "garbage/data/image.hpp"
#include "garbage/models/classifier.hpp"
#include "garbage/models/layers.hpp"
#include "garbage/report/overlays.hpp"
#include "garbage/report/png.hpp"

namespace garbage::eval {
namespace fs = std::filesystem;

Explanation explain_tensor(models::ClassifierImpl& model, const torch::Tensor& image,
                           int64_t target) {
  if (image.dim() != 3 || image.size(0) != 3)
    throw Error("explain: expected a [3, S, S] image tensor, got " + c10::str(image.sizes()));
  model.eval();
  // Callers may be inside a no-grad scope (inference code); explanations are gradients.
  torch::AutoGradMode grad_on(true);
  Explanation out;

  // The input requires grad so the feature maps do even when the backbone is frozen.
  auto x = image.unsqueeze(0).detach().clone().requires_grad_(true);
  auto taps = model.forward_explain(x);
  out.probabilities = torch::softmax(taps.logits.detach()[0], 0);
  out.predicted = out.probabilities.argmax().item<int64_t>();
  const int64_t classes = out.probabilities.size(0);
  if (target >= classes)
    throw ConfigError("explain: class index " + std::to_string(target) +
                      " out of range (the model has " + std::to_string(classes) + " classes)");
  out.target = target < 0 ? out.predicted : target;

  auto grads = torch::autograd::grad({taps.logits[0][out.target]}, {taps.last_features, x});
  auto features = taps.last_features.detach()[0];
  auto weights = grads[0][0].mean({1, 2}, /*keepdim=*/true);
  auto cam = torch::relu((weights * features).sum(0));
  const double peak = cam.max().item<double>();
  out.grad_cam = peak > 0 ? cam / peak : cam;
  out.gradient = grads[1][0];
  out.first_layer = taps.first_layer.detach()[0];
  if (taps.attention.defined()) out.attention = taps.attention.detach()[0][0];

  {
    // Hooks are registered during this forward pass, so the guard must cover it.
    models::GuidedBackpropGuard guided;
    auto xg = image.unsqueeze(0).detach().clone().requires_grad_(true);
    auto logits = model.forward(xg);
    out.guided = torch::autograd::grad({logits[0][out.target]}, {xg})[0][0];
  }
  return out;
}

int64_t resolve_class(const std::string& spec, const std::vector<std::string>& names) {
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == spec) return static_cast<int64_t>(i);
  if (!spec.empty() && std::all_of(spec.begin(), spec.end(), ::isdigit)) {
    int64_t index = std::strtoll(spec.c_str(), nullptr, 10);
    if (index < static_cast<int64_t>(names.size())) return index;
  }
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  throw ConfigError("--class \"" + spec + "\": not a class of the model (" + list +
                    ") nor an index 0.." + std::to_string(names.size() - 1));
}

ExplainResult explain_image(loading::InferenceModel& model, const ExplainOptions& options) {
  const cv::Mat rgb = data::decode_rgb8(options.image.string());
  const int64_t target =
      options.target_class.empty() ? -1 : resolve_class(options.target_class, model.class_names);
  ExplainResult result;
  auto& ex = result.explanation;
  ex = explain_tensor(*model.model, loading::preprocess(rgb, model.transform), target);

  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  if (ec) throw Error(options.out_dir.string() + ": cannot create folder: " + ec.message());
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  const cv::Rect region = report::model_view_region(rgb, model.transform);
  nlohmann::json files = nlohmann::json::object();
  auto write = [&](const char* key, const char* name, const cv::Mat& img) {
    fs::path path = options.out_dir / name;
    report::save_png(path, img);
    result.files.push_back(path);
    files[key] = path.string();
  };
  write("feature_maps", "feature_maps.png", report::feature_grid(ex.first_layer));
  write("grad_cam", "grad_cam.png", report::heat_overlay(bgr, region, report::to_mat(ex.grad_cam)));
  write("guided_backprop", "guided_backprop.png",
        report::saliency_image(ex.guided, bgr.size(), region));

  const auto& model_config = model.document.at("model");
  const std::string attention = model_config.value("attention", std::string("none"));
  nlohmann::json attention_json = nullptr;
  if (ex.attention.defined()) {
    cv::Mat map = report::to_mat(ex.attention);
    double lo = 0, hi = 0;
    cv::minMaxLoc(map, &lo, &hi);
    write("attention", "attention.png",
          report::heat_overlay(bgr, region, report::min_max_normalised(map)));
    attention_json = {{"kind", attention == "cbam" ? "cbam spatial attention, last block"
                                                   : "recyclenet spatial gate after layer4"},
                      {"min", lo},
                      {"max", hi},
                      {"mean", cv::mean(map)[0]}};
  } else if (attention != "none") {
    spdlog::info("{} attention has no spatial map: no attention.png", attention);
  }

  auto class_json = [&](int64_t index) {
    return nlohmann::json{{"index", index},
                          {"label", model.class_names.at(index)},
                          {"probability", ex.probabilities[index].item<double>()}};
  };
  result.json = {{"image", options.image.string()},
                 {"image_size", {rgb.cols, rgb.rows}},
                 {"model", model.model_name()},
                 {"source", model.source},
                 {"model_view", {region.x, region.y, region.width, region.height}},
                 {"predicted", class_json(ex.predicted)},
                 {"explained", class_json(ex.target)},
                 {"attention", attention_json},
                 {"files", files}};
  fs::path json_path = options.out_dir / "explain.json";
  write_json_atomic(json_path, result.json);
  result.files.push_back(json_path);
  return result;
}

}  // namespace garbage::eval
