#include "garbage/io/safetensors_writer.hpp"

#include <fstream>

#include <nlohmann/json.hpp>

#include "garbage/core/errors.hpp"
#include "garbage/io/safetensors.hpp"

namespace garbage::io {
namespace {

std::ofstream open_for_writing(const std::filesystem::path& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(path.string() + ": cannot open for writing");
  return out;
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

}  // namespace garbage::io
