#pragma once
// Byte-by-byte builders for hostile weight files: pickle opcodes, zip archives whose directory
// may lie, safetensors files with any header. Test-only.

#include <cstdint>
#include <string>
#include <vector>

namespace garbage::io::hostile {

/// Appends pickle opcodes (protocol 2).
class Pickle {
 public:
  Pickle() : out{0x80, 0x02} {}
  Pickle& raw(const char* bytes, size_t n) {
    // Byte by byte: GCC 12 misreads a range insert into an empty vector as an overflow.
    for (size_t i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(bytes[i]));
    return *this;
  }
  Pickle& op(char c) {
    out.push_back(static_cast<uint8_t>(c));
    return *this;
  }
  Pickle& le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Pickle& str(const std::string& s) {
    op('X').le(s.size(), 4);
    out.insert(out.end(), s.begin(), s.end());
    return *this;
  }
  Pickle& integer(int32_t v) { return op('J').le(static_cast<uint32_t>(v), 4); }
  Pickle& global(const std::string& module, const std::string& name) {
    op('c');
    out.insert(out.end(), module.begin(), module.end());
    op('\n');
    out.insert(out.end(), name.begin(), name.end());
    return op('\n');
  }
  Pickle& put(uint32_t i) { return op('r').le(i, 4); }
  Pickle& get(uint32_t i) { return op('j').le(i, 4); }
  Pickle& mark() { return op('('); }
  Pickle& stop() { return op('.'); }
  /// ('storage', torch.FloatStorage, key, 'cpu', numel) as a persistent id.
  Pickle& storage(const std::string& key, int32_t numel) {
    mark().str("storage").global("torch", "FloatStorage").str(key).str("cpu").integer(numel);
    return op('t').op('Q');
  }
  std::vector<uint8_t> out;
};

struct ZipEntrySpec {
  std::string name;
  std::string data;
  int64_t point_at = -1;  ///< >= 0: the directory entry points at that entry's local header
};

/// A stored zip archive; the directory may point several entries at one local header.
inline std::vector<uint8_t> zip(const std::vector<ZipEntrySpec>& entries) {
  std::vector<uint8_t> out, dir;
  auto put = [](std::vector<uint8_t>& v, uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) v.push_back(static_cast<uint8_t>(value >> (8 * i)));
  };
  std::vector<uint64_t> offsets;
  for (const auto& e : entries) {
    offsets.push_back(out.size());
    if (e.point_at >= 0) continue;
    put(out, 0x04034b50, 4);
    put(out, 20, 2), put(out, 0, 2), put(out, 0, 2), put(out, 0, 4), put(out, 0, 4);
    put(out, e.data.size(), 4), put(out, e.data.size(), 4), put(out, e.name.size(), 2);
    put(out, 0, 2);
    out.insert(out.end(), e.name.begin(), e.name.end());
    out.insert(out.end(), e.data.begin(), e.data.end());
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    const auto& target = e.point_at >= 0 ? entries[static_cast<size_t>(e.point_at)] : e;
    uint64_t offset = offsets[e.point_at >= 0 ? static_cast<size_t>(e.point_at) : i];
    put(dir, 0x02014b50, 4);
    put(dir, 20, 2), put(dir, 20, 2), put(dir, 0, 2), put(dir, 0, 2), put(dir, 0, 4);
    put(dir, 0, 4), put(dir, target.data.size(), 4), put(dir, target.data.size(), 4);
    put(dir, e.name.size(), 2), put(dir, 0, 2), put(dir, 0, 2), put(dir, 0, 2), put(dir, 0, 2);
    put(dir, 0, 4), put(dir, offset, 4);
    dir.insert(dir.end(), e.name.begin(), e.name.end());
  }
  uint64_t dir_offset = out.size();
  out.insert(out.end(), dir.begin(), dir.end());
  put(out, 0x06054b50, 4), put(out, 0, 2), put(out, 0, 2);
  put(out, entries.size(), 2), put(out, entries.size(), 2);
  put(out, dir.size(), 4), put(out, dir_offset, 4), put(out, 0, 2);
  return out;
}

/// A safetensors file with `header` (JSON text) and `data_size` zero bytes of data.
inline std::vector<uint8_t> safetensors(const std::string& header, size_t data_size) {
  std::vector<uint8_t> out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(header.size() >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  out.resize(out.size() + data_size, 0);
  return out;
}

}  // namespace garbage::io::hostile
