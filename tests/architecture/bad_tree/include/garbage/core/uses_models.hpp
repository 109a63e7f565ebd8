#pragma once
// Fixture for the architecture.layers_catch_violations test: core may not include models.
#include "garbage/models/registry.hpp"
