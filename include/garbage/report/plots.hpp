#pragma once
// Figures written as PNG with OpenCV's drawing functions.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace garbage::report {

/// Confusion-matrix heatmap: rows true class, columns predicted, counts in the cells, colour by
/// row-normalised value.
void write_confusion_png(const std::filesystem::path& path,
                         const std::vector<std::vector<int64_t>>& confusion,
                         const std::vector<std::string>& class_names, const std::string& title);

struct Series {
  std::string name;
  std::vector<double> values;
};

/// A line chart of one or more series over epochs (1-based x axis), e.g. loss curves.
void write_line_chart_png(const std::filesystem::path& path, const std::vector<Series>& series,
                          const std::string& title, const std::string& y_label);

}  // namespace garbage::report

namespace garbage::report {

/// One axis of a parallel-coordinates plot: every line's position on it in [0, 1] and the
/// labels to draw at given positions (e.g. the choices of a categorical parameter).
struct Axis {
  std::string name;
  std::vector<double> positions;  ///< one per line, in [0, 1]
  std::vector<std::pair<double, std::string>> ticks;
};

/// Parallel coordinates: one polyline per row across the axes, coloured by `colour_values`
/// (viridis, low to high; `higher_is_better` puts the best lines on top).
void write_parallel_coordinates_png(const std::filesystem::path& path, const std::vector<Axis>& axes,
                                    const std::vector<double>& colour_values, bool higher_is_better,
                                    const std::string& title);

/// A scatter of values against x (e.g. metric per trial number), markers by group (0: filled
/// circle, 1: hollow circle, 2: cross) with a legend, plus an optional step line (best so far).
void write_scatter_png(const std::filesystem::path& path, const std::vector<double>& x,
                       const std::vector<double>& y, const std::vector<int>& group,
                       const std::vector<std::string>& group_names,
                       const std::vector<double>& step_line, const std::string& title,
                       const std::string& x_label, const std::string& y_label);

}  // namespace garbage::report

namespace garbage::report {

/// Prediction grid: `columns` x `rows` thumbnails, each with its true and predicted label below.
struct PredictionGridLayout {
  int columns = 10, rows = 3;
  int thumb = 128;   ///< thumbnail side; images keep their aspect ratio inside it
  int caption = 34;  ///< two text lines under each thumbnail
  int gap = 8;
  int cells() const { return columns * rows; }
  int width() const { return gap + columns * (thumb + gap); }
  int height() const { return gap + rows * (thumb + caption + gap); }
};

struct PredictionSample {
  std::string path;
  int64_t target = 0, prediction = 0;
};

/// Indices of up to `count` samples spread over the true classes: each class's samples in a
/// seeded shuffle, taken round robin over the classes, then ordered by class. Deterministic.
std::vector<size_t> pick_grid_samples(const std::vector<int64_t>& targets, size_t count,
                                      uint64_t seed);

/// Draws `samples` (at most layout.cells(), in order) as thumbnails decoded from their files,
/// with "true" and "pred" labels, both green when right and red when wrong. An unreadable file
/// is drawn as a grey box. Returns the number of thumbnails drawn.
size_t write_prediction_grid(const std::filesystem::path& path,
                             const std::vector<PredictionSample>& samples,
                             const std::vector<std::string>& class_names,
                             const PredictionGridLayout& layout = {});

}  // namespace garbage::report
