#include "garbage/report/tensorboard.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>

#include <google/protobuf/util/json_util.h>

#include "garbage/core/errors.hpp"
#include "proto/tensorboard.pb.h"

namespace garbage::report {
namespace fs = std::filesystem;
namespace tb = garbage::tensorboard;

namespace {

constexpr int kDtFloat = 1, kDtString = 7;

std::array<uint32_t, 256> crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;  // Castagnoli
    table[i] = c;
  }
  return table;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "localhost";
  return name;
}

std::string le_bytes(uint64_t v, int n) {
  std::string out(n, '\0');
  for (int i = 0; i < n; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

uint64_t read_le(const unsigned char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::string serialize(const tb::Event& e) {
  std::string out;
  e.SerializeToString(&out);
  return out;
}

tb::Event event_at(int64_t step) {
  tb::Event e;
  e.set_wall_time(now_seconds());
  e.set_step(step);
  return e;
}

/// A summary value carrying a plugin's payload in a tensor, as TensorBoard's plugins write them.
tb::Summary::Value* plugin_value(tb::Event& e, const std::string& tag, const std::string& plugin,
                                 const std::string& content) {
  auto* v = e.mutable_summary()->add_value();
  v->set_tag(tag);
  auto* data = v->mutable_metadata()->mutable_plugin_data();
  data->set_plugin_name(plugin);
  data->set_content(content);
  return v;
}

google::protobuf::Value to_proto_value(const nlohmann::json& j) {
  google::protobuf::Value v;
  if (j.is_boolean())
    v.set_bool_value(j.get<bool>());
  else if (j.is_number())
    v.set_number_value(j.get<double>());
  else if (j.is_string())
    v.set_string_value(j.get<std::string>());
  else
    v.set_string_value(j.dump());
  return v;
}

/// An hparams plugin summary: the payload in the metadata and, as TensorBoard writes them, a
/// scalar float tensor as the value.
std::string hparams_event(const std::string& tag, const tb::HParamsPluginData& data) {
  std::string payload;
  data.SerializeToString(&payload);
  tb::Event e = event_at(0);
  auto* v = plugin_value(e, tag, "hparams", payload);
  v->mutable_tensor()->set_dtype(kDtFloat);
  v->mutable_tensor()->add_float_val(0.0f);
  return serialize(e);
}

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  static const auto table = crc32c_table();
  uint32_t crc = 0xFFFFFFFFu;
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(const void* data, size_t size) {
  const uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

EventWriter::EventWriter(const fs::path& dir) {
  static std::atomic<int> counter{0};
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(dir.string() + ": cannot create folder: " + ec.message());
  const auto seconds = static_cast<long long>(now_seconds());
  path_ = dir / ("events.out.tfevents." + std::to_string(seconds) + "." + host_name() + "." +
                 std::to_string(getpid()) + "." + std::to_string(counter++));
  file_ = std::fopen(path_.c_str(), "wb");
  if (!file_) throw Error(path_.string() + ": cannot create event file: " + std::strerror(errno));
  tb::Event e = event_at(0);
  e.set_file_version("brain.Event:2");
  write_event(serialize(e));
  flush();
}

EventWriter::~EventWriter() {
  if (file_) std::fclose(file_);
}

void EventWriter::write_event(const std::string& data) {
  const std::string length = le_bytes(data.size(), 8);
  std::string record = length + le_bytes(masked_crc32c(length.data(), length.size()), 4) + data +
                       le_bytes(masked_crc32c(data.data(), data.size()), 4);
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size())
    throw Error(path_.string() + ": cannot write event: " + std::strerror(errno));
}

void EventWriter::flush() {
  if (std::fflush(file_) != 0)
    throw Error(path_.string() + ": cannot flush events: " + std::strerror(errno));
}

void EventWriter::scalar(const std::string& tag, double value, int64_t step) {
  tb::Event e = event_at(step);
  auto* v = e.mutable_summary()->add_value();
  v->set_tag(tag);
  v->set_simple_value(static_cast<float>(value));
  write_event(serialize(e));
}

void EventWriter::image(const std::string& tag, const std::string& png, int height, int width,
                        int64_t step) {
  tb::Event e = event_at(step);
  auto* v = e.mutable_summary()->add_value();
  v->set_tag(tag);
  auto* img = v->mutable_image();
  img->set_height(height);
  img->set_width(width);
  img->set_colorspace(3);
  img->set_encoded_image_string(png);
  write_event(serialize(e));
}

void EventWriter::text(const std::string& tag, const std::string& text, int64_t step) {
  tb::Event e = event_at(step);
  auto* v = plugin_value(e, tag, "text", "");
  auto* t = v->mutable_tensor();
  t->set_dtype(kDtString);
  t->add_string_val(text);
  write_event(serialize(e));
}

void EventWriter::hparams_experiment(const std::vector<HParamDomain>& params,
                                     const std::vector<std::string>& metric_tags) {
  tb::HParamsPluginData data;
  auto* experiment = data.mutable_experiment();
  experiment->set_time_created_secs(now_seconds());
  for (const auto& p : params) {
    auto* info = experiment->add_hparam_infos();
    info->set_name(p.name);
    if (p.interval) {
      info->set_type(3);
      info->mutable_domain_interval()->set_min_value(p.interval->first);
      info->mutable_domain_interval()->set_max_value(p.interval->second);
    } else {
      const bool strings = !p.values.empty() && p.values.front().is_string();
      const bool bools = !p.values.empty() && p.values.front().is_boolean();
      info->set_type(strings ? 1 : bools ? 2 : 3);
      for (const auto& value : p.values)
        *info->mutable_domain_discrete()->add_values() = to_proto_value(value);
    }
  }
  for (const auto& tag : metric_tags) {
    auto* metric = experiment->add_metric_infos();
    metric->mutable_name()->set_tag(tag);
    metric->set_dataset_type(2);
  }
  write_event(hparams_event("_hparams_/experiment", data));
}

void EventWriter::hparams_session_start(const nlohmann::json& params, const std::string& group) {
  tb::HParamsPluginData data;
  auto* start = data.mutable_session_start_info();
  for (auto it = params.begin(); it != params.end(); ++it)
    (*start->mutable_hparams())[it.key()] = to_proto_value(it.value());
  start->set_group_name(group);
  start->set_start_time_secs(now_seconds());
  write_event(hparams_event("_hparams_/session_start_info", data));
}

void EventWriter::hparams_session_end(SessionStatus status) {
  tb::HParamsPluginData data;
  data.mutable_session_end_info()->set_status(static_cast<int>(status));
  data.mutable_session_end_info()->set_end_time_secs(now_seconds());
  write_event(hparams_event("_hparams_/session_end_info", data));
}

namespace {

EventRecord record_of(const tb::Event& e, const tb::Summary::Value& v) {
  EventRecord r;
  r.wall_time = e.wall_time();
  r.step = e.step();
  r.tag = v.tag();
  const auto& plugin = v.metadata().plugin_data().plugin_name();
  if (v.has_image()) {
    r.kind = "image";
    r.data = v.image().encoded_image_string();
    r.height = v.image().height();
    r.width = v.image().width();
  } else if (plugin == "text") {
    r.kind = "text";
    if (v.tensor().string_val_size() > 0) r.data = v.tensor().string_val(0);
  } else if (plugin == "hparams") {
    r.kind = "hparams";
    r.data = v.metadata().plugin_data().content();
  } else {
    r.kind = "scalar";
    r.value = v.simple_value();
  }
  return r;
}

}  // namespace

std::vector<EventRecord> read_event_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open event file");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::vector<EventRecord> out;
  size_t offset = 0;
  auto fail = [&](const std::string& what) {
    throw Error(path.string() + ": " + what + " at byte " + std::to_string(offset));
  };
  while (offset < bytes.size()) {
    if (bytes.size() - offset < 12) fail("truncated record header");
    const uint64_t length = read_le(p + offset, 8);
    if (read_le(p + offset + 8, 4) != masked_crc32c(p + offset, 8)) fail("bad length CRC");
    if (length > bytes.size() - offset - 16) fail("truncated record");
    const unsigned char* data = p + offset + 12;
    if (read_le(data + length, 4) != masked_crc32c(data, length)) fail("bad data CRC");
    tb::Event e;
    if (!e.ParseFromArray(data, static_cast<int>(length))) fail("undecodable event");
    if (e.has_file_version()) {
      EventRecord r;
      r.wall_time = e.wall_time();
      r.kind = "file_version";
      r.data = e.file_version();
      out.push_back(r);
    }
    for (const auto& v : e.summary().value()) out.push_back(record_of(e, v));
    offset += 16 + length;
  }
  return out;
}

std::vector<fs::path> event_files(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0)
      files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::map<std::string, int64_t> last_steps(const fs::path& dir) {
  std::map<std::string, int64_t> last;
  for (const auto& file : event_files(dir)) {
    for (const auto& r : read_event_file(file)) {
      if (r.kind == "file_version") continue;
      auto [it, inserted] = last.emplace(r.tag, r.step);
      if (!inserted) it->second = std::max(it->second, r.step);
    }
  }
  return last;
}

nlohmann::json hparams_to_json(const EventRecord& record) {
  tb::HParamsPluginData data;
  if (!data.ParseFromString(record.data)) throw Error("undecodable hparams plugin data");
  std::string text;
  google::protobuf::util::MessageToJsonString(data, &text);
  return nlohmann::json::parse(text);
}

}  // namespace garbage::report
