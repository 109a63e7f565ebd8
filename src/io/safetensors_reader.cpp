#include "garbage/io/safetensors_reader.hpp"

#include <algorithm>
#include <memory>

#include <nlohmann/json.hpp>

#include "garbage/core/errors.hpp"
#include "garbage/io/safetensors.hpp"

namespace garbage::io {

bool looks_like_safetensors(const std::vector<uint8_t>& bytes) {
  if (bytes.size() < 10) return false;
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  return n <= bytes.size() - 8 && bytes[8] == '{';
}

StateDict read_safetensors(const std::vector<uint8_t>& bytes, const std::string& context) {
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
  StateDict tensors;
  for (auto& item : items) tensors.emplace_back(item.name, std::move(item.tensor));
  return tensors;
}

}  // namespace garbage::io
