#include "garbage/io/torch_zip_reader.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <string_view>

#include "garbage/core/errors.hpp"
#include "garbage/io/printable.hpp"
#include "garbage/io/torch_storage.hpp"
#include "garbage/io/zip.hpp"

namespace garbage::io {

PickleValuePtr read_torch_zip_object(const std::vector<uint8_t>& bytes,
                                     const std::string& context) {
  ZipReader zip(bytes.data(), bytes.size(), context);
  const ZipEntry* pkl = nullptr;
  for (const auto& e : zip.entries()) {
    const std::string suffix = "data.pkl";
    if (e.name.size() >= suffix.size() &&
        e.name.compare(e.name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        std::count(e.name.begin(), e.name.end(), '/') == 1) {
      pkl = &e;
      break;
    }
  }
  if (!pkl) throw Error(context + ": zip archive without data.pkl: not a torch.save file");
  for (const auto& e : zip.entries()) {
    if (e.name.size() >= 13 && e.name.compare(e.name.size() - 13, 13, "constants.pkl") == 0)
      throw Error(context +
                  ": a TorchScript archive (torch.jit.save, or a garbage checkpoint: "
                  "use --checkpoint for those), not a torch.save state_dict");
  }
  // Entries live under one folder named after the file at save time ("archive/" by default).
  std::string prefix = pkl->name.substr(0, pkl->name.size() - std::string("data.pkl").size());
  if (const auto* order = zip.find(prefix + "byteorder")) {
    auto [p, n] = zip.read(*order);
    std::string_view value(reinterpret_cast<const char*>(p), n);
    if (value != "little")
      throw Error(context + ": byte order " + quote_text(value) +
                  " is not supported (only little-endian)");
  }

  std::map<std::string, std::shared_ptr<Storage>> storages;
  PersistentLoader loader = [&](const PickleValue& pid) -> PickleValuePtr {
    StorageId id = parse_storage_id(pid, context);
    auto& storage = storages[id.key];
    if (!storage) {
      const auto* entry = zip.find(prefix + "data/" + id.key);
      if (!entry)
        throw Error(context + ": storage " + quote_text(id.key) + " is missing from the archive");
      auto [p, n] = zip.read(*entry);
      uint64_t needed = static_cast<uint64_t>(id.numel) * element_size(id.dtype);
      if (id.numel > static_cast<int64_t>(n) || n < needed)
        throw Error(context + ": storage " + quote_text(id.key) + " holds " + std::to_string(n) +
                    " bytes, expected " + std::to_string(needed));
      storage = std::make_shared<Storage>();
      storage->dtype = id.dtype;
      storage->numel = id.numel;
      storage->bytes.assign(p, p + needed);
    } else if (storage->dtype != id.dtype) {
      throw Error(context + ": storage " + quote_text(id.key) +
                  " is viewed as two different types");
    }
    return storage_value(storage);
  };
  auto [data, size] = zip.read(*pkl);
  size_t pos = 0;
  auto root = unpickle(data, size, pos, loader, context + " (" + printable(pkl->name) + ")");
  check_all_tensors(root, context);
  return root;
}

}  // namespace garbage::io
