#include "garbage/io/torch_legacy_reader.hpp"

#include <cstring>
#include <map>
#include <memory>

#include "garbage/core/errors.hpp"
#include "garbage/io/printable.hpp"
#include "garbage/io/torch_storage.hpp"

namespace garbage::io {
namespace {

using Kind = PickleValue::Kind;

// torch.save's legacy format starts with this number, pickled (serialization.MAGIC_NUMBER).
constexpr uint8_t kLegacyMagic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
constexpr int64_t kLegacyProtocol = 1001;

bool is_legacy_magic(const PickleValue& v) {
  return v.kind == Kind::big_integer && v.text.size() == sizeof(kLegacyMagic) &&
         std::memcmp(v.text.data(), kLegacyMagic, sizeof(kLegacyMagic)) == 0;
}

}  // namespace

PickleValuePtr read_torch_legacy_object(const std::vector<uint8_t>& bytes,
                                        const std::string& context) {
  size_t pos = 0;
  const uint8_t* data = bytes.data();
  auto magic = unpickle(data, bytes.size(), pos, nullptr, context);
  if (!is_legacy_magic(*magic))
    throw Error(context + ": not a PyTorch weight file (no torch.save magic number)");
  auto protocol = unpickle(data, bytes.size(), pos, nullptr, context);
  if (protocol->kind != Kind::integer || protocol->integer != kLegacyProtocol)
    throw Error(context + ": unsupported legacy serialization protocol " + protocol->describe());
  auto sys_info = unpickle(data, bytes.size(), pos, nullptr, context);
  auto little = sys_info->get("little_endian");
  if (!little || little->kind != Kind::boolean || !little->boolean)
    throw Error(context + ": written on a big-endian machine, which is not supported");

  // Storages are declared inside the object and their bytes follow it, in key order.
  std::map<std::string, std::shared_ptr<Storage>> storages;
  PersistentLoader loader = [&](const PickleValue& pid) -> PickleValuePtr {
    if (pid.kind == Kind::tuple && !pid.items.empty() && pid.items[0]->is_string() &&
        pid.items[0]->text == "module")
      throw Error(context +
                  ": the file holds a whole pickled nn.Module (torch.save(model)); "
                  "save model.state_dict() instead");
    StorageId id = parse_storage_id(pid, context);
    auto& storage = storages[id.key];
    if (!storage) {
      storage = std::make_shared<Storage>();
      storage->dtype = id.dtype;
      storage->numel = id.numel;
    } else if (storage->dtype != id.dtype) {
      throw Error(context + ": storage " + quote_text(id.key) +
                  " is viewed as two different types");
    }
    return storage_value(storage);
  };
  auto root = unpickle(data, bytes.size(), pos, loader, context);
  auto keys = unpickle(data, bytes.size(), pos, nullptr, context);
  if (keys->kind != Kind::list) throw Error(context + ": storage key list missing");
  for (const auto& key : keys->items) {
    if (!key->is_string()) throw Error(context + ": storage key is a " + key->describe());
    auto it = storages.find(key->text);
    if (it == storages.end())
      throw Error(context + ": storage " + quote_text(key->text) + " is listed but never used");
    auto& storage = *it->second;
    if (bytes.size() - pos < 8) throw Error(context + ": storage data truncated");
    uint64_t count = 0;
    for (int i = 0; i < 8; ++i) count |= static_cast<uint64_t>(data[pos + i]) << (8 * i);
    pos += 8;
    if (count != static_cast<uint64_t>(storage.numel))
      throw Error(context + ": storage " + quote_text(key->text) + " holds " +
                  std::to_string(count) + " elements, the object expects " +
                  std::to_string(storage.numel));
    uint64_t n = count * element_size(storage.dtype);
    if (count > bytes.size() || n > bytes.size() - pos)
      throw Error(context + ": storage " + quote_text(key->text) + " truncated");
    storage.bytes.assign(data + pos, data + pos + n);
    pos += n;
  }
  for (const auto& [key, storage] : storages)
    if (storage->bytes.size() / element_size(storage->dtype) !=
        static_cast<uint64_t>(storage->numel))
      throw Error(context + ": storage " + quote_text(key) + " has no data");
  check_all_tensors(root, context);
  return root;
}

}  // namespace garbage::io
