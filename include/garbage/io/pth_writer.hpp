#pragma once
// Writes state_dicts in torch.save's zip format.

#include <filesystem>

#include "garbage/io/tensor_data.hpp"

namespace garbage::io {

/// Writes `tensors` as torch.save (PyTorch >= 1.6 zip format) does an OrderedDict state_dict:
/// torch.load reads it, and so does read_weights_file. Each tensor gets its own contiguous
/// storage. Not atomic.
void write_pth(const std::filesystem::path& path, const StateDict& tensors);

}  // namespace garbage::io
