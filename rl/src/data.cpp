#include "anyrl/rl/data.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>

#include "anyrl/engine/ops.hpp"
#include "anyrl/envs/dataset.hpp"
#include "anyrl/envs/env.hpp"

namespace anyrl::rl {
namespace {

Shape row_shape(std::int64_t rows, const std::vector<std::int64_t>& inner) {
  Shape s{rows};
  for (std::int64_t d : inner) s.push_back(d);
  return s;
}

void check_span(const char* op, const char* what, std::size_t got, std::int64_t want) {
  if (static_cast<std::int64_t>(got) != want)
    throw ShapeError(std::string(op) + ": " + what + " has " + std::to_string(got) + " floats, expected " +
                     std::to_string(want));
}

std::int64_t meta_at(const Tensor& meta, int i) { return meta.data<std::int64_t>()[i]; }

const Tensor& need(const TensorMap& m, const std::string& key, const char* what) {
  auto it = m.find(key);
  if (it == m.end()) throw ValueError(std::string(what) + ": state has no entry '" + key + "'");
  return it->second;
}

// First non-finite value of a float array as "name[row][col] is nan", or "" when all finite.
std::string first_nonfinite(const std::vector<float>& v, std::int64_t width, const char* name) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (std::isfinite(v[i])) continue;
    const auto row = static_cast<std::int64_t>(i) / width, col = static_cast<std::int64_t>(i) % width;
    std::string at = std::string(name) + "[" + std::to_string(row) + "]";
    if (width > 1) at.append(1, '[').append(std::to_string(col)).append(1, ']');
    return at + " is " + (std::isnan(v[i]) ? "nan" : (v[i] > 0 ? "inf" : "-inf"));
  }
  return "";
}

}  // namespace

std::optional<double> sparse_failure_reward(const envs::EnvSpec& spec, const RewardTransform& t) {
  if (!spec.sparse_reward) return std::nullopt;
  return static_cast<double>(t(spec.reward_min));
}

void discounted_returns(std::span<const float> rewards, const ReturnOptions& opt, std::span<float> out) {
  if (!(opt.gamma >= 0.0 && opt.gamma < 1.0))
    throw ValueError("discounted_returns: gamma must be in [0, 1), got " + std::to_string(opt.gamma));
  if (out.size() != rewards.size())
    throw ShapeError("discounted_returns: output has " + std::to_string(out.size()) + " entries for " +
                     std::to_string(rewards.size()) + " rewards");
  if (opt.failure_reward) {
    // Same test as envs::mc_returns: compare in double, the value the transform produced.
    bool failed = true;
    for (float r : rewards) failed = failed && static_cast<double>(r) == *opt.failure_reward;
    if (failed) {
      std::fill(out.begin(), out.end(), static_cast<float>(*opt.failure_reward / (1.0 - opt.gamma)));
      return;
    }
  }
  double g = 0.0;
  for (std::size_t i = rewards.size(); i-- > 0;) {
    g = rewards[i] + opt.gamma * g;
    out[i] = static_cast<float>(g);
  }
}

// ---- TransitionBuffer -----------------------------------------------------------------------

TransitionBuffer::TransitionBuffer(std::vector<std::int64_t> obs_shape, std::int64_t action_dim,
                                   std::int64_t capacity, RewardTransform reward)
    : obs_shape_(std::move(obs_shape)), action_dim_(action_dim), capacity_(capacity), reward_(reward) {
  if (capacity <= 0) throw ValueError("TransitionBuffer: capacity must be positive, got " + std::to_string(capacity));
  if (action_dim <= 0) throw ValueError("TransitionBuffer: action_dim must be positive, got " + std::to_string(action_dim));
  if (obs_shape_.empty()) throw ValueError("TransitionBuffer: obs_shape is empty");
  obs_dim_ = 1;
  for (std::int64_t d : obs_shape_) {
    if (d <= 0) throw ValueError("TransitionBuffer: obs_shape has a non-positive dimension " + std::to_string(d));
    obs_dim_ *= d;
  }
  // Zero-filled so a state_dict of a fresh buffer (and any accidental read) is deterministic.
  obs_ = Tensor::zeros(row_shape(capacity, obs_shape_));
  next_obs_ = Tensor::zeros(row_shape(capacity, obs_shape_));
  actions_ = Tensor::zeros(Shape{capacity, action_dim});
  rewards_ = Tensor::zeros(Shape{capacity});
  masks_ = Tensor::zeros(Shape{capacity});
  mc_returns_ = Tensor::zeros(Shape{capacity});
}

std::int64_t TransitionBuffer::add(std::span<const float> obs, std::span<const float> action, float reward,
                                   std::span<const float> next_obs, bool terminal, float mc_return) {
  check_span("TransitionBuffer::add", "obs", obs.size(), obs_dim_);
  check_span("TransitionBuffer::add", "action", action.size(), action_dim_);
  check_span("TransitionBuffer::add", "next_obs", next_obs.size(), obs_dim_);
  const std::int64_t stamp = total_added_;
  const std::int64_t row = stamp % capacity_;
  std::memcpy(obs_.data<float>() + row * obs_dim_, obs.data(), sizeof(float) * obs_dim_);
  std::memcpy(next_obs_.data<float>() + row * obs_dim_, next_obs.data(), sizeof(float) * obs_dim_);
  std::memcpy(actions_.data<float>() + row * action_dim_, action.data(), sizeof(float) * action_dim_);
  rewards_.data<float>()[row] = reward_(reward);
  masks_.data<float>()[row] = terminal ? 0.f : 1.f;
  mc_returns_.data<float>()[row] = mc_return;
  ++total_added_;
  size_ = std::min(size_ + 1, capacity_);
  return stamp;
}

float TransitionBuffer::reward_at(std::int64_t row) const {
  if (row < 0 || row >= size_) throw ValueError("TransitionBuffer::reward_at: row " + std::to_string(row) + " is out of range [0, " + std::to_string(size_) + ")");
  return rewards_.data<float>()[row];
}
float TransitionBuffer::mc_return_at(std::int64_t row) const {
  if (row < 0 || row >= size_) throw ValueError("TransitionBuffer::mc_return_at: row " + std::to_string(row) + " is out of range [0, " + std::to_string(size_) + ")");
  return mc_returns_.data<float>()[row];
}
void TransitionBuffer::set_mc_return(std::int64_t row, float value) {
  if (row < 0 || row >= size_) throw ValueError("TransitionBuffer::set_mc_return: row " + std::to_string(row) + " is out of range [0, " + std::to_string(size_) + ")");
  mc_returns_.data<float>()[row] = value;
}

void TransitionBuffer::clear() {
  size_ = 0;
  total_added_ = 0;
}

Batch TransitionBuffer::gather_unchecked(const Tensor& idx) const {
  Batch b;
  b.obs = index_select(obs_, 0, idx);
  b.actions = index_select(actions_, 0, idx);
  b.rewards = index_select(rewards_, 0, idx);
  b.next_obs = index_select(next_obs_, 0, idx);
  b.masks = index_select(masks_, 0, idx);
  b.mc_returns = index_select(mc_returns_, 0, idx);
  return b;
}

Batch TransitionBuffer::gather(const Tensor& indices) const {
  if (!indices.defined() || indices.dim() != 1 || indices.dtype() != DType::Int64)
    throw ValueError("TransitionBuffer::gather: indices must be a 1-D int64 tensor, got " +
                     (indices.defined() ? indices.desc() : std::string("an undefined tensor")));
  const std::int64_t* p = indices.data<std::int64_t>();
  for (std::int64_t i = 0; i < indices.numel(); ++i)
    if (p[i] < 0 || p[i] >= size_)
      throw ValueError("TransitionBuffer::gather: index " + std::to_string(p[i]) + " at position " +
                       std::to_string(i) + " is out of range [0, " + std::to_string(size_) + ")");
  return gather_unchecked(indices);
}

Batch TransitionBuffer::sample(std::int64_t n, Generator& gen) const {
  if (size_ == 0) throw ValueError("TransitionBuffer::sample: the buffer is empty");
  if (n <= 0) throw ValueError("TransitionBuffer::sample: batch size must be positive, got " + std::to_string(n));
  return gather_unchecked(randint(Shape{n}, 0, size_, gen));
}

TensorMap TransitionBuffer::state_dict(const std::string& prefix) const {
  TensorMap m;
  // Only the valid rows: a half-full 1M buffer does not cost 1M rows on disk.
  m[prefix + "obs"] = obs();
  m[prefix + "actions"] = actions();
  m[prefix + "rewards"] = rewards();
  m[prefix + "next_obs"] = next_obs();
  m[prefix + "masks"] = masks();
  m[prefix + "mc_returns"] = mc_returns();
  m[prefix + "meta"] = Tensor::from_vector<std::int64_t>({size_, total_added_, capacity_, obs_dim_, action_dim_});
  return m;
}

void TransitionBuffer::load_state_dict(const TensorMap& state, const std::string& prefix) {
  const char* what = "TransitionBuffer::load_state_dict";
  const Tensor& meta = need(state, prefix + "meta", what);
  if (meta.dtype() != DType::Int64 || meta.numel() != 5)
    throw ValueError(std::string(what) + ": '" + prefix + "meta' must be int64 [5], got " + meta.desc());
  const std::int64_t size = meta_at(meta, 0), total = meta_at(meta, 1), cap = meta_at(meta, 2);
  if (cap != capacity_ || meta_at(meta, 3) != obs_dim_ || meta_at(meta, 4) != action_dim_)
    throw ValueError(std::string(what) + ": saved buffer has capacity " + std::to_string(cap) + ", obs_dim " +
                     std::to_string(meta_at(meta, 3)) + ", action_dim " + std::to_string(meta_at(meta, 4)) +
                     "; this buffer has " + std::to_string(capacity_) + ", " + std::to_string(obs_dim_) + ", " +
                     std::to_string(action_dim_));
  if (size < 0 || size > cap || total < size || (total > size && size != cap))
    throw ValueError(std::string(what) + ": inconsistent '" + prefix + "meta' (size " + std::to_string(size) +
                     ", total_added " + std::to_string(total) + ", capacity " + std::to_string(cap) + ")");
  struct Field {
    const char* name;
    Tensor* dst;
  } fields[] = {{"obs", &obs_},     {"actions", &actions_}, {"rewards", &rewards_},
                {"next_obs", &next_obs_}, {"masks", &masks_},     {"mc_returns", &mc_returns_}};
  // Validate everything before touching the buffer, so a bad state leaves it unchanged.
  for (const Field& f : fields) {
    const Tensor& src = need(state, prefix + f.name, what);
    const Tensor dst = f.dst->slice0(0, size);
    if (!(src.shape() == dst.shape()) || src.dtype() != DType::Float32)
      throw ValueError(std::string(what) + ": '" + prefix + f.name + "' is " + src.desc() + ", expected " + dst.desc());
  }
  for (const Field& f : fields) {
    Tensor dst = f.dst->slice0(0, size);
    if (size > 0) dst.copy_(state.at(prefix + f.name));
  }
  size_ = size;
  total_added_ = total;
}

TransitionBuffer TransitionBuffer::from_dataset(const envs::Dataset& d, const OfflineOptions& opt,
                                                OfflineStats* stats) {
  const std::string& src = opt.source;
  auto fail = [&](const std::string& msg) { throw ValueError("from_dataset(" + src + "): " + msg); };
  if (d.size <= 0) fail("the dataset is empty");
  if (d.obs_dim <= 0 || d.action_dim <= 0)
    fail("obs_dim " + std::to_string(d.obs_dim) + " / action_dim " + std::to_string(d.action_dim) + " must be positive");
  auto check_size = [&](std::size_t got, std::int64_t want, const char* name) {
    if (static_cast<std::int64_t>(got) != want)
      fail(std::string(name) + " has " + std::to_string(got) + " values, expected " + std::to_string(want));
  };
  check_size(d.observations.size(), d.size * d.obs_dim, "observations");
  check_size(d.actions.size(), d.size * d.action_dim, "actions");
  check_size(d.rewards.size(), d.size, "rewards");
  if (!d.terminals.empty()) check_size(d.terminals.size(), d.size, "terminals");
  if (!d.timeouts.empty()) check_size(d.timeouts.size(), d.size, "timeouts");
  if (d.has_next_observations()) check_size(d.next_observations.size(), d.size * d.obs_dim, "next_observations");
  for (auto [v, w, name] : {std::tuple{&d.observations, std::int64_t{d.obs_dim}, "observations"},
                            std::tuple{&d.actions, std::int64_t{d.action_dim}, "actions"},
                            std::tuple{&d.rewards, std::int64_t{1}, "rewards"},
                            std::tuple{&d.next_observations, std::int64_t{d.obs_dim}, "next_observations"}}) {
    const std::string bad = first_nonfinite(*v, w, name);
    if (!bad.empty()) fail(bad);
  }

  envs::MCReturnOptions mo;
  mo.gamma = opt.returns.gamma;
  mo.reward_scale = opt.reward.scale;
  mo.reward_bias = opt.reward.bias;
  mo.failure_reward = opt.returns.failure_reward;
  if (!(mo.gamma >= 0.0 && mo.gamma < 1.0)) fail("gamma must be in [0, 1), got " + std::to_string(mo.gamma));
  const std::vector<float> mc = envs::mc_returns(d, mo);
  const std::vector<envs::Episode> eps = envs::split_episodes(d);

  // Which rows survive: all, except the last row of an episode cut without a terminal when the
  // file has no next_observations (its successor state is unknown).
  std::vector<std::uint8_t> keep(static_cast<std::size_t>(d.size), 1);
  OfflineStats st;
  st.episodes = static_cast<std::int64_t>(eps.size());
  for (const envs::Episode& e : eps) {
    if (!d.has_next_observations() && !e.terminated && e.length() > 0) keep[e.end - 1] = 0;
    if (opt.returns.failure_reward && e.length() > 0) {
      bool failed = true;
      for (std::int64_t i = e.begin; i < e.end && failed; ++i)
        failed = opt.reward.scale * d.rewards[i] + opt.reward.bias == *opt.returns.failure_reward;
      st.failed_episodes += failed;
    }
  }
  std::int64_t rows = 0;
  for (auto k : keep) rows += k;
  st.dropped = d.size - rows;
  st.rows = rows;
  if (rows == 0) fail("no transition has a next observation (every episode has length 1 and was cut)");

  TransitionBuffer buf({d.obs_dim}, d.action_dim, rows + std::max<std::int64_t>(0, opt.extra_capacity), opt.reward);
  // Episode end flags per row: a terminal row bootstraps nothing.
  std::vector<std::uint8_t> terminal(static_cast<std::size_t>(d.size), 0);
  for (const envs::Episode& e : eps)
    if (e.terminated && e.length() > 0) terminal[e.end - 1] = 1;
  const std::int64_t od = d.obs_dim, ad = d.action_dim;
  for (std::int64_t i = 0; i < d.size; ++i) {
    if (!keep[i]) continue;
    const float* o = d.observations.data() + i * od;
    const float* next;
    if (d.has_next_observations())
      next = d.next_observations.data() + i * od;
    else if (terminal[i] || i + 1 >= d.size)
      next = o;  // masked out by the terminal; any finite value will do
    else
      next = d.observations.data() + (i + 1) * od;
    buf.add({o, static_cast<std::size_t>(od)}, {d.actions.data() + i * ad, static_cast<std::size_t>(ad)},
            d.rewards[i], {next, static_cast<std::size_t>(od)}, terminal[i] != 0, mc[i]);
  }
  if (stats) *stats = st;
  return buf;
}

// ---- EpisodeWriter --------------------------------------------------------------------------

EpisodeWriter::EpisodeWriter(TransitionBuffer& buffer, ReturnOptions returns, std::int64_t max_episode_length)
    : buffer_(&buffer), returns_(returns) {
  if (!(returns.gamma >= 0.0 && returns.gamma < 1.0))
    throw ValueError("EpisodeWriter: gamma must be in [0, 1), got " + std::to_string(returns.gamma));
  const auto n = static_cast<std::size_t>(std::max<std::int64_t>(1, max_episode_length));
  stamps_.reserve(n);
  rewards_.reserve(n);
  out_.reserve(n);
}

std::int64_t EpisodeWriter::add(std::span<const float> obs, std::span<const float> action, float reward,
                                std::span<const float> next_obs, bool terminal) {
  const std::int64_t stamp = buffer_->add(obs, action, reward, next_obs, terminal, kPendingReturn);
  stamps_.push_back(stamp);
  return stamp;
}

double EpisodeWriter::end() {
  const std::size_t n = stamps_.size();
  // The transformed rewards, read back from the buffer. Rows already overwritten (an episode
  // longer than the buffer) are gone; the returns of the surviving later rows do not need them,
  // and the failure test treats a lost reward as the failure reward only if it was one (we
  // cannot know), so for them we keep the surviving suffix only.
  std::size_t first = 0;
  while (first < n && !buffer_->holds(stamps_[first])) ++first;
  rewards_.resize(n - first);
  out_.resize(n - first);
  const std::int64_t cap = buffer_->capacity();
  double total = 0.0;
  for (std::size_t i = first; i < n; ++i) {
    rewards_[i - first] = buffer_->reward_at(stamps_[i] % cap);
    total += rewards_[i - first];
  }
  if (!rewards_.empty()) {
    discounted_returns(rewards_, returns_, out_);
    for (std::size_t i = first; i < n; ++i) buffer_->set_mc_return(stamps_[i] % cap, out_[i - first]);
  }
  stamps_.clear();
  return total;
}

TensorMap EpisodeWriter::state_dict(const std::string& prefix) const {
  TensorMap m;
  m[prefix + "stamps"] = Tensor::from_vector<std::int64_t>(stamps_, Shape{static_cast<std::int64_t>(stamps_.size())});
  return m;
}

void EpisodeWriter::load_state_dict(const TensorMap& state, const std::string& prefix) {
  const Tensor& s = need(state, prefix + "stamps", "EpisodeWriter::load_state_dict");
  if (s.dtype() != DType::Int64 || s.dim() != 1)
    throw ValueError("EpisodeWriter::load_state_dict: '" + prefix + "stamps' must be 1-D int64, got " + s.desc());
  stamps_.assign(s.data<std::int64_t>(), s.data<std::int64_t>() + s.numel());
}

// ---- MixedSampler ---------------------------------------------------------------------------

MixedSampler::MixedSampler(const TransitionBuffer& offline, const TransitionBuffer& online, MixOptions opt)
    : off_(&offline), on_(&online), opt_(opt) {
  if (!(opt.offline_fraction >= 0.0 && opt.offline_fraction <= 1.0))
    throw ValueError("MixedSampler: offline_fraction must be in [0, 1], got " + std::to_string(opt.offline_fraction));
  if (offline.obs_dim() != online.obs_dim() || offline.action_dim() != online.action_dim())
    throw ShapeError("MixedSampler: offline buffer has obs_dim " + std::to_string(offline.obs_dim()) + ", action_dim " +
                     std::to_string(offline.action_dim()) + " but online has " + std::to_string(online.obs_dim()) +
                     ", " + std::to_string(online.action_dim()));
}

std::int64_t MixedSampler::offline_count(std::int64_t n) const {
  const std::int64_t so = off_->size(), sn = on_->size();
  if (so == 0) return 0;
  if (sn == 0) return n;
  // Integer arithmetic where possible, so the split is exact and platform-independent.
  if (opt_.proportional) return n * so / (so + sn);  // n, sizes < 2^31 in practice: no overflow
  return static_cast<std::int64_t>(std::floor(static_cast<double>(n) * opt_.offline_fraction + 1e-9));
}

Batch MixedSampler::sample(std::int64_t n, Generator& gen) const {
  if (off_->empty() && on_->empty()) throw ValueError("MixedSampler::sample: both buffers are empty");
  const std::int64_t k = offline_count(n);
  if (k == n) {
    Batch b = off_->sample(n, gen);
    b.num_offline = n;
    return b;
  }
  if (k == 0) return on_->sample(n, gen);
  Batch a = off_->sample(k, gen);
  a.num_offline = k;
  return concat_batches(a, on_->sample(n - k, gen));
}

Batch Batch::to(Device device) const {
  Batch b;
  b.obs = obs.to(device);
  b.actions = actions.to(device);
  b.rewards = rewards.to(device);
  b.next_obs = next_obs.to(device);
  b.masks = masks.to(device);
  b.mc_returns = mc_returns.to(device);
  b.num_offline = num_offline;
  return b;
}

Batch concat_batches(const Batch& a, const Batch& b) {
  Batch c;
  c.obs = concat({a.obs, b.obs}, 0);
  c.actions = concat({a.actions, b.actions}, 0);
  c.rewards = concat({a.rewards, b.rewards}, 0);
  c.next_obs = concat({a.next_obs, b.next_obs}, 0);
  c.masks = concat({a.masks, b.masks}, 0);
  c.mc_returns = concat({a.mc_returns, b.mc_returns}, 0);
  c.num_offline = a.num_offline;
  return c;
}

Tensor generator_state(const Generator& gen) {
  const auto s = gen.state();
  std::vector<std::int64_t> v(3);
  for (int i = 0; i < 3; ++i) std::memcpy(&v[i], &s[i], sizeof(std::int64_t));  // bit-preserving
  return Tensor::from_vector(v);
}

void set_generator_state(Generator& gen, const Tensor& state, const std::string& what) {
  if (!state.defined() || state.dtype() != DType::Int64 || state.numel() != 3)
    throw ValueError(what + ": RNG state must be an int64 tensor of 3 values {seed, stream, counter}, got " +
                     (state.defined() ? state.desc() : std::string("nothing")));
  std::array<std::uint64_t, 3> s{};
  for (int i = 0; i < 3; ++i) std::memcpy(&s[i], state.data<std::int64_t>() + i, sizeof(std::uint64_t));
  gen.set_state(s);
}

}  // namespace anyrl::rl
