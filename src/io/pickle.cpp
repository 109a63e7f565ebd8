#include "garbage/io/pickle.hpp"

#include <cstring>
#include <unordered_map>

#include <spdlog/fmt/fmt.h>

#include "garbage/core/errors.hpp"
#include "garbage/io/printable.hpp"

namespace garbage::io {
namespace {

using Kind = PickleValue::Kind;

constexpr int kMaxDepth = kMaxPickleDepth;

// What one value, stack slot or memo entry costs, allocator overhead included.
constexpr size_t kValueCost = sizeof(PickleValue) + 48;
constexpr size_t kSlotCost = 2 * sizeof(PickleValuePtr);
constexpr size_t kMemoCost = 64;
// Persistent ids are tuples like ('storage', type, '123', 'cpu', 4): their keys are short.
constexpr size_t kMaxStorageKey = 4096;

const std::vector<std::pair<std::string, DType>>& storage_types() {
  static const std::vector<std::pair<std::string, DType>> types = {
      {"torch.FloatStorage", DType::float32}, {"torch.DoubleStorage", DType::float64},
      {"torch.HalfStorage", DType::float16},  {"torch.BFloat16Storage", DType::bfloat16},
      {"torch.LongStorage", DType::int64},    {"torch.IntStorage", DType::int32},
      {"torch.ShortStorage", DType::int16},   {"torch.CharStorage", DType::int8},
      {"torch.ByteStorage", DType::uint8},    {"torch.BoolStorage", DType::boolean}};
  return types;
}

// Callables REDUCE may apply; each is interpreted here, never executed.
const std::vector<std::string>& allowed_callables() {
  static const std::vector<std::string> names = {"collections.OrderedDict",
                                                 "torch._utils._rebuild_tensor_v2",
                                                 "torch._utils._rebuild_tensor",
                                                 "torch._utils._rebuild_parameter",
                                                 "torch._utils._rebuild_parameter_with_state",
                                                 "_codecs.encode"};
  return names;
}

PickleValuePtr new_value(Kind kind) {
  auto v = std::make_shared<PickleValue>();
  v->kind = kind;
  return v;
}

class Unpickler {
 public:
  Unpickler(const uint8_t* data, size_t size, size_t pos, const PersistentLoader& loader,
            std::string context)
      : data_(data),
        size_(size),
        pos_(pos),
        budget_(pickle_memory_budget(size - pos)),
        loader_(loader),
        context_(std::move(context)) {}

  PickleValuePtr run();
  size_t position() const { return pos_; }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw Error(context_ + ": invalid pickle at byte " + std::to_string(op_pos_) + ": " + why);
  }

  /// Counts `bytes` against the budget; never given back, so it also bounds the work done.
  void charge(size_t bytes) {
    if (bytes > budget_ - spent_)
      fail("the pickle needs more than " + std::to_string(budget_ >> 20) +
           " MiB of memory to unpickle: refusing it (a weight file's pickle needs a small "
           "fraction of that)");
    spent_ += bytes;
  }
  PickleValuePtr make(Kind kind) {
    charge(kValueCost);
    return new_value(kind);
  }

  const uint8_t* take(size_t n) {
    if (n > size_ - pos_) fail("unexpected end of data (file truncated?)");
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  uint64_t read_le(size_t n) {
    const uint8_t* p = take(n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
  }
  std::string read_string(uint64_t n) {
    if (n > size_ - pos_) fail("string of " + std::to_string(n) + " bytes runs past the end");
    charge(static_cast<size_t>(n));
    const char* p = reinterpret_cast<const char*>(take(static_cast<size_t>(n)));
    return std::string(p, static_cast<size_t>(n));
  }
  std::string read_line() {
    size_t start = pos_;
    while (pos_ < size_ && data_[pos_] != '\n') ++pos_;
    if (pos_ >= size_) fail("unterminated text line");
    charge(pos_ - start);
    std::string line(reinterpret_cast<const char*>(data_ + start), pos_ - start);
    ++pos_;
    return line;
  }

  void push(PickleValuePtr v) {
    charge(kSlotCost);
    stack_.push_back(std::move(v));
  }
  PickleValuePtr pop() {
    if (stack_.size() <= floor()) fail("stack underflow");
    auto v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  PickleValuePtr& top() {
    if (stack_.size() <= floor()) fail("stack underflow");
    return stack_.back();
  }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  std::vector<PickleValuePtr> pop_to_mark() {
    if (marks_.empty()) fail("no MARK on the stack");
    size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<PickleValuePtr> items(std::make_move_iterator(stack_.begin() + mark),
                                      std::make_move_iterator(stack_.end()));
    stack_.resize(mark);
    return items;
  }

  // A container never changes once nested, so the depth counted here stays true and no cycle
  // can form (the last link of a cycle would modify a nested container, or nest one in itself).
  void adopt(PickleValue& container, const PickleValuePtr& child) {
    if (child.get() == &container) fail("a container cannot hold itself");
    if (child->depth + 1 > container.depth) container.depth = child->depth + 1;
    if (container.depth > kMaxDepth)
      fail("containers nested deeper than " + std::to_string(kMaxDepth));
    child->nested = true;
  }
  void check_mutable(const PickleValue& container) {
    if (container.nested)
      fail("a " + container.describe() +
           " is modified after being put in another container (recursive structures are not "
           "supported)");
  }
  PickleValuePtr make_tuple(std::vector<PickleValuePtr> items) {
    auto t = make(Kind::tuple);
    for (const auto& item : items) adopt(*t, item);
    t->items = std::move(items);
    return t;
  }
  void append(const PickleValuePtr& list, std::vector<PickleValuePtr> items) {
    if (list->kind != Kind::list) fail("APPEND to a " + list->describe());
    check_mutable(*list);
    for (auto& item : items) {
      adopt(*list, item);
      list->items.push_back(std::move(item));
    }
  }
  void set_items(const PickleValuePtr& dict, std::vector<PickleValuePtr> kv) {
    if (dict->kind != Kind::dict) fail("SETITEM on a " + dict->describe());
    check_mutable(*dict);
    if (kv.size() % 2) fail("odd number of items for SETITEMS");
    for (size_t i = 0; i < kv.size(); i += 2) {
      adopt(*dict, kv[i]);
      adopt(*dict, kv[i + 1]);
      dict->entries.emplace_back(std::move(kv[i]), std::move(kv[i + 1]));
    }
  }

  void memo_put(uint64_t index) {
    PickleValuePtr value = top();
    auto [slot, added] = memo_.try_emplace(index);
    if (added) charge(kMemoCost);
    slot->second = std::move(value);
  }
  PickleValuePtr memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) fail("memo entry " + std::to_string(index) + " was never stored");
    return it->second;
  }

  PickleValuePtr global(const std::string& module, const std::string& name);
  PickleValuePtr reduce(const PickleValue& callable, const PickleValue& args);
  PickleValuePtr rebuild_tensor(const PickleValue& args, bool has_strides);
  PickleValuePtr persistent(const PickleValuePtr& pid);
  int64_t as_int(const PickleValuePtr& v, const char* what) {
    if (v->kind != Kind::integer)
      fail(std::string(what) + ": expected an int, got " + v->describe());
    return v->integer;
  }
  std::vector<int64_t> as_int_tuple(const PickleValuePtr& v, const char* what) {
    if (v->kind != Kind::tuple && v->kind != Kind::list)
      fail(std::string(what) + ": expected a tuple, got " + v->describe());
    // Checked before copying: one long tuple referenced by every tensor must not be copied
    // once per tensor.
    if (v->items.size() > kMaxTensorDims)
      fail(std::string(what) + ": " + std::to_string(v->items.size()) + " dimensions (at most " +
           std::to_string(kMaxTensorDims) + ")");
    std::vector<int64_t> out;
    for (const auto& item : v->items) out.push_back(as_int(item, what));
    return out;
  }

  PickleValuePtr latin1_bytes(const PickleValuePtr& text);

  const uint8_t* data_;
  size_t size_;
  size_t pos_;
  size_t op_pos_ = 0;
  size_t budget_;
  size_t spent_ = 0;
  const PersistentLoader& loader_;
  std::string context_;
  std::vector<PickleValuePtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PickleValuePtr> memo_;
  // Results computed from a value, by that value (kept alive): a value referenced many times
  // through the memo yields one shared result, not one copy per reference.
  std::unordered_map<const PickleValue*, std::pair<PickleValuePtr, PickleValuePtr>> persistent_;
  std::unordered_map<const PickleValue*, std::pair<PickleValuePtr, PickleValuePtr>> latin1_;
};

PickleValuePtr Unpickler::global(const std::string& module, const std::string& name) {
  std::string full = module + "." + name;
  for (const auto& allowed : allowed_pickle_globals()) {
    if (allowed == full) {
      auto g = make(Kind::global);
      g->text = full;
      return g;
    }
  }
  throw Error(context_ + ": refusing to load: the file names the Python global " +
              quote_text(full) +
              ", which is not a tensor, storage or container type (a weight file never needs it; "
              "such a file could run code when opened with torch.load)");
}

PickleValuePtr Unpickler::persistent(const PickleValuePtr& pid) {
  if (!loader_) fail("persistent id in a pickle that may not reference storages");
  auto cached = persistent_.find(pid.get());
  if (cached != persistent_.end()) return cached->second.second;
  if (pid->kind == Kind::tuple && pid->items.size() > 2 && pid->items[2]->is_string() &&
      pid->items[2]->text.size() > kMaxStorageKey)
    fail("persistent id with a storage key of " + std::to_string(pid->items[2]->text.size()) +
         " bytes");
  auto v = loader_(*pid);
  if (!v) fail("unresolved persistent id");
  charge(kValueCost);
  persistent_.emplace(pid.get(), std::make_pair(pid, v));
  return v;
}

PickleValuePtr Unpickler::rebuild_tensor(const PickleValue& args, bool has_strides) {
  size_t needed = has_strides ? 4 : 3;
  if (args.kind != Kind::tuple || args.items.size() < needed)
    fail("tensor rebuild needs at least " + std::to_string(needed) + " arguments");
  const auto& storage = args.items[0];
  if (storage->kind != Kind::storage || !storage->storage)
    fail("tensor rebuild: expected a storage, got " + storage->describe());
  auto t = std::make_shared<TensorData>();
  t->dtype = storage->storage->dtype;
  t->storage = storage->storage;
  t->storage_offset = as_int(args.items[1], "storage offset");
  t->shape = as_int_tuple(args.items[2], "size");
  t->strides = has_strides ? as_int_tuple(args.items[3], "stride") : contiguous_strides(t->shape);
  auto v = make(Kind::tensor);
  v->tensor = std::move(t);
  return v;
}

PickleValuePtr Unpickler::reduce(const PickleValue& callable, const PickleValue& args) {
  if (callable.kind != Kind::global) fail("REDUCE on a " + callable.describe());
  if (args.kind != Kind::tuple) fail("REDUCE arguments are a " + args.describe());
  const std::string& name = callable.text;
  if (name == "collections.OrderedDict") {
    if (!args.items.empty()) fail("OrderedDict with constructor arguments");
    return make(Kind::dict);
  }
  if (name == "torch._utils._rebuild_tensor_v2") return rebuild_tensor(args, true);
  if (name == "torch._utils._rebuild_tensor") return rebuild_tensor(args, true);
  if (name == "torch._utils._rebuild_parameter" ||
      name == "torch._utils._rebuild_parameter_with_state") {
    // A Parameter is its data plus requires_grad; the weights are all we need.
    if (args.items.empty() || args.items[0]->kind != Kind::tensor)
      fail(name + ": expected a tensor argument");
    return args.items[0];
  }
  if (name == "_codecs.encode") {
    // Protocol 2 writes Python 3 bytes as _codecs.encode(str, 'latin1').
    if (args.items.size() != 2 || !args.items[0]->is_string() || !args.items[1]->is_string() ||
        (args.items[1]->text != "latin1" && args.items[1]->text != "latin-1"))
      fail("_codecs.encode is only accepted for latin1 byte strings");
    return latin1_bytes(args.items[0]);
  }
  fail(name + " cannot be called");
}

PickleValuePtr Unpickler::latin1_bytes(const PickleValuePtr& text) {
  auto cached = latin1_.find(text.get());
  if (cached != latin1_.end()) return cached->second.second;
  auto b = make(Kind::bytes);
  // The str holds code points < 256 as UTF-8; latin1 maps each to one byte.
  const std::string& s = text->text;
  charge(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      b->text += static_cast<char>(c);
    } else if ((c & 0xE0) == 0xC0 && i + 1 < s.size()) {
      b->text += static_cast<char>(((c & 0x1F) << 6) | (static_cast<unsigned char>(s[++i]) & 0x3F));
    } else {
      fail("_codecs.encode: character outside latin1");
    }
  }
  latin1_.emplace(text.get(), std::make_pair(text, b));
  return b;
}

PickleValuePtr Unpickler::run() {
  while (true) {
    op_pos_ = pos_;
    uint8_t op = *take(1);
    switch (op) {
      case 0x80:  // PROTO
        if (*take(1) > 5) fail("unsupported pickle protocol");
        break;
      case 0x95:  // FRAME: a length hint only
        take(8);
        break;
      case '.': {  // STOP
        if (!marks_.empty()) fail("MARK left open at STOP");
        if (stack_.size() != 1)
          fail("stack holds " + std::to_string(stack_.size()) + " values at STOP");
        return pop();
      }
      case '(':  // MARK
        marks_.push_back(stack_.size());
        break;
      case '0':  // POP
        pop();
        break;
      case '1':  // POP_MARK
        pop_to_mark();
        break;
      case '2':  // DUP
        push(top());
        break;
      case 'N':
        push(make(Kind::none));
        break;
      case 0x88:
      case 0x89: {  // NEWTRUE, NEWFALSE
        auto v = make(Kind::boolean);
        v->boolean = op == 0x88;
        push(v);
        break;
      }
      case 'J': {  // BININT
        auto v = make(Kind::integer);
        v->integer = static_cast<int32_t>(read_le(4));
        push(v);
        break;
      }
      case 'K':
      case 'M': {  // BININT1, BININT2
        auto v = make(Kind::integer);
        v->integer = static_cast<int64_t>(read_le(op == 'K' ? 1 : 2));
        push(v);
        break;
      }
      case 0x8a:
      case 0x8b: {  // LONG1, LONG4
        uint64_t n = read_le(op == 0x8a ? 1 : 4);
        std::string bytes = read_string(n);
        if (n <= 8) {
          auto v = make(Kind::integer);
          uint64_t u = 0;
          for (size_t i = 0; i < n; ++i)
            u |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
          if (n > 0 && n < 8 && (static_cast<uint8_t>(bytes[n - 1]) & 0x80))
            u |= ~uint64_t{0} << (8 * n);  // sign-extend
          v->integer = static_cast<int64_t>(u);
          push(v);
        } else {
          auto v = make(Kind::big_integer);
          v->text = std::move(bytes);
          push(v);
        }
        break;
      }
      case 'G': {  // BINFLOAT, big-endian
        uint64_t bits = 0;
        const uint8_t* p = take(8);
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
        auto v = make(Kind::floating);
        std::memcpy(&v->floating, &bits, 8);
        push(v);
        break;
      }
      case 'X':
      case 0x8c:
      case 0x8d: {  // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
        uint64_t n = read_le(op == 'X' ? 4 : op == 0x8c ? 1 : 8);
        auto v = make(Kind::string);
        v->text = read_string(n);
        push(v);
        break;
      }
      case 'T':
      case 'U': {  // BINSTRING, SHORT_BINSTRING (Python 2 str)
        uint64_t n = read_le(op == 'T' ? 4 : 1);
        auto v = make(Kind::string);
        v->text = read_string(n);
        push(v);
        break;
      }
      case 'B':
      case 'C':
      case 0x8e:
      case 0x96: {  // BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
        uint64_t n = read_le(op == 'B' ? 4 : op == 'C' ? 1 : 8);
        auto v = make(Kind::bytes);
        v->text = read_string(n);
        push(v);
        break;
      }
      case ')':
        push(make(Kind::tuple));
        break;
      case 't':
        push(make_tuple(pop_to_mark()));
        break;
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1..3
        size_t n = op - 0x84u;
        if (stack_.size() < floor() + n) fail("stack underflow");
        std::vector<PickleValuePtr> items(stack_.end() - n, stack_.end());
        stack_.resize(stack_.size() - n);
        push(make_tuple(std::move(items)));
        break;
      }
      case ']':
        push(make(Kind::list));
        break;
      case 'l': {  // LIST
        auto list = make(Kind::list);
        append(list, pop_to_mark());
        push(list);
        break;
      }
      case 'a': {  // APPEND
        auto item = pop();
        append(top(), {item});
        break;
      }
      case 'e': {  // APPENDS
        auto items = pop_to_mark();
        append(top(), std::move(items));
        break;
      }
      case 0x8f:  // EMPTY_SET: read as a list
        push(make(Kind::list));
        break;
      case 0x90: {  // ADDITEMS
        auto items = pop_to_mark();
        append(top(), std::move(items));
        break;
      }
      case 0x91: {  // FROZENSET
        auto list = make(Kind::list);
        append(list, pop_to_mark());
        push(list);
        break;
      }
      case '}':
        push(make(Kind::dict));
        break;
      case 'd': {  // DICT
        auto dict = make(Kind::dict);
        set_items(dict, pop_to_mark());
        push(dict);
        break;
      }
      case 's': {  // SETITEM
        auto value = pop();
        auto key = pop();
        set_items(top(), {key, value});
        break;
      }
      case 'u': {  // SETITEMS
        auto kv = pop_to_mark();
        set_items(top(), std::move(kv));
        break;
      }
      case 'c': {  // GLOBAL "module\nname\n"
        std::string module = read_line();
        std::string name = read_line();
        push(global(module, name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        auto name = pop();
        auto module = pop();
        if (!module->is_string() || !name->is_string()) fail("STACK_GLOBAL needs two strings");
        push(global(module->text, name->text));
        break;
      }
      case 'R': {  // REDUCE
        auto args = pop();
        auto callable = pop();
        push(reduce(*callable, *args));
        break;
      }
      case 0x81: {  // NEWOBJ cls.__new__(cls, *args)
        auto args = pop();
        auto cls = pop();
        if (cls->kind == Kind::global && cls->text == "collections.OrderedDict")
          push(make(Kind::dict));
        else
          fail("NEWOBJ of " + cls->describe() + " is not allowed");
        break;
      }
      case 'b': {  // BUILD: instance state (e.g. a state_dict's _metadata); not needed
        auto state = pop();
        const auto& obj = top();
        if (obj->kind != Kind::dict && obj->kind != Kind::tensor)
          fail("BUILD on a " + obj->describe());
        break;
      }
      case 'Q': {  // BINPERSID
        auto pid = pop();
        push(persistent(pid));
        break;
      }
      case 'q':
        memo_put(read_le(1));
        break;
      case 'r':
        memo_put(read_le(4));
        break;
      case 0x94:  // MEMOIZE
        memo_put(memo_.size());
        break;
      case 'h':
        push(memo_get(read_le(1)));
        break;
      case 'j':
        push(memo_get(read_le(4)));
        break;
      case 'i':     // INST
      case 'o':     // OBJ
      case 0x92:    // NEWOBJ_EX
      case 0x82:    // EXT1
      case 0x83:    // EXT2
      case 0x84: {  // EXT4
        if (op == 'i') {
          std::string module = read_line();
          std::string name = read_line();
          global(module, name);  // refuses with the name
        }
        fail("object construction opcode 0x" + fmt::format("{:02x}", op) + " is not allowed");
      }
      default:
        fail("unsupported opcode 0x" + fmt::format("{:02x}", op));
    }
  }
}

}  // namespace

PickleValue::~PickleValue() {
  if (items.empty() && entries.empty()) return;
  std::vector<PickleValuePtr> pending;
  auto take_children = [&pending](PickleValue& v) {
    for (auto& item : v.items) pending.push_back(std::move(item));
    for (auto& [key, value] : v.entries) {
      pending.push_back(std::move(key));
      pending.push_back(std::move(value));
    }
    v.items.clear();
    v.entries.clear();
  };
  take_children(*this);
  while (!pending.empty()) {
    PickleValuePtr v = std::move(pending.back());
    pending.pop_back();
    // The last owner empties the value before it dies, so its own destructor does not recurse.
    if (v && v.use_count() == 1) take_children(*v);
  }
}

size_t pickle_memory_budget(size_t input_size) {
  constexpr size_t kBase = size_t{64} << 20, kPerByte = 8, kCap = size_t{512} << 20;
  if (input_size > (kCap - kBase) / kPerByte) return kCap;
  return kBase + kPerByte * input_size;
}

PickleValuePtr PickleValue::get(const std::string& key) const {
  if (kind != Kind::dict) return nullptr;
  for (const auto& [k, v] : entries)
    if (k->is_string() && k->text == key) return v;
  return nullptr;
}

std::string PickleValue::describe() const {
  switch (kind) {
    case Kind::none:
      return "None";
    case Kind::boolean:
      return boolean ? "True" : "False";
    case Kind::integer:
      return "int " + std::to_string(integer);
    case Kind::big_integer:
      return "big int";
    case Kind::floating:
      return "float";
    case Kind::string:
      return "str " + quote_text(text, 40);
    case Kind::bytes:
      return "bytes";
    case Kind::tuple:
      return "tuple of " + std::to_string(items.size());
    case Kind::list:
      return "list of " + std::to_string(items.size());
    case Kind::dict:
      return "dict of " + std::to_string(entries.size());
    case Kind::global:
      return printable(text);
    case Kind::storage:
      return "storage";
    case Kind::tensor:
      return "tensor";
  }
  return "value";
}

const std::vector<std::string>& allowed_pickle_globals() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n = allowed_callables();
    for (const auto& [name, dtype] : storage_types()) n.push_back(name);
    return n;
  }();
  return names;
}

DType storage_type_dtype(const std::string& global_name) {
  for (const auto& [name, dtype] : storage_types())
    if (name == global_name) return dtype;
  throw Error("unsupported storage type " + global_name);
}

std::string storage_type_name(DType dtype) {
  for (const auto& [name, type] : storage_types())
    if (type == dtype) return name;
  throw Error("no storage type for " + to_string(dtype));
}

PickleValuePtr unpickle(const uint8_t* data, size_t size, size_t& pos,
                        const PersistentLoader& persistent_load, const std::string& context) {
  if (pos > size) throw Error(context + ": pickle starts past the end of the data");
  Unpickler u(data, size, pos, persistent_load, context);
  auto value = u.run();
  pos = u.position();
  return value;
}

}  // namespace garbage::io
