#pragma once
// torch.save's zip format (PyTorch >= 1.6): data.pkl plus one stored entry per storage.

#include <cstdint>
#include <string>
#include <vector>

#include "garbage/io/pickle.hpp"

namespace garbage::io {

/// The unpickled object of a torch.save zip archive, tensors resolved and bounds-checked.
PickleValuePtr read_torch_zip_object(const std::vector<uint8_t>& bytes, const std::string& context);

}  // namespace garbage::io
