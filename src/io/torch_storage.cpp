#include "garbage/io/torch_storage.hpp"

#include <unordered_set>
#include <vector>

#include "garbage/core/errors.hpp"
#include "garbage/io/printable.hpp"

namespace garbage::io {
namespace {

using Kind = PickleValue::Kind;

// Iterative, and bounded in depth, so that no value graph can exhaust the stack; each value is
// visited once however often it is referenced.
std::vector<const TensorData*> collect_tensors(const PickleValuePtr& root,
                                               const std::string& context) {
  std::vector<const TensorData*> out;
  std::unordered_set<const PickleValue*> seen;
  std::vector<std::pair<const PickleValue*, int>> pending{{root.get(), 0}};
  while (!pending.empty()) {
    auto [v, depth] = pending.back();
    pending.pop_back();
    if (!v || !seen.insert(v).second) continue;
    if (depth > kMaxPickleDepth)
      throw Error(context + ": containers nested deeper than " + std::to_string(kMaxPickleDepth));
    if (v->kind == Kind::tensor) out.push_back(v->tensor.get());
    for (const auto& item : v->items) pending.emplace_back(item.get(), depth + 1);
    for (const auto& [key, value] : v->entries) {
      pending.emplace_back(key.get(), depth + 1);
      pending.emplace_back(value.get(), depth + 1);
    }
  }
  return out;
}

}  // namespace

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

PickleValuePtr storage_value(const std::shared_ptr<Storage>& storage) {
  auto v = std::make_shared<PickleValue>();
  v->kind = Kind::storage;
  v->storage = storage;
  return v;
}

void check_all_tensors(const PickleValuePtr& root, const std::string& context) {
  for (const auto* t : collect_tensors(root, context)) t->check_bounds(context);
}

}  // namespace garbage::io
