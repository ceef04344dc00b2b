#include "anyrl/envs/pointmaze.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <stdexcept>

#include "canvas.hpp"
#include "rng.hpp"

namespace anyrl::envs {
namespace {

// '#' wall, '.' free. Walls transcribed from D4RL locomotion/maze_env.py (U_MAZE, BIG_MAZE,
// HARDEST_MAZE); start = the 'R' cell, goal = the goal of U_MAZE_TEST / BIG_MAZE_TEST /
// HARDEST_MAZE_TEST.
MazeLayout make_layout(std::string name, std::vector<std::string> rows, Cell start, Cell goal) {
  MazeLayout m;
  m.name = std::move(name);
  m.rows = static_cast<int>(rows.size());
  m.cols = static_cast<int>(rows[0].size());
  for (const auto& r : rows)
    for (char ch : r) m.walls.push_back(ch == '#');
  m.start = start;
  m.goal = goal;
  return m;
}

}  // namespace

bool MazeLayout::is_wall(int r, int c) const {
  if (r < 0 || c < 0 || r >= rows || c >= cols) return true;
  return walls[static_cast<size_t>(r) * cols + c] != 0;
}

std::vector<Cell> MazeLayout::free_cells() const {
  std::vector<Cell> out;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      if (!is_wall(r, c)) out.push_back({r, c});
  return out;
}

Cell MazeLayout::cell_of(double x, double y) {
  return {static_cast<int>(std::floor(y)), static_cast<int>(std::floor(x))};
}

const MazeLayout& MazeLayout::umaze() {
  static const MazeLayout m = make_layout("umaze",
                                          {"#####",  //
                                           "#...#",  //
                                           "###.#",  //
                                           "#...#",  //
                                           "#####"},
                                          {1, 1}, {3, 1});
  return m;
}

const MazeLayout& MazeLayout::medium() {
  static const MazeLayout m = make_layout("medium",
                                          {"########",  //
                                           "#..##..#",  //
                                           "#..#...#",  //
                                           "##...###",  //
                                           "#..#...#",  //
                                           "#.#..#.#",  //
                                           "#...#..#",  //
                                           "########"},
                                          {1, 1}, {6, 6});
  return m;
}

const MazeLayout& MazeLayout::large() {
  static const MazeLayout m = make_layout("large",
                                          {"############",  //
                                           "#....#.....#",  //
                                           "#.##.#.#.#.#",  //
                                           "#......#...#",  //
                                           "#.####.###.#",  //
                                           "#..#.#.....#",  //
                                           "##.#.#.#.###",  //
                                           "#..#...#...#",  //
                                           "############"},
                                          {1, 1}, {7, 10});
  return m;
}

const MazeLayout& MazeLayout::by_name(const std::string& name) {
  if (name == "umaze") return umaze();
  if (name == "medium") return medium();
  if (name == "large") return large();
  throw std::invalid_argument("unknown maze '" + name + "'; valid: umaze, medium, large");
}

// ---- env --------------------------------------------------------------------------------------

PointMazeEnv::PointMazeEnv(const MazeLayout& layout, std::string name, PointMazeParams params)
    : layout_(&layout), params_(params) {
  spec_.name = std::move(name);
  spec_.obs_shape = {4};
  spec_.action_dim = 2;
  spec_.time_limit = params.time_limit;
  spec_.reward_min = 0.f;
  spec_.reward_max = 1.f;
  spec_.sparse_reward = true;
  const auto c = MazeLayout::center(layout.start);
  s_.x = c[0];
  s_.y = c[1];
}

std::unique_ptr<Env> PointMazeEnv::clone() const { return std::make_unique<PointMazeEnv>(*this); }

bool PointMazeEnv::square_free(double x, double y) const {
  const double r = params_.radius;
  // Half-open overlap: touching a wall's boundary is free space.
  const int c0 = static_cast<int>(std::floor(x - r)), c1 = static_cast<int>(std::ceil(x + r)) - 1;
  const int r0 = static_cast<int>(std::floor(y - r)), r1 = static_cast<int>(std::ceil(y + r)) - 1;
  for (int i = r0; i <= r1; ++i)
    for (int j = c0; j <= c1; ++j)
      if (layout_->is_wall(i, j)) return false;
  return true;
}

bool PointMazeEnv::move_axis(int axis, double d) {
  if (d == 0.0) return false;
  // Stop a hair before the wall face so floating-point rounding can never put the square inside.
  constexpr double kGap = 1e-9;
  const double r = params_.radius;
  double& p = axis == 0 ? s_.x : s_.y;
  const double q = axis == 0 ? s_.y : s_.x;  // the other coordinate: the square's extent across
  const int q0 = static_cast<int>(std::floor(q - r)), q1 = static_cast<int>(std::ceil(q + r)) - 1;
  auto wall_line = [&](int k) {  // is any cell of column/row k in the swept band a wall?
    for (int i = q0; i <= q1; ++i)
      if (axis == 0 ? layout_->is_wall(i, k) : layout_->is_wall(k, i)) return true;
    return false;
  };
  if (d > 0) {
    const double edge = p + r, target = edge + d;
    const int k1 = static_cast<int>(std::ceil(target)) - 1;
    for (int k = static_cast<int>(std::floor(edge)); k <= k1; ++k)
      if (wall_line(k)) {
        p = std::min(p + d, k - r - kGap);
        return true;
      }
  } else {
    const double edge = p - r, target = edge + d;
    const int k1 = static_cast<int>(std::floor(target));
    for (int k = static_cast<int>(std::ceil(edge)) - 1; k >= k1; --k)
      if (wall_line(k)) {
        p = std::max(p + d, k + 1 + r + kGap);
        return true;
      }
  }
  p += d;
  return false;
}

void PointMazeEnv::set_agent(double x, double y, double vx, double vy) {
  if (!square_free(x, y))
    throw std::invalid_argument(spec_.name + ": set_agent(" + std::to_string(x) + ", " +
                                std::to_string(y) + ") overlaps a wall");
  s_.x = x, s_.y = y, s_.vx = vx, s_.vy = vy;
}

double PointMazeEnv::distance_to_goal() const {
  const auto g = MazeLayout::center(layout_->goal);
  return std::hypot(s_.x - g[0], s_.y - g[1]);
}

void PointMazeEnv::do_reset(uint64_t seed) {
  detail::Rng rng(seed);
  const auto c = MazeLayout::center(layout_->start);
  s_ = State{};
  s_.x = c[0] + rng.uniform(-params_.start_noise, params_.start_noise);
  s_.y = c[1] + rng.uniform(-params_.start_noise, params_.start_noise);
}

StepResult PointMazeEnv::do_step(std::span<const float> action) {
  const double ax = std::clamp(static_cast<double>(action[0]), -1.0, 1.0);
  const double ay = std::clamp(static_cast<double>(action[1]), -1.0, 1.0);
  const double dt = params_.dt;
  s_.vx += dt * (params_.force * (std::isnan(ax) ? 0.0 : ax) - params_.damping * s_.vx);
  s_.vy += dt * (params_.force * (std::isnan(ay) ? 0.0 : ay) - params_.damping * s_.vy);
  // Per-axis sweeps: an inelastic wall zeroes the velocity component that hit it.
  bool hit = false;
  if (move_axis(0, dt * s_.vx)) s_.vx = 0.0, hit = true;
  if (move_axis(1, dt * s_.vy)) s_.vy = 0.0, hit = true;
  s_.wall_hits += hit;

  StepResult r;
  const double dist = distance_to_goal();
  const bool success = dist <= params_.goal_radius;
  r.reward = success ? 1.f : 0.f;
  r.terminated = success;
  r.info.success = success;
  r.info.set("dist_to_goal", dist);
  r.info.set("wall_hits", s_.wall_hits);
  return r;
}

void PointMazeEnv::do_observe(std::span<float> obs) const {
  obs[0] = static_cast<float>(s_.x);
  obs[1] = static_cast<float>(s_.y);
  obs[2] = static_cast<float>(s_.vx);
  obs[3] = static_cast<float>(s_.vy);
}

void PointMazeEnv::do_render(int w, int h, std::span<uint8_t> out) const {
  const MazeLayout& m = *layout_;
  detail::Canvas cv(w, h, out, 0, 0, m.cols, m.rows, /*y_down=*/true);
  cv.clear({232, 228, 218});
  for (int r = 0; r < m.rows; ++r)
    for (int c = 0; c < m.cols; ++c)
      if (m.is_wall(r, c)) cv.rect(c, r, c + 1, r + 1, {70, 74, 84});
  const auto g = MazeLayout::center(m.goal);
  cv.circle(g[0], g[1], params_.goal_radius, {150, 220, 150});
  cv.circle(g[0], g[1], 0.12, {30, 150, 50});
  const double rr = std::max(params_.radius, 0.15);
  cv.rect(s_.x - rr, s_.y - rr, s_.x + rr, s_.y + rr, {40, 90, 220});
}

// ---- planner ------------------------------------------------------------------------------------

MazePlanner::MazePlanner(const MazeLayout& layout) : layout_(&layout) {
  cell_index_.assign(static_cast<size_t>(layout.rows) * layout.cols, -1);
  cells_ = layout.free_cells();
  for (size_t i = 0; i < cells_.size(); ++i)
    cell_index_[static_cast<size_t>(cells_[i].row) * layout.cols + cells_[i].col] = static_cast<int>(i);
  const int n = static_cast<int>(cells_.size());
  dist_.assign(static_cast<size_t>(n) * n, -1);
  static constexpr int dr[4] = {-1, 1, 0, 0}, dc[4] = {0, 0, -1, 1};
  for (int s = 0; s < n; ++s) {
    int* d = dist_.data() + static_cast<size_t>(s) * n;
    std::deque<int> q{s};
    d[s] = 0;
    while (!q.empty()) {
      const int u = q.front();
      q.pop_front();
      for (int k = 0; k < 4; ++k) {
        const int v = index({cells_[u].row + dr[k], cells_[u].col + dc[k]});
        if (v >= 0 && d[v] < 0) d[v] = d[u] + 1, q.push_back(v);
      }
    }
  }
}

int MazePlanner::index(Cell c) const {
  if (c.row < 0 || c.col < 0 || c.row >= layout_->rows || c.col >= layout_->cols) return -1;
  return cell_index_[static_cast<size_t>(c.row) * layout_->cols + c.col];
}

int MazePlanner::distance(Cell from, Cell to) const {
  const int a = index(from), b = index(to);
  if (a < 0 || b < 0) return -1;
  return dist_[static_cast<size_t>(a) * cells_.size() + b];
}

Cell MazePlanner::next_cell(Cell from, Cell to) const {
  const int d = distance(from, to);
  if (d <= 0) return d == 0 ? to : from;
  static constexpr int dr[4] = {-1, 1, 0, 0}, dc[4] = {0, 0, -1, 1};
  for (int k = 0; k < 4; ++k) {
    const Cell n{from.row + dr[k], from.col + dc[k]};
    if (index(n) >= 0 && distance(n, to) == d - 1) return n;
  }
  return from;  // unreachable: BFS distances are consistent
}

std::vector<Cell> MazePlanner::path(Cell from, Cell to) const {
  std::vector<Cell> p;
  if (distance(from, to) < 0) return p;
  p.push_back(from);
  while (!(p.back() == to)) p.push_back(next_cell(p.back(), to));
  return p;
}

// ---- controller -----------------------------------------------------------------------------------

MazeController::MazeController(const MazeLayout& layout, double kp, double kd)
    : planner_(layout), kp_(kp), kd_(kd) {}

void MazeController::act(std::span<const float> obs, Cell goal, std::span<float> action) const {
  const double x = obs[0], y = obs[1], vx = obs[2], vy = obs[3];
  const Cell cur = MazeLayout::cell_of(x, y);
  const Cell next = planner_.next_cell(cur, goal);
  auto t = MazeLayout::center(next);
  // On a straight stretch aim one cell further, so the agent keeps its speed through cell
  // centres instead of braking at each one.
  if (!(next == goal) && !(next == cur)) {
    const Cell after = planner_.next_cell(next, goal);
    if (after.row - next.row == next.row - cur.row && after.col - next.col == next.col - cur.col)
      t = MazeLayout::center(after);
  }
  action[0] = static_cast<float>(std::clamp(kp_ * (t[0] - x) - kd_ * vx, -1.0, 1.0));
  action[1] = static_cast<float>(std::clamp(kp_ * (t[1] - y) - kd_ * vy, -1.0, 1.0));
}

}  // namespace anyrl::envs
