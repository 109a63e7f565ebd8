#include "garbage/eval/metrics.hpp"

#include <cstdio>

#include "garbage/core/errors.hpp"

namespace garbage::eval {

Metrics compute_metrics(const std::vector<int64_t>& targets,
                        const std::vector<int64_t>& predictions, int64_t num_classes,
                        double loss_sum) {
  if (targets.size() != predictions.size())
    throw Error("compute_metrics: targets and predictions differ in length");
  std::vector<std::vector<int64_t>> confusion(num_classes, std::vector<int64_t>(num_classes, 0));
  for (size_t i = 0; i < targets.size(); ++i) {
    auto t = targets[i], p = predictions[i];
    if (t < 0 || t >= num_classes || p < 0 || p >= num_classes)
      throw Error("compute_metrics: label out of range");
    ++confusion[t][p];
  }
  return metrics_from_confusion(std::move(confusion), loss_sum);
}

Metrics metrics_from_confusion(std::vector<std::vector<int64_t>> confusion, double loss_sum) {
  Metrics m;
  const auto num_classes = static_cast<int64_t>(confusion.size());
  int64_t correct = 0;
  for (int64_t c = 0; c < num_classes; ++c) {
    correct += confusion[c][c];
    for (auto n : confusion[c]) m.count += n;
  }
  m.confusion = std::move(confusion);
  if (m.count == 0) return m;
  m.accuracy = static_cast<double>(correct) / m.count;
  m.loss = loss_sum / m.count;
  m.per_class.resize(num_classes);
  for (int64_t c = 0; c < num_classes; ++c) {
    int64_t tp = m.confusion[c][c], predicted = 0, actual = 0;
    for (int64_t k = 0; k < num_classes; ++k)
      predicted += m.confusion[k][c], actual += m.confusion[c][k];
    auto& pc = m.per_class[c];
    pc.support = actual;
    // sklearn's zero_division=0 convention: an empty denominator scores 0.
    pc.precision = predicted ? static_cast<double>(tp) / predicted : 0.0;
    pc.recall = actual ? static_cast<double>(tp) / actual : 0.0;
    pc.f1 = pc.precision + pc.recall > 0 ? 2 * pc.precision * pc.recall / (pc.precision + pc.recall)
                                         : 0.0;
    m.macro_f1 += pc.f1 / num_classes;
    m.weighted_f1 += pc.f1 * actual / m.count;
  }
  return m;
}

nlohmann::json metrics_to_json(const Metrics& m, const std::vector<std::string>& class_names) {
  nlohmann::json per_class = nlohmann::json::object();
  for (size_t c = 0; c < m.per_class.size(); ++c) {
    const auto& pc = m.per_class[c];
    std::string name = c < class_names.size() ? class_names[c] : std::to_string(c);
    per_class[name] = {
        {"precision", pc.precision}, {"recall", pc.recall}, {"f1", pc.f1}, {"support", pc.support}};
  }
  return {{"count", m.count},           {"accuracy", m.accuracy},         {"loss", m.loss},
          {"macro_f1", m.macro_f1},     {"weighted_f1", m.weighted_f1},   {"per_class", per_class},
          {"class_names", class_names}, {"confusion_matrix", m.confusion}};
}

std::string format_metrics_table(const Metrics& m, const std::vector<std::string>& class_names) {
  std::string out;
  char line[160];
  std::snprintf(line, sizeof line, "%-12s %9s %9s %9s %8s\n", "class", "precision", "recall", "f1",
                "support");
  out += line;
  for (size_t c = 0; c < m.per_class.size(); ++c) {
    const auto& pc = m.per_class[c];
    std::snprintf(line, sizeof line, "%-12s %9.4f %9.4f %9.4f %8lld\n",
                  c < class_names.size() ? class_names[c].c_str() : "?", pc.precision, pc.recall,
                  pc.f1, static_cast<long long>(pc.support));
    out += line;
  }
  std::snprintf(line, sizeof line, "%-12s %9s %9s %9.4f %8lld\n%-12s %9s %9s %9.4f %8lld\n",
                "macro avg", "", "", m.macro_f1, static_cast<long long>(m.count), "weighted avg",
                "", "", m.weighted_f1, static_cast<long long>(m.count));
  out += line;
  std::snprintf(line, sizeof line, "accuracy %.4f (%lld images), loss %.4f", m.accuracy,
                static_cast<long long>(m.count), m.loss);
  out += line;
  return out;
}

}  // namespace garbage::eval
