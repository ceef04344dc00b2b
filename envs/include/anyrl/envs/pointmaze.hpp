// pointmaze-{umaze,medium,large}: a point mass in D4RL's AntMaze layouts.
//
// Coordinates are in cells: cell (row, col) spans x in [col, col+1), y in [row, row+1); its
// centre is (col + 0.5, row + 0.5). The agent is an axis-aligned square of half-size
// `radius`, force-controlled with linear damping:
//     v <- v + dt * (force * a - damping * v),   p <- p + dt * v   (semi-implicit Euler)
// and collisions are resolved exactly per axis against the wall cells, so the agent can never
// enter a wall whatever the action. Observation: (x, y, vx, vy); no goal (as in AntMaze).
// Reward 1 and termination when within `goal_radius` (0.5 cell) of the goal cell's centre.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "anyrl/envs/env.hpp"

namespace anyrl::envs {

struct Cell {
  int row = 0, col = 0;
  friend bool operator==(const Cell&, const Cell&) = default;
};

// A maze grid. Layouts are D4RL's locomotion/maze_env.py U_MAZE, BIG_MAZE, HARDEST_MAZE walls,
// with the reset cell 'R' and the single evaluation goal of the *_TEST variants.
struct MazeLayout {
  std::string name;  // "umaze", "medium", "large"
  int rows = 0, cols = 0;
  std::vector<uint8_t> walls;  // rows x cols, 1 = wall
  Cell start, goal;

  bool is_wall(int row, int col) const;  // outside the grid counts as wall
  bool is_free(Cell c) const { return !is_wall(c.row, c.col); }
  std::vector<Cell> free_cells() const;
  static std::array<double, 2> center(Cell c) { return {c.col + 0.5, c.row + 0.5}; }
  static Cell cell_of(double x, double y);

  static const MazeLayout& umaze();
  static const MazeLayout& medium();
  static const MazeLayout& large();
  // By name ("umaze", "medium", "large"); throws std::invalid_argument otherwise.
  static const MazeLayout& by_name(const std::string& name);
};

struct PointMazeParams {
  double dt = 0.1;
  double force = 3.0;        // acceleration per unit action
  double damping = 2.0;      // linear velocity damping (terminal speed force/damping = 1.5)
  double radius = 0.15;      // half-size of the agent's square
  double start_noise = 0.1;  // uniform +- noise on the start position
  double goal_radius = 0.5;  // success distance to the goal centre, in cells
  int time_limit = 1000;
};

class PointMazeEnv final : public Env {
 public:
  PointMazeEnv(const MazeLayout& layout, std::string name, PointMazeParams params = {});

  const EnvSpec& spec() const override { return spec_; }
  std::unique_ptr<Env> clone() const override;

  const MazeLayout& layout() const { return *layout_; }
  const PointMazeParams& params() const { return params_; }
  // Current (x, y, vx, vy).
  std::array<double, 4> agent() const { return {s_.x, s_.y, s_.vx, s_.vy}; }
  // Places the agent (e.g. to start from another cell). Throws std::invalid_argument when the
  // agent's square would overlap a wall.
  void set_agent(double x, double y, double vx = 0.0, double vy = 0.0);
  // True when the agent's square overlaps no wall cell.
  bool in_free_space() const { return square_free(s_.x, s_.y); }
  double distance_to_goal() const;
  // Number of steps in this episode whose motion was stopped by a wall.
  int wall_hits() const { return s_.wall_hits; }

 protected:
  void do_reset(uint64_t seed) override;
  StepResult do_step(std::span<const float> action) override;
  void do_observe(std::span<float> obs) const override;
  void do_render(int width, int height, std::span<uint8_t> out) const override;
  std::vector<std::byte> do_save() const override { return pod_bytes(s_); }
  void do_load(std::span<const std::byte> b) override { pod_load(b, s_, "pointmaze"); }

 private:
  struct State {
    double x = 0, y = 0, vx = 0, vy = 0;
    int wall_hits = 0;
  };
  bool square_free(double x, double y) const;
  // Moves along one axis by d, stopping at the first wall; returns true if blocked.
  bool move_axis(int axis, double d);

  const MazeLayout* layout_;
  PointMazeParams params_;
  EnvSpec spec_;
  State s_;
};

// All-pairs shortest paths over free cells (4-connected BFS).
class MazePlanner {
 public:
  explicit MazePlanner(const MazeLayout& layout);
  // Number of moves between two free cells (-1 when unreachable or not free).
  int distance(Cell from, Cell to) const;
  // The neighbour of `from` on a shortest path to `to` (`to` itself when equal).
  Cell next_cell(Cell from, Cell to) const;
  // Full cell path, from and to included.
  std::vector<Cell> path(Cell from, Cell to) const;
  const MazeLayout& layout() const { return *layout_; }

 private:
  int index(Cell c) const;
  const MazeLayout* layout_;
  std::vector<int> cell_index_;  // rows*cols -> free index or -1
  std::vector<Cell> cells_;
  std::vector<int> dist_;  // free x free
};

// Waypoint-following PD controller: aims at the centre of the next cell on the planner's path,
// a = clip(kp * (target - p) - kd * v).
class MazeController {
 public:
  explicit MazeController(const MazeLayout& layout, double kp = 4.0, double kd = 1.0);
  // `obs` = (x, y, vx, vy). Writes 2 actions in [-1, 1].
  void act(std::span<const float> obs, Cell goal, std::span<float> action) const;
  const MazePlanner& planner() const { return planner_; }

 private:
  MazePlanner planner_;
  double kp_, kd_;
};

}  // namespace anyrl::envs
