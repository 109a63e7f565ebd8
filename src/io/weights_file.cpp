#include "garbage/io/weights_file.hpp"

#include <cstring>
#include <fstream>
#include <string_view>
#include <unordered_set>

#include "garbage/core/errors.hpp"
#include "garbage/io/printable.hpp"
#include "garbage/io/safetensors_reader.hpp"
#include "garbage/io/torch_legacy_reader.hpp"
#include "garbage/io/torch_zip_reader.hpp"
#include "garbage/io/zip.hpp"

namespace garbage::io {
namespace {

using Kind = PickleValue::Kind;

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

// Tensors may share storage (tied weights, views), but what they view in total is capped so that
// a small file cannot stand for terabytes once each tensor is copied out.
constexpr uint64_t kViewBytesPerFileByte = 4;
constexpr uint64_t kViewBytesAllowance = uint64_t{64} << 20;

bool holds_tensors(const PickleValue& dict) {
  for (const auto& [k, v] : dict.entries)
    if (v->kind == Kind::tensor) return true;
  return false;
}

/// Finds the state_dict inside what torch.save stored: the object itself, or a dict under a
/// conventional key ({"model": ...}, {"state_dict": ...}) of a training checkpoint.
WeightsFile extract_state_dict(const PickleValuePtr& root, const std::string& context,
                               size_t file_size) {
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
  std::unordered_set<std::string_view> names;
  const uint64_t view_limit = kViewBytesPerFileByte * file_size + kViewBytesAllowance;
  uint64_t view_bytes = 0;
  for (const auto& [k, v] : dict->entries) {
    if (!k->is_string()) throw Error(context + ": state_dict key is a " + k->describe());
    // Each name is copied out once: a repeated key (one string referenced many times) would
    // otherwise cost its length per reference.
    if (!names.insert(k->text).second)
      throw Error(context + ": state_dict key " + quote_text(k->text) + " appears twice");
    if (has_control_characters(k->text) || k->text.size() > kMaxTensorNameBytes)
      throw Error(context + ": state_dict key " + quote_text(k->text) +
                  " holds control characters or is too long");
    if (v->kind != Kind::tensor) {
      file.skipped.push_back(k->text);
      continue;
    }
    // Bounds were checked, so this product fits: it is at most the storage's size.
    view_bytes += static_cast<uint64_t>(v->tensor->numel()) * element_size(v->tensor->dtype);
    if (view_bytes > view_limit)
      throw Error(context + ": the tensors view more than " + std::to_string(view_limit >> 20) +
                  " MiB in total, several times the file's size (overlapping views are not "
                  "supported)");
    file.tensors.emplace_back(k->text, *v->tensor);
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
  if (looks_like_zip(bytes.data(), bytes.size())) return read_torch_zip_object(bytes, context);
  if (bytes.size() >= 2 && bytes[0] == 0x80) return read_torch_legacy_object(bytes, context);
  if (bytes.size() >= 262 && std::memcmp(bytes.data() + 257, "ustar", 5) == 0)
    throw Error(context + ": tar-format checkpoint (PyTorch < 0.4) is not supported");
  throw Error(context + ": not a PyTorch weight file (neither zip nor legacy torch.save format)");
}

WeightsFile read_weights_bytes(const std::vector<uint8_t>& bytes, const std::string& context) {
  if (bytes.empty()) throw Error(context + ": empty weight file");
  WeightsFile file;
  if (looks_like_safetensors(bytes)) {
    file.format = WeightsFormat::safetensors;
    file.tensors = read_safetensors(bytes, context);
    if (file.tensors.empty()) throw Error(context + ": safetensors file holds no tensors");
  } else {
    bool zip = looks_like_zip(bytes.data(), bytes.size());
    file = extract_state_dict(read_torch_object(bytes, context), context, bytes.size());
    file.format = zip ? WeightsFormat::torch_zip : WeightsFormat::torch_legacy;
  }
  strip_module_prefix(file);
  return file;
}

WeightsFile read_weights_file(const std::filesystem::path& path) {
  return read_weights_bytes(read_file(path), path.string());
}

}  // namespace garbage::io
