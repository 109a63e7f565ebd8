#pragma once
// The search space of a parsed sweep: parameters mapped to and from the unit cube the Bayesian
// search works in, prior sampling and grid enumeration. Torch-free.

#include <random>
#include <vector>

#include "garbage/sweep/sweep_file.hpp"

namespace garbage::sweep {

/// Draws a parameter assignment from the prior distributions.
json sample_params(const SweepConfig& sweep, std::mt19937_64& rng);

/// Encodes an assignment into [0,1]^dims (log scale for log distributions, one-hot
/// categoricals, normals mapped from mu ± 3 sigma).
std::vector<double> encode_params(const SweepConfig& sweep, const json& params);

/// The valid assignment nearest to an encoded point: integers and q steps rounded, the largest
/// one-hot coordinate wins, values clamped to their ranges.
json decode_params(const SweepConfig& sweep, const std::vector<double>& x);

/// Every assignment of a grid sweep in a fixed order. Throws ConfigError for a continuous
/// parameter.
std::vector<json> grid_points(const SweepConfig& sweep);

}  // namespace garbage::sweep
