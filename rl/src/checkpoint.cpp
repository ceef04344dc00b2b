#include "anyrl/rl/checkpoint.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "anyrl/engine/ops.hpp"
#include "anyrl/engine/serialize.hpp"
#include "anyrl/rl/data.hpp"
#include "anyrl/rl/logger.hpp"

namespace anyrl::rl {
namespace fs = std::filesystem;

namespace {

constexpr const char* kFormatKey = "anyrl.format";
constexpr const char* kFormat = "anyrl-checkpoint/1";
constexpr const char* kGroupsKey = "anyrl.groups";
constexpr const char* kStepKey = "anyrl.step";

std::string join(const std::vector<std::string>& v) {
  std::string o;
  for (const auto& s : v) o += (o.empty() ? "" : ", ") + s;
  return o.empty() ? "(none)" : o;
}

std::vector<std::string> group_names(const Checkpoint& ck) {
  std::vector<std::string> v;
  for (const auto& [k, g] : ck.groups) v.push_back(k);
  return v;
}

std::string origin(const Checkpoint& ck) { return ck.source.empty() ? "checkpoint" : "checkpoint '" + ck.source + "'"; }

// Step of a file named ckpt_<digits>..., or -1.
std::int64_t step_of(const fs::path& p) {
  const std::string n = p.filename().string();
  if (n.rfind("ckpt_", 0) != 0 || p.extension() != ".safetensors") return -1;
  std::int64_t v = -1;
  auto r = std::from_chars(n.data() + 5, n.data() + n.size(), v);
  return r.ec == std::errc() ? v : -1;
}

bool is_pinned(const fs::path& p) { return p.stem().extension() == ".pinned"; }

}  // namespace

// ---- Checkpoint --------------------------------------------------------------------------------

const TensorMap& Checkpoint::at(const std::string& name) const {
  auto it = groups.find(name);
  if (it == groups.end())
    throw ValueError(origin(*this) + " has no group '" + name + "' (it has: " + join(group_names(*this)) + ")");
  return it->second;
}

const Tensor& Checkpoint::tensor(const std::string& group, const std::string& name) const {
  const TensorMap& g = at(group);
  auto it = g.find(name);
  if (it == g.end()) {
    std::vector<std::string> names;
    for (const auto& [k, t] : g) names.push_back(k);
    throw ValueError(origin(*this) + ": group '" + group + "' has no tensor '" + name + "' (it has: " + join(names) + ")");
  }
  return it->second;
}

void Checkpoint::require(const std::vector<std::string>& names) const {
  std::vector<std::string> missing;
  for (const auto& n : names)
    if (!has(n)) missing.push_back(n);
  if (!missing.empty())
    throw ValueError(origin(*this) + " is missing group" + (missing.size() > 1 ? "s " : " ") + join(missing) +
                     " (it has: " + join(group_names(*this)) + ")");
}

void Checkpoint::set_counter(const std::string& name, std::int64_t value) {
  groups["counters"][name] = Tensor::from_vector<std::int64_t>({value}, Shape{});
}

std::int64_t Checkpoint::counter(const std::string& name) const {
  const Tensor& t = tensor("counters", name);
  if (t.dtype() != DType::Int64 || t.numel() != 1)
    throw ValueError(origin(*this) + ": counter '" + name + "' is " + t.desc() + ", expected an int64 scalar");
  return t.data<std::int64_t>()[0];
}

void Checkpoint::set_rng(const std::string& name, const Generator& gen) { groups["rng"][name] = generator_state(gen); }

void Checkpoint::get_rng(const std::string& name, Generator& gen) const {
  set_generator_state(gen, tensor("rng", name), origin(*this) + ": rng '" + name + "'");
}

// ---- files -------------------------------------------------------------------------------------

void save_checkpoint(const fs::path& path, const Checkpoint& ck) {
  TensorMap flat;
  std::vector<std::string> names;
  for (const auto& [g, m] : ck.groups) {
    if (g.empty() || g.find('/') != std::string::npos || g.find(',') != std::string::npos)
      throw ValueError("save_checkpoint: invalid group name '" + g + "' (non-empty, no '/' or ',')");
    names.push_back(g);
    for (const auto& [n, t] : m) {
      if (!t.defined()) throw ValueError("save_checkpoint: tensor '" + g + "/" + n + "' is undefined");
      flat[g + "/" + n] = t.detach();
    }
  }
  std::map<std::string, std::string> meta;
  for (const auto& [k, v] : ck.metadata) {
    if (k.rfind("anyrl.", 0) == 0) throw ValueError("save_checkpoint: metadata key '" + k + "' is reserved");
    meta[k] = v;
  }
  meta[kFormatKey] = kFormat;
  meta[kStepKey] = std::to_string(ck.step);
  std::string gl;
  for (const auto& n : names) gl += (gl.empty() ? "" : ",") + n;
  meta[kGroupsKey] = gl;  // keeps empty groups
  std::error_code ec;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  save_safetensors(path.string(), flat, meta);
}

Checkpoint load_checkpoint(const fs::path& path, const std::vector<std::string>& required) {
  std::map<std::string, std::string> meta;
  TensorMap flat;
  try {
    flat = load_safetensors(path.string(), &meta);
  } catch (const Error& e) {
    throw IOError("cannot load checkpoint '" + path.string() + "': " + e.what());
  }
  auto f = meta.find(kFormatKey);
  if (f == meta.end() || f->second != kFormat)
    throw IOError("'" + path.string() + "' is not an anyrl checkpoint (safetensors metadata '" + kFormatKey + "' is " +
                  (f == meta.end() ? std::string("absent") : "'" + f->second + "'") + ", expected '" + kFormat + "')");
  Checkpoint ck;
  ck.source = path.string();
  try {
    ck.step = std::stoll(meta.at(kStepKey));
  } catch (const std::exception&) {
    throw IOError("checkpoint '" + path.string() + "': bad or missing metadata '" + kStepKey + "'");
  }
  if (auto g = meta.find(kGroupsKey); g != meta.end()) {
    std::stringstream ss(g->second);
    std::string name;
    while (std::getline(ss, name, ','))
      if (!name.empty()) ck.groups[name];
  }
  for (auto& [k, t] : flat) {
    const auto slash = k.find('/');
    if (slash == std::string::npos)
      throw IOError("checkpoint '" + path.string() + "': tensor '" + k + "' has no group prefix");
    ck.groups[k.substr(0, slash)][k.substr(slash + 1)] = t;
  }
  for (auto& [k, v] : meta)
    if (k.rfind("anyrl.", 0) != 0) ck.metadata[k] = v;
  ck.require(required);
  return ck;
}

// ---- CheckpointManager -------------------------------------------------------------------------

CheckpointManager::CheckpointManager(fs::path dir, int keep_last) : dir_(std::move(dir)), keep_last_(keep_last) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (!fs::is_directory(dir_)) throw IOError("CheckpointManager: cannot create '" + dir_.string() + "'");
}

std::filesystem::path CheckpointManager::save(const Checkpoint& ck, const std::string& tag, bool pinned) {
  if (ck.step < 0) throw ValueError("CheckpointManager::save: negative step " + std::to_string(ck.step));
  for (char c : tag)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'))
      throw ValueError("CheckpointManager::save: tag '" + tag + "' may only use letters, digits, '-' and '_'");
  char buf[32];
  std::snprintf(buf, sizeof buf, "ckpt_%012lld", static_cast<long long>(ck.step));
  std::string name = buf;
  if (!tag.empty()) name += "_" + tag;
  if (pinned) name += ".pinned";
  name += ".safetensors";
  const fs::path p = dir_ / name;
  save_checkpoint(p, ck);
  // Only now, with the checkpoint complete on disk, does `latest` move to it.
  write_file_atomic((dir_ / "latest").string(), name + "\n");

  if (keep_last_ > 0) {
    std::vector<fs::path> unpinned;
    for (const auto& q : list())
      if (!is_pinned(q) && q.filename() != p.filename()) unpinned.push_back(q);
    // list() is oldest first; keep the newest keep_last-1 besides the one just written.
    const std::size_t keep_others = static_cast<std::size_t>(keep_last_ - 1);
    if (unpinned.size() > keep_others) {
      for (std::size_t i = 0; i + keep_others < unpinned.size(); ++i) {
        std::error_code ec;
        fs::remove(unpinned[i], ec);
      }
    }
  }
  return p;
}

std::optional<fs::path> CheckpointManager::latest() const {
  const fs::path lp = dir_ / "latest";
  std::error_code ec;
  if (!fs::exists(lp, ec)) return std::nullopt;
  std::ifstream f(lp);
  std::string name;
  std::getline(f, name);
  while (!name.empty() && (name.back() == '\r' || name.back() == ' ')) name.pop_back();
  if (name.empty()) throw IOError("'" + lp.string() + "' is empty");
  const fs::path p = dir_ / name;
  if (!fs::exists(p, ec)) throw IOError("'" + lp.string() + "' names '" + name + "', which does not exist");
  return p;
}

Checkpoint CheckpointManager::load_latest(const std::vector<std::string>& required) const {
  auto p = latest();
  if (!p) throw IOError("no checkpoint in '" + dir_.string() + "' (no 'latest' file)");
  return load_checkpoint(*p, required);
}

std::vector<fs::path> CheckpointManager::list() const {
  std::vector<std::pair<std::int64_t, fs::path>> v;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const std::int64_t s = step_of(e.path());
    if (s >= 0 && e.is_regular_file()) v.emplace_back(s, e.path());
  }
  std::sort(v.begin(), v.end());
  std::vector<fs::path> out;
  for (auto& [s, p] : v) out.push_back(p);
  return out;
}

// ---- NaN / Inf guard ---------------------------------------------------------------------------

void check_finite(const std::string& name, double value) {
  if (std::isfinite(value)) return;
  throw NonFiniteError(name, name + " is " + (std::isnan(value) ? "NaN" : (value > 0 ? "+Inf" : "-Inf")));
}

namespace {
[[noreturn]] void report(const std::string& name, const Tensor& t, double limit) {
  const std::vector<double> v = t.detach().to_vector<double>();
  if (v.size() == 1) {
    check_finite(name, v[0]);
    throw NonFiniteError(name, name + " is " + format_metric(v[0]) + ", beyond the limit " + format_metric(limit));
  }
  std::int64_t nans = 0, infs = 0, big = 0, first = -1;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const bool bad_nan = std::isnan(v[i]), bad_inf = std::isinf(v[i]), bad_big = std::isfinite(v[i]) && std::fabs(v[i]) > limit;
    nans += bad_nan;
    infs += bad_inf;
    big += bad_big;
    if ((bad_nan || bad_inf || bad_big) && first < 0) first = static_cast<std::int64_t>(i);
  }
  std::string msg = name + " has ";
  std::vector<std::string> parts;
  if (nans) parts.push_back(std::to_string(nans) + " NaN");
  if (infs) parts.push_back(std::to_string(infs) + " Inf");
  if (big) parts.push_back(std::to_string(big) + " values beyond ±" + format_metric(limit));
  for (std::size_t i = 0; i < parts.size(); ++i) msg += (i ? " and " : "") + parts[i];
  msg += " among " + std::to_string(v.size()) + " values (first at flat index " + std::to_string(first) + ")";
  throw NonFiniteError(name, msg);
}
}  // namespace

void check_finite(const std::string& name, const Tensor& t) {
  if (!t.defined()) throw ValueError("check_finite: " + name + " is an undefined tensor");
  if (!is_floating(t.dtype()) || all_finite(t)) return;
  report(name, t, std::numeric_limits<double>::infinity());
}

void check_bounded(const std::string& name, const Tensor& t, double limit) {
  if (!t.defined()) throw ValueError("check_bounded: " + name + " is an undefined tensor");
  if (!is_floating(t.dtype())) return;
  const Tensor m = max(abs(t.detach()));
  const double mv = m.item();
  if (std::isfinite(mv) && mv <= limit) return;
  report(name, t, limit);
}

std::string stopped_message(std::int64_t step, const std::exception& error, const std::optional<fs::path>& last_good) {
  return "stopped at step " + std::to_string(step) + ": " + error.what() + "; " +
         (last_good ? "last good checkpoint: " + last_good->string() : std::string("no checkpoint was written yet"));
}

}  // namespace anyrl::rl
