#include "garbage/io/weights_file.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "garbage/core/errors.hpp"
#include "garbage/io/pickle_writer.hpp"
#include "garbage/io/zip.hpp"
#include "garbage/io/zip_writer.hpp"

namespace garbage::io {
namespace {

using Kind = PickleValue::Kind;

// torch.save's legacy format starts with this number, pickled (serialization.MAGIC_NUMBER).
constexpr uint8_t kLegacyMagic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
constexpr int64_t kLegacyProtocol = 1001;

std::vector<uint8_t> read_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error(path.string() + ": weight file not found");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open weight file");
  in.seekg(0, std::ios::end);
  auto size = static_cast<size_t>(in.tellg());
  in.seekg(0);
  std::vector<uint8_t> bytes(size);
  if (size && !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size)))
    throw Error(path.string() + ": cannot read weight file");
  return bytes;
}

/// The ('storage', type, key, location, numel[, view]) tuple torch.save writes for a storage.
struct StorageId {
  DType dtype;
  std::string key;
  int64_t numel;
};

StorageId parse_storage_id(const PickleValue& pid, const std::string& context) {
  auto bad = [&](const std::string& why) -> StorageId {
    throw Error(context + ": unexpected persistent id (" + why + ")");
  };
  if (pid.kind != Kind::tuple || pid.items.size() < 5) return bad("not a storage tuple");
  const auto& items = pid.items;
  if (!items[0]->is_string() || items[0]->text != "storage") return bad("not a storage");
  if (items[1]->kind != Kind::global) return bad("storage type is a " + items[1]->describe());
  if (!items[2]->is_string()) return bad("storage key is a " + items[2]->describe());
  if (items[4]->kind != Kind::integer || items[4]->integer < 0) return bad("bad element count");
  if (items.size() > 5 && items[5]->kind != Kind::none)
    throw Error(context + ": storage views (files from PyTorch < 0.4) are not supported");
  StorageId id;
  try {
    id.dtype = storage_type_dtype(items[1]->text);
  } catch (const Error& e) {
    throw Error(context + ": " + e.what());
  }
  id.key = items[2]->text;
  id.numel = items[4]->integer;
  return id;
}

void collect_tensors(const PickleValuePtr& v, std::unordered_set<const PickleValue*>& seen,
                     std::vector<const TensorData*>& out) {
  if (!v || !seen.insert(v.get()).second) return;
  if (v->kind == Kind::tensor) out.push_back(v->tensor.get());
  for (const auto& item : v->items) collect_tensors(item, seen, out);
  for (const auto& [k, val] : v->entries) {
    collect_tensors(k, seen, out);
    collect_tensors(val, seen, out);
  }
}

void check_all_tensors(const PickleValuePtr& root, const std::string& context) {
  std::unordered_set<const PickleValue*> seen;
  std::vector<const TensorData*> tensors;
  collect_tensors(root, seen, tensors);
  for (const auto* t : tensors) t->check_bounds(context);
}

/// The value a persistent id resolves to: a reference to a (possibly shared) storage.
PickleValuePtr storage_value(const std::shared_ptr<Storage>& storage) {
  auto v = std::make_shared<PickleValue>();
  v->kind = Kind::storage;
  v->storage = storage;
  return v;
}

PickleValuePtr read_zip_object(const std::vector<uint8_t>& bytes, const std::string& context) {
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
    std::string value(reinterpret_cast<const char*>(p), n);
    if (value != "little")
      throw Error(context + ": byte order '" + value + "' is not supported (only little-endian)");
  }

  std::map<std::string, std::shared_ptr<Storage>> storages;
  PersistentLoader loader = [&](const PickleValue& pid) -> PickleValuePtr {
    StorageId id = parse_storage_id(pid, context);
    auto& storage = storages[id.key];
    if (!storage) {
      const auto* entry = zip.find(prefix + "data/" + id.key);
      if (!entry) throw Error(context + ": storage " + id.key + " is missing from the archive");
      auto [p, n] = zip.read(*entry);
      uint64_t needed = static_cast<uint64_t>(id.numel) * element_size(id.dtype);
      if (id.numel > static_cast<int64_t>(n) || n < needed)
        throw Error(context + ": storage " + id.key + " holds " + std::to_string(n) +
                    " bytes, expected " + std::to_string(needed));
      storage = std::make_shared<Storage>();
      storage->dtype = id.dtype;
      storage->numel = id.numel;
      storage->bytes.assign(p, p + needed);
    } else if (storage->dtype != id.dtype) {
      throw Error(context + ": storage " + id.key + " is viewed as two different types");
    }
    return storage_value(storage);
  };
  auto [data, size] = zip.read(*pkl);
  size_t pos = 0;
  auto root = unpickle(data, size, pos, loader, context + " (" + pkl->name + ")");
  check_all_tensors(root, context);
  return root;
}

bool is_legacy_magic(const PickleValue& v) {
  return v.kind == Kind::big_integer && v.text.size() == sizeof(kLegacyMagic) &&
         std::memcmp(v.text.data(), kLegacyMagic, sizeof(kLegacyMagic)) == 0;
}

PickleValuePtr read_legacy_object(const std::vector<uint8_t>& bytes, const std::string& context) {
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
      throw Error(context + ": storage " + id.key + " is viewed as two different types");
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
      throw Error(context + ": storage " + key->text + " is listed but never used");
    auto& storage = *it->second;
    if (bytes.size() - pos < 8) throw Error(context + ": storage data truncated");
    uint64_t count = 0;
    for (int i = 0; i < 8; ++i) count |= static_cast<uint64_t>(data[pos + i]) << (8 * i);
    pos += 8;
    if (count != static_cast<uint64_t>(storage.numel))
      throw Error(context + ": storage " + key->text + " holds " + std::to_string(count) +
                  " elements, the object expects " + std::to_string(storage.numel));
    uint64_t n = count * element_size(storage.dtype);
    if (count > bytes.size() || n > bytes.size() - pos)
      throw Error(context + ": storage " + key->text + " truncated");
    storage.bytes.assign(data + pos, data + pos + n);
    pos += n;
  }
  for (const auto& [key, storage] : storages)
    if (storage->bytes.size() != storage->numel * element_size(storage->dtype))
      throw Error(context + ": storage " + key + " has no data");
  check_all_tensors(root, context);
  return root;
}

DType parse_safetensors_dtype(const std::string& name, const std::string& context) {
  static const std::map<std::string, DType> names = {
      {"F32", DType::float32},   {"F64", DType::float64}, {"F16", DType::float16},
      {"BF16", DType::bfloat16}, {"I64", DType::int64},   {"I32", DType::int32},
      {"I16", DType::int16},     {"I8", DType::int8},     {"U8", DType::uint8},
      {"BOOL", DType::boolean}};
  auto it = names.find(name);
  if (it == names.end()) throw Error(context + ": unsupported safetensors dtype " + name);
  return it->second;
}

std::string safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::float32:
      return "F32";
    case DType::float64:
      return "F64";
    case DType::float16:
      return "F16";
    case DType::bfloat16:
      return "BF16";
    case DType::int64:
      return "I64";
    case DType::int32:
      return "I32";
    case DType::int16:
      return "I16";
    case DType::int8:
      return "I8";
    case DType::uint8:
      return "U8";
    case DType::boolean:
      return "BOOL";
  }
  return "U8";
}

bool looks_like_safetensors(const std::vector<uint8_t>& bytes) {
  if (bytes.size() < 10) return false;
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  return n <= bytes.size() - 8 && bytes[8] == '{';
}

WeightsFile read_safetensors(const std::vector<uint8_t>& bytes, const std::string& context) {
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(n));
  } catch (const nlohmann::json::exception& e) {
    throw Error(context + ": corrupt safetensors header: " + e.what());
  }
  if (!header.is_object()) throw Error(context + ": safetensors header is not an object");
  const uint64_t data_start = 8 + n, data_size = bytes.size() - data_start;
  struct Item {
    uint64_t begin;
    std::string name;
    TensorData tensor;
  };
  std::vector<Item> items;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    std::string where = context + ": tensor " + name;
    try {
      auto dtype = parse_safetensors_dtype(info.at("dtype").get<std::string>(), where);
      auto shape = info.at("shape").get<std::vector<int64_t>>();
      auto offsets = info.at("data_offsets").get<std::vector<uint64_t>>();
      if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data_size)
        throw Error(where + ": data offsets out of range (file truncated?)");
      TensorData t;
      t.dtype = dtype;
      t.shape = shape;
      t.strides = contiguous_strides(shape);
      for (auto s : shape)
        if (s < 0 || s > (int64_t{1} << 40)) throw Error(where + ": bad shape");
      __int128 expected = static_cast<__int128>(element_size(dtype));
      for (auto s : shape) expected *= s;
      if (expected != static_cast<__int128>(offsets[1] - offsets[0]))
        throw Error(where + ": byte range does not match its shape and dtype");
      auto storage = std::make_shared<Storage>();
      storage->dtype = dtype;
      storage->numel = t.numel();
      const uint8_t* p = bytes.data() + data_start + offsets[0];
      storage->bytes.assign(p, p + (offsets[1] - offsets[0]));
      t.storage = std::move(storage);
      items.push_back({offsets[0], name, std::move(t)});
    } catch (const nlohmann::json::exception& e) {
      throw Error(where + ": malformed entry: " + e.what());
    }
  }
  std::sort(items.begin(), items.end(),
            [](const Item& a, const Item& b) { return a.begin < b.begin; });
  WeightsFile file;
  file.format = WeightsFormat::safetensors;
  for (auto& item : items) file.tensors.emplace_back(item.name, std::move(item.tensor));
  return file;
}

bool holds_tensors(const PickleValue& dict) {
  for (const auto& [k, v] : dict.entries)
    if (v->kind == Kind::tensor) return true;
  return false;
}

/// Finds the state_dict inside what torch.save stored: the object itself, or a dict under a
/// conventional key ({"model": ...}, {"state_dict": ...}) of a training checkpoint.
WeightsFile extract_state_dict(const PickleValuePtr& root, const std::string& context) {
  WeightsFile file;
  PickleValuePtr dict = root;
  for (int level = 0; level < 3 && dict->kind == Kind::dict && !holds_tensors(*dict); ++level) {
    PickleValuePtr next;
    for (const char* key : {"state_dict", "model_state_dict", "model", "net", "module"}) {
      auto v = dict->get(key);
      if (v && v->kind == Kind::dict) {
        next = v;
        file.nested_key += (file.nested_key.empty() ? "" : ".") + std::string(key);
        break;
      }
    }
    if (!next) break;
    dict = next;
  }
  if (dict->kind != Kind::dict)
    throw Error(context + ": holds a " + dict->describe() + ", not a state_dict");
  for (const auto& [k, v] : dict->entries) {
    if (!k->is_string()) throw Error(context + ": state_dict key is a " + k->describe());
    if (v->kind == Kind::tensor)
      file.tensors.emplace_back(k->text, *v->tensor);
    else
      file.skipped.push_back(k->text);
  }
  if (file.tensors.empty())
    throw Error(context +
                ": no tensors found (expected a state_dict, possibly under \"model\" or "
                "\"state_dict\")");
  return file;
}

void strip_module_prefix(WeightsFile& file) {
  const std::string prefix = "module.";
  for (const auto& [name, t] : file.tensors)
    if (name.compare(0, prefix.size(), prefix) != 0) return;
  for (auto& [name, t] : file.tensors) name.erase(0, prefix.size());
  file.stripped_module_prefix = true;
}

}  // namespace

std::string to_string(WeightsFormat format) {
  switch (format) {
    case WeightsFormat::torch_zip:
      return "torch.save zip";
    case WeightsFormat::torch_legacy:
      return "torch.save legacy";
    case WeightsFormat::safetensors:
      return "safetensors";
  }
  return "unknown";
}

PickleValuePtr read_torch_object(const std::vector<uint8_t>& bytes, const std::string& context) {
  if (looks_like_zip(bytes.data(), bytes.size())) return read_zip_object(bytes, context);
  if (bytes.size() >= 2 && bytes[0] == 0x80) return read_legacy_object(bytes, context);
  if (bytes.size() >= 262 && std::memcmp(bytes.data() + 257, "ustar", 5) == 0)
    throw Error(context + ": tar-format checkpoint (PyTorch < 0.4) is not supported");
  throw Error(context + ": not a PyTorch weight file (neither zip nor legacy torch.save format)");
}

WeightsFile read_weights_bytes(const std::vector<uint8_t>& bytes, const std::string& context) {
  if (bytes.empty()) throw Error(context + ": empty weight file");
  WeightsFile file;
  if (looks_like_safetensors(bytes)) {
    file = read_safetensors(bytes, context);
    if (file.tensors.empty()) throw Error(context + ": safetensors file holds no tensors");
  } else {
    bool zip = looks_like_zip(bytes.data(), bytes.size());
    file = extract_state_dict(read_torch_object(bytes, context), context);
    file.format = zip ? WeightsFormat::torch_zip : WeightsFormat::torch_legacy;
  }
  strip_module_prefix(file);
  return file;
}

WeightsFile read_weights_file(const std::filesystem::path& path) {
  return read_weights_bytes(read_file(path), path.string());
}

namespace {

std::ofstream open_for_writing(const std::filesystem::path& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(path.string() + ": cannot open for writing");
  return out;
}

void check_unique_names(const StateDict& tensors, const std::string& context) {
  std::unordered_set<std::string> names;
  for (const auto& [name, t] : tensors)
    if (!names.insert(name).second) throw Error(context + ": tensor " + name + " appears twice");
}

uint64_t byte_size(const TensorData& t) {
  return static_cast<uint64_t>(t.numel()) * element_size(t.dtype);
}

}  // namespace

void write_safetensors(const std::filesystem::path& path, const StateDict& tensors,
                       const SafetensorsMetadata& metadata) {
  const std::string context = path.string();
  check_unique_names(tensors, context);
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") throw Error(context + ": '__metadata__' is not a tensor name");
    t.check_bounds(context + ": " + name);
    header[name] = {{"dtype", safetensors_dtype_name(t.dtype)},
                    {"shape", t.shape},
                    {"data_offsets", {offset, offset + byte_size(t)}}};
    offset += byte_size(t);
  }
  // The spec pads the header with spaces so that the data starts 8-byte aligned.
  std::string text = header.dump();
  while ((text.size() + 8) % 8) text += ' ';
  auto out = open_for_writing(path);
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xFF));
  out << text;
  for (const auto& [name, t] : tensors) {
    auto bytes = contiguous_bytes(t, context + ": " + name);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  }
  out.flush();
  if (!out) throw Error(context + ": write failed (disk full?)");
}

namespace {

/// One state_dict entry: torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
/// requires_grad, backward_hooks), the storage being persistent id ('storage', type, key,
/// location, numel) as torch.save writes it.
void pickle_tensor(PickleWriter& p, const TensorData& t, const std::string& storage_key) {
  p.global("torch._utils._rebuild_tensor_v2");
  p.mark();
  p.mark();
  p.string("storage");
  p.global(storage_type_name(t.dtype));
  p.string(storage_key);
  p.string("cpu");
  p.integer(t.numel());
  p.tuple_from_mark();
  p.persistent_id();
  p.integer(0);
  p.int_tuple(t.shape);
  p.int_tuple(contiguous_strides(t.shape));
  p.boolean(false);
  p.global("collections.OrderedDict");  // backward hooks: none
  p.empty_tuple();
  p.reduce();
  p.tuple_from_mark();
  p.reduce();
}

std::vector<uint8_t> pickle_state_dict(const StateDict& tensors) {
  PickleWriter p;
  p.global("collections.OrderedDict");
  p.empty_tuple();
  p.reduce();
  p.mark();
  for (size_t i = 0; i < tensors.size(); ++i) {
    p.string(tensors[i].first);
    pickle_tensor(p, tensors[i].second, std::to_string(i));
  }
  p.set_items();
  return p.finish();
}

}  // namespace

void write_pth(const std::filesystem::path& path, const StateDict& tensors) {
  const std::string context = path.string();
  check_unique_names(tensors, context);
  for (const auto& [name, t] : tensors) t.check_bounds(context + ": " + name);
  auto out = open_for_writing(path);
  ZipWriter zip(out, context);
  // torch.load takes the archive's folder name from its first entry and requires "version".
  const std::string folder = "archive/";
  auto pickle = pickle_state_dict(tensors);
  zip.add(folder + "data.pkl", pickle.data(), pickle.size());
  zip.add(folder + "byteorder", "little");
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, t] = tensors[i];
    auto bytes = contiguous_bytes(t, context + ": " + name);
    zip.add(folder + "data/" + std::to_string(i), bytes.data(), bytes.size());
  }
  zip.add(folder + "version", "3\n");
  zip.finish();
}

}  // namespace garbage::io
