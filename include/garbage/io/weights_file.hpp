#pragma once
// Reading weight files without Python: PyTorch checkpoints written by torch.save (the zip format
// of PyTorch >= 1.6 and the legacy format before it) and safetensors. This file tells the formats
// apart and finds the state_dict; each format has its own reader. Torch-free; see
// garbage/io/to_torch.hpp for the conversion to torch::Tensor.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "garbage/io/pickle.hpp"
// The writers, for callers that read and write weight files through this one header.
#include "garbage/io/pth_writer.hpp"
#include "garbage/io/safetensors_writer.hpp"
#include "garbage/io/tensor_data.hpp"

namespace garbage::io {

enum class WeightsFormat { torch_zip, torch_legacy, safetensors };
std::string to_string(WeightsFormat format);

struct WeightsFile {
  WeightsFormat format = WeightsFormat::torch_zip;
  StateDict tensors;
  std::string nested_key;  ///< "state_dict", "model", ... when the state_dict was nested
  bool stripped_module_prefix = false;  ///< "module." (DataParallel) removed from every key
  std::vector<std::string> skipped;     ///< non-tensor entries of the state_dict
};

/// Reads a weight file of any supported format and extracts its state_dict. Throws Error naming
/// the file for anything unreadable, malformed, truncated or unsafe.
WeightsFile read_weights_file(const std::filesystem::path& path);

/// The same from memory; `context` names the source in errors.
WeightsFile read_weights_bytes(const std::vector<uint8_t>& bytes, const std::string& context);

/// The whole unpickled object of a torch.save file (tensors resolved and bounds-checked).
PickleValuePtr read_torch_object(const std::vector<uint8_t>& bytes, const std::string& context);

}  // namespace garbage::io
