#include "garbage/io/pickle_writer.hpp"

#include <limits>

#include "garbage/core/errors.hpp"

namespace garbage::io {

PickleWriter::PickleWriter() {
  op(0x80);  // PROTO
  op(2);
}

void PickleWriter::le(uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out_.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

void PickleWriter::mark() {
  op('(');
}

void PickleWriter::none() {
  op('N');
}

void PickleWriter::boolean(bool value) {
  op(value ? 0x88 : 0x89);
}  // NEWTRUE, NEWFALSE

void PickleWriter::integer(int64_t value) {
  if (value >= 0 && value <= 0xFF) {
    op('K');  // BININT1
    le(static_cast<uint64_t>(value), 1);
  } else if (value >= 0 && value <= 0xFFFF) {
    op('M');  // BININT2
    le(static_cast<uint64_t>(value), 2);
  } else if (value >= std::numeric_limits<int32_t>::min() &&
             value <= std::numeric_limits<int32_t>::max()) {
    op('J');  // BININT: signed 32-bit
    le(static_cast<uint64_t>(static_cast<uint32_t>(static_cast<int32_t>(value))), 4);
  } else {
    op(0x8a);  // LONG1: two's complement; 8 bytes always hold an int64
    le(8, 1);
    le(static_cast<uint64_t>(value), 8);
  }
}

void PickleWriter::string(const std::string& utf8) {
  if (utf8.size() > std::numeric_limits<uint32_t>::max())
    throw Error("pickle: string of " + std::to_string(utf8.size()) + " bytes is too long");
  op('X');  // BINUNICODE
  le(utf8.size(), 4);
  out_.insert(out_.end(), utf8.begin(), utf8.end());
}

void PickleWriter::global(const std::string& qualified_name) {
  auto dot = qualified_name.rfind('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == qualified_name.size())
    throw Error("pickle: global '" + qualified_name + "' is not module.name");
  op('c');
  std::string text = qualified_name.substr(0, dot) + "\n" + qualified_name.substr(dot + 1) + "\n";
  out_.insert(out_.end(), text.begin(), text.end());
}

void PickleWriter::empty_tuple() {
  op(')');
}

void PickleWriter::tuple_from_mark() {
  op('t');
}

void PickleWriter::int_tuple(const std::vector<int64_t>& values) {
  // TUPLE1..3 exist for short tuples; longer ones need a mark.
  if (values.empty()) return empty_tuple();
  bool short_form = values.size() <= 3;
  if (!short_form) mark();
  for (auto v : values) integer(v);
  if (short_form)
    op(static_cast<uint8_t>(0x84 + values.size()));  // TUPLE1 (0x85) .. TUPLE3 (0x87)
  else
    tuple_from_mark();
}

void PickleWriter::set_items() {
  op('u');
}

void PickleWriter::reduce() {
  op('R');
}

void PickleWriter::persistent_id() {
  op('Q');
}  // BINPERSID

const std::vector<uint8_t>& PickleWriter::finish() {
  op('.');  // STOP
  return out_;
}

}  // namespace garbage::io
