#pragma once
// A small random-forest regressor, only for "parameter importance" in sweep reports: the mean
// decrease in squared error each feature's splits achieve over bootstrapped trees (what the
// cloud sweep services show). Deterministic for a seed. Torch-free.

#include <cstdint>
#include <vector>

namespace garbage::sweep {

struct ForestOptions {
  int trees = 200;
  int max_depth = 8;
  int min_leaf = 2;
  double feature_fraction = 0.5;  ///< features tried at each split (at least one)
  uint64_t seed = 1;
};

/// Impurity-based importance of each column of `x` for predicting `y`, normalised to sum 1 (all
/// zeros when `y` is constant or there are fewer than 3 rows).
std::vector<double> forest_importance(const std::vector<std::vector<double>>& x,
                                      const std::vector<double>& y,
                                      const ForestOptions& options = {});

/// Pearson correlation (NaN when either side is constant).
double pearson(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace garbage::sweep
