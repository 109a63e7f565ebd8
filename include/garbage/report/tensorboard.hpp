#pragma once
// TensorBoard event files written natively: TFRecord framing (length and data, each with a
// masked CRC-32C) around Event protocol buffers (proto/tensorboard.proto, TensorFlow's field
// numbers). Scalars, PNG images, text, and the HParams plugin's experiment and session summaries.
// Each writer starts a new file; a reader checks every CRC.

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace garbage::report {

/// CRC-32C (Castagnoli) of `data`, and TFRecord's masked form of it.
uint32_t crc32c(const void* data, size_t size);
uint32_t masked_crc32c(const void* data, size_t size);

/// A hyperparameter's domain in the HParams experiment summary.
struct HParamDomain {
  std::string name;
  std::optional<std::pair<double, double>> interval;  ///< numeric range
  std::vector<nlohmann::json> values;                 ///< discrete values (strings, numbers, bools)
};

enum class SessionStatus { success = 1, failure = 2, running = 3 };

class EventWriter {
 public:
  /// Creates `dir` and dir/events.out.tfevents.<unix time>.<host>.<pid> (a new file per writer,
  /// so a resumed run never appends to a file another process may be reading).
  explicit EventWriter(const std::filesystem::path& dir);
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  void scalar(const std::string& tag, double value, int64_t step);
  /// `png` is an encoded PNG file of the given size.
  void image(const std::string& tag, const std::string& png, int height, int width, int64_t step);
  void text(const std::string& tag, const std::string& text, int64_t step);

  /// The HParams plugin: the sweep's parameters and metric (in the sweep folder), and each
  /// trial's parameters (start) and outcome (end) in its run folder.
  void hparams_experiment(const std::vector<HParamDomain>& params,
                          const std::vector<std::string>& metric_tags);
  void hparams_session_start(const nlohmann::json& params, const std::string& group);
  void hparams_session_end(SessionStatus status);

  /// Makes everything written so far visible to readers.
  void flush();
  const std::filesystem::path& path() const { return path_; }

 private:
  void write_event(const std::string& serialized_event);
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
};

/// One summary value of an event file, as read back.
struct EventRecord {
  double wall_time = 0;
  int64_t step = 0;
  std::string tag;
  std::string kind;           ///< "file_version", "scalar", "image", "text", "hparams"
  double value = 0;           ///< scalar
  std::string data;           ///< image: PNG bytes; text: the text; hparams: serialized plugin data
  int height = 0, width = 0;  ///< image
};

/// Reads a whole event file; throws Error naming the file and offset on a bad length or CRC.
std::vector<EventRecord> read_event_file(const std::filesystem::path& path);

/// Every events.out.tfevents.* file in `dir`, oldest first.
std::vector<std::filesystem::path> event_files(const std::filesystem::path& dir);

/// The highest step written per tag over all event files in `dir` (what a resumed run must not
/// write again).
std::map<std::string, int64_t> last_steps(const std::filesystem::path& dir);

/// The HParams plugin data of an "hparams" record as JSON ({"experiment": ...},
/// {"session_start_info": {"hparams": {...}, "group_name": ...}}, {"session_end_info": ...}).
nlohmann::json hparams_to_json(const EventRecord& record);

}  // namespace garbage::report
