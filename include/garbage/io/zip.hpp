#pragma once
// A minimal reader for the zip archives torch.save writes: entries are stored (uncompressed),
// so an entry is a byte range of the file. Zip64 records are understood; compressed entries are
// reported, not inflated. Every offset is checked against the buffer; entries must have distinct
// names and must not overlap, so their sizes add up to at most the archive's size.

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace garbage::io {

/// Record signatures of the zip format, shared by the reader and io/zip_writer.
namespace zip_signature {
inline constexpr uint32_t local_header = 0x04034b50;
inline constexpr uint32_t central_header = 0x02014b50;
inline constexpr uint32_t end_of_directory = 0x06054b50;
}  // namespace zip_signature

struct ZipEntry {
  std::string name;
  uint64_t local_offset = 0;  ///< start of the entry's local header
  uint64_t data_offset = 0;   ///< start of the entry's bytes in the archive
  uint64_t size = 0;
  uint16_t method = 0;  ///< 0: stored
};

class ZipReader {
 public:
  /// Indexes the central directory of `data` (which must outlive the reader). Throws Error
  /// prefixed with `context` when the archive is malformed.
  ZipReader(const uint8_t* data, size_t size, std::string context);

  const std::vector<ZipEntry>& entries() const { return entries_; }
  /// The entry named `name` (hash lookup), or null.
  const ZipEntry* find(const std::string& name) const;
  /// The bytes of a stored entry; throws Error for a compressed one.
  std::pair<const uint8_t*, size_t> read(const ZipEntry& entry) const;

 private:
  void check_no_overlap() const;

  const uint8_t* data_;
  size_t size_;
  std::string context_;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, size_t> index_;  ///< name -> position in entries_
};

bool looks_like_zip(const uint8_t* data, size_t size);

}  // namespace garbage::io
