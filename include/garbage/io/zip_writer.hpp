#pragma once
// Writes zip archives the way torch.save does: entries stored uncompressed, each entry's data
// starting on a 64-byte boundary (padding goes into the local header's extra field, as
// PyTorch's "FB" field), so readers may map storages straight from the file. No zip64: archives
// (and entries) must stay below 4 GiB.

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace garbage::io {

/// CRC-32 (IEEE 802.3, as zip uses), continuing from `crc` for data split into chunks.
uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc = 0);

class ZipWriter {
 public:
  /// Streams to `out`, which must outlive the writer; `context` (the file name) prefixes errors.
  ZipWriter(std::ostream& out, std::string context);

  /// Appends a stored entry.
  void add(const std::string& name, const uint8_t* data, size_t size);
  void add(const std::string& name, const std::string& text);
  /// Writes the central directory. No entry may be added afterwards.
  void finish();

  static constexpr uint64_t kAlignment = 64;

 private:
  struct Entry {
    std::string name;
    uint32_t crc;
    uint32_t size;
    uint32_t local_offset;
  };
  void put(uint64_t value, int bytes);
  void write(const void* data, size_t size);
  uint32_t offset32(uint64_t value, const std::string& what) const;

  std::ostream& out_;
  std::string context_;
  uint64_t position_ = 0;
  std::vector<Entry> entries_;
  bool finished_ = false;
};

}  // namespace garbage::io
