#pragma once
// Reads safetensors files: a JSON header describing each tensor's dtype, shape and byte range.

#include <cstdint>
#include <string>
#include <vector>

#include "garbage/io/tensor_data.hpp"

namespace garbage::io {

/// True when `bytes` starts like a safetensors file (header length, then '{').
bool looks_like_safetensors(const std::vector<uint8_t>& bytes);

/// The tensors of a safetensors file in data order; throws Error prefixed by `context`.
StateDict read_safetensors(const std::vector<uint8_t>& bytes, const std::string& context);

}  // namespace garbage::io
