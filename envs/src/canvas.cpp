#include "canvas.hpp"

#include <algorithm>
#include <cmath>

namespace anyrl::envs::detail {

Canvas::Canvas(int w, int h, std::span<uint8_t> out, double x0, double y0, double x1, double y1,
               bool y_down)
    : w_(w), h_(h), out_(out), x0_(x0), y0_(y0), y1_(y1), sx_(w / (x1 - x0)),
      sy_(h / (y1 - y0)), y_down_(y_down) {}

void Canvas::clear(Rgb c) {
  for (int j = 0; j < h_; ++j)
    for (int i = 0; i < w_; ++i) put(i, j, c);
}

void Canvas::rect(double x0, double y0, double x1, double y1, Rgb c) {
  double a = px(x0), b = px(x1), p = py(y0), q = py(y1);
  // Pixel centres inside the rectangle, so adjacent rectangles tile without gaps or overlap.
  int i0 = std::max(0, static_cast<int>(std::ceil(std::min(a, b) - 0.5)));
  int i1 = std::min(w_, static_cast<int>(std::ceil(std::max(a, b) - 0.5)));
  int j0 = std::max(0, static_cast<int>(std::ceil(std::min(p, q) - 0.5)));
  int j1 = std::min(h_, static_cast<int>(std::ceil(std::max(p, q) - 0.5)));
  for (int j = j0; j < j1; ++j)
    for (int i = i0; i < i1; ++i) put(i, j, c);
}

void Canvas::circle(double cx, double cy, double r, Rgb c) { ring(cx, cy, r, r, c); }

void Canvas::ring(double cx, double cy, double r, double width, Rgb c) {
  const double x = px(cx), y = py(cy), rp = std::max(r * sx_, 0.5), rin = (r - width) * sx_;
  const int i0 = std::max(0, static_cast<int>(x - rp - 1)), i1 = std::min(w_, static_cast<int>(x + rp + 2));
  const int j0 = std::max(0, static_cast<int>(y - rp - 1)), j1 = std::min(h_, static_cast<int>(y + rp + 2));
  for (int j = j0; j < j1; ++j)
    for (int i = i0; i < i1; ++i) {
      const double dx = i + 0.5 - x, dy = j + 0.5 - y, d = std::sqrt(dx * dx + dy * dy);
      if (d <= rp && d >= rin) put(i, j, c);
    }
}

void Canvas::line(double ax, double ay, double bx, double by, double width, Rgb c) {
  const double x0 = px(ax), y0 = py(ay), x1 = px(bx), y1 = py(by);
  const double hw = std::max(width * sx_ / 2, 0.5);
  const int i0 = std::max(0, static_cast<int>(std::min(x0, x1) - hw - 1));
  const int i1 = std::min(w_, static_cast<int>(std::max(x0, x1) + hw + 2));
  const int j0 = std::max(0, static_cast<int>(std::min(y0, y1) - hw - 1));
  const int j1 = std::min(h_, static_cast<int>(std::max(y0, y1) + hw + 2));
  const double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
  for (int j = j0; j < j1; ++j)
    for (int i = i0; i < i1; ++i) {
      const double qx = i + 0.5 - x0, qy = j + 0.5 - y0;
      const double t = len2 > 0 ? std::clamp((qx * dx + qy * dy) / len2, 0.0, 1.0) : 0.0;
      const double ex = qx - t * dx, ey = qy - t * dy;
      if (ex * ex + ey * ey <= hw * hw) put(i, j, c);
    }
}

}  // namespace anyrl::envs::detail
