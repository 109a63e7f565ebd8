#include "garbage/io/zip.hpp"

#include <algorithm>

#include "garbage/core/errors.hpp"
#include "garbage/io/printable.hpp"

namespace garbage::io {
namespace {

constexpr uint32_t kLocalHeader = zip_signature::local_header;
constexpr uint32_t kCentralHeader = zip_signature::central_header;
constexpr uint32_t kEndOfDirectory = zip_signature::end_of_directory;
constexpr uint32_t kZip64Locator = 0x07064b50;
constexpr uint32_t kZip64End = 0x06064b50;

/// Little-endian reads with bounds checks against the whole buffer.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const std::string& context)
      : data_(data), size_(size), context_(context) {}
  uint64_t le(uint64_t at, int n) const {
    if (at > size_ || static_cast<uint64_t>(n) > size_ - at)
      throw Error(context_ + ": zip structure runs past the end of the file (truncated?)");
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(data_[at + i]) << (8 * i);
    return v;
  }
  uint16_t u16(uint64_t at) const { return static_cast<uint16_t>(le(at, 2)); }
  uint32_t u32(uint64_t at) const { return static_cast<uint32_t>(le(at, 4)); }
  uint64_t u64(uint64_t at) const { return le(at, 8); }

 private:
  const uint8_t* data_;
  size_t size_;
  const std::string& context_;
};

}  // namespace

bool looks_like_zip(const uint8_t* data, size_t size) {
  return size >= 4 && data[0] == 'P' && data[1] == 'K' && data[2] == 3 && data[3] == 4;
}

ZipReader::ZipReader(const uint8_t* data, size_t size, std::string context)
    : data_(data), size_(size), context_(std::move(context)) {
  Cursor c(data_, size_, context_);
  if (size_ < 22) throw Error(context_ + ": too short to be a zip archive");
  // The end-of-directory record sits in the last 22 + 65535 (comment) bytes.
  uint64_t eocd = UINT64_MAX;
  uint64_t lowest = size_ > 22 + 65535 ? size_ - 22 - 65535 : 0;
  for (uint64_t at = size_ - 22 + 1; at-- > lowest;) {
    if (c.u32(at) == kEndOfDirectory) {
      eocd = at;
      break;
    }
  }
  if (eocd == UINT64_MAX)
    throw Error(context_ + ": no zip end-of-directory record (file truncated?)");
  uint64_t count = c.u16(eocd + 10);
  uint64_t dir_offset = c.u32(eocd + 16);
  if ((count == 0xFFFF || dir_offset == 0xFFFFFFFF) && eocd >= 20 &&
      c.u32(eocd - 20) == kZip64Locator) {
    uint64_t end64 = c.u64(eocd - 20 + 8);
    if (c.u32(end64) != kZip64End) throw Error(context_ + ": bad zip64 end-of-directory record");
    count = c.u64(end64 + 32);
    dir_offset = c.u64(end64 + 48);
  }
  if (count > size_ / 46) throw Error(context_ + ": zip directory claims too many entries");

  uint64_t at = dir_offset;
  for (uint64_t i = 0; i < count; ++i) {
    if (c.u32(at) != kCentralHeader) throw Error(context_ + ": corrupt zip central directory");
    ZipEntry e;
    e.method = c.u16(at + 10);
    uint64_t compressed = c.u32(at + 20);
    uint64_t uncompressed = c.u32(at + 24);
    uint16_t name_len = c.u16(at + 28), extra_len = c.u16(at + 30), comment_len = c.u16(at + 32);
    uint64_t local = c.u32(at + 42);
    if (at + 46 + name_len > size_) throw Error(context_ + ": zip entry name runs past the end");
    e.name.assign(reinterpret_cast<const char*>(data_ + at + 46), name_len);
    // Zip64 extra field: the 64-bit values appear in this order for each field saturated above.
    uint64_t extra = at + 46 + name_len, extra_end = extra + extra_len;
    while (extra + 4 <= extra_end) {
      uint16_t id = c.u16(extra), len = c.u16(extra + 2);
      if (id == 0x0001) {
        uint64_t p = extra + 4, field_end = p + len;
        auto next64 = [&](uint64_t& value) {
          if (p + 8 > field_end)
            throw Error(context_ + ": zip64 field of entry " + quote_text(e.name) + " too short");
          value = c.u64(p);
          p += 8;
        };
        if (uncompressed == 0xFFFFFFFF) next64(uncompressed);
        if (compressed == 0xFFFFFFFF) next64(compressed);
        if (local == 0xFFFFFFFF) next64(local);
      }
      extra += 4 + static_cast<uint64_t>(len);
    }
    if (c.u32(local) != kLocalHeader)
      throw Error(context_ + ": corrupt zip entry " + quote_text(e.name));
    e.data_offset = local + 30 + c.u16(local + 26) + c.u16(local + 28);
    e.size = e.method == 0 ? uncompressed : compressed;
    if (e.data_offset > size_ || e.size > size_ - e.data_offset)
      throw Error(context_ + ": zip entry " + quote_text(e.name) +
                  " runs past the end of the file (truncated?)");
    e.local_offset = local;
    if (!index_.emplace(e.name, entries_.size()).second)
      throw Error(context_ + ": zip entry " + quote_text(e.name) + " appears twice");
    entries_.push_back(std::move(e));
    at += 46 + static_cast<uint64_t>(name_len) + extra_len + comment_len;
  }
  check_no_overlap();
}

void ZipReader::check_no_overlap() const {
  // Entries sharing bytes would let a small archive stand for many copies of its data.
  std::vector<const ZipEntry*> order;
  order.reserve(entries_.size());
  for (const auto& e : entries_) order.push_back(&e);
  std::sort(order.begin(), order.end(),
            [](const ZipEntry* a, const ZipEntry* b) { return a->local_offset < b->local_offset; });
  for (size_t i = 1; i < order.size(); ++i) {
    const ZipEntry& before = *order[i - 1];
    if (before.data_offset + before.size > order[i]->local_offset)
      throw Error(context_ + ": zip entries " + quote_text(before.name) + " and " +
                  quote_text(order[i]->name) + " overlap");
  }
}

const ZipEntry* ZipReader::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

std::pair<const uint8_t*, size_t> ZipReader::read(const ZipEntry& entry) const {
  if (entry.method != 0)
    throw Error(context_ + ": zip entry " + quote_text(entry.name) + " is compressed (method " +
                std::to_string(entry.method) +
                "); torch.save stores entries uncompressed: re-save the file with torch.save");
  return {data_ + entry.data_offset, static_cast<size_t>(entry.size)};
}

}  // namespace garbage::io
