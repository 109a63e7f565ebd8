#pragma once
// What a training run shows in TensorBoard (run folder tb/): per step train/loss and train/lr
// (global step), per epoch epoch/{train_loss,train_accuracy,val_loss,val_accuracy,
// images_per_second} (step = epoch), the parameter count as text, and test/confusion and
// test/grid images. A resumed run starts a new file and skips every step an earlier file of the
// run already holds, so no step is written twice.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

namespace garbage::report {
class EventWriter;
}

namespace garbage::train {

struct EpochMetrics;

class TensorBoardLog {
 public:
  /// `dir`: the run's tb/ folder. Reads earlier event files there (resume) before writing.
  explicit TensorBoardLog(const std::filesystem::path& dir);
  ~TensorBoardLog();

  void step(int64_t global_step, double loss, double lr);
  /// Writes the epoch's scalars and flushes, so readers see whole epochs.
  void epoch(const EpochMetrics& m);
  void text(const std::string& tag, const std::string& text);
  /// A PNG file as an image at step `step`.
  void image_file(const std::string& tag, const std::filesystem::path& png, int64_t step);
  void flush();

 private:
  bool fresh(const std::string& tag, int64_t step) const;
  std::map<std::string, int64_t> written_;  ///< the last step per tag of earlier files
  std::unique_ptr<report::EventWriter> writer_;
};

}  // namespace garbage::train
