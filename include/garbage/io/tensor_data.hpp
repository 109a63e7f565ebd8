#pragma once
// A torch-free description of a tensor read from a weight file: dtype, shape, strides and storage
// offset over a shared byte storage. Converting to torch::Tensor happens in one place
// (garbage/io/to_torch.hpp), so the file readers compile without libtorch headers.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace garbage::io {

enum class DType { float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, boolean };

size_t element_size(DType dtype);

/// Limits on what a weight file may declare; a real tensor is far below them, and they keep every
/// later product of sizes, strides and element sizes inside 64 bits.
inline constexpr size_t kMaxTensorDims = 16;
inline constexpr int64_t kMaxTensorDimSize = int64_t{1} << 40;

/// The number of elements of `shape` after checking it against the limits above (and that the
/// product stays below 2^62); throws Error prefixed by `context`.
int64_t checked_numel(const std::vector<int64_t>& shape, const std::string& context);
std::string to_string(DType dtype);

/// Raw bytes of one serialized storage. Several tensors may view the same storage.
struct Storage {
  DType dtype = DType::float32;
  int64_t numel = 0;           ///< elements, as declared by the file
  std::vector<uint8_t> bytes;  ///< filled once read; numel * element_size(dtype) bytes
};

struct TensorData {
  DType dtype = DType::float32;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;  ///< in elements
  int64_t storage_offset = 0;    ///< in elements
  std::shared_ptr<const Storage> storage;

  int64_t numel() const;
  /// Throws Error (prefixed by `context`) unless every element the view can address lies inside
  /// the storage's bytes. Called before any element is read.
  void check_bounds(const std::string& context) const;
};

/// Named tensors in file order (a state_dict).
using StateDict = std::vector<std::pair<std::string, TensorData>>;

/// Throws Error (prefixed by `context`) when two tensors share a name.
void check_unique_names(const StateDict& tensors, const std::string& context);

/// Contiguous row-major strides for `shape`.
std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape);

/// The elements `t` views, in row-major order (numel * element_size bytes). Bounds are checked
/// first (errors prefixed by `context`).
std::vector<uint8_t> contiguous_bytes(const TensorData& t, const std::string& context);

}  // namespace garbage::io
