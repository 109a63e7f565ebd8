#pragma once
// torch.save's legacy format (PyTorch < 1.6): magic number, protocol and system info pickles,
// the object pickle, the storage key list, then each storage's bytes.

#include <cstdint>
#include <string>
#include <vector>

#include "garbage/io/pickle.hpp"

namespace garbage::io {

/// The unpickled object of a legacy torch.save file, tensors resolved and bounds-checked.
PickleValuePtr read_torch_legacy_object(const std::vector<uint8_t>& bytes,
                                        const std::string& context);

}  // namespace garbage::io
