#pragma once
// A small, safe unpickler for the subset of Python's pickle format that torch.save writes
// (protocols 2-5). Unlike Python's pickle it never runs code: a global may only name an entry of
// a fixed allow-list (OrderedDict, torch's tensor rebuild functions, storage types); any other
// global (os.system, builtins.eval, ...) is refused with an Error naming it. Every read is
// bounds-checked, so truncated or garbled input gives an Error, never a crash.
//
// Hostile input is bounded too: a value referenced many times through the memo is shared, never
// copied; what one pickle may allocate is capped in proportion to its size; containers nest at
// most kMaxPickleDepth deep and cannot be modified once nested (so no cycles); and the value
// tree is destroyed iteratively.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "garbage/io/tensor_data.hpp"

namespace garbage::io {

/// Deepest container nesting a pickle may build (a state_dict needs about 5).
inline constexpr int kMaxPickleDepth = 200;

struct PickleValue;
using PickleValuePtr = std::shared_ptr<PickleValue>;

struct PickleValue {
  enum class Kind {
    none,
    boolean,
    integer,
    big_integer,  ///< wider than 64 bits: little-endian two's complement bytes in `text`
    floating,
    string,
    bytes,
    tuple,
    list,
    dict,
    global,  ///< an allow-listed callable or type: "module.name" in `text`
    storage,
    tensor
  };
  Kind kind = Kind::none;
  bool boolean = false;
  int64_t integer = 0;
  double floating = 0;
  std::string text;                                                // string, bytes, global
  std::vector<PickleValuePtr> items;                               // tuple, list
  std::vector<std::pair<PickleValuePtr, PickleValuePtr>> entries;  // dict, in insertion order
  std::shared_ptr<Storage> storage;
  std::shared_ptr<TensorData> tensor;
  int depth = 0;        ///< containers nested below this one (at most kMaxPickleDepth)
  bool nested = false;  ///< held by a container: may no longer change

  PickleValue() = default;
  PickleValue(const PickleValue&) = delete;
  PickleValue& operator=(const PickleValue&) = delete;
  /// Iterative: a long chain of containers must not recurse once per level.
  ~PickleValue();

  bool is_string() const { return kind == Kind::string; }
  /// The value stored under string key `key` of a dict, or null.
  PickleValuePtr get(const std::string& key) const;
  /// Short description for error messages ("dict", "int 3", "str 'abc'").
  std::string describe() const;
};

/// Turns a persistent id (the tuple torch.save writes for each storage) into a value.
using PersistentLoader = std::function<PickleValuePtr(const PickleValue& pid)>;

/// Reads one pickle from data[pos, size), stopping after its STOP opcode; `pos` is advanced past
/// it. `context` (e.g. the file name) prefixes error messages. A persistent id (the same tuple)
/// met several times is resolved once. Allocation is capped at pickle_memory_budget(size - pos).
PickleValuePtr unpickle(const uint8_t* data, size_t size, size_t& pos,
                        const PersistentLoader& persistent_load, const std::string& context);

/// Bytes of values one pickle of `input_size` bytes may allocate before it is refused: a fixed
/// allowance plus a multiple of its size, capped; real weight files use a small fraction.
size_t pickle_memory_budget(size_t input_size);

/// The globals a weight file may name.
const std::vector<std::string>& allowed_pickle_globals();

/// "torch.FloatStorage" -> float32, ...; throws Error for anything else.
DType storage_type_dtype(const std::string& global_name);

/// The inverse: float32 -> "torch.FloatStorage", ...
std::string storage_type_name(DType dtype);

}  // namespace garbage::io
