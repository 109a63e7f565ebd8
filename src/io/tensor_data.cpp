#include "garbage/io/tensor_data.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "garbage/core/errors.hpp"

namespace garbage::io {

size_t element_size(DType dtype) {
  switch (dtype) {
    case DType::float64:
    case DType::int64:
      return 8;
    case DType::float32:
    case DType::int32:
      return 4;
    case DType::float16:
    case DType::bfloat16:
    case DType::int16:
      return 2;
    case DType::int8:
    case DType::uint8:
    case DType::boolean:
      return 1;
  }
  return 1;
}

std::string to_string(DType dtype) {
  switch (dtype) {
    case DType::float32:
      return "float32";
    case DType::float64:
      return "float64";
    case DType::float16:
      return "float16";
    case DType::bfloat16:
      return "bfloat16";
    case DType::int64:
      return "int64";
    case DType::int32:
      return "int32";
    case DType::int16:
      return "int16";
    case DType::int8:
      return "int8";
    case DType::uint8:
      return "uint8";
    case DType::boolean:
      return "bool";
  }
  return "unknown";
}

int64_t checked_numel(const std::vector<int64_t>& shape, const std::string& context) {
  if (shape.size() > kMaxTensorDims)
    throw Error(context + ": tensor has " + std::to_string(shape.size()) + " dimensions (at most " +
                std::to_string(kMaxTensorDims) + ")");
  int64_t n = 1;
  for (auto s : shape) {
    if (s < 0 || s > kMaxTensorDimSize)
      throw Error(context + ": tensor size " + std::to_string(s) + " out of range");
    if (s != 0 && n > (int64_t{1} << 62) / s)
      throw Error(context + ": tensor has more than 2^62 elements");
    n *= s;
  }
  return n;
}

int64_t TensorData::numel() const {
  // Saturates instead of overflowing: shapes come from files and are checked afterwards.
  for (auto s : shape)
    if (s == 0) return 0;
  int64_t n = 1;
  for (auto s : shape)
    if (__builtin_mul_overflow(n, s, &n)) return std::numeric_limits<int64_t>::max();
  return n;
}

void check_unique_names(const StateDict& tensors, const std::string& context) {
  std::unordered_set<std::string> names;
  for (const auto& [name, t] : tensors)
    if (!names.insert(name).second) throw Error(context + ": tensor " + name + " appears twice");
}

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;)
    if (__builtin_mul_overflow(strides[i], std::max<int64_t>(1, shape[i]), &strides[i - 1]))
      strides[i - 1] = std::numeric_limits<int64_t>::max();  // refused later by check_bounds
  return strides;
}

void TensorData::check_bounds(const std::string& context) const {
  auto fail = [&](const std::string& why) { throw Error(context + ": " + why); };
  if (!storage) fail("tensor has no storage");
  if (shape.size() != strides.size())
    fail("tensor has " + std::to_string(shape.size()) + " sizes but " +
         std::to_string(strides.size()) + " strides");
  if (shape.size() > kMaxTensorDims)
    fail("tensor has " + std::to_string(shape.size()) + " dimensions");
  if (storage->dtype != dtype)
    fail("tensor of " + to_string(dtype) + " views a " + to_string(storage->dtype) + " storage");
  if (storage_offset < 0) fail("negative storage offset");
  // 128-bit arithmetic: sizes and strides come from the file and may be absurd.
  __int128 last = storage_offset;
  bool empty = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) fail("negative size in shape");
    if (strides[i] < 0) fail("negative stride");
    if (shape[i] > kMaxTensorDimSize || strides[i] > kMaxTensorDimSize)
      fail("tensor size or stride out of range");
    empty |= shape[i] == 0;
  }
  if (empty) return;  // an empty view addresses nothing
  for (size_t i = 0; i < shape.size(); ++i)
    last += static_cast<__int128>(shape[i] - 1) * static_cast<__int128>(strides[i]);
  int64_t available = static_cast<int64_t>(storage->bytes.size() / element_size(dtype));
  // Overlapping views (stride 0) could expand a few bytes into terabytes when copied; a
  // state_dict never holds them.
  __int128 count = 1;
  for (auto size : shape) {
    count *= size;
    if (count > available)
      fail("tensor view has more elements than its storage holds (" + std::to_string(available) +
           "): overlapping views are not supported");
  }
  if (last >= available) {
    std::string needed = last < std::numeric_limits<int64_t>::max()
                             ? std::to_string(static_cast<int64_t>(last) + 1)
                             : std::string("more than 2^63");
    fail("tensor view needs " + needed + " elements but its storage holds " +
         std::to_string(available));
  }
}

std::vector<uint8_t> contiguous_bytes(const TensorData& t, const std::string& context) {
  t.check_bounds(context);
  const size_t es = element_size(t.dtype);
  const int64_t n = t.numel();
  std::vector<uint8_t> out(static_cast<size_t>(n) * es);
  if (n == 0) return out;
  const uint8_t* base = t.storage->bytes.data();
  if (t.strides == contiguous_strides(t.shape)) {
    std::memcpy(out.data(), base + t.storage_offset * es, out.size());
    return out;
  }
  // A strided view (a transpose, a slice): walk its index space in row-major order.
  std::vector<int64_t> index(t.shape.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t offset = t.storage_offset;
    for (size_t d = 0; d < index.size(); ++d) offset += index[d] * t.strides[d];
    std::memcpy(out.data() + i * es, base + offset * es, es);
    for (size_t d = index.size(); d-- > 0;) {
      if (++index[d] < t.shape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

}  // namespace garbage::io
