#pragma once
// The safetensors format's vocabulary, shared by its reader and writer: an 8-byte little-endian
// header length, a JSON header, then the tensors' bytes.

#include <string>

#include "garbage/io/tensor_data.hpp"

namespace garbage::io {

/// "F32" -> float32, ...; throws Error (prefixed by `context`) for anything else.
DType parse_safetensors_dtype(const std::string& name, const std::string& context);

/// The inverse: float32 -> "F32", ...
std::string safetensors_dtype_name(DType dtype);

}  // namespace garbage::io
