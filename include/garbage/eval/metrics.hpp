#pragma once
// Classification metrics from predictions: accuracy, per-class precision/recall/F1/support,
// macro and weighted F1, confusion matrix. Torch-free.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace garbage::eval {

struct ClassMetrics {
  double precision = 0, recall = 0, f1 = 0;
  int64_t support = 0;
};

struct Metrics {
  int64_t count = 0;
  double loss = 0;  ///< mean cross-entropy
  double accuracy = 0;
  std::vector<std::vector<int64_t>> confusion;  ///< [true][predicted]
  std::vector<ClassMetrics> per_class;
  double macro_f1 = 0, weighted_f1 = 0;
};

/// `loss_sum` is the summed (not mean) loss over all samples.
Metrics compute_metrics(const std::vector<int64_t>& targets,
                        const std::vector<int64_t>& predictions, int64_t num_classes,
                        double loss_sum);

/// The same metrics from a confusion matrix ([true][predicted]) and the summed loss, e.g. after
/// adding up the matrices of several data-parallel ranks.
Metrics metrics_from_confusion(std::vector<std::vector<int64_t>> confusion, double loss_sum);

nlohmann::json metrics_to_json(const Metrics& m, const std::vector<std::string>& class_names);

/// A fixed-width text table (per class + macro/weighted rows) for the terminal.
std::string format_metrics_table(const Metrics& m, const std::vector<std::string>& class_names);

}  // namespace garbage::eval
