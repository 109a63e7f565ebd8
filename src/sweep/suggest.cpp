#include "garbage/sweep/suggest.hpp"

#include <algorithm>
#include <cmath>

#include "garbage/core/runtime.hpp"
#include "garbage/sweep/gp.hpp"

namespace garbage::sweep {
namespace {

bool same_point(const std::vector<double>& a, const std::vector<double>& b) {
  for (size_t i = 0; i < a.size(); ++i)
    if (std::abs(a[i] - b[i]) > 1e-9) return false;
  return true;
}

bool taken(const std::vector<double>& x, const Matrix& points) {
  return std::any_of(points.begin(), points.end(),
                     [&](const std::vector<double>& p) { return same_point(x, p); });
}

std::optional<json> next_grid_point(const SweepConfig& sweep,
                                    const std::vector<Observation>& history) {
  Matrix seen;
  for (const auto& o : history) seen.push_back(encode_params(sweep, o.params));
  for (const auto& point : grid_points(sweep))
    if (!taken(encode_params(sweep, point), seen)) return point;
  return std::nullopt;
}

/// A random draw, avoiding points already tried when the space is small enough to repeat.
json random_point(const SweepConfig& sweep, const Matrix& seen, std::mt19937_64& rng) {
  json params = sample_params(sweep, rng);
  for (int attempt = 0; attempt < 50 && taken(encode_params(sweep, params), seen); ++attempt)
    params = sample_params(sweep, rng);
  return params;
}

struct Scored {
  std::vector<double> x;
  double ei = 0;
};

class EiSearch {
 public:
  EiSearch(const SweepConfig& sweep, const GaussianProcess& gp, double best, double xi)
      : sweep_(sweep), gp_(gp), best_(best), xi_(xi) {}

  Scored score(std::vector<double> x) const {
    double mean = 0, sd = 0;
    gp_.predict(x, mean, sd);
    return {std::move(x), expected_improvement(mean, sd, best_, xi_)};
  }

  /// Gaussian steps in the unit cube, snapped back to valid points, shrinking as it goes.
  Scored refine(Scored start, int steps, std::mt19937_64& rng) const {
    double sigma = 0.15;
    std::normal_distribution<double> noise(0.0, 1.0);
    for (int i = 0; i < steps; ++i, sigma *= 0.93) {
      std::vector<double> x = start.x;
      for (auto& v : x) v = std::clamp(v + sigma * noise(rng), 0.0, 1.0);
      Scored next = score(encode_params(sweep_, decode_params(sweep_, x)));
      if (next.ei > start.ei) start = std::move(next);
    }
    return start;
  }

 private:
  const SweepConfig& sweep_;
  const GaussianProcess& gp_;
  double best_, xi_;
};

json bayes_point(const SweepConfig& sweep, const std::vector<Observation>& history,
                 const SuggestOptions& options, std::mt19937_64& rng) {
  Matrix x, seen;
  std::vector<double> y;
  double worst = INFINITY, best = -INFINITY;
  for (const auto& o : history)
    if (o.kind == Observation::Kind::done) {
      double s = sweep.score(o.value);
      if (!std::isfinite(s)) continue;
      worst = std::min(worst, s), best = std::max(best, s);
    }
  for (const auto& o : history) {
    auto point = encode_params(sweep, o.params);
    seen.push_back(point);
    double s = o.kind == Observation::Kind::done ? sweep.score(o.value) : worst;
    if (!std::isfinite(s)) s = worst;
    // Pending trials take the worst value seen (a pessimistic constant liar): the posterior
    // collapses around them, so parallel workers are steered elsewhere.
    x.push_back(std::move(point));
    y.push_back(s);
  }
  GaussianProcess gp;
  gp.fit(x, y, rng);
  double spread = 0;
  for (double v : y) spread = std::max(spread, std::abs(v - best));
  EiSearch search(sweep, gp, best, 0.01 * std::max(spread, 1e-6));

  std::vector<Scored> candidates;
  for (int i = 0; i < options.candidates; ++i)
    candidates.push_back(search.score(encode_params(sweep, sample_params(sweep, rng))));
  std::sort(candidates.begin(), candidates.end(),
            [](const Scored& a, const Scored& b) { return a.ei > b.ei; });
  std::vector<Scored> refined;
  for (int i = 0; i < std::min<int>(options.refine_starts, static_cast<int>(candidates.size()));
       ++i)
    refined.push_back(search.refine(candidates[static_cast<size_t>(i)], options.refine_steps, rng));
  refined.insert(refined.end(), candidates.begin(), candidates.end());
  std::stable_sort(refined.begin(), refined.end(),
                   [](const Scored& a, const Scored& b) { return a.ei > b.ei; });
  for (const auto& c : refined)
    if (!taken(c.x, seen)) return decode_params(sweep, c.x);
  return random_point(sweep, seen, rng);
}

}  // namespace

std::optional<json> suggest(const SweepConfig& sweep, const std::vector<Observation>& history,
                            uint64_t seed, const SuggestOptions& options) {
  if (sweep.method == Method::grid) return next_grid_point(sweep, history);
  std::mt19937_64 rng(mix_seed(seed, history.size()));
  Matrix seen;
  int known = 0;
  for (const auto& o : history) {
    seen.push_back(encode_params(sweep, o.params));
    if (o.kind == Observation::Kind::done && std::isfinite(o.value)) ++known;
  }
  bool warm = known > 0 && static_cast<int>(history.size()) >= options.initial_random;
  if (sweep.method == Method::random || !warm || sweep.dims() == 0)
    return random_point(sweep, seen, rng);
  return bayes_point(sweep, history, options, rng);
}

}  // namespace garbage::sweep
