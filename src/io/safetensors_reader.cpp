#include "garbage/io/safetensors_reader.hpp"

#include <algorithm>
#include <memory>

#include <nlohmann/json.hpp>

#include "garbage/core/errors.hpp"
#include "garbage/io/printable.hpp"
#include "garbage/io/safetensors.hpp"

namespace garbage::io {
namespace {

using json = nlohmann::json;

// The format caps its header at 100 MB. Parsed JSON takes several times its text, so the number
// of JSON values is capped as well (a header needs about 7 per tensor).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr size_t kMaxHeaderValues = 1'000'000;
constexpr int kMaxHeaderDepth = 3;  // header -> tensor entry -> shape / offsets

uint64_t header_length(const std::vector<uint8_t>& bytes) {
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  return n;
}

// nlohmann's DOM builder behind limits on values and depth. (Its callback parser would do, but
// it scans the parent object on every closing brace: quadratic in the number of tensors.)
class LimitedDomBuilder {
 public:
  LimitedDomBuilder(json& result, const std::string& context)
      : dom_(result, true), context_(context) {}

  bool null() { return value() && dom_.null(); }
  bool boolean(bool v) { return value() && dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) { return value() && dom_.number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return value() && dom_.number_unsigned(v); }
  bool number_float(json::number_float_t v, const json::string_t& s) {
    return value() && dom_.number_float(v, s);
  }
  bool string(json::string_t& v) { return value() && dom_.string(v); }
  bool binary(json::binary_t& v) { return value() && dom_.binary(v); }
  bool start_object(std::size_t n) { return enter() && dom_.start_object(n); }
  bool key(json::string_t& k) { return dom_.key(k); }
  bool end_object() {
    --depth_;
    return dom_.end_object();
  }
  bool start_array(std::size_t n) { return enter() && dom_.start_array(n); }
  bool end_array() {
    --depth_;
    return dom_.end_array();
  }
  template <class Exception>
  bool parse_error(std::size_t position, const std::string& token, const Exception& e) {
    return dom_.parse_error(position, token, e);  // throws e
  }

 private:
  bool value() {
    if (++values_ > kMaxHeaderValues)
      throw Error(context_ + ": safetensors header holds more than " +
                  std::to_string(kMaxHeaderValues) + " values");
    return true;
  }
  bool enter() {
    if (++depth_ > kMaxHeaderDepth)
      throw Error(context_ + ": safetensors header nested too deeply");
    return value();
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  const std::string& context_;
  size_t values_ = 0;
  int depth_ = 0;
};

json parse_header(const std::vector<uint8_t>& bytes, uint64_t n, const std::string& context) {
  if (n > kMaxHeaderBytes)
    throw Error(context + ": safetensors header of " + std::to_string(n) +
                " bytes (the format allows at most 100 MB)");
  if (n > bytes.size() - 8) throw Error(context + ": safetensors header truncated");
  json header;
  LimitedDomBuilder builder(header, context);
  const auto begin = bytes.begin() + 8;
  try {
    if (!json::sax_parse(begin, begin + static_cast<long>(n), &builder))
      throw Error(context + ": corrupt safetensors header");
  } catch (const json::exception& e) {
    // nlohmann quotes the text it stopped at: that is file content.
    throw Error(context + ": corrupt safetensors header: " + printable(e.what(), 200));
  }
  return header;
}

/// A non-negative JSON integer (not a float, bool or string).
uint64_t strict_unsigned(const json& v, const std::string& where, const char* what) {
  if (!v.is_number_unsigned())
    throw Error(where + ": " + what + " must hold non-negative integers, got " +
                printable(v.dump(), 40));
  return v.get<uint64_t>();
}

void check_metadata(const json& metadata, const std::string& context) {
  if (!metadata.is_object()) throw Error(context + ": safetensors __metadata__ is not an object");
  for (const auto& [key, value] : metadata.items())
    if (!value.is_string())
      throw Error(context + ": safetensors __metadata__ value of " + quote_text(key) +
                  " is not a string");
}

struct Entry {
  uint64_t begin = 0, end = 0;
  std::string name;
  TensorData tensor;
};

Entry parse_entry(const std::string& name, const json& info, uint64_t data_size,
                  const std::string& context) {
  const std::string where = context + ": tensor " + quote_text(name);
  if (has_control_characters(name) || name.size() > kMaxTensorNameBytes)
    throw Error(where + ": name holds control characters or is too long");
  if (!info.is_object()) throw Error(where + ": entry is not an object");
  auto field = [&](const char* key) -> const json& {
    auto it = info.find(key);
    if (it == info.end()) throw Error(where + ": entry has no \"" + key + "\"");
    return *it;
  };
  const json& dtype = field("dtype");
  const json& shape = field("shape");
  const json& offsets = field("data_offsets");
  if (!dtype.is_string()) throw Error(where + ": dtype is not a string");
  if (!shape.is_array()) throw Error(where + ": shape is not an array");
  if (!offsets.is_array() || offsets.size() != 2)
    throw Error(where + ": data_offsets is not an array of two integers");
  if (shape.size() > kMaxTensorDims)
    throw Error(where + ": " + std::to_string(shape.size()) + " dimensions");

  Entry e;
  e.name = name;
  TensorData& t = e.tensor;
  t.dtype = parse_safetensors_dtype(dtype.get<std::string>(), where);
  for (const auto& s : shape) {
    uint64_t size = strict_unsigned(s, where, "shape");
    if (size > static_cast<uint64_t>(kMaxTensorDimSize)) throw Error(where + ": bad shape");
    t.shape.push_back(static_cast<int64_t>(size));
  }
  e.begin = strict_unsigned(offsets[0], where, "data_offsets");
  e.end = strict_unsigned(offsets[1], where, "data_offsets");
  if (e.begin > e.end || e.end > data_size)
    throw Error(where + ": data offsets out of range (file truncated?)");
  const int64_t numel = checked_numel(t.shape, where);
  const uint64_t expected = static_cast<uint64_t>(numel) * element_size(t.dtype);
  if (numel > static_cast<int64_t>(data_size) || expected != e.end - e.begin)
    throw Error(where + ": byte range does not match its shape and dtype");
  t.strides = contiguous_strides(t.shape);
  return e;
}

/// The format requires the byte ranges to tile the data exactly: no gaps, no overlaps (which
/// would let one byte range stand for many tensors), nothing after the last one.
void check_ranges_tile(const std::vector<Entry>& entries, uint64_t data_size,
                       const std::string& context) {
  uint64_t expected = 0;
  for (const auto& e : entries) {
    if (e.begin != expected)
      throw Error(context + ": safetensors tensor " + quote_text(e.name) + " starts at byte " +
                  std::to_string(e.begin) + " of the data, expected " + std::to_string(expected) +
                  " (byte ranges must be contiguous and must not overlap)");
    expected = e.end;
  }
  if (expected != data_size)
    throw Error(context + ": safetensors data holds " + std::to_string(data_size - expected) +
                " bytes after its last tensor");
}

}  // namespace

bool looks_like_safetensors(const std::vector<uint8_t>& bytes) {
  if (bytes.size() < 10) return false;
  uint64_t n = header_length(bytes);
  return n <= bytes.size() - 8 && bytes[8] == '{';
}

StateDict read_safetensors(const std::vector<uint8_t>& bytes, const std::string& context) {
  if (bytes.size() < 8) throw Error(context + ": too short to be a safetensors file");
  const uint64_t n = header_length(bytes);
  json header = parse_header(bytes, n, context);
  if (!header.is_object()) throw Error(context + ": safetensors header is not an object");
  const uint64_t data_start = 8 + n, data_size = bytes.size() - data_start;
  std::vector<Entry> entries;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      check_metadata(info, context);
      continue;
    }
    entries.push_back(parse_entry(name, info, data_size, context));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  check_ranges_tile(entries, data_size, context);
  StateDict tensors;
  tensors.reserve(entries.size());
  for (auto& e : entries) {
    auto storage = std::make_shared<Storage>();
    storage->dtype = e.tensor.dtype;
    storage->numel = e.tensor.numel();
    const uint8_t* p = bytes.data() + data_start + e.begin;
    storage->bytes.assign(p, p + (e.end - e.begin));
    e.tensor.storage = std::move(storage);
    tensors.emplace_back(std::move(e.name), std::move(e.tensor));
  }
  return tensors;
}

}  // namespace garbage::io
