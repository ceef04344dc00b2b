// Internal: a tiny software rasteriser for env renderings (world coordinates -> pixels).
#pragma once
#include <cstdint>
#include <span>

namespace anyrl::envs::detail {

struct Rgb {
  uint8_t r, g, b;
};

class Canvas {
 public:
  // Maps the world rectangle [x0, x1] x [y0, y1] onto the image; y_down: world y grows
  // downwards on screen (maze rows), else upwards.
  Canvas(int w, int h, std::span<uint8_t> out, double x0, double y0, double x1, double y1,
         bool y_down);
  void clear(Rgb c);
  void rect(double x0, double y0, double x1, double y1, Rgb c);
  void circle(double cx, double cy, double r, Rgb c);
  void ring(double cx, double cy, double r, double width, Rgb c);
  void line(double ax, double ay, double bx, double by, double width, Rgb c);

 private:
  double px(double x) const { return (x - x0_) * sx_; }
  double py(double y) const { return y_down_ ? (y - y0_) * sy_ : (y1_ - y) * sy_; }
  void put(int i, int j, Rgb c) {
    uint8_t* p = out_.data() + (static_cast<size_t>(j) * w_ + i) * 3;
    p[0] = c.r, p[1] = c.g, p[2] = c.b;
  }
  int w_, h_;
  std::span<uint8_t> out_;
  double x0_, y0_, y1_, sx_, sy_;
  bool y_down_;
};

}  // namespace anyrl::envs::detail
