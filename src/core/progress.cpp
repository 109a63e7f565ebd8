#include "garbage/core/progress.hpp"

#include <unistd.h>

#include <cstdio>

#include <spdlog/spdlog.h>

namespace garbage {

std::string format_duration(double seconds) {
  if (seconds < 0 || seconds != seconds) seconds = 0;
  auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  return buf;
}

bool ProgressBar::stderr_is_terminal() {
  return isatty(STDERR_FILENO) == 1;
}

ProgressBar::ProgressBar(int64_t total, std::string label, std::string unit, int64_t initial)
    : total_(std::max<int64_t>(total, 1)),
      initial_(initial),
      label_(std::move(label)),
      unit_(std::move(unit)),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_),
      tty_(stderr_is_terminal()),
      // --quiet, and the data-parallel ranks other than 0, log warnings only: no bar either.
      silent_(!spdlog::should_log(spdlog::level::info)) {}

ProgressBar::~ProgressBar() {
  // A bar abandoned by an exception must not leave the cursor mid-line.
  if (tty_ && !finished_ && !silent_) std::fputc('\n', stderr);
}

void ProgressBar::update(int64_t done, const std::string& status) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - last_draw_ < std::chrono::milliseconds(100) && done < total_) return;
  } else {
    int quarter = static_cast<int>(4 * done / total_);
    if (quarter <= last_quarter_ || done >= total_) return;
    last_quarter_ = quarter;
  }
  last_draw_ = now;
  draw(done, status, false);
}

void ProgressBar::finish(const std::string& status) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  finished_ = true;
  draw(total_, status, true);
}

void ProgressBar::draw(int64_t done, const std::string& status, bool final) {
  if (silent_) return;
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = elapsed > 0 ? (done - initial_) / elapsed : 0.0;
  double eta = rate > 0 ? (total_ - done) / rate : 0.0;
  char rate_text[48];
  std::snprintf(rate_text, sizeof rate_text, "%.1f %s/s", rate, unit_.c_str());
  if (!tty_) {
    spdlog::info("{} {}/{} {} {} elapsed {}{}", label_, done, total_, rate_text,
                 final ? "" : ("ETA " + format_duration(eta)), format_duration(elapsed),
                 status.empty() ? "" : " " + status);
    return;
  }
  constexpr int width = 24;
  int filled = static_cast<int>(width * done / total_);
  std::string bar(filled, '#');
  bar.append(width - filled, '.');
  std::fprintf(stderr, "\r\033[K%s [%s] %lld/%lld %s %s %s", label_.c_str(), bar.c_str(),
               static_cast<long long>(done), static_cast<long long>(total_), rate_text,
               (final ? format_duration(elapsed) : "ETA " + format_duration(eta)).c_str(),
               status.c_str());
  if (final) std::fputc('\n', stderr);
  std::fflush(stderr);
}

}  // namespace garbage
