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
