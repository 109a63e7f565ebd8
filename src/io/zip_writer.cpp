#include "garbage/io/zip_writer.hpp"

#include <array>
#include <limits>

#include "garbage/core/errors.hpp"
#include "garbage/io/zip.hpp"

namespace garbage::io {
namespace {

constexpr uint32_t kLocalHeader = zip_signature::local_header;
constexpr uint32_t kCentralHeader = zip_signature::central_header;
constexpr uint32_t kEndOfDirectory = zip_signature::end_of_directory;
constexpr uint64_t kLocalHeaderSize = 30;
constexpr uint16_t kVersion = 20;        // 2.0: stored entries, folders
constexpr uint16_t kDosDate = 0x21;      // 1980-01-01: a fixed stamp keeps output reproducible
constexpr uint16_t kPaddingId = 0x4246;  // "FB", the id PyTorch gives its alignment field

const std::array<uint32_t, 256>& crc_table() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

}  // namespace

uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc) {
  const auto& table = crc_table();
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

ZipWriter::ZipWriter(std::ostream& out, std::string context)
    : out_(out), context_(std::move(context)) {}

void ZipWriter::put(uint64_t value, int bytes) {
  std::array<char, 8> buf{};
  for (int i = 0; i < bytes; ++i) buf[i] = static_cast<char>(value >> (8 * i));
  write(buf.data(), static_cast<size_t>(bytes));
}

void ZipWriter::write(const void* data, size_t size) {
  out_.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out_) throw Error(context_ + ": write failed (disk full?)");
  position_ += size;
}

uint32_t ZipWriter::offset32(uint64_t value, const std::string& what) const {
  if (value >= std::numeric_limits<uint32_t>::max())
    throw Error(context_ + ": " + what +
                " passes 4 GiB, which needs zip64 (not supported by this writer)");
  return static_cast<uint32_t>(value);
}

void ZipWriter::add(const std::string& name, const uint8_t* data, size_t size) {
  if (finished_) throw Error(context_ + ": zip entry " + name + " added after the directory");
  if (name.empty() || name.size() > 0xFFFF) throw Error(context_ + ": bad zip entry name");
  if (entries_.size() >= 0xFFFF) throw Error(context_ + ": too many zip entries (zip64 needed)");
  Entry e{name, crc32(data, size), offset32(size, "entry " + name), offset32(position_, "archive")};
  // The extra field is at least its 4-byte header; the padding after it aligns the data.
  uint64_t unpadded = position_ + kLocalHeaderSize + name.size() + 4;
  uint64_t padding = (kAlignment - unpadded % kAlignment) % kAlignment;
  put(kLocalHeader, 4);
  put(kVersion, 2);
  put(0, 2);  // flags
  put(0, 2);  // method: stored
  put(0, 2);  // time
  put(kDosDate, 2);
  put(e.crc, 4);
  put(e.size, 4);  // compressed
  put(e.size, 4);  // uncompressed
  put(name.size(), 2);
  put(4 + padding, 2);
  write(name.data(), name.size());
  put(kPaddingId, 2);
  put(padding, 2);
  write(std::string(padding, 'Z').data(), padding);
  if (size) write(data, size);
  entries_.push_back(std::move(e));
}

void ZipWriter::add(const std::string& name, const std::string& text) {
  add(name, reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

void ZipWriter::finish() {
  if (finished_) return;
  const uint32_t directory = offset32(position_, "archive");
  for (const auto& e : entries_) {
    put(kCentralHeader, 4);
    put(kVersion, 2);  // made by
    put(kVersion, 2);  // needed
    put(0, 2);         // flags
    put(0, 2);         // method
    put(0, 2);         // time
    put(kDosDate, 2);
    put(e.crc, 4);
    put(e.size, 4);
    put(e.size, 4);
    put(e.name.size(), 2);
    put(0, 2);  // extra
    put(0, 2);  // comment
    put(0, 2);  // disk
    put(0, 2);  // internal attributes
    put(0, 4);  // external attributes
    put(e.local_offset, 4);
    write(e.name.data(), e.name.size());
  }
  const uint32_t directory_size = offset32(position_ - directory, "zip directory");
  put(kEndOfDirectory, 4);
  put(0, 2);  // this disk
  put(0, 2);  // directory's disk
  put(entries_.size(), 2);
  put(entries_.size(), 2);
  put(directory_size, 4);
  put(directory, 4);
  put(0, 2);  // comment
  out_.flush();
  if (!out_) throw Error(context_ + ": write failed (disk full?)");
  finished_ = true;
}

}  // namespace garbage::io
