#include "garbage/train/tensorboard_log.hpp"

#include <fstream>
#include <iterator>

#include "garbage/core/errors.hpp"
#include "garbage/report/tensorboard.hpp"
#include "garbage/train/trainer.hpp"

namespace garbage::train {
namespace {

/// Width and height from a PNG's IHDR chunk.
std::pair<int, int> png_size(const std::string& png, const std::filesystem::path& path) {
  const std::string signature = "\x89PNG\r\n\x1a\n";
  if (png.size() < 24 || png.compare(0, 8, signature) != 0 || png.compare(12, 4, "IHDR") != 0)
    throw Error(path.string() + ": not a PNG file");
  auto be32 = [&](size_t at) {
    return (static_cast<unsigned char>(png[at]) << 24) |
           (static_cast<unsigned char>(png[at + 1]) << 16) |
           (static_cast<unsigned char>(png[at + 2]) << 8) | static_cast<unsigned char>(png[at + 3]);
  };
  return {static_cast<int>(be32(16)), static_cast<int>(be32(20))};
}

}  // namespace

TensorBoardLog::TensorBoardLog(const std::filesystem::path& dir)
    : written_(report::last_steps(dir)), writer_(std::make_unique<report::EventWriter>(dir)) {}

TensorBoardLog::~TensorBoardLog() = default;

bool TensorBoardLog::fresh(const std::string& tag, int64_t step) const {
  auto it = written_.find(tag);
  return it == written_.end() || step > it->second;
}

void TensorBoardLog::step(int64_t global_step, double loss, double lr) {
  if (fresh("train/loss", global_step)) writer_->scalar("train/loss", loss, global_step);
  if (fresh("train/lr", global_step)) writer_->scalar("train/lr", lr, global_step);
}

void TensorBoardLog::epoch(const EpochMetrics& m) {
  const std::pair<const char*, double> scalars[] = {
      {"epoch/train_loss", m.train_loss},
      {"epoch/train_accuracy", m.train_accuracy},
      {"epoch/val_loss", m.val_loss},
      {"epoch/val_accuracy", m.val_accuracy},
      {"epoch/images_per_second", m.train_images_per_second}};
  for (const auto& [tag, value] : scalars)
    if (fresh(tag, m.epoch)) writer_->scalar(tag, value, m.epoch);
  writer_->flush();
}

void TensorBoardLog::text(const std::string& tag, const std::string& text) {
  if (fresh(tag, 0)) writer_->text(tag, text, 0);
}

void TensorBoardLog::image_file(const std::string& tag, const std::filesystem::path& png,
                                int64_t step) {
  if (!fresh(tag, step)) return;
  std::ifstream in(png, std::ios::binary);
  if (!in) throw Error(png.string() + ": cannot read");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto [width, height] = png_size(bytes, png);
  writer_->image(tag, bytes, height, width, step);
}

void TensorBoardLog::flush() {
  writer_->flush();
}

}  // namespace garbage::train
