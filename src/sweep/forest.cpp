#include "garbage/sweep/forest.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace garbage::sweep {
namespace {

struct Split {
  int feature = -1;
  double threshold = 0, gain = 0;
};

class TreeBuilder {
 public:
  TreeBuilder(const std::vector<std::vector<double>>& x, const std::vector<double>& y,
              const ForestOptions& options, std::mt19937_64& rng, std::vector<double>& importance)
      : x_(x), y_(y), options_(options), rng_(rng), importance_(importance) {}

  void grow(std::vector<size_t> rows, int depth) {
    if (depth >= options_.max_depth || rows.size() < 2 * static_cast<size_t>(options_.min_leaf))
      return;
    Split best = best_split(rows);
    if (best.feature < 0 || best.gain <= 1e-15) return;
    importance_[static_cast<size_t>(best.feature)] += best.gain;
    std::vector<size_t> left, right;
    for (size_t r : rows)
      (x_[r][static_cast<size_t>(best.feature)] <= best.threshold ? left : right).push_back(r);
    grow(std::move(left), depth + 1);
    grow(std::move(right), depth + 1);
  }

 private:
  /// Best split over a random subset of features: the largest drop in total squared error.
  Split best_split(const std::vector<size_t>& rows) {
    const size_t d = x_[0].size();
    std::vector<size_t> features(d);
    std::iota(features.begin(), features.end(), 0);
    std::shuffle(features.begin(), features.end(), rng_);
    size_t tried =
        std::max<size_t>(1, static_cast<size_t>(std::ceil(options_.feature_fraction * d)));
    Split best;
    for (size_t fi = 0; fi < tried; ++fi) {
      size_t f = features[fi];
      std::vector<std::pair<double, double>> pts;
      for (size_t r : rows) pts.push_back({x_[r][f], y_[r]});
      std::sort(pts.begin(), pts.end());
      double total = 0, total_sq = 0;
      for (const auto& p : pts) total += p.second, total_sq += p.second * p.second;
      const double n = static_cast<double>(pts.size());
      const double sse = total_sq - total * total / n;
      double left = 0, left_sq = 0;
      for (size_t i = 0; i + 1 < pts.size(); ++i) {
        left += pts[i].second, left_sq += pts[i].second * pts[i].second;
        if (pts[i].first == pts[i + 1].first) continue;
        double nl = static_cast<double>(i + 1), nr = n - nl;
        if (nl < options_.min_leaf || nr < options_.min_leaf) continue;
        double right = total - left, right_sq = total_sq - left_sq;
        double split_sse = (left_sq - left * left / nl) + (right_sq - right * right / nr);
        double gain = sse - split_sse;
        if (gain > best.gain)
          best = {static_cast<int>(f), 0.5 * (pts[i].first + pts[i + 1].first), gain};
      }
    }
    return best;
  }

  const std::vector<std::vector<double>>& x_;
  const std::vector<double>& y_;
  const ForestOptions& options_;
  std::mt19937_64& rng_;
  std::vector<double>& importance_;
};

}  // namespace

std::vector<double> forest_importance(const std::vector<std::vector<double>>& x,
                                      const std::vector<double>& y, const ForestOptions& options) {
  const size_t n = x.size(), d = n ? x[0].size() : 0;
  std::vector<double> importance(d, 0.0);
  if (n < 3 || d == 0) return importance;
  std::mt19937_64 rng(options.seed);
  std::uniform_int_distribution<size_t> pick(0, n - 1);
  for (int t = 0; t < options.trees; ++t) {
    std::vector<size_t> rows(n);
    for (auto& r : rows) r = pick(rng);
    TreeBuilder(x, y, options, rng, importance).grow(std::move(rows), 0);
  }
  double sum = std::accumulate(importance.begin(), importance.end(), 0.0);
  if (sum > 0)
    for (auto& v : importance) v /= sum;
  return importance;
}

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  const size_t n = std::min(a.size(), b.size());
  if (n < 2) return NAN;
  double ma = 0, mb = 0;
  for (size_t i = 0; i < n; ++i) ma += a[i] / n, mb += b[i] / n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < n; ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  if (saa <= 1e-300 || sbb <= 1e-300) return NAN;
  return sab / std::sqrt(saa * sbb);
}

}  // namespace garbage::sweep
