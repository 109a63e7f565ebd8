#pragma once
// `garbage sweep report`: trials ranked, the best trial's ready-to-run train config, each
// parameter's correlation with the metric and its random-forest importance, and two figures.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "garbage/sweep/space.hpp"
#include "garbage/sweep/storage.hpp"

namespace garbage::sweep {

struct ParameterStats {
  std::string name;
  double importance = 0;  ///< share of the forest's error reduction (sums to 1 over parameters)
  /// Pearson correlation with the metric: one row for a numeric parameter (on its log for log
  /// distributions, its rank for numeric choices), one per choice ("name=value") otherwise.
  std::vector<std::pair<std::string, double>> correlations;
};

struct SweepReport {
  json data;                        ///< everything, as written to report.json
  std::string text;                 ///< ranked trials and the parameter table, for the console
  std::optional<json> best_config;  ///< the best trial's full train document
  std::vector<ParameterStats> parameters;
};

SweepReport build_report(const std::string& name, const SweepConfig& sweep,
                         const std::vector<TrialRecord>& trials);

/// Writes report.json, best_config.json (when there is a best trial), parallel_coordinates.png
/// and metric_vs_trial.png into `dir`.
void write_report_files(const SweepReport& report, const SweepConfig& sweep,
                        const std::vector<TrialRecord>& trials, const std::filesystem::path& dir);

}  // namespace garbage::sweep
