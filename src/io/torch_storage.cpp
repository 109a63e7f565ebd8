#include "garbage/io/torch_storage.hpp"

#include <unordered_set>
#include <vector>

#include "garbage/core/errors.hpp"

namespace garbage::io {
namespace {

using Kind = PickleValue::Kind;

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
  std::unordered_set<const PickleValue*> seen;
  std::vector<const TensorData*> tensors;
  collect_tensors(root, seen, tensors);
  for (const auto* t : tensors) t->check_bounds(context);
}

}  // namespace garbage::io
