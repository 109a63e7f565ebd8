#pragma once
// A progress bar with rate and ETA on a terminal; periodic plain log lines otherwise, so CI logs
// and pipes stay readable.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace garbage {

class ProgressBar {
 public:
  /// `total` units of work, `initial` of them already done (a resumed epoch); `label` prefixes
  /// every line. Draws on stderr. Rate and ETA count only the work done by this bar.
  ProgressBar(int64_t total, std::string label, std::string unit = "it", int64_t initial = 0);
  ~ProgressBar();

  /// Sets the amount done and a free-form status (e.g. "loss 0.53"). Thread safe; redraws at most
  /// every 100 ms on a terminal, every 25 % of the work otherwise.
  void update(int64_t done, const std::string& status = "");
  /// Draws the final state and ends the line.
  void finish(const std::string& status = "");

  static bool stderr_is_terminal();

 private:
  void draw(int64_t done, const std::string& status, bool final);

  int64_t total_;
  int64_t initial_;
  std::string label_, unit_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  int last_quarter_ = 0;
  bool tty_;
  bool silent_;  ///< the log level hides info lines
  bool finished_ = false;
  std::mutex mutex_;
};

/// "1:02:03" or "4:05".
std::string format_duration(double seconds);

}  // namespace garbage
