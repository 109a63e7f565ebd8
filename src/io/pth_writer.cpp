#include "garbage/io/pth_writer.hpp"

#include <fstream>

#include "garbage/core/errors.hpp"
#include "garbage/io/pickle.hpp"
#include "garbage/io/pickle_writer.hpp"
#include "garbage/io/zip_writer.hpp"

namespace garbage::io {
namespace {

std::ofstream open_for_writing(const std::filesystem::path& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(path.string() + ": cannot open for writing");
  return out;
}

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
