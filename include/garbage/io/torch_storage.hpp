#pragma once
// What the two torch.save readers (zip and legacy) share: the persistent ids that name storages,
// and the final walk that bounds-checks every tensor of an unpickled object.

#include <cstdint>
#include <memory>
#include <string>

#include "garbage/io/pickle.hpp"
#include "garbage/io/tensor_data.hpp"

namespace garbage::io {

/// The ('storage', type, key, location, numel[, view]) tuple torch.save writes for a storage.
struct StorageId {
  DType dtype = DType::float32;
  std::string key;
  int64_t numel = 0;
};

/// Parses a persistent id; throws Error (prefixed by `context`) for anything else.
StorageId parse_storage_id(const PickleValue& pid, const std::string& context);

/// The value a persistent id resolves to: a reference to a (possibly shared) storage.
PickleValuePtr storage_value(const std::shared_ptr<Storage>& storage);

/// Bounds-checks every tensor reachable from `root`.
void check_all_tensors(const PickleValuePtr& root, const std::string& context);

}  // namespace garbage::io
