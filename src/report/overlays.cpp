#include "garbage/report/overlays.hpp"

#include <algorithm>
#include <cmath>

#include <torch/torch.h>
#include <opencv2/imgproc.hpp>

#include "garbage/data/image.hpp"

namespace garbage::report {
namespace {

/// The image with what lies outside the model's view dimmed.
cv::Mat base_image(const cv::Mat& bgr, const cv::Rect& region) {
  cv::Mat out = bgr * 0.45;
  bgr(region).copyTo(out(region));
  return out;
}

}  // namespace

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

}  // namespace garbage::report
