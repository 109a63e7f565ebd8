#include "garbage/data/trivial_augment.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "garbage/core/errors.hpp"

namespace garbage::data {
namespace {

/// torch.linspace(start, end, 31)[bin] in float32, as torchvision's tables hold it.
double linspace_bin(float start, float end, int bin) {
  const float step = (end - start) / static_cast<float>(kTaBins - 1);
  const float v = bin < kTaBins / 2 ? start + step * static_cast<float>(bin)
                                    : end - step * static_cast<float>(kTaBins - 1 - bin);
  return static_cast<double>(v);
}

uint8_t to_u8(float v) {  // torchvision: clamp(0, 255) then .to(uint8), which truncates
  return static_cast<uint8_t>(std::clamp(v, 0.0f, 255.0f));
}

/// ratio * img + (1 - ratio) * other, per pixel and channel; `other` gives the second operand.
/// Both weights are computed in double and used as float32, as torch does with Python floats.
template <typename Other>
cv::Mat blend(const cv::Mat& img, double ratio, Other&& other) {
  const auto a = static_cast<float>(ratio), b = static_cast<float>(1.0 - ratio);
  cv::Mat out(img.size(), CV_8UC3);
  for (int y = 0; y < img.rows; ++y) {
    const auto* s = img.ptr<cv::Vec3b>(y);
    auto* d = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < img.cols; ++x)
      for (int c = 0; c < 3; ++c)
        d[x][c] = to_u8(a * static_cast<float>(s[x][c]) + b * other(y, x, c));
  }
  return out;
}

/// rgb_to_grayscale for uint8: 0.2989 r + 0.587 g + 0.114 b, truncated.
cv::Mat grayscale(const cv::Mat& img) {
  cv::Mat gray(img.size(), CV_8UC1);
  for (int y = 0; y < img.rows; ++y) {
    const auto* s = img.ptr<cv::Vec3b>(y);
    auto* d = gray.ptr<uint8_t>(y);
    for (int x = 0; x < img.cols; ++x)
      d[x] = static_cast<uint8_t>(0.2989f * s[x][0] + 0.587f * s[x][1] + 0.114f * s[x][2]);
  }
  return gray;
}

/// adjust_sharpness's degenerate image: a 3x3 smoothing ([1 1 1; 1 5 1; 1 1 1] / 13), rounded,
/// on the interior; the border keeps its pixels.
cv::Mat blurred(const cv::Mat& img) {
  cv::Mat out = img.clone();
  const float w = 1.0f / 13.0f, center = 5.0f / 13.0f;
  for (int y = 1; y + 1 < img.rows; ++y)
    for (int x = 1; x + 1 < img.cols; ++x)
      for (int c = 0; c < 3; ++c) {
        float sum = 0;
        for (int dy = -1; dy <= 1; ++dy)
          for (int dx = -1; dx <= 1; ++dx)
            sum += (dx == 0 && dy == 0 ? center : w) * img.at<cv::Vec3b>(y + dy, x + dx)[c];
        out.at<cv::Vec3b>(y, x)[c] =
            static_cast<uint8_t>(std::clamp(std::nearbyint(sum), 0.0f, 255.0f));
      }
  return out;
}

cv::Mat per_channel_lut(const cv::Mat& img, const std::array<std::array<uint8_t, 256>, 3>& lut) {
  cv::Mat out(img.size(), CV_8UC3);
  for (int y = 0; y < img.rows; ++y) {
    const auto* s = img.ptr<cv::Vec3b>(y);
    auto* d = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < img.cols; ++x)
      for (int c = 0; c < 3; ++c) d[x][c] = lut[c][s[x][c]];
  }
  return out;
}

std::array<std::array<int64_t, 256>, 3> histograms(const cv::Mat& img) {
  std::array<std::array<int64_t, 256>, 3> hist{};
  for (int y = 0; y < img.rows; ++y) {
    const auto* s = img.ptr<cv::Vec3b>(y);
    for (int x = 0; x < img.cols; ++x)
      for (int c = 0; c < 3; ++c) ++hist[c][s[x][c]];
  }
  return hist;
}

cv::Mat autocontrast(const cv::Mat& img) {
  std::array<std::array<uint8_t, 256>, 3> lut{};
  const auto hist = histograms(img);
  for (int c = 0; c < 3; ++c) {
    int lo = 0, hi = 255;
    while (lo < 255 && hist[c][lo] == 0) ++lo;
    while (hi > 0 && hist[c][hi] == 0) --hi;
    const float minimum = hi > lo ? static_cast<float>(lo) : 0.0f;
    const float scale = hi > lo ? 255.0f / static_cast<float>(hi - lo) : 1.0f;
    for (int v = 0; v < 256; ++v) lut[c][v] = to_u8((static_cast<float>(v) - minimum) * scale);
  }
  return per_channel_lut(img, lut);
}

/// torchvision's _scale_channel: cumulative-histogram equalisation with PIL's step rule.
cv::Mat equalize(const cv::Mat& img) {
  std::array<std::array<uint8_t, 256>, 3> lut{};
  const auto hist = histograms(img);
  for (int c = 0; c < 3; ++c) {
    int64_t last_nonzero = 0, total = 0;
    for (int v = 0; v < 256; ++v)
      if (hist[c][v]) {
        total += hist[c][v];
        last_nonzero = hist[c][v];
      }
    const int64_t step = (total - last_nonzero) / 255;
    int64_t cumulative = 0;
    for (int v = 0; v < 256; ++v) {
      // lut[v] = (cumsum[v - 1] + step / 2) / step, lut[0] = 0.
      lut[c][v] = step == 0 ? static_cast<uint8_t>(v)
                            : static_cast<uint8_t>(std::clamp<int64_t>(
                                  v == 0 ? 0 : (cumulative + step / 2) / step, 0, 255));
      cumulative += hist[c][v];
    }
  }
  return per_channel_lut(img, lut);
}

/// out(x, y) = in(m * (x, y, 1)) with nearest sampling and a black fill; `m` maps output pixel
/// coordinates to input ones.
cv::Mat warp_inverse(const cv::Mat& img, const cv::Matx23d& m) {
  cv::Mat out;
  cv::warpAffine(img, out, cv::Mat(m), img.size(), cv::INTER_NEAREST | cv::WARP_INVERSE_MAP,
                 cv::BORDER_CONSTANT, cv::Scalar::all(0));
  return out;
}

}  // namespace

std::string to_string(TaOp op) {
  static const char* names[kTaOps] = {"identity",     "shear_x",   "shear_y",    "translate_x",
                                      "translate_y",  "rotate",    "brightness", "color",
                                      "contrast",     "sharpness", "posterize",  "solarize",
                                      "autocontrast", "equalize"};
  return names[static_cast<int>(op)];
}

double ta_magnitude(TaOp op, int bin) {
  switch (op) {
    case TaOp::shear_x:
    case TaOp::shear_y:
    case TaOp::brightness:
    case TaOp::color:
    case TaOp::contrast:
    case TaOp::sharpness:
      return linspace_bin(0.0f, 0.99f, bin);
    case TaOp::translate_x:
    case TaOp::translate_y:
      return linspace_bin(0.0f, 32.0f, bin);
    case TaOp::rotate:
      return linspace_bin(0.0f, 135.0f, bin);
    case TaOp::posterize:  // 8 - round(bin / 5)
      return 8.0 - std::nearbyint(static_cast<float>(bin) / ((kTaBins - 1) / 6.0f));
    case TaOp::solarize:
      return linspace_bin(255.0f, 0.0f, bin);
    default:
      return 0.0;
  }
}

bool ta_signed(TaOp op) {
  return op >= TaOp::shear_x && op <= TaOp::sharpness;
}

cv::Mat apply_ta_op(const cv::Mat& img, TaOp op, double magnitude) {
  if (img.type() != CV_8UC3) throw Error("trivial_augment: expected a uint8 RGB image");
  const double ratio = 1.0 + magnitude;
  switch (op) {
    case TaOp::identity:
      return img;
    case TaOp::shear_x:  // about the top-left corner; pixel centres at +0.5
      return warp_inverse(img, {1, magnitude, 0.5 * magnitude, 0, 1, 0});
    case TaOp::shear_y:
      return warp_inverse(img, {1, 0, 0, magnitude, 1, 0.5 * magnitude});
    case TaOp::translate_x:
      return warp_inverse(img, {1, 0, -std::trunc(magnitude), 0, 1, 0});
    case TaOp::translate_y:
      return warp_inverse(img, {1, 0, 0, 0, 1, -std::trunc(magnitude)});
    case TaOp::rotate: {  // counter-clockwise about the centre
      const cv::Point2f center(0.5f * (img.cols - 1), 0.5f * (img.rows - 1));
      cv::Mat out;
      cv::warpAffine(img, out, cv::getRotationMatrix2D(center, magnitude, 1.0), img.size(),
                     cv::INTER_NEAREST, cv::BORDER_CONSTANT, cv::Scalar::all(0));
      return out;
    }
    case TaOp::brightness:
      return blend(img, ratio, [](int, int, int) { return 0.0f; });
    case TaOp::color: {
      const cv::Mat gray = grayscale(img);
      return blend(img, ratio,
                   [&](int y, int x, int) { return static_cast<float>(gray.at<uint8_t>(y, x)); });
    }
    case TaOp::contrast: {
      const auto mean = static_cast<float>(cv::mean(grayscale(img))[0]);
      return blend(img, ratio, [mean](int, int, int) { return mean; });
    }
    case TaOp::sharpness: {
      if (img.rows <= 2 || img.cols <= 2) return img;
      const cv::Mat degenerate = blurred(img);
      return blend(img, ratio, [&](int y, int x, int c) {
        return static_cast<float>(degenerate.at<cv::Vec3b>(y, x)[c]);
      });
    }
    case TaOp::posterize: {
      const int bits = static_cast<int>(magnitude);
      const auto mask = static_cast<uint8_t>(~((1 << (8 - bits)) - 1));
      cv::Mat out;
      cv::bitwise_and(img, cv::Scalar::all(mask), out);
      return out;
    }
    case TaOp::solarize: {
      std::array<std::array<uint8_t, 256>, 3> lut{};
      for (int c = 0; c < 3; ++c)
        for (int v = 0; v < 256; ++v)
          lut[c][v] = static_cast<double>(v) >= magnitude ? static_cast<uint8_t>(255 - v)
                                                          : static_cast<uint8_t>(v);
      return per_channel_lut(img, lut);
    }
    case TaOp::autocontrast:
      return autocontrast(img);
    case TaOp::equalize:
      return equalize(img);
  }
  return img;
}

cv::Mat trivial_augment(const cv::Mat& rgb, std::mt19937_64& rng) {
  const auto op = static_cast<TaOp>(std::uniform_int_distribution<int>(0, kTaOps - 1)(rng));
  double magnitude = 0.0;
  if (op != TaOp::identity && op != TaOp::autocontrast && op != TaOp::equalize)
    magnitude = ta_magnitude(op, std::uniform_int_distribution<int>(0, kTaBins - 1)(rng));
  if (ta_signed(op) && std::uniform_int_distribution<int>(0, 1)(rng)) magnitude = -magnitude;
  return apply_ta_op(rgb, op, magnitude);
}

cv::Mat random_erasing(const cv::Mat& rgb, double p, const cv::Scalar& fill, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  if (p <= 0 || unit(rng) >= p) return rgb;
  const double area = static_cast<double>(rgb.rows) * rgb.cols;
  const double log_lo = std::log(0.3), log_hi = std::log(3.3);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double erase_area = area * (0.02 + unit(rng) * (0.33 - 0.02));
    const double aspect = std::exp(log_lo + unit(rng) * (log_hi - log_lo));
    const int h = static_cast<int>(std::lround(std::sqrt(erase_area * aspect)));
    const int w = static_cast<int>(std::lround(std::sqrt(erase_area / aspect)));
    if (!(h < rgb.rows && w < rgb.cols)) continue;
    const int i = std::uniform_int_distribution<int>(0, rgb.rows - h)(rng);
    const int j = std::uniform_int_distribution<int>(0, rgb.cols - w)(rng);
    cv::Mat out = rgb.clone();
    out(cv::Rect(j, i, w, h)).setTo(fill);
    return out;
  }
  return rgb;
}

}  // namespace garbage::data
