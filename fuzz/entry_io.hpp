#pragma once
// Entry points of the torch-free weight-file readers, shared by the libFuzzer harnesses and the
// regression test that replays fuzz/regressions/ under ctest. Each feeds one input to a reader
// and then uses what it returned the way the program would; garbage::Error is the clean outcome,
// anything else (a crash, a sanitizer report, another exception) is a finding.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "garbage/core/errors.hpp"
#include "garbage/io/pickle.hpp"
#include "garbage/io/safetensors_reader.hpp"
#include "garbage/io/tensor_data.hpp"
#include "garbage/io/torch_legacy_reader.hpp"
#include "garbage/io/torch_storage.hpp"
#include "garbage/io/torch_zip_reader.hpp"
#include "garbage/io/weights_file.hpp"
#include "garbage/io/zip.hpp"

namespace garbage::fuzz {

/// What the program does with a state_dict: copy every tensor out (as io::to_torch does).
inline void use_state_dict(const io::StateDict& tensors) {
  for (const auto& [name, t] : tensors) (void)io::contiguous_bytes(t, name);
}

/// The full reader: format detection, the format's reader, state_dict extraction.
inline void read_weights(const std::vector<uint8_t>& bytes) {
  use_state_dict(io::read_weights_bytes(bytes, "fuzz").tensors);
}

inline void torch_zip(const std::vector<uint8_t>& bytes) {
  (void)io::read_torch_zip_object(bytes, "fuzz");
  read_weights(bytes);
}

inline void torch_legacy(const std::vector<uint8_t>& bytes) {
  (void)io::read_torch_legacy_object(bytes, "fuzz");
  read_weights(bytes);
}

inline void safetensors(const std::vector<uint8_t>& bytes) {
  use_state_dict(io::read_safetensors(bytes, "fuzz"));
}

/// The pickle machine alone, with a persistent_load that makes a zero-filled storage of the
/// declared size (capped, as a zip entry's size would cap it).
inline void pickle(const std::vector<uint8_t>& bytes) {
  io::PersistentLoader loader = [](const io::PickleValue& pid) -> io::PickleValuePtr {
    io::StorageId id = io::parse_storage_id(pid, "fuzz");
    if (id.numel > (1 << 20)) throw Error("fuzz: storage larger than 1 Mi elements");
    auto storage = std::make_shared<io::Storage>();
    storage->dtype = id.dtype;
    storage->numel = id.numel;
    storage->bytes.assign(static_cast<size_t>(id.numel) * io::element_size(id.dtype), 0);
    return io::storage_value(storage);
  };
  size_t pos = 0;
  auto root = io::unpickle(bytes.data(), bytes.size(), pos, loader, "fuzz");
  io::check_all_tensors(root, "fuzz");
  (void)root->describe();
}

/// The zip directory: index it, look every entry up by name and read it.
inline void zip_directory(const std::vector<uint8_t>& bytes) {
  io::ZipReader zip(bytes.data(), bytes.size(), "fuzz");
  for (const auto& entry : zip.entries()) {
    const io::ZipEntry* found = zip.find(entry.name);
    if (found != &entry) throw std::logic_error("zip lookup found another entry");
    auto [data, size] = zip.read(entry);
    if (size && data[size - 1] == 0x42) (void)data[0];  // touch the range's ends
  }
}

}  // namespace garbage::fuzz
