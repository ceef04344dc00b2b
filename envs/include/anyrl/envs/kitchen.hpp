// kitchen-like: a planar FrankaKitchen analogue.
//
// A velocity-controlled end-effector (x, y in [0,1], height z in [0, 0.3]) with a gripper
// works seven objects, each opened/used by one kind of motion:
//   microwave      turn   grasp the door handle and swing it 90 deg around the hinge (arc)
//   hinge cabinet  turn   same, other side, opposite direction
//   top burner     turn   grasp the knob's crank (radius 4 cm) and rotate it 90 deg
//   bottom burner  turn   same for the second knob
//   slide cabinet  slide  grasp the handle and pull it along its rail
//   light switch   push   with the gripper low, push the switch tab from its left side
//   kettle         lift-and-place   grasp, lift (it cannot be dragged), carry to the burner
//                  plate and release it there
// Grasps happen when the gripper closes low (z <= 4 cm) within 3 cm of a handle; a held handle
// follows its constraint (arc or rail) and the grasp slips if the end-effector is pulled more
// than 3 cm off it, so sub-tasks take tens of steps of precise motion.
//
// A task is 4 of the 7 sub-tasks. Reward = number of the task's sub-tasks completed so far
// (completions latch, as in D4RL's kitchen); success and termination when all 4 are done.
// Action (4): end-effector velocity (dx, dy, dz) scaled by 3 cm/step, and gripper (> 0 closes).
// Observation (14): ee x, y, z, gripper, holding, microwave angle, hinge cabinet angle, slide
// cabinet opening, bottom knob angle, top knob angle, light switch offset, kettle x, y, z.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "anyrl/envs/env.hpp"

namespace anyrl::envs {

enum class KitchenSubtask : int {
  Microwave = 0,
  Kettle,
  BottomBurner,
  TopBurner,
  LightSwitch,
  SlideCabinet,
  HingeCabinet,
};
inline constexpr int kKitchenNumSubtasks = 7;
// "microwave", "kettle", "bottom burner", "top burner", "light switch", "slide cabinet",
// "hinge cabinet" (FrankaKitchen's names).
const char* kitchen_subtask_name(KitchenSubtask t);

using KitchenTask = std::array<KitchenSubtask, 4>;
// D4RL's tasks: complete/partial = microwave, kettle, light switch, slide cabinet;
// mixed = microwave, kettle, bottom burner, light switch.
KitchenTask kitchen_task_complete();
KitchenTask kitchen_task_mixed();

class KitchenLikeEnv final : public Env {
 public:
  static constexpr double kStep = 0.03;  // end-effector displacement per unit action
  static constexpr int kDefaultTimeLimit = 400;  // the noiseless script needs ~230

  KitchenLikeEnv(std::string name, KitchenTask task, int time_limit = kDefaultTimeLimit);

  const EnvSpec& spec() const override { return spec_; }
  std::unique_ptr<Env> clone() const override;
  const KitchenTask& task() const { return task_; }

  // Full state, for scripted controllers and tests.
  struct State {
    double ee[3] = {0, 0, 0};
    int closed = 0;  // gripper closed
    int held = -1;   // KitchenSubtask whose handle is held, or -1
    double microwave = 0, hinge = 0, slide = 0, knob_bottom = 0, knob_top = 0, light = 0;
    double kettle[3] = {0, 0, 0};
    uint32_t done_mask = 0;  // latched completions of all 7 sub-tasks (bit = KitchenSubtask)
  };
  const State& state() const { return s_; }
  // Whether sub-task t has been completed in this episode (latched).
  bool completed(KitchenSubtask t) const { return (s_.done_mask >> static_cast<int>(t)) & 1u; }
  int task_completed_count() const;

  // Geometry (shared with the scripted controller).
  struct Arc {
    double cx, cy, r, a0, dir;  // handle at centre + r (cos(a0 + dir*q), sin(...)), q in [0, qmax]
    double qmax, q_done;
  };
  static Arc arc(KitchenSubtask t);  // microwave, hinge cabinet, burners
  static constexpr double kSlideX0 = 0.35, kSlideY = 0.92, kSlideMax = 0.25, kSlideDone = 0.18;
  static constexpr double kLightX0 = 0.20, kLightY = 0.25, kLightMax = 0.12, kLightDone = 0.09;
  static constexpr double kKettleX0 = 0.62, kKettleY0 = 0.22;
  static constexpr double kPlateX = 0.85, kPlateY = 0.50, kPlateTol = 0.05;
  static constexpr double kGraspZ = 0.04, kGraspDist = 0.03, kSlipDist = 0.03, kLiftZ = 0.08;
  // Current handle position of an articulated/graspable object.
  std::array<double, 2> handle(KitchenSubtask t) const;

 protected:
  void do_reset(uint64_t seed) override;
  StepResult do_step(std::span<const float> action) override;
  void do_observe(std::span<float> obs) const override;
  void do_render(int width, int height, std::span<uint8_t> out) const override;
  std::vector<std::byte> do_save() const override { return pod_bytes(s_); }
  void do_load(std::span<const std::byte> b) override { pod_load(b, s_, "kitchen-like"); }

 private:
  double& joint(KitchenSubtask t);
  void update_completion();

  std::string name_;
  KitchenTask task_;
  EnvSpec spec_;
  State s_;
};

// Scripted controller: performs a plan of sub-tasks one after the other with phase-based
// waypoints (approach above, descend, grasp, move along the constraint, release, lift), retrying
// a sub-task when a grasp slips. Gaussian noise of std `noise` is added to every action.
class KitchenScript {
 public:
  KitchenScript(std::vector<KitchenSubtask> plan, double noise, uint64_t seed);
  // Next action (4 floats in [-1, 1]) for the env's current state.
  void act(const KitchenLikeEnv& env, std::span<float> action);
  // True once every sub-task of the plan is complete.
  bool finished(const KitchenLikeEnv& env) const;
  const std::vector<KitchenSubtask>& plan() const { return plan_; }

 private:
  std::vector<KitchenSubtask> plan_;
  double noise_;
  uint64_t rng_[4];
  int phase_ = 0;
  int wait_ = 0;
};

}  // namespace anyrl::envs
