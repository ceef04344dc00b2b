// PA-RL action optimisation, pi_opt, action cache and distillation. Uses only the Policy
// interface (sample / supervised_loss) and a critic as a function of the action.
#include "anyrl/rl/pa_rl.hpp"

#include <cmath>

#include "anyrl/engine/autograd.hpp"
#include "anyrl/engine/error.hpp"
#include "anyrl/engine/ops.hpp"

namespace anyrl::rl {

namespace {

// Rows of x[B, K, A] picked per state by idx[B, M] (int64) -> [B, M, A], without a loop over B.
Tensor take_rows(const Tensor& x, const Tensor& idx) {
  const std::int64_t B = x.size(0), K = x.size(1), A = x.size(2), M = idx.size(1);
  std::vector<std::int64_t> off(static_cast<std::size_t>(B * M));
  const Tensor ic = idx.dtype() == DType::Int64 ? idx : idx.to(DType::Int64);
  const std::int64_t* ip = ic.data<std::int64_t>();
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t j = 0; j < M; ++j) off[static_cast<std::size_t>(b * M + j)] = b * K + ip[b * M + j];
  Tensor flat = index_select(x.reshape(Shape{B * K, A}), 0, Tensor::from_vector(off));
  return flat.reshape(Shape{B, M, A});
}

double row_std_mean(const Tensor& q) {  // mean over rows of the std over the last dim
  if (q.size(-1) < 2) return 0.0;
  return mean(sqrt(var(q, {-1}, false, 0))).item();
}

void freeze_params(const nn::Module* m, std::vector<std::pair<Tensor, bool>>& saved) {
  if (m == nullptr) return;
  for (Tensor p : m->parameters()) {
    saved.emplace_back(p, p.requires_grad());
    p.set_requires_grad(false);
  }
}

}  // namespace

ActionSource policy_source(const models::Policy& policy) {
  return [&policy](const Tensor& obs, std::int64_t n, Generator& gen) {
    NoGrad ng;
    return policy.sample(obs, n, gen);
  };
}

ActionSource uniform_source(std::int64_t action_dim, double low, double high) {
  return [action_dim, low, high](const Tensor& obs, std::int64_t n, Generator& gen) {
    return uniform(Shape{obs.size(0), n, action_dim}, low, high, gen);
  };
}

// ---- ActionOptimizer ------------------------------------------------------------------------

ActionOptimizer::ActionOptimizer(const models::QEnsemble& critic, ActionOptOptions opt)
    : qfn_([&critic](const Tensor& obs, const Tensor& act) { return critic.q(obs, act); }),
      opt_(opt),
      freeze_(&critic) {}

ActionOptimizer::ActionOptimizer(QFunction q, ActionOptOptions opt, const nn::Module* freeze)
    : qfn_(std::move(q)), opt_(opt), freeze_(freeze) {}

Tensor ActionOptimizer::reduce(const Tensor& q_ebn) const {
  return opt_.ensemble_mean ? mean(q_ebn, {0}) : min(q_ebn, {0});
}

Tensor ActionOptimizer::score(const Tensor& obs, const Tensor& actions) const {
  if (actions.dim() != 3) throw ShapeError("ActionOptimizer::score: actions must be [B, N, A], got " + actions.desc());
  NoGrad ng;
  return reduce(qfn_(obs, actions));
}

Candidates ActionOptimizer::select_top(const Tensor& obs, const Tensor& samples) const {
  NoGrad ng;
  Tensor q = score(obs, samples);  // [B, k]
  const std::int64_t m = std::min<std::int64_t>(opt_.m, samples.size(1));
  auto [vals, idx] = topk(q, m, true);
  Candidates c;
  c.actions = take_rows(samples, idx);
  c.q = vals;
  c.q_start = vals;
  return c;
}

Candidates ActionOptimizer::with_dataset_action(const Tensor& obs, Candidates c, const Tensor& data_actions) const {
  NoGrad ng;
  const std::int64_t m = c.actions.size(1);
  Tensor da = unsqueeze(data_actions.to(c.actions.dtype()), 1);  // [B, 1, A]
  Tensor qd = score(obs, da);                                     // [B, 1]
  if (m == 1) {
    c.actions = da;
    c.q = qd;
  } else {
    c.actions = concat({slice(c.actions, 1, 0, m - 1), da}, 1);
    c.q = concat({slice(c.q, 1, 0, m - 1), qd}, 1);
  }
  c.q_start = c.q;
  return c;
}

Candidates ActionOptimizer::local(const Tensor& obs, Candidates c) const {
  if (opt_.steps <= 0) {
    record(c, 0.0);
    return c;
  }
  std::vector<std::pair<Tensor, bool>> saved;
  freeze_params(freeze_, saved);
  struct Restore {
    std::vector<std::pair<Tensor, bool>>& s;
    ~Restore() {
      for (auto& [p, on] : s) p.set_requires_grad(on);
    }
  } restore{saved};

  // Q and dQ/da at x (w.r.t. the action only; no grad() buffer is touched).
  auto eval = [&](const Tensor& x, Tensor& qx, Tensor& gx) {
    EnableGrad eg;
    Tensor xa = x.detach().clone();
    xa.set_requires_grad(true);
    Tensor qr = reduce(qfn_(obs, xa));  // [B, m]
    gx = grad(sum(qr), {xa})[0];
    qx = qr.detach();
  };
  NoGrad ng;
  const Tensor start = c.actions.detach();
  Tensor a = start, q, g;
  eval(a, q, g);
  c.q_start = q;
  double accepted = 0.0;
  for (int t = 0; t < opt_.steps; ++t) {
    Tensor prop = clamp(a + g * opt_.step_size, opt_.low, opt_.high);
    Tensor qp, gp;
    eval(prop, qp, gp);
    Tensor better = gt(qp, q);  // [B, m] bool: keep only improving steps
    Tensor b3 = unsqueeze(better, -1);
    a = where(b3, prop, a);
    g = where(b3, gp, g);
    q = where(better, qp, q);
    accepted += mean(better.to(DType::Float32)).item();
  }
  c.actions = a;
  c.q = q;
  c.mean_abs_delta = mean(abs(a - start)).item();
  c.mean_q_gain = mean(q - c.q_start).item();
  record(c, accepted / opt_.steps);
  return c;
}

void ActionOptimizer::record(const Candidates& c, double accepted) const {
  stats_.q_mean = mean(c.q).item();
  stats_.q_spread = row_std_mean(c.q);
  stats_.mean_abs_delta = c.mean_abs_delta;
  stats_.q_gain = c.mean_q_gain;
  stats_.accepted = accepted;
  ++stats_.calls;
}

Candidates ActionOptimizer::optimize(const models::Policy& policy, const Tensor& obs, Generator& gen,
                                     const Tensor& data_actions, const Tensor& samples) const {
  NoGrad ng;
  Tensor base = samples.defined() ? samples : policy.sample(obs, opt_.k, gen);
  Candidates c = select_top(obs, base);
  if (data_actions.defined() && opt_.include_dataset_action) c = with_dataset_action(obs, std::move(c), data_actions);
  return local(obs, std::move(c));
}

Tensor ActionOptimizer::weights(const Tensor& q) const { return softmax(q / opt_.temperature, -1); }

Tensor ActionOptimizer::sample_pi_opt(const Tensor& cands, const Tensor& q, Generator& gen) const {
  return sample_pi_opt_n(cands, q, 1, gen).reshape(Shape{cands.size(0), cands.size(2)});
}

Tensor ActionOptimizer::sample_pi_opt_n(const Tensor& cands, const Tensor& q, std::int64_t n, Generator& gen) const {
  NoGrad ng;
  const std::int64_t B = cands.size(0), M = cands.size(1);
  Tensor idx;  // [B, n]
  if (opt_.selection == Selection::Argmax || M == 1) {
    idx = expand(argmax(q, -1, true), Shape{B, n});
  } else {
    Tensor w = expand(unsqueeze(weights(q), 1), Shape{B, n, M});
    idx = multinomial(w, gen);
  }
  return take_rows(cands, idx);
}

ActionSource ActionOptimizer::source(const models::Policy& policy) const {
  return [this, &policy](const Tensor& obs, std::int64_t n, Generator& gen) {
    NoGrad ng;
    Candidates c = optimize(policy, obs, gen, Tensor(), bound_samples(obs));
    return sample_pi_opt_n(c.actions, c.q, n, gen);
  };
}

void ActionOptimizer::bind_base_samples(const Tensor& obs, const Tensor& samples) const {
  bindings_.emplace_back(obs, samples);
}
void ActionOptimizer::clear_bindings() const { bindings_.clear(); }

Tensor ActionOptimizer::bound_samples(const Tensor& obs) const {
  for (const auto& [o, s] : bindings_) {
    if (o.impl_ptr() == obs.impl_ptr()) return s;
    if (o.shares_storage(obs) && o.shape() == obs.shape() && o.impl().offset == obs.impl().offset) return s;
  }
  return Tensor();
}

// ---- ActionCache ----------------------------------------------------------------------------

Tensor ActionCache::compute(const models::Policy& policy, const Tensor& obs, Generator& gen, std::int64_t chunk) const {
  NoGrad ng;
  std::vector<Tensor> parts;
  const std::int64_t N = obs.size(0);
  for (std::int64_t i = 0; i < N; i += chunk) parts.push_back(policy.sample(obs.slice0(i, std::min(N, i + chunk)), k_, gen));
  return parts.size() == 1 ? parts[0] : concat(parts, 0);
}

void ActionCache::refresh(const models::Policy& policy, const TransitionBuffer& buffer, Generator& gen, std::int64_t chunk) {
  synced_ = buffer.total_added();
  if (buffer.empty()) {
    obs_samples_ = next_samples_ = Tensor();
    return;
  }
  obs_samples_ = compute(policy, buffer.obs(), gen, chunk);
  next_samples_ = compute(policy, buffer.next_obs(), gen, chunk);
}

void ActionCache::extend(const models::Policy& policy, const TransitionBuffer& buffer, Generator& gen, std::int64_t chunk) {
  const std::int64_t have = rows(), n = buffer.size();
  if (have == 0) return refresh(policy, buffer, gen, chunk);
  synced_ = buffer.total_added();
  if (n <= have) return;
  Tensor o = compute(policy, buffer.obs().slice0(have, n), gen, chunk);
  Tensor no = compute(policy, buffer.next_obs().slice0(have, n), gen, chunk);
  obs_samples_ = concat({obs_samples_, o}, 0);
  next_samples_ = concat({next_samples_, no}, 0);
}

void ActionCache::sync(const models::Policy& policy, const TransitionBuffer& buffer, Generator& gen, std::int64_t chunk) {
  const std::int64_t total = buffer.total_added(), cap = buffer.capacity();
  if (total == synced_ && rows() == buffer.size()) return;
  const std::int64_t written = total - synced_;
  if (rows() == 0 || written < 0 || written >= cap || buffer.size() < rows()) return refresh(policy, buffer, gen, chunk);
  // Rows written since: stamps [synced_, total) -> rows stamp % cap, as at most two segments.
  const std::int64_t first = synced_ % cap;
  std::vector<std::pair<std::int64_t, std::int64_t>> segs;
  if (first + written <= cap) {
    segs.emplace_back(first, first + written);
  } else {
    segs.emplace_back(first, cap);
    segs.emplace_back(0, first + written - cap);
  }
  for (auto [a, b] : segs) {
    if (a >= b) continue;
    Tensor o = compute(policy, buffer.obs().slice0(a, b), gen, chunk);
    Tensor no = compute(policy, buffer.next_obs().slice0(a, b), gen, chunk);
    const std::int64_t have = rows();
    if (a > have) throw ValueError("ActionCache::sync: rows " + std::to_string(have) + ".." + std::to_string(a) +
                                   " were never cached (cache and buffer out of step)");
    const std::int64_t in = std::min(b, have) - a;  // rows overwritten in place
    if (in > 0) {
      obs_samples_.slice0(a, a + in).copy_(o.slice0(0, in));
      next_samples_.slice0(a, a + in).copy_(no.slice0(0, in));
    }
    if (b > have) {  // rows appended
      obs_samples_ = concat({obs_samples_, o.slice0(in, b - a)}, 0);
      next_samples_ = concat({next_samples_, no.slice0(in, b - a)}, 0);
    }
  }
  synced_ = total;
}

void ActionCache::clear() {
  obs_samples_ = next_samples_ = Tensor();
  synced_ = 0;
}

Tensor ActionCache::obs_samples(const Tensor& rows) const { return index_select(obs_samples_, 0, rows); }
Tensor ActionCache::next_obs_samples(const Tensor& rows) const { return index_select(next_samples_, 0, rows); }

Batch ActionCache::draw(const TransitionBuffer& buffer, std::int64_t n, Generator& gen, Tensor& obs_s,
                        Tensor& next_s) const {
  if (rows() < buffer.size())
    throw ValueError("ActionCache::sample: cache holds " + std::to_string(rows()) + " rows but the buffer has " +
                     std::to_string(buffer.size()) + " (call extend, sync or refresh)");
  if (buffer.empty()) throw ValueError("ActionCache::sample: the buffer is empty");
  Tensor idx = randint(Shape{n}, 0, buffer.size(), gen);
  Batch b = buffer.gather(idx);
  obs_s = obs_samples(idx);
  next_s = next_obs_samples(idx);
  return b;
}

Batch ActionCache::sample(const TransitionBuffer& buffer, std::int64_t n, Generator& gen, const ActionOptimizer& opt) const {
  Tensor os, ns;
  Batch b = draw(buffer, n, gen, os, ns);
  opt.bind_base_samples(b.obs, os);
  opt.bind_base_samples(b.next_obs, ns);
  return b;
}

TensorMap ActionCache::state_dict(const std::string& prefix) const {
  TensorMap out;
  out[prefix + "meta"] = Tensor::from_vector(std::vector<std::int64_t>{k_, rows(), synced_});
  if (rows() > 0) {
    out[prefix + "obs_samples"] = obs_samples_;
    out[prefix + "next_samples"] = next_samples_;
  }
  return out;
}

void ActionCache::load_state_dict(const TensorMap& state, const std::string& prefix) {
  auto get = [&](const std::string& n) -> const Tensor& {
    auto it = state.find(prefix + n);
    if (it == state.end()) throw ValueError("ActionCache::load_state_dict: missing entry '" + prefix + n + "'");
    return it->second;
  };
  const std::vector<std::int64_t> meta = get("meta").to_vector<std::int64_t>();
  if (meta.size() != 3) throw ValueError("ActionCache::load_state_dict: '" + prefix + "meta' must hold 3 values");
  if (meta[0] != k_)
    throw ValueError("ActionCache::load_state_dict: checkpoint has k = " + std::to_string(meta[0]) + ", this cache k = " +
                     std::to_string(k_));
  if (meta[1] == 0) {
    obs_samples_ = next_samples_ = Tensor();
  } else {
    obs_samples_ = get("obs_samples").contiguous().clone();
    next_samples_ = get("next_samples").contiguous().clone();
    if (obs_samples_.size(0) != meta[1] || next_samples_.size(0) != meta[1] || obs_samples_.size(1) != k_)
      throw ValueError("ActionCache::load_state_dict: sample tensors do not match '" + prefix + "meta'");
  }
  synced_ = meta[2];
}

// ---- Distiller ------------------------------------------------------------------------------

Distiller::Distiller(models::Policy& policy, const ActionOptimizer& optimizer, DistillOptions opt)
    : policy_(&policy), aopt_(&optimizer), opt_(opt), adam_(policy.parameters(), AdamOptions{.lr = opt.lr}) {}

Tensor Distiller::label(const Tensor& obs, Generator& gen, const Tensor& data_actions, const Tensor& samples) const {
  NoGrad ng;
  Candidates c = aopt_->optimize(*policy_, obs, gen, data_actions, samples.defined() ? samples : aopt_->bound_samples(obs));
  if (opt_.use_optimizer_selection) return aopt_->sample_pi_opt(c.actions, c.q, gen);
  if (opt_.selection == Selection::Argmax)
    return take_rows(c.actions, argmax(c.q, -1, true)).reshape(Shape{c.actions.size(0), c.actions.size(2)});
  Tensor idx = multinomial(aopt_->weights(c.q), gen).reshape(Shape{c.q.size(0), 1});
  return take_rows(c.actions, idx).reshape(Shape{c.actions.size(0), c.actions.size(2)});
}

double Distiller::supervised_step(const Tensor& obs, const Tensor& actions, Generator& gen) {
  adam_.zero_grad();
  Tensor loss = policy_->supervised_loss(obs, actions, gen);
  loss.backward();
  if (opt_.grad_clip > 0) clip_grad_norm(adam_.params(), opt_.grad_clip);
  adam_.step();
  return loss.item();
}

std::map<std::string, double> Distiller::step(const Tensor& obs, Generator& gen, const Tensor& data_actions,
                                              const Tensor& samples) {
  Tensor labels = label(obs, gen, data_actions, samples);
  const ActionOptStats st = aopt_->stats();
  std::map<std::string, double> m;
  m["distill_loss"] = supervised_step(obs, labels, gen);
  m["cand_q_mean"] = st.q_mean;
  m["cand_q_spread"] = st.q_spread;
  m["local_abs_delta"] = st.mean_abs_delta;
  m["local_q_gain"] = st.q_gain;
  m["local_accept_rate"] = st.accepted;
  return m;
}

TensorMap Distiller::state_dict() const {
  TensorMap out;
  for (auto& [k, v] : policy_->state_dict()) out["policy." + k] = v;
  for (auto& [k, v] : adam_.state_dict()) out["optim." + k] = v;
  return out;
}

void Distiller::load_state_dict(const TensorMap& state) {
  TensorMap pol, opt;
  for (auto& [k, v] : state) {
    if (k.rfind("policy.", 0) == 0) pol[k.substr(7)] = v;
    else if (k.rfind("optim.", 0) == 0) opt[k.substr(6)] = v;
  }
  policy_->load_state_dict(pol);
  if (!opt.empty()) adam_.load_state_dict(opt);
}

}  // namespace anyrl::rl
