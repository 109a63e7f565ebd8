#pragma once
// Emits the few pickle (protocol 2) opcodes a torch.save state_dict needs. The caller drives the
// pickle machine directly, in the order Python's pickler would; nothing is memoised, which keeps
// the output valid for any unpickler at the cost of a few repeated global names.

#include <cstdint>
#include <string>
#include <vector>

namespace garbage::io {

class PickleWriter {
 public:
  PickleWriter();  ///< starts with PROTO 2

  void mark();
  void none();
  void boolean(bool value);
  void integer(int64_t value);
  void string(const std::string& utf8);
  /// GLOBAL "module\nname\n": the qualified name is split at its last dot.
  void global(const std::string& qualified_name);
  void empty_tuple();
  /// A tuple of every value since the last mark().
  void tuple_from_mark();
  void int_tuple(const std::vector<int64_t>& values);
  /// Stores the key/value pairs pushed since the last mark() into the dict below that mark.
  void set_items();
  /// Calls the callable below the argument tuple on top.
  void reduce();
  /// Replaces the value on top (a persistent id) with what the unpickler's persistent_load
  /// returns for it.
  void persistent_id();
  /// Ends the pickle; returns its bytes.
  const std::vector<uint8_t>& finish();

 private:
  void op(uint8_t code) { out_.push_back(code); }
  void le(uint64_t value, int bytes);

  std::vector<uint8_t> out_;
};

}  // namespace garbage::io
