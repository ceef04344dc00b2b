#include "anyrl/envs/registry.hpp"

#include <algorithm>
#include <map>
#include <mutex>

#include "anyrl/envs/kitchen.hpp"
#include "anyrl/envs/pendulum.hpp"
#include "anyrl/envs/pixels.hpp"
#include "anyrl/envs/pointmaze.hpp"

namespace anyrl::envs {
namespace {

struct Registry {
  std::mutex m;
  std::map<std::string, EnvFactory> factories;
  Registry() {
    for (auto [name, layout, limit] :
         {std::tuple{"pointmaze-umaze", &MazeLayout::umaze, 700},
          std::tuple{"pointmaze-medium", &MazeLayout::medium, 1000},
          std::tuple{"pointmaze-large", &MazeLayout::large, 1000}}) {
      std::string n = name;
      auto get = layout;
      int tl = limit;
      factories[n] = [n, get, tl] {
        PointMazeParams p;
        p.time_limit = tl;
        return std::make_unique<PointMazeEnv>(get(), n, p);
      };
    }
    factories["kitchen-like-complete"] = [] {
      return std::make_unique<KitchenLikeEnv>("kitchen-like-complete", kitchen_task_complete());
    };
    factories["kitchen-like-partial"] = [] {
      return std::make_unique<KitchenLikeEnv>("kitchen-like-partial", kitchen_task_complete());
    };
    factories["kitchen-like-mixed"] = [] {
      return std::make_unique<KitchenLikeEnv>("kitchen-like-mixed", kitchen_task_mixed());
    };
    factories["pendulum"] = [] { return std::make_unique<PendulumEnv>(); };
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

constexpr std::string_view kPixels = "-pixels";

}  // namespace

std::unique_ptr<Env> make_env(const std::string& name) {
  auto& r = registry();
  EnvFactory f;
  bool pixels = false;
  {
    std::lock_guard lk(r.m);
    auto it = r.factories.find(name);
    if (it == r.factories.end() && name.size() > kPixels.size() && name.ends_with(kPixels)) {
      it = r.factories.find(name.substr(0, name.size() - kPixels.size()));
      pixels = true;
    }
    if (it == r.factories.end()) {
      std::string msg = "unknown environment '" + name + "'; valid names:";
      for (const auto& [n, _] : r.factories) msg += " " + n;
      msg += " (append -pixels to any for 64x64 RGB observations)";
      throw UnknownEnvError(msg);
    }
    f = it->second;
  }
  auto env = f();
  if (pixels) return std::make_unique<PixelsEnv>(std::move(env), 64, 1);
  return env;
}

std::vector<std::string> env_names() {
  auto& r = registry();
  std::lock_guard lk(r.m);
  std::vector<std::string> out;
  for (const auto& [n, _] : r.factories) out.push_back(n);
  return out;
}

bool env_exists(const std::string& name) {
  auto& r = registry();
  std::lock_guard lk(r.m);
  if (r.factories.count(name)) return true;
  return name.ends_with(kPixels) &&
         r.factories.count(name.substr(0, name.size() - kPixels.size())) > 0;
}

void register_env(const std::string& name, EnvFactory factory) {
  if (name.empty() || !factory) throw std::invalid_argument("register_env: empty name or factory");
  auto& r = registry();
  std::lock_guard lk(r.m);
  r.factories[name] = std::move(factory);
}

}  // namespace anyrl::envs
