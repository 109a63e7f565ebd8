#include "garbage/sweep/hyperband.hpp"

#include <algorithm>
#include <cmath>

namespace garbage::sweep {

HyperbandRule::HyperbandRule(const HyperbandConfig& config, Goal goal, int64_t epochs)
    : config_(config), goal_(goal), brackets_(config.brackets(epochs)) {}

bool HyperbandRule::is_bracket(int64_t epoch) const {
  return std::find(brackets_.begin(), brackets_.end(), epoch) != brackets_.end();
}

double HyperbandRule::value_at(const LearningCurve& curve, int64_t epoch) const {
  double best = NAN;
  for (int64_t e = 0; e < epoch; ++e) {
    double v = curve.values[static_cast<size_t>(e)];
    if (std::isnan(v)) continue;
    if (std::isnan(best) || (goal_ == Goal::maximize ? v > best : v < best)) best = v;
  }
  return best;
}

bool HyperbandRule::should_stop(int64_t trial, int64_t epoch,
                                const std::vector<LearningCurve>& curves) const {
  if (!is_bracket(epoch)) return false;
  std::vector<double> scores;  // higher is better
  double own = NAN;
  for (const auto& c : curves) {
    if (static_cast<int64_t>(c.values.size()) < epoch) continue;
    double v = value_at(c, epoch);
    if (std::isnan(v)) continue;
    double score = goal_ == Goal::maximize ? v : -v;
    scores.push_back(score);
    if (c.trial == trial) own = score;
  }
  if (std::isnan(own)) return false;  // nothing to judge it by
  std::sort(scores.begin(), scores.end(), std::greater<double>());
  auto keep = static_cast<size_t>(std::ceil(static_cast<double>(scores.size()) / config_.eta));
  keep = std::max<size_t>(keep, 1);
  return own < scores[keep - 1];
}

}  // namespace garbage::sweep
