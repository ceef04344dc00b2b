#include "anyrl/envs/kitchen.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

#include "canvas.hpp"
#include "rng.hpp"

namespace anyrl::envs {
namespace {

constexpr double kPi = std::numbers::pi;
constexpr double kZMax = 0.3, kHigh = 0.15, kLow = 0.02;
// Maximum joint motion per step: the objects resist, so the end-effector has to move slowly and
// along the constraint; pulling harder than this makes the grasp slip.
constexpr double kArcRateDoor = 0.05, kArcRateKnob = 0.1, kSlideRate = 0.01, kLightRate = 0.006;
constexpr double kKettleLiftRate = 0.01;

const char* const kNames[kKitchenNumSubtasks] = {"microwave",    "kettle",        "bottom burner",
                                                 "top burner",   "light switch",  "slide cabinet",
                                                 "hinge cabinet"};
const char* const kDoneKeys[kKitchenNumSubtasks] = {
    "done:microwave",    "done:kettle",        "done:bottom burner", "done:top burner",
    "done:light switch", "done:slide cabinet", "done:hinge cabinet"};

bool is_arc(KitchenSubtask t) {
  return t == KitchenSubtask::Microwave || t == KitchenSubtask::HingeCabinet ||
         t == KitchenSubtask::TopBurner || t == KitchenSubtask::BottomBurner;
}
double arc_rate(KitchenSubtask t) {
  return (t == KitchenSubtask::TopBurner || t == KitchenSubtask::BottomBurner) ? kArcRateKnob
                                                                              : kArcRateDoor;
}
double wrap(double a) {  // to (-pi, pi]
  a = std::fmod(a + kPi, 2 * kPi);
  if (a <= 0) a += 2 * kPi;
  return a - kPi;
}
std::array<double, 2> arc_point(const KitchenLikeEnv::Arc& a, double q) {
  const double ang = a.a0 + a.dir * q;
  return {a.cx + a.r * std::cos(ang), a.cy + a.r * std::sin(ang)};
}

}  // namespace

const char* kitchen_subtask_name(KitchenSubtask t) { return kNames[static_cast<int>(t)]; }

KitchenTask kitchen_task_complete() {
  return {KitchenSubtask::Microwave, KitchenSubtask::Kettle, KitchenSubtask::LightSwitch,
          KitchenSubtask::SlideCabinet};
}
KitchenTask kitchen_task_mixed() {
  return {KitchenSubtask::Microwave, KitchenSubtask::Kettle, KitchenSubtask::BottomBurner,
          KitchenSubtask::LightSwitch};
}

KitchenLikeEnv::Arc KitchenLikeEnv::arc(KitchenSubtask t) {
  const double q_done = 70.0 * kPi / 180.0, qmax = kPi / 2;
  switch (t) {
    case KitchenSubtask::Microwave: return {0.12, 0.62, 0.14, 0.0, -1.0, qmax, q_done};
    case KitchenSubtask::HingeCabinet: return {0.88, 0.90, 0.14, kPi, 1.0, qmax, q_done};
    case KitchenSubtask::TopBurner: return {0.50, 0.74, 0.04, kPi / 2, 1.0, qmax, q_done};
    case KitchenSubtask::BottomBurner: return {0.50, 0.58, 0.04, kPi / 2, 1.0, qmax, q_done};
    default: throw std::invalid_argument("KitchenLikeEnv::arc: not an articulated object");
  }
}

KitchenLikeEnv::KitchenLikeEnv(std::string name, KitchenTask task, int time_limit)
    : name_(std::move(name)), task_(task) {
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < i; ++j)
      if (task_[i] == task_[j]) throw std::invalid_argument("kitchen task has a repeated sub-task");
  spec_.name = name_;
  spec_.obs_shape = {14};
  spec_.action_dim = 4;
  spec_.time_limit = time_limit;
  spec_.reward_min = 0.f;
  spec_.reward_max = 4.f;
  spec_.sparse_reward = true;
  do_reset(0);
}

std::unique_ptr<Env> KitchenLikeEnv::clone() const { return std::make_unique<KitchenLikeEnv>(*this); }

double& KitchenLikeEnv::joint(KitchenSubtask t) {
  switch (t) {
    case KitchenSubtask::Microwave: return s_.microwave;
    case KitchenSubtask::HingeCabinet: return s_.hinge;
    case KitchenSubtask::TopBurner: return s_.knob_top;
    case KitchenSubtask::BottomBurner: return s_.knob_bottom;
    case KitchenSubtask::SlideCabinet: return s_.slide;
    case KitchenSubtask::LightSwitch: return s_.light;
    default: throw std::invalid_argument("kitchen: the kettle has no joint");
  }
}

std::array<double, 2> KitchenLikeEnv::handle(KitchenSubtask t) const {
  if (is_arc(t)) return arc_point(arc(t), const_cast<KitchenLikeEnv*>(this)->joint(t));
  switch (t) {
    case KitchenSubtask::SlideCabinet: return {kSlideX0 + s_.slide, kSlideY};
    case KitchenSubtask::LightSwitch: return {kLightX0 + s_.light, kLightY};
    case KitchenSubtask::Kettle: return {s_.kettle[0], s_.kettle[1]};
    default: return {0, 0};
  }
}

int KitchenLikeEnv::task_completed_count() const {
  int n = 0;
  for (auto t : task_) n += completed(t);
  return n;
}

void KitchenLikeEnv::do_reset(uint64_t seed) {
  detail::Rng rng(seed);
  s_ = State{};
  s_.ee[0] = 0.5 + rng.uniform(-0.02, 0.02);
  s_.ee[1] = 0.40 + rng.uniform(-0.02, 0.02);
  s_.ee[2] = kHigh;
  s_.kettle[0] = kKettleX0 + rng.uniform(-0.01, 0.01);
  s_.kettle[1] = kKettleY0 + rng.uniform(-0.01, 0.01);
}

void KitchenLikeEnv::update_completion() {
  using T = KitchenSubtask;
  auto mark = [&](T t, bool c) {
    if (c) s_.done_mask |= 1u << static_cast<int>(t);
  };
  for (T t : {T::Microwave, T::HingeCabinet, T::TopBurner, T::BottomBurner})
    mark(t, joint(t) >= arc(t).q_done);
  mark(T::SlideCabinet, s_.slide >= kSlideDone);
  mark(T::LightSwitch, s_.light >= kLightDone);
  mark(T::Kettle, s_.held != static_cast<int>(T::Kettle) && s_.kettle[2] == 0.0 &&
                      std::hypot(s_.kettle[0] - kPlateX, s_.kettle[1] - kPlateY) <= kPlateTol);
}

StepResult KitchenLikeEnv::do_step(std::span<const float> action) {
  using T = KitchenSubtask;
  double a[4];
  for (int i = 0; i < 4; ++i) a[i] = std::isnan(action[i]) ? 0.0 : std::clamp<double>(action[i], -1, 1);
  const bool close = a[3] > 0;
  double p[3] = {s_.ee[0] + kStep * a[0], s_.ee[1] + kStep * a[1],
                 std::clamp(s_.ee[2] + kStep * a[2], 0.0, kZMax)};
  p[0] = std::clamp(p[0], 0.0, 1.0);
  p[1] = std::clamp(p[1], 0.0, 1.0);

  // Gripper: opening releases; closing (an open->closed transition) grasps the nearest handle.
  if (!close) {
    if (s_.held == static_cast<int>(T::Kettle)) s_.kettle[2] = 0.0;  // it drops onto the table
    s_.held = -1;
  } else if (!s_.closed && s_.ee[2] <= kGraspZ) {
    double best = kGraspDist;
    for (int i = 0; i < kKitchenNumSubtasks; ++i) {
      const T t = static_cast<T>(i);
      if (t == T::LightSwitch) continue;  // pushed, not grasped
      const auto h = handle(t);
      const double d = std::hypot(h[0] - s_.ee[0], h[1] - s_.ee[1]);
      if (d <= best) best = d, s_.held = i;
    }
  }
  s_.closed = close;

  if (s_.held >= 0) {
    const T t = static_cast<T>(s_.held);
    bool slip = false;
    if (is_arc(t) || t == T::SlideCabinet) {
      double& q = joint(t);
      double nq;
      if (t == T::SlideCabinet) {
        nq = std::clamp(p[0] - kSlideX0, q - kSlideRate, q + kSlideRate);
        nq = std::clamp(nq, 0.0, kSlideMax);
      } else {
        const Arc ar = arc(t);
        const double want = wrap((std::atan2(p[1] - ar.cy, p[0] - ar.cx) - ar.a0) * ar.dir);
        nq = std::clamp(want, q - arc_rate(t), q + arc_rate(t));
        nq = std::clamp(nq, 0.0, ar.qmax);
      }
      const double old = q;
      q = nq;
      const auto h = handle(t);
      // Pulled off the constraint (or lifted off the handle): the grasp slips.
      if (std::hypot(p[0] - h[0], p[1] - h[1]) > kSlipDist || p[2] > kGraspZ + 0.02) {
        slip = true;
        q = old;
      } else {
        s_.ee[0] = h[0], s_.ee[1] = h[1], s_.ee[2] = p[2];
      }
    } else {  // kettle: heavy, lifted slowly, cannot be dragged along the table
      const double z = std::min(p[2], s_.ee[2] + kKettleLiftRate);
      if (s_.ee[2] >= kLiftZ) s_.ee[0] = p[0], s_.ee[1] = p[1];
      s_.ee[2] = z;
      s_.kettle[0] = s_.ee[0], s_.kettle[1] = s_.ee[1], s_.kettle[2] = s_.ee[2];
    }
    if (slip) {
      s_.held = -1;
      for (int i = 0; i < 3; ++i) s_.ee[i] = p[i];
    }
  } else {
    // Free motion; the light switch tab is pushed by a low end-effector coming from its left.
    const double tab = kLightX0 + s_.light;
    if (p[2] <= 0.05 && std::abs(p[1] - kLightY) <= 0.03 && s_.ee[0] <= tab + 1e-9 && p[0] > tab) {
      const double nl = std::min({p[0] - kLightX0, s_.light + kLightRate, kLightMax});
      s_.light = std::max(s_.light, nl);
      p[0] = kLightX0 + s_.light;
    }
    for (int i = 0; i < 3; ++i) s_.ee[i] = p[i];
  }

  update_completion();
  StepResult r;
  const int n = task_completed_count();
  r.reward = static_cast<float>(n);
  r.terminated = n == 4;
  r.info.success = n == 4;
  r.info.set("tasks_completed", n);
  for (int i = 0; i < kKitchenNumSubtasks; ++i) r.info.set(kDoneKeys[i], (s_.done_mask >> i) & 1u);
  return r;
}

void KitchenLikeEnv::do_observe(std::span<float> o) const {
  const double v[14] = {s_.ee[0],   s_.ee[1],      s_.ee[2],        static_cast<double>(s_.closed),
                        s_.held >= 0 ? 1.0 : 0.0,  s_.microwave,    s_.hinge,
                        s_.slide,   s_.knob_bottom, s_.knob_top,     s_.light,
                        s_.kettle[0], s_.kettle[1], s_.kettle[2]};
  for (int i = 0; i < 14; ++i) o[i] = static_cast<float>(v[i]);
}

void KitchenLikeEnv::do_render(int w, int h, std::span<uint8_t> out) const {
  using T = KitchenSubtask;
  detail::Canvas cv(w, h, out, 0, 0, 1, 1, /*y_down=*/false);
  cv.clear({236, 230, 214});
  const detail::Rgb done{60, 170, 80}, todo{200, 80, 60}, wood{150, 110, 70};
  auto col = [&](T t) { return completed(t) ? done : todo; };
  // Microwave and hinge cabinet: box, hinge and door (a line from hinge to handle).
  cv.rect(0.02, 0.50, 0.30, 0.74, {200, 200, 205});
  cv.rect(0.72, 0.74, 0.98, 0.98, {190, 160, 120});
  for (T t : {T::Microwave, T::HingeCabinet}) {
    const Arc a = arc(t);
    const auto hd = handle(t);
    cv.line(a.cx, a.cy, hd[0], hd[1], 0.025, wood);
    cv.circle(hd[0], hd[1], 0.018, col(t));
  }
  // Burner knobs and plates.
  for (T t : {T::TopBurner, T::BottomBurner}) {
    const Arc a = arc(t);
    const auto hd = handle(t);
    cv.circle(a.cx, a.cy, 0.05, {90, 90, 95});
    cv.line(a.cx, a.cy, hd[0], hd[1], 0.015, col(t));
  }
  cv.ring(kPlateX, kPlateY, 0.07, 0.015, {60, 60, 60});
  // Slide cabinet: rail and handle.
  cv.line(kSlideX0, kSlideY, kSlideX0 + kSlideMax, kSlideY, 0.01, {120, 120, 120});
  cv.rect(kSlideX0 - 0.12 + s_.slide, kSlideY + 0.02, kSlideX0 + s_.slide, kSlideY + 0.07, wood);
  const auto sh = handle(T::SlideCabinet);
  cv.circle(sh[0], sh[1], 0.018, col(T::SlideCabinet));
  // Light switch: slot and tab.
  cv.line(kLightX0, kLightY, kLightX0 + kLightMax, kLightY, 0.02, {160, 160, 160});
  cv.rect(kLightX0 + s_.light - 0.01, kLightY - 0.03, kLightX0 + s_.light + 0.01, kLightY + 0.03,
          col(T::LightSwitch));
  // Kettle (drawn larger when lifted).
  const double kr = 0.04 + 0.1 * s_.kettle[2];
  cv.circle(s_.kettle[0], s_.kettle[1], kr, col(T::Kettle));
  cv.ring(s_.kettle[0], s_.kettle[1], kr, 0.008, {40, 40, 40});
  // End-effector: size shows height, filled when closed.
  const double er = 0.02 + 0.1 * s_.ee[2];
  if (s_.closed) cv.circle(s_.ee[0], s_.ee[1], er, {40, 70, 200});
  cv.ring(s_.ee[0], s_.ee[1], er, 0.01, {20, 40, 160});
}

// ---- scripted controller ----------------------------------------------------------------------

namespace {
enum Phase : int {
  kApproach = 0,
  kDescend,
  kGrasp,
  kManipulate,
  kRelease,
  kLift,
  kKettleUp,
  kKettleCarry,
  kKettleDown,
};
constexpr int kPhaseTimeout = 80;
}  // namespace

KitchenScript::KitchenScript(std::vector<KitchenSubtask> plan, double noise, uint64_t seed)
    : plan_(std::move(plan)), noise_(noise) {
  uint64_t x = seed;
  for (auto& v : rng_) v = detail::splitmix64(x);
}

bool KitchenScript::finished(const KitchenLikeEnv& env) const {
  for (auto t : plan_)
    if (!env.completed(t)) return false;
  return true;
}

void KitchenScript::act(const KitchenLikeEnv& env, std::span<float> action) {
  using T = KitchenSubtask;
  using E = KitchenLikeEnv;
  const E::State& s = env.state();
  // Current sub-task: the first unfinished one of the plan.
  int idx = 0;
  while (idx < static_cast<int>(plan_.size()) && env.completed(plan_[idx])) ++idx;
  double tx = s.ee[0], ty = s.ee[1], tz = kHigh;
  bool close = false;
  if (idx == static_cast<int>(plan_.size())) {
    // Done: hover.
    phase_ = kLift;
  } else {
    const T t = plan_[idx];
    auto h = env.handle(t);
    if (t == T::LightSwitch) h[0] -= 0.05;  // approach the tab from its left
    const bool holding = s.held == static_cast<int>(t);
    if (++wait_ > kPhaseTimeout) phase_ = kRelease, wait_ = 0;  // stuck: let go and retry
    auto go = [&](int p) { phase_ = p, wait_ = 0; };
    auto near = [&](double x, double y, double z, double tol) {
      return std::hypot(s.ee[0] - x, s.ee[1] - y) < tol && std::abs(s.ee[2] - z) < tol;
    };
    switch (phase_) {
      case kApproach:
        tx = h[0], ty = h[1], tz = kHigh;
        if (near(tx, ty, tz, 0.01)) go(kDescend);
        break;
      case kDescend:
        tx = h[0], ty = h[1], tz = kLow;
        if (near(tx, ty, tz, 0.008)) go(t == T::LightSwitch ? kManipulate : kGrasp);
        break;
      case kGrasp:
        tx = h[0], ty = h[1], tz = kLow, close = true;
        if (holding) go(t == T::Kettle ? kKettleUp : kManipulate);
        else if (s.closed) go(kRelease);  // closed on nothing: retry
        break;
      case kManipulate:
        close = t != T::LightSwitch;
        tz = kLow;
        if (t == T::LightSwitch) {
          tx = E::kLightX0 + E::kLightMax, ty = E::kLightY;
          if (s.light >= E::kLightDone + 0.01) go(kLift);
        } else if (!holding) {
          go(kRelease);  // slipped
        } else if (t == T::SlideCabinet) {
          tx = E::kSlideX0 + std::min(s.slide + 0.8 * kSlideRate, E::kSlideMax), ty = E::kSlideY;
          if (s.slide >= E::kSlideDone + 0.03) go(kRelease);
        } else {
          const E::Arc a = E::arc(t);
          const double q = t == T::Microwave      ? s.microwave
                           : t == T::HingeCabinet ? s.hinge
                           : t == T::TopBurner    ? s.knob_top
                                                  : s.knob_bottom;
          const auto p = arc_point(a, std::min(q + 0.8 * arc_rate(t), a.qmax));
          tx = p[0], ty = p[1];
          if (q >= a.q_done + 0.1) go(kRelease);
        }
        break;
      case kKettleUp:
        close = true, tz = 0.12;
        if (!holding) go(kRelease);
        else if (s.ee[2] >= 0.115) go(kKettleCarry);
        break;
      case kKettleCarry:
        close = true, tx = E::kPlateX, ty = E::kPlateY, tz = 0.12;
        if (!holding) go(kRelease);
        else if (near(tx, ty, tz, 0.01)) go(kKettleDown);
        break;
      case kKettleDown:
        close = true, tx = E::kPlateX, ty = E::kPlateY, tz = 0.0;
        if (s.ee[2] <= 0.001) go(kRelease);
        break;
      case kRelease:
        close = false, tz = s.ee[2];
        go(kLift);
        break;
      case kLift:
      default:
        tz = kHigh;
        if (s.ee[2] >= kHigh - 0.01) go(kApproach);
        break;
    }
  }
  // P-control to the waypoint: an action of 1 moves kStep, so err/kStep reaches it exactly.
  const double tgt[3] = {tx, ty, tz};
  for (int i = 0; i < 3; ++i) {
    double u = (tgt[i] - s.ee[i]) / E::kStep;
    if (noise_ > 0) {
      // Box-Muller on the script's own stream.
      uint64_t x = rng_[0] ^ (rng_[1] << 1);
      rng_[0] = detail::splitmix64(x), rng_[1] = detail::splitmix64(x);
      const double u1 = std::max((rng_[0] >> 11) * 0x1.0p-53, 1e-300), u2 = (rng_[1] >> 11) * 0x1.0p-53;
      u += noise_ * std::sqrt(-2 * std::log(u1)) * std::cos(2 * kPi * u2);
    }
    action[i] = static_cast<float>(std::clamp(u, -1.0, 1.0));
  }
  action[3] = close ? 1.f : -1.f;
}

}  // namespace anyrl::envs
