#include "garbage/io/to_torch.hpp"

#include <cstring>

#include <torch/torch.h>

#include "garbage/core/errors.hpp"

namespace garbage::io {

torch::ScalarType to_scalar_type(DType dtype) {
  switch (dtype) {
    case DType::float32:
      return torch::kFloat32;
    case DType::float64:
      return torch::kFloat64;
    case DType::float16:
      return torch::kFloat16;
    case DType::bfloat16:
      return torch::kBFloat16;
    case DType::int64:
      return torch::kInt64;
    case DType::int32:
      return torch::kInt32;
    case DType::int16:
      return torch::kInt16;
    case DType::int8:
      return torch::kInt8;
    case DType::uint8:
      return torch::kUInt8;
    case DType::boolean:
      return torch::kBool;
  }
  return torch::kUInt8;
}

DType from_scalar_type(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat32:
      return DType::float32;
    case torch::kFloat64:
      return DType::float64;
    case torch::kFloat16:
      return DType::float16;
    case torch::kBFloat16:
      return DType::bfloat16;
    case torch::kInt64:
      return DType::int64;
    case torch::kInt32:
      return DType::int32;
    case torch::kInt16:
      return DType::int16;
    case torch::kInt8:
      return DType::int8;
    case torch::kUInt8:
      return DType::uint8;
    case torch::kBool:
      return DType::boolean;
    default:
      throw Error(std::string("unsupported tensor type ") + c10::toString(type));
  }
}

torch::Tensor to_torch(const TensorData& t, const std::string& context) {
  t.check_bounds(context);
  auto type = to_scalar_type(t.dtype);
  int64_t elements = static_cast<int64_t>(t.storage->bytes.size() / element_size(t.dtype));
  // from_blob does not copy; the clone below does, so the result owns its memory.
  auto flat = torch::from_blob(const_cast<uint8_t*>(t.storage->bytes.data()), {elements},
                               torch::TensorOptions().dtype(type));
  return flat.as_strided(t.shape, t.strides, t.storage_offset)
      .clone(torch::MemoryFormat::Contiguous);
}

TensorData from_torch(const torch::Tensor& tensor) {
  auto c = tensor.detach().cpu().contiguous();
  auto storage = std::make_shared<Storage>();
  storage->dtype = from_scalar_type(c.scalar_type());
  storage->numel = c.numel();
  storage->bytes.resize(c.numel() * c.element_size());
  if (c.numel()) std::memcpy(storage->bytes.data(), c.data_ptr(), storage->bytes.size());
  TensorData t;
  t.dtype = storage->dtype;
  t.shape = c.sizes().vec();
  t.strides = contiguous_strides(t.shape);
  t.storage = std::move(storage);
  return t;
}

namespace {

void append_state(const torch::nn::Module& module, const std::string& prefix, StateDict& out) {
  // Undefined tensors are libtorch's placeholders for absent ones (a conv without bias).
  for (const auto& p : module.named_parameters(/*recurse=*/false))
    if (p.value().defined()) out.emplace_back(prefix + p.key(), from_torch(p.value()));
  for (const auto& b : module.named_buffers(/*recurse=*/false))
    if (b.value().defined()) out.emplace_back(prefix + b.key(), from_torch(b.value()));
  for (const auto& child : module.named_children())
    append_state(*child.value(), prefix + child.key() + ".", out);
}

}  // namespace

StateDict module_state_dict(const torch::nn::Module& module) {
  StateDict out;
  append_state(module, "", out);
  return out;
}

}  // namespace garbage::io
