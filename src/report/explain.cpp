#include "garbage/report/explain.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "garbage/core/errors.hpp"
#include "garbage/core/json_io.hpp"
#include "garbage/data/image.hpp"
#include "garbage/models/classifier.hpp"
#include "garbage/models/layers.hpp"

namespace garbage::report {
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
  if (!taps.logits.defined() || !taps.first_layer.defined() || !taps.last_features.defined())
    throw Error("explain: the model returned incomplete explain taps");
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

namespace {

/// The part of the original image the model sees: the eval preprocessing resizes, then
/// center-crops; this maps the crop back to original pixel coordinates.
cv::Rect model_view_region(const cv::Mat& original, const data::TransformSpec& spec) {
  cv::Size resized = data::resize_for_cache(original, spec.resize).size();
  const int side = spec.resize.output_size();
  const int w = std::min(side, resized.width), h = std::min(side, resized.height);
  const double sx = static_cast<double>(original.cols) / resized.width;
  const double sy = static_cast<double>(original.rows) / resized.height;
  cv::Rect region(static_cast<int>(std::lround((resized.width - w) / 2 * sx)),
                  static_cast<int>(std::lround((resized.height - h) / 2 * sy)),
                  static_cast<int>(std::lround(w * sx)), static_cast<int>(std::lround(h * sy)));
  return region & cv::Rect(0, 0, original.cols, original.rows);
}

/// A 2-D float tensor as a CV_32F matrix (copied).
cv::Mat to_mat(const torch::Tensor& map) {
  auto t = map.detach().to(torch::kFloat32).contiguous();
  cv::Mat view(static_cast<int>(t.size(0)), static_cast<int>(t.size(1)), CV_32F,
               t.data_ptr<float>());
  return view.clone();
}

cv::Mat min_max_normalised(const cv::Mat& m) {
  double lo = 0, hi = 0;
  cv::minMaxLoc(m, &lo, &hi);
  cv::Mat out;
  if (hi - lo < 1e-12) return cv::Mat::zeros(m.size(), CV_32F);
  m.convertTo(out, CV_32F, 1.0 / (hi - lo), -lo / (hi - lo));
  return out;
}

/// The image with what lies outside the model's view dimmed.
cv::Mat base_image(const cv::Mat& bgr, const cv::Rect& region) {
  cv::Mat out = bgr * 0.45;
  bgr(region).copyTo(out(region));
  return out;
}

/// `map01` (values in [0, 1], any size) in the JET colormap, blended over `region` of the image.
cv::Mat heat_overlay(const cv::Mat& bgr, const cv::Rect& region, const cv::Mat& map01) {
  cv::Mat resized, level, heat;
  cv::resize(map01, resized, region.size(), 0, 0, cv::INTER_LINEAR);
  resized.convertTo(level, CV_8U, 255.0);
  cv::applyColorMap(level, heat, cv::COLORMAP_JET);
  cv::Mat out = base_image(bgr, region);
  cv::Mat view = out(region);  // writes through to `out`
  cv::addWeighted(bgr(region), 0.5, heat, 0.5, 0.0, view);
  return out;
}

/// Guided-backprop gradient as an image, the usual way: standardised, scaled to +-5 std around
/// mid-grey, so grey means no gradient.
cv::Mat saliency_image(const torch::Tensor& grad, const cv::Size& size, const cv::Rect& region) {
  auto g = grad.detach().to(torch::kFloat32);
  g = (g - g.mean()) / (g.std().item<double>() + 1e-12);
  g = (g * 0.1 + 0.5).clamp(0, 1).mul(255).to(torch::kUInt8);
  // RGB planes -> interleaved BGR.
  auto hwc = g.flip({0}).permute({1, 2, 0}).contiguous();
  cv::Mat small(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)), CV_8UC3,
                hwc.data_ptr<uint8_t>());
  cv::Mat out(size, CV_8UC3, cv::Scalar(128, 128, 128));
  cv::Mat view = out(region);  // writes through to `out`
  cv::resize(small, view, region.size(), 0, 0, cv::INTER_LINEAR);
  return out;
}

/// One tile per channel, each min-max normalised, viridis, white gaps.
cv::Mat feature_grid(const torch::Tensor& maps) {
  constexpr int kGap = 2, kMinTile = 64;
  const int channels = static_cast<int>(maps.size(0));
  const int h = static_cast<int>(maps.size(1)), w = static_cast<int>(maps.size(2));
  // Small maps are enlarged by an integer factor (nearest) so single activations stay visible.
  const int scale = std::max(1, (kMinTile + std::max(h, w) - 1) / std::max(h, w));
  const int tile_w = w * scale, tile_h = h * scale;
  const int cols = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(channels))));
  const int rows = (channels + cols - 1) / cols;
  cv::Mat grid(rows * (tile_h + kGap) + kGap, cols * (tile_w + kGap) + kGap, CV_8UC3,
               cv::Scalar(255, 255, 255));
  for (int c = 0; c < channels; ++c) {
    cv::Mat level, tile;
    min_max_normalised(to_mat(maps[c])).convertTo(level, CV_8U, 255.0);
    cv::resize(level, level, {tile_w, tile_h}, 0, 0, cv::INTER_NEAREST);
    cv::applyColorMap(level, tile, cv::COLORMAP_VIRIDIS);
    tile.copyTo(grid(cv::Rect(kGap + (c % cols) * (tile_w + kGap),
                              kGap + (c / cols) * (tile_h + kGap), tile_w, tile_h)));
  }
  return grid;
}

void save_png(const fs::path& path, const cv::Mat& img) {
  if (!cv::imwrite(path.string(), img)) throw Error(path.string() + ": cannot write PNG");
}

}  // namespace

ExplainResult explain_image(eval::InferenceModel& model, const ExplainOptions& options) {
  const cv::Mat rgb = data::decode_rgb8(options.image.string());
  const int64_t target =
      options.target_class.empty() ? -1 : resolve_class(options.target_class, model.class_names);
  ExplainResult result;
  auto& ex = result.explanation;
  ex = explain_tensor(*model.model, eval::preprocess(rgb, model.transform), target);

  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  if (ec) throw Error(options.out_dir.string() + ": cannot create folder: " + ec.message());
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  const cv::Rect region = model_view_region(rgb, model.transform);
  nlohmann::json files = nlohmann::json::object();
  auto write = [&](const char* key, const char* name, const cv::Mat& img) {
    fs::path path = options.out_dir / name;
    save_png(path, img);
    result.files.push_back(path);
    files[key] = path.string();
  };
  write("feature_maps", "feature_maps.png", feature_grid(ex.first_layer));
  write("grad_cam", "grad_cam.png", heat_overlay(bgr, region, to_mat(ex.grad_cam)));
  write("guided_backprop", "guided_backprop.png", saliency_image(ex.guided, bgr.size(), region));

  const auto& model_config = model.document.at("model");
  const std::string attention = model_config.value("attention", std::string("none"));
  nlohmann::json attention_json = nullptr;
  if (ex.attention.defined()) {
    cv::Mat map = to_mat(ex.attention);
    double lo = 0, hi = 0;
    cv::minMaxLoc(map, &lo, &hi);
    write("attention", "attention.png", heat_overlay(bgr, region, min_max_normalised(map)));
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

}  // namespace garbage::report
