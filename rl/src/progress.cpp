#include "anyrl/rl/progress.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>

namespace anyrl::rl {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const auto t = static_cast<long long>(std::llround(s));
  char buf[64];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", t / 3600, (t / 60) % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", t / 60, t % 60);
  return buf;
}

ProgressBar::ProgressBar() : ProgressBar(Options{}) {}

ProgressBar::ProgressBar(Options opt) : opt_(std::move(opt)) {
  if (!opt_.out) opt_.out = stderr;
  tty_ = opt_.tty ? *opt_.tty : ::isatty(::fileno(opt_.out)) == 1;
  t0_ = now();
}

ProgressBar::~ProgressBar() {
  if (line_open_) std::fputc('\n', opt_.out);
}

double ProgressBar::now() const {
  if (opt_.clock) return opt_.clock();
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

void ProgressBar::phase(const std::string& name, std::int64_t total, std::int64_t start) {
  if (line_open_) draw(true);  // leave the finished phase's final state on screen
  finish();
  phase_ = name;
  total_ = total;
  start_ = step_ = start;
  t0_ = now();
  last_draw_ = -1e300;
  draw(true);
}

void ProgressBar::update(std::int64_t step) {
  const bool reached_end = total_ > 0 && step >= total_ && step_ < total_;
  step_ = step;
  draw(reached_end);
}

void ProgressBar::set_eval(const std::string& label, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g", value);
  eval_ = "eval " + label + " " + buf;
  draw(true);
}

void ProgressBar::set_note(const std::string& note) { note_ = note; }

void ProgressBar::message(const std::string& text) {
  if (line_open_) std::fputs("\r\033[K", opt_.out);
  std::fprintf(opt_.out, "%s\n", text.c_str());
  line_open_ = false;
  if (tty_) draw(true);
  std::fflush(opt_.out);
}

void ProgressBar::finish() {
  if (line_open_) std::fputc('\n', opt_.out);
  line_open_ = false;
  std::fflush(opt_.out);
}

double ProgressBar::rate() const {
  const double dt = now() - t0_;
  const auto done = step_ - start_;
  return dt > 0 && done > 0 ? static_cast<double>(done) / dt : 0.0;
}

std::string ProgressBar::render() const {
  std::string s = phase_.empty() ? std::string("run") : phase_;
  if (total_ > 0) {
    const double frac = std::min(1.0, std::max(0.0, static_cast<double>(step_) / static_cast<double>(total_)));
    const int filled = static_cast<int>(frac * opt_.width);
    s += "  [" + std::string(filled, '#') + std::string(opt_.width - filled, '.') + "]";
    char buf[128];
    std::snprintf(buf, sizeof buf, "  %lld/%lld  %3d%%", static_cast<long long>(step_), static_cast<long long>(total_),
                  static_cast<int>(frac * 100));
    s += buf;
  } else {
    s += "  " + std::to_string(step_);
  }
  const double r = rate();
  char buf[96];
  if (r > 0) {
    std::snprintf(buf, sizeof buf, "  %.4g steps/s", r);
    s += buf;
    if (total_ > 0) s += "  ETA " + format_duration(static_cast<double>(total_ - step_) / r);
  } else {
    s += "  - steps/s  ETA ?";
  }
  if (!eval_.empty()) s += "  " + eval_;
  if (!note_.empty()) s += "  " + note_;
  return s;
}

void ProgressBar::draw(bool force) {
  const double t = now();
  const double interval = tty_ ? opt_.redraw_interval_s : opt_.plain_interval_s;
  if (!force && t - last_draw_ < interval) return;
  last_draw_ = t;
  if (tty_) {
    std::fprintf(opt_.out, "\r\033[K%s", render().c_str());
    line_open_ = true;
  } else {
    std::fprintf(opt_.out, "%s\n", render().c_str());
  }
  std::fflush(opt_.out);
}

}  // namespace anyrl::rl
