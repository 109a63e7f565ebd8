#include "garbage/io/safetensors.hpp"

#include <map>

#include "garbage/core/errors.hpp"

namespace garbage::io {

DType parse_safetensors_dtype(const std::string& name, const std::string& context) {
  static const std::map<std::string, DType> names = {
      {"F32", DType::float32},   {"F64", DType::float64}, {"F16", DType::float16},
      {"BF16", DType::bfloat16}, {"I64", DType::int64},   {"I32", DType::int32},
      {"I16", DType::int16},     {"I8", DType::int8},     {"U8", DType::uint8},
      {"BOOL", DType::boolean}};
  auto it = names.find(name);
  if (it == names.end()) throw Error(context + ": unsupported safetensors dtype " + name);
  return it->second;
}

std::string safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::float32:
      return "F32";
    case DType::float64:
      return "F64";
    case DType::float16:
      return "F16";
    case DType::bfloat16:
      return "BF16";
    case DType::int64:
      return "I64";
    case DType::int32:
      return "I32";
    case DType::int16:
      return "I16";
    case DType::int8:
      return "I8";
    case DType::uint8:
      return "U8";
    case DType::boolean:
      return "BOOL";
  }
  return "U8";
}

}  // namespace garbage::io
