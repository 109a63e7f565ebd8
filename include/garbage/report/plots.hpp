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
