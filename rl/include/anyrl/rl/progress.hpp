// A progress display for long runs, on stderr:
//
//   online  [#########...........]  41000/100000  41%  1234 steps/s  ETA 0:47  eval success 0.62
//
// On a terminal it redraws one line in place (at most every 0.1 s); when stderr is a file or a
// pipe (CI, nohup) it prints a plain line every `plain_interval_s` seconds, at phase changes and
// when an evaluation arrives, so logs stay readable.
#pragma once
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>

namespace anyrl::rl {

class ProgressBar {
 public:
  struct Options {
    std::FILE* out = stderr;
    /// nullopt: detect with isatty(out).
    std::optional<bool> tty;
    double redraw_interval_s = 0.1;
    double plain_interval_s = 30.0;
    int width = 24;  ///< bar characters
    /// Clock in seconds (injectable for tests); default: steady_clock.
    std::function<double()> clock;
  };
  ProgressBar();
  explicit ProgressBar(Options opt);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  /// Starts a phase ("bc", "offline", "online") of `total` steps, starting at `start`
  /// (resumed runs); throughput is measured from here.
  void phase(const std::string& name, std::int64_t total, std::int64_t start = 0);
  /// Current step of the phase; redraws when due.
  void update(std::int64_t step);
  /// Latest evaluation, e.g. ("success", 0.62); shown until the next one.
  void set_eval(const std::string& label, double value);
  /// Free text appended to the line (e.g. "loss 0.31").
  void set_note(const std::string& note);
  /// Prints a message on its own line without garbling the bar.
  void message(const std::string& text);
  /// Ends the current line (the last state stays visible).
  void finish();

  /// The line as it would be drawn now (no newline, no control characters).
  std::string render() const;
  /// Steps per second over the phase so far (0 before any progress).
  double rate() const;
  bool is_tty() const { return tty_; }

 private:
  double now() const;
  void draw(bool force);

  Options opt_;
  bool tty_ = false;
  std::string phase_, eval_, note_;
  std::int64_t total_ = 0, start_ = 0, step_ = 0;
  double t0_ = 0, last_draw_ = -1e300;
  bool line_open_ = false;
};

/// "1:02:03" / "4:05" for a number of seconds ("?" when unknown).
std::string format_duration(double seconds);

}  // namespace anyrl::rl
