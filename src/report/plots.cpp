#include "garbage/report/plots.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include <spdlog/spdlog.h>
#include <opencv2/imgproc.hpp>

#include "garbage/core/errors.hpp"
#include "garbage/data/image.hpp"
#include "garbage/report/png.hpp"

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

int text_width(const std::string& text, double scale) {
  int baseline = 0;
  return cv::getTextSize(text, kFont, scale, 1, &baseline).width;
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

namespace {

cv::Scalar viridis(double t) {
  cv::Mat level(1, 1, CV_8UC1, cv::Scalar(static_cast<int>(std::clamp(t, 0.0, 1.0) * 255)));
  cv::Mat colour;
  cv::applyColorMap(level, colour, cv::COLORMAP_VIRIDIS);
  return cv::Scalar(colour.at<cv::Vec3b>(0, 0));
}

std::string short_number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g", v);
  return text;
}

}  // namespace

void write_parallel_coordinates_png(const std::filesystem::path& path,
                                    const std::vector<Axis>& axes,
                                    const std::vector<double>& colour_values, bool higher_is_better,
                                    const std::string& title) {
  const int spacing = 120, top = 50, bottom = 70, plot_h = 360;
  const int n_axes = static_cast<int>(axes.size());
  // The outer axes' names are centred under them: the margins make room for half of each.
  const int left = std::max(60, text_width(axes.empty() ? "" : axes.front().name, 0.4) / 2 + 6);
  const int right = std::max(60, text_width(axes.empty() ? "" : axes.back().name, 0.4) / 2 + 6);
  const int width = std::max(400, left + right + spacing * std::max(0, n_axes - 1));
  cv::Mat img(top + plot_h + bottom, width, CV_8UC3, kWhite);
  put_text(img, title, {10, 25}, 0.6);
  auto axis_x = [&](int a) {
    return n_axes > 1 ? left + a * (width - left - right) / (n_axes - 1) : width / 2;
  };
  auto axis_y = [&](double pos) { return top + static_cast<int>((1.0 - pos) * plot_h); };
  double lo = INFINITY, hi = -INFINITY;
  for (double v : colour_values)
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (!(hi > lo)) hi = lo + 1.0;
  // Draw the worst lines first so the best stay visible on top.
  std::vector<size_t> order(colour_values.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return higher_is_better ? colour_values[a] < colour_values[b]
                            : colour_values[a] > colour_values[b];
  });
  for (size_t line : order) {
    double t = (colour_values[line] - lo) / (hi - lo);
    cv::Scalar colour = viridis(higher_is_better ? t : 1.0 - t);
    for (int a = 1; a < n_axes; ++a)
      cv::line(img, {axis_x(a - 1), axis_y(axes[a - 1].positions[line])},
               {axis_x(a), axis_y(axes[a].positions[line])}, colour, 2, cv::LINE_AA);
  }
  for (int a = 0; a < n_axes; ++a) {
    int x = axis_x(a);
    cv::line(img, {x, top}, {x, top + plot_h}, kBlack, 1);
    for (const auto& [pos, label] : axes[a].ticks) {
      cv::line(img, {x - 4, axis_y(pos)}, {x + 4, axis_y(pos)}, kBlack, 1);
      put_text(img, label, {x + 6, axis_y(pos) + 4}, 0.35);
    }
    // Alternate label rows so long names do not overlap.
    put_text(img, axes[a].name, {x, top + plot_h + 20 + (a % 2) * 18}, 0.4, kBlack, true);
  }
  save_png(path, img);
}

void write_scatter_png(const std::filesystem::path& path, const std::vector<double>& x,
                       const std::vector<double>& y, const std::vector<int>& group,
                       const std::vector<std::string>& group_names,
                       const std::vector<double>& step_line, const std::string& title,
                       const std::string& x_label, const std::string& y_label) {
  const int width = 640, height = 400, left = 70, right = 150, top = 40, bottom = 50;
  cv::Mat img(height, width, CV_8UC3, kWhite);
  put_text(img, title, {left, 25}, 0.6);
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  for (size_t i = 0; i < x.size(); ++i)
    if (std::isfinite(y[i]))
      xlo = std::min(xlo, x[i]), xhi = std::max(xhi, x[i]), ylo = std::min(ylo, y[i]),
      yhi = std::max(yhi, y[i]);
  if (!std::isfinite(xlo)) return save_png(path, img);
  if (xhi - xlo < 1e-12) xlo -= 1, xhi += 1;
  if (yhi - ylo < 1e-12) ylo -= 0.5, yhi += 0.5;
  const int plot_w = width - left - right, plot_h = height - top - bottom;
  // Data sit `inset` pixels inside the frame, so the extreme points and a best-so-far line at
  // the top stay visible instead of merging with the frame.
  const int inset = 8, data_w = plot_w - 2 * inset, data_h = plot_h - 2 * inset;
  auto to_px = [&](double vx, double vy) {
    return cv::Point(left + inset + static_cast<int>((vx - xlo) / (xhi - xlo) * data_w),
                     top + inset + static_cast<int>((1.0 - (vy - ylo) / (yhi - ylo)) * data_h));
  };
  cv::rectangle(img, {left, top, plot_w, plot_h}, kBlack, 1);
  for (int k = 0; k <= 4; ++k) {
    double v = ylo + (yhi - ylo) * k / 4;
    int py = to_px(xlo, v).y;
    cv::line(img, {left, py}, {left + plot_w, py}, kGrey, 1);
    put_text(img, short_number(v), {5, py + 5}, 0.4);
  }
  put_text(img, short_number(xlo), {to_px(xlo, ylo).x - 4, top + plot_h + 20}, 0.4);
  const std::string x_max = short_number(xhi);
  put_text(img, x_max, {to_px(xhi, ylo).x - text_width(x_max, 0.4) + 4, top + plot_h + 20}, 0.4);
  put_text(img, x_label + " / " + y_label, {left, height - 10}, 0.45);
  static const cv::Scalar palette[] = {{180, 119, 31}, {14, 127, 255}, {40, 39, 214}};
  for (size_t i = 1; i < step_line.size() && i < x.size(); ++i)
    if (std::isfinite(step_line[i - 1]) && std::isfinite(step_line[i])) {
      cv::Point a = to_px(x[i - 1], step_line[i - 1]), b = to_px(x[i], step_line[i]);
      cv::line(img, a, {b.x, a.y}, kBlack, 1, cv::LINE_AA);
      cv::line(img, {b.x, a.y}, b, kBlack, 1, cv::LINE_AA);
    }
  auto marker = [&](cv::Point p, int g) {
    const auto& colour = palette[g % 3];
    if (g == 0)
      cv::circle(img, p, 4, colour, cv::FILLED, cv::LINE_AA);
    else if (g == 1)
      cv::circle(img, p, 4, colour, 1, cv::LINE_AA);
    else
      cv::drawMarker(img, p, colour, cv::MARKER_CROSS, 8, 1);
  };
  for (size_t i = 0; i < x.size(); ++i)
    if (std::isfinite(y[i])) marker(to_px(x[i], y[i]), i < group.size() ? group[i] : 0);
  for (size_t g = 0; g < group_names.size(); ++g) {
    int py = top + 15 + static_cast<int>(g) * 20;
    marker({width - right + 20, py - 4}, static_cast<int>(g));
    put_text(img, group_names[g], {width - right + 35, py}, 0.45);
  }
  if (!step_line.empty()) {
    int py = top + 15 + static_cast<int>(group_names.size()) * 20;
    cv::line(img, {width - right + 10, py - 4}, {width - right + 30, py - 4}, kBlack, 1);
    put_text(img, "best so far", {width - right + 35, py}, 0.45);
  }
  save_png(path, img);
}

// --- prediction grid ---

std::vector<size_t> pick_grid_samples(const std::vector<int64_t>& targets, size_t count,
                                      uint64_t seed) {
  std::map<int64_t, std::vector<size_t>> by_class;
  for (size_t i = 0; i < targets.size(); ++i) by_class[targets[i]].push_back(i);
  std::mt19937_64 rng(seed);
  for (auto& [cls, rows] : by_class) std::shuffle(rows.begin(), rows.end(), rng);
  std::vector<size_t> picked;
  for (size_t round = 0; picked.size() < count; ++round) {
    bool any = false;
    for (const auto& [cls, rows] : by_class) {
      if (round >= rows.size() || picked.size() >= count) continue;
      picked.push_back(rows[round]);
      any = true;
    }
    if (!any) break;
  }
  std::stable_sort(picked.begin(), picked.end(),
                   [&](size_t a, size_t b) { return targets[a] < targets[b]; });
  return picked;
}

size_t write_prediction_grid(const std::filesystem::path& path,
                             const std::vector<PredictionSample>& samples,
                             const std::vector<std::string>& class_names,
                             const PredictionGridLayout& layout) {
  const cv::Scalar kRight(0, 150, 0), kWrong(0, 0, 220);
  cv::Mat img(layout.height(), layout.width(), CV_8UC3, kWhite);
  const size_t n = std::min(samples.size(), static_cast<size_t>(layout.cells()));
  auto label = [&](int64_t c) {
    return c >= 0 && c < static_cast<int64_t>(class_names.size()) ? class_names[c]
                                                                  : std::to_string(c);
  };
  for (size_t i = 0; i < n; ++i) {
    const auto& s = samples[i];
    const int col = static_cast<int>(i) % layout.columns,
              row = static_cast<int>(i) / layout.columns;
    const cv::Rect cell(layout.gap + col * (layout.thumb + layout.gap),
                        layout.gap + row * (layout.thumb + layout.caption + layout.gap),
                        layout.thumb, layout.thumb);
    const cv::Scalar colour = s.target == s.prediction ? kRight : kWrong;
    try {
      cv::Mat rgb = data::decode_rgb8(s.path), bgr, thumb;
      cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
      const double scale = static_cast<double>(layout.thumb) / std::max(bgr.cols, bgr.rows);
      cv::Size size(std::max(1, static_cast<int>(bgr.cols * scale)),
                    std::max(1, static_cast<int>(bgr.rows * scale)));
      cv::resize(bgr, thumb, size, 0, 0, cv::INTER_AREA);
      thumb.copyTo(
          img(cv::Rect(cell.x + (layout.thumb - size.width) / 2,
                       cell.y + (layout.thumb - size.height) / 2, size.width, size.height)));
    } catch (const Error& e) {
      spdlog::warn("prediction grid: {}", e.what());
      cv::rectangle(img, cell, kGrey, cv::FILLED);
    }
    cv::rectangle(img, cell, colour, 2);
    put_text(img, "true " + label(s.target), {cell.x, cell.y + layout.thumb + 14}, 0.38, colour);
    put_text(img, "pred " + label(s.prediction), {cell.x, cell.y + layout.thumb + 29}, 0.38,
             colour);
  }
  save_png(path, img);
  return n;
}

}  // namespace garbage::report
