#pragma once
// model.bn_momentum / model.bn_eps for every model family (issue 14): a family's spec declares
// them with its defaults, and create_model sets them on every BatchNorm layer it builds.

#include "garbage/models/registry.hpp"

namespace garbage::models {

/// Adds `bn_momentum` and `bn_eps` (with the family's defaults) to a spec's options;
/// create_model sets them on every BatchNorm layer of the built model. A model section without
/// them (a checkpoint written before they existed) keeps the values the family builds with.
void add_batchnorm_keys(ModelSpec& spec, double momentum, double eps);

}  // namespace garbage::models
