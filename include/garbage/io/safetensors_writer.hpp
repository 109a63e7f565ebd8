#pragma once
// Writes safetensors files.

#include <filesystem>
#include <map>
#include <string>

#include "garbage/io/tensor_data.hpp"

namespace garbage::io {

/// Free-form string pairs stored under a safetensors header's "__metadata__" key.
using SafetensorsMetadata = std::map<std::string, std::string>;

/// Writes `tensors` as a safetensors file (contiguous copies of each view), their data in
/// StateDict order. Not atomic: write to a temporary name and rename for that.
void write_safetensors(const std::filesystem::path& path, const StateDict& tensors,
                       const SafetensorsMetadata& metadata = {});

}  // namespace garbage::io
