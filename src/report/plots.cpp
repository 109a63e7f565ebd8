#include "garbage/report/plots.hpp"

#include <algorithm>
#include <cmath>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "garbage/core/errors.hpp"

namespace garbage::report {
namespace {

const cv::Scalar kBlack(0, 0, 0), kWhite(255, 255, 255), kGrey(200, 200, 200);
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;

void put_text(cv::Mat& img, const std::string& text, cv::Point at, double scale,
              const cv::Scalar& colour = kBlack, bool centred = false) {
  int baseline = 0;
  cv::Size size = cv::getTextSize(text, kFont, scale, 1, &baseline);
  if (centred) at.x -= size.width / 2, at.y += size.height / 2;
  cv::putText(img, text, at, kFont, scale, colour, 1, cv::LINE_AA);
}

void save_png(const std::filesystem::path& path, const cv::Mat& img) {
  if (!cv::imwrite(path.string(), img)) throw Error(path.string() + ": cannot write PNG");
}

}  // namespace

void write_confusion_png(const std::filesystem::path& path,
                         const std::vector<std::vector<int64_t>>& confusion,
                         const std::vector<std::string>& class_names, const std::string& title) {
  const int n = static_cast<int>(confusion.size());
  const int cell = 64, left = 110, top = 70, bottom = 100;
  cv::Mat img(top + n * cell + bottom, left + n * cell + 20, CV_8UC3, kWhite);
  put_text(img, title, {10, 25}, 0.6);
  put_text(img, "true \\ predicted", {10, 55}, 0.45);
  for (int r = 0; r < n; ++r) {
    int64_t row_total = 0;
    for (auto v : confusion[r]) row_total += v;
    for (int c = 0; c < n; ++c) {
      double share = row_total ? static_cast<double>(confusion[r][c]) / row_total : 0.0;
      cv::Mat level(1, 1, CV_8UC1, cv::Scalar(static_cast<int>(share * 255)));
      cv::Mat colour;
      cv::applyColorMap(level, colour, cv::COLORMAP_VIRIDIS);
      cv::Rect box(left + c * cell, top + r * cell, cell, cell);
      cv::rectangle(img, box, cv::Scalar(colour.at<cv::Vec3b>(0, 0)), cv::FILLED);
      cv::rectangle(img, box, kGrey, 1);
      put_text(img, std::to_string(confusion[r][c]), {box.x + cell / 2, box.y + cell / 2}, 0.5,
               share > 0.6 ? kBlack : kWhite, true);
    }
    put_text(img, class_names[r], {8, top + r * cell + cell / 2 + 5}, 0.45);
  }
  for (int c = 0; c < n; ++c) {
    // Column labels are rotated so long class names do not overlap.
    cv::Mat label(cell, 90, CV_8UC3, kWhite);
    put_text(label, class_names[c], {2, cell / 2 + 5}, 0.45);
    cv::Mat rotated;
    cv::rotate(label, rotated, cv::ROTATE_90_COUNTERCLOCKWISE);
    rotated.copyTo(img(cv::Rect(left + c * cell, top + n * cell + 5, cell, 90)));
  }
  save_png(path, img);
}

void write_line_chart_png(const std::filesystem::path& path, const std::vector<Series>& series,
                          const std::string& title, const std::string& y_label) {
  const int width = 640, height = 400, left = 70, right = 150, top = 40, bottom = 50;
  cv::Mat img(height, width, CV_8UC3, kWhite);
  size_t points = 0;
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& s : series)
    for (double v : s.values)
      if (std::isfinite(v))
        lo = std::min(lo, v), hi = std::max(hi, v), points = std::max(points, s.values.size());
  put_text(img, title, {left, 25}, 0.6);
  if (points == 0) return save_png(path, img);
  if (hi - lo < 1e-12) hi = lo + 1.0;
  const int plot_w = width - left - right, plot_h = height - top - bottom;
  auto to_px = [&](size_t i, double v) {
    double x = points > 1 ? static_cast<double>(i) / (points - 1) : 0.5;
    return cv::Point(left + static_cast<int>(x * plot_w),
                     top + static_cast<int>((1.0 - (v - lo) / (hi - lo)) * plot_h));
  };
  cv::rectangle(img, {left, top, plot_w, plot_h}, kBlack, 1);
  for (int k = 0; k <= 4; ++k) {
    double v = lo + (hi - lo) * k / 4;
    int y = top + static_cast<int>((1.0 - k / 4.0) * plot_h);
    cv::line(img, {left, y}, {left + plot_w, y}, kGrey, 1);
    char text[32];
    std::snprintf(text, sizeof text, "%.3g", v);
    put_text(img, text, {5, y + 5}, 0.4);
  }
  put_text(img, "epoch 1", {left, top + plot_h + 20}, 0.4);
  put_text(img, "epoch " + std::to_string(points), {left + plot_w - 60, top + plot_h + 20}, 0.4);
  put_text(img, y_label, {left, height - 10}, 0.45);
  static const cv::Scalar palette[] = {
      {180, 119, 31}, {14, 127, 255}, {44, 160, 44}, {40, 39, 214}};
  for (size_t s = 0; s < series.size(); ++s) {
    const auto& colour = palette[s % 4];
    for (size_t i = 1; i < series[s].values.size(); ++i)
      cv::line(img, to_px(i - 1, series[s].values[i - 1]), to_px(i, series[s].values[i]), colour, 2,
               cv::LINE_AA);
    if (series[s].values.size() == 1) cv::circle(img, to_px(0, series[s].values[0]), 3, colour, -1);
    int y = top + 15 + static_cast<int>(s) * 20;
    cv::line(img, {width - right + 10, y - 4}, {width - right + 30, y - 4}, colour, 2);
    put_text(img, series[s].name, {width - right + 35, y}, 0.45);
  }
  save_png(path, img);
}

}  // namespace garbage::report
