// CQL / Cal-QL, IQL (+ AWR actor), SAC / RLPD critic learners.
#include "anyrl/rl/critic_learners.hpp"

#include <cmath>

#include "anyrl/engine/autograd.hpp"
#include "anyrl/engine/error.hpp"
#include "anyrl/engine/ops.hpp"

namespace anyrl::rl {

namespace {

void put_prefixed(TensorMap& out, const std::string& prefix, const TensorMap& in) {
  for (const auto& [k, v] : in) out[prefix + k] = v;
}

TensorMap take_prefixed(const TensorMap& in, const std::string& prefix) {
  TensorMap out;
  for (const auto& [k, v] : in)
    if (k.rfind(prefix, 0) == 0) out[k.substr(prefix.size())] = v;
  return out;
}

double std_of(const Tensor& t) { return t.numel() < 2 ? 0.0 : std::sqrt(var(t, {}, false, 0).item()); }

// Parameters frozen for the scope (actor losses must not leave gradients in the critic).
struct FreezeScope {
  std::vector<std::pair<Tensor, bool>> saved;
  explicit FreezeScope(const nn::Module& m) {
    for (Tensor p : m.parameters()) {
      saved.emplace_back(p, p.requires_grad());
      p.set_requires_grad(false);
    }
  }
  ~FreezeScope() {
    for (auto& [p, on] : saved) p.set_requires_grad(on);
  }
};

}  // namespace

// ---- base -----------------------------------------------------------------------------------

CriticLearnerBase::CriticLearnerBase(std::shared_ptr<models::QEnsemble> critic,
                                     std::shared_ptr<models::QEnsemble> target, CriticOptions opt)
    : critic_(std::move(critic)),
      target_(std::move(target)),
      opt_(opt),
      critic_opt_(critic_->parameters(), AdamOptions{.lr = opt.lr}) {
  if (!target_) {
    if (critic_->encoder() != nullptr)
      throw ValueError("CriticLearner: a critic with an encoder needs an explicit target critic");
    Generator g(0);
    target_ = std::make_shared<models::QEnsemble>(critic_->config(), g);
  }
  target_->load_state_dict(critic_->state_dict());
  target_->requires_grad_(false);
}

Tensor CriticLearnerBase::reduce_target(const Tensor& q, Generator& gen) const {
  NoGrad ng;
  const std::int64_t E = q.size(0);
  switch (opt_.target_reduce) {
    case TargetReduce::Mean:
      return mean(q, {0});
    case TargetReduce::MinAll:
      return min(q, {0});
    case TargetReduce::MinSubset: {
      if (opt_.subset >= E) return min(q, {0});
      Tensor idx = slice(randperm(E, gen), 0, 0, opt_.subset);
      return min(index_select(q, 0, idx), {0});
    }
  }
  return min(q, {0});
}

void CriticLearnerBase::update_target() { polyak_update(target_->parameters(), critic_->parameters(), opt_.tau); }

void CriticLearnerBase::critic_step(const Tensor& loss) {
  critic_opt_.zero_grad();
  loss.backward();
  if (opt_.grad_clip > 0) clip_grad_norm(critic_opt_.params(), opt_.grad_clip);
  critic_opt_.step();
}

void CriticLearnerBase::add_q_metrics(Metrics& m, const Tensor& q_data_eb, const Batch& batch) const {
  NoGrad ng;
  Tensor qd = q_data_eb.detach();
  m["q_data_mean"] = mean(qd).item();
  m["q_data_std"] = std_of(qd);
  m["q_ensemble_std"] = mean(sqrt(var(qd, {0}, false, 0))).item();
  if (batch.mc_returns.defined()) {
    // Q - MC-return gap over rows whose episode has ended (pending rows hold the lowest float).
    auto q = mean(qd, {0}).to_vector<float>();
    auto mc = batch.mc_returns.to_vector<float>();
    double s = 0;
    std::int64_t n = 0;
    for (std::size_t i = 0; i < q.size(); ++i)
      if (mc[i] > kPendingReturn * 0.5f) {
        s += q[i] - mc[i];
        ++n;
      }
    if (n > 0) m["q_mc_gap"] = s / static_cast<double>(n);
  }
}

TensorMap CriticLearnerBase::state_dict() const {
  TensorMap out;
  put_prefixed(out, "critic.", critic_->state_dict());
  put_prefixed(out, "target.", target_->state_dict());
  put_prefixed(out, "critic_optim.", critic_opt_.state_dict());
  return out;
}

void CriticLearnerBase::load_state_dict(const TensorMap& state) {
  critic_->load_state_dict(take_prefixed(state, "critic."));
  target_->load_state_dict(take_prefixed(state, "target."));
  critic_opt_.load_state_dict(take_prefixed(state, "critic_optim."));
}

void CriticLearnerBase::reset_optimizers() { critic_opt_.reset_state(); }

// ---- CQL / Cal-QL ---------------------------------------------------------------------------

CalQL::CalQL(std::shared_ptr<models::QEnsemble> critic, std::shared_ptr<models::QEnsemble> target, ActionSource source,
             CriticOptions opt, CQLOptions cql)
    : CriticLearnerBase(std::move(critic), std::move(target), opt), source_(std::move(source)), cql_(cql) {
  if (!source_) throw ValueError("CalQL: an action source is required");
}

Tensor CalQL::td_target_from(const Batch& batch, const Tensor& next_actions, Generator& gen) const {
  NoGrad ng;
  Tensor tq = reduce_target(target_->q(batch.next_obs, next_actions), gen);  // [B, n]
  Tensor v = cql_.max_target_backup ? max(tq, {-1}) : mean(tq, {-1});
  return batch.rewards + batch.masks * v * opt_.gamma;
}

Tensor CalQL::td_target(const Batch& batch, Generator& gen) const {
  NoGrad ng;
  const std::int64_t n = cql_.max_target_backup ? cql_.n_actions : 1;
  return td_target_from(batch, source_(batch.next_obs, n, gen), gen);
}

Metrics CalQL::update(const Batch& batch, Generator& gen) {
  const std::int64_t B = batch.size(), n = cql_.n_actions, A = critic_->config().act_dim;
  Tensor y, pi_s, pi_next, rand_a;
  {
    NoGrad ng;
    pi_next = source_(batch.next_obs, n, gen);  // [B, n, A]: TD-target actions and CQL's s' actions
    y = cql_.max_target_backup ? td_target_from(batch, pi_next, gen)
                               : td_target_from(batch, slice(pi_next, 1, 0, 1), gen);
    pi_s = source_(batch.obs, n, gen);
    rand_a = uniform(Shape{B, n, A}, cql_.low, cql_.high, gen);
  }
  const bool lse = cql_.form == CQLForm::LogSumExp;
  // One critic pass over [data | (uniform) | pi(s) | pi(s')] actions at s.
  std::vector<Tensor> parts = {unsqueeze(batch.actions, 1)};
  if (lse) parts.push_back(rand_a);
  parts.push_back(pi_s);
  if (lse) parts.push_back(pi_next);
  Tensor all = concat(parts, 1);
  Tensor head = critic_->head_output(batch.obs, all);  // [E, B, 1 + ..., M]
  Tensor q_all = critic_->q_from_head(head);           // [E, B, 1 + ...]
  Tensor q_data = squeeze(slice(q_all, 2, 0, 1), 2);   // [E, B]
  Tensor td = critic_->loss_from_head(squeeze(slice(head, 2, 0, 1), 2), y);

  const std::int64_t off_pi = lse ? 1 + n : 1;
  Tensor q_pi = slice(q_all, 2, off_pi, q_all.size(2));  // [E, B, n or 2n]
  Tensor vmu = batch.mc_returns.defined() ? batch.mc_returns.reshape(Shape{1, B, 1}) : Tensor();
  double bound_rate = 0.0;
  if (cql_.calql && vmu.defined()) {
    NoGrad ng;
    bound_rate = mean(lt(q_pi, vmu).to(DType::Float32)).item();
  }
  Tensor q_pi_b = (cql_.calql && vmu.defined()) ? maximum(q_pi, vmu) : q_pi;
  Tensor reg;
  const double E = static_cast<double>(critic_->ensemble_size());
  if (lse) {
    Tensor q_rand = slice(q_all, 2, 1, 1 + n);
    Tensor cat = concat({q_rand, q_pi_b}, 2) / cql_.cql_temperature;
    Tensor ood = logsumexp(cat, {2}) * cql_.cql_temperature;  // [E, B]
    reg = mean(ood - q_data) * E;                             // summed over members like the TD loss
  } else {
    reg = (mean(q_pi_b) - mean(q_data)) * E;
  }
  Tensor loss = td + reg * cql_.alpha;
  critic_step(loss);
  update_target();

  Metrics m;
  m["critic_loss"] = loss.item();
  m["td_loss"] = td.item();
  m["cql_loss"] = reg.item();
  m["target_mean"] = mean(y).item();
  m["q_pi_mean"] = mean(q_pi.detach()).item();
  if (lse) m["q_rand_mean"] = mean(slice(q_all, 2, 1, 1 + n).detach()).item();
  if (cql_.calql) m["calql_bound_rate"] = bound_rate;
  add_q_metrics(m, q_data, batch);
  if (extra_metrics) extra_metrics(m);
  return m;
}

// ---- IQL ------------------------------------------------------------------------------------

IQL::IQL(std::shared_ptr<models::QEnsemble> critic, std::shared_ptr<models::QEnsemble> target,
         std::shared_ptr<models::ValueNet> value, CriticOptions opt, IQLOptions iql)
    : CriticLearnerBase(std::move(critic), std::move(target), opt),
      value_(std::move(value)),
      iql_(iql),
      value_opt_(value_->parameters(), AdamOptions{.lr = iql.value_lr}) {}

double IQL::value_step(const Tensor& obs, const Tensor& q_target) {
  Tensor v = value_->v(obs);
  Tensor loss = expectile_loss(q_target.detach() - v, iql_.expectile);
  value_opt_.zero_grad();
  loss.backward();
  value_opt_.step();
  return loss.item();
}

Tensor IQL::weights_from_advantage(const Tensor& adv) const {
  NoGrad ng;
  return clamp(exp(adv * iql_.beta), 0.0, iql_.max_weight);
}

Tensor IQL::awr_weights(const Tensor& obs, const Tensor& actions, Generator& gen) const {
  NoGrad ng;
  Tensor q = reduce_target(target_->q(obs, actions), gen);
  return weights_from_advantage(q - value_->v(obs));
}

Metrics IQL::update(const Batch& batch, Generator& gen) {
  Metrics m;
  Tensor qt;
  {
    NoGrad ng;
    qt = reduce_target(target_->q(batch.obs, batch.actions), gen);  // [B]
  }
  m["value_loss"] = value_step(batch.obs, qt);
  Tensor y;
  {
    NoGrad ng;
    Tensor v = value_->v(batch.obs);
    m["v_mean"] = mean(v).item();
    m["adv_mean"] = mean(qt - v).item();
    y = batch.rewards + batch.masks * value_->v(batch.next_obs) * opt_.gamma;
  }
  Tensor head = critic_->head_output(batch.obs, batch.actions);
  Tensor loss = critic_->loss_from_head(head, y);
  Tensor q_data = critic_->q_from_head(head);
  critic_step(loss);
  update_target();
  m["q_loss"] = loss.item();
  m["critic_loss"] = loss.item();
  add_q_metrics(m, q_data, batch);
  if (extra_metrics) extra_metrics(m);
  return m;
}

TensorMap IQL::state_dict() const {
  TensorMap out = CriticLearnerBase::state_dict();
  put_prefixed(out, "value.", value_->state_dict());
  put_prefixed(out, "value_optim.", value_opt_.state_dict());
  return out;
}

void IQL::load_state_dict(const TensorMap& state) {
  CriticLearnerBase::load_state_dict(state);
  value_->load_state_dict(take_prefixed(state, "value."));
  value_opt_.load_state_dict(take_prefixed(state, "value_optim."));
}

void IQL::reset_optimizers() {
  CriticLearnerBase::reset_optimizers();
  value_opt_.reset_state();
}

AWRActor::AWRActor(models::Policy& policy, const IQL& iql, double lr)
    : policy_(&policy), lp_(policy.as_log_prob()), iql_(&iql), opt_(policy.parameters(), AdamOptions{.lr = lr}) {
  if (lp_ == nullptr) throw ValueError("AWRActor: policy '" + policy.kind() + "' has no log_prob (as_log_prob() is null)");
}

Metrics AWRActor::update(const Batch& batch, Generator& gen) {
  Tensor w = iql_->awr_weights(batch.obs, batch.actions, gen);
  Tensor loss = -mean(w * lp_->log_prob(batch.obs, batch.actions));
  opt_.zero_grad();
  loss.backward();
  opt_.step();
  return {{"actor_loss", loss.item()}, {"awr_weight_mean", mean(w).item()}, {"awr_weight_max", max(w).item()}};
}

// ---- SAC / RLPD -----------------------------------------------------------------------------

SAC::SAC(std::shared_ptr<models::QEnsemble> critic, std::shared_ptr<models::QEnsemble> target, models::Policy& actor,
         CriticOptions opt, SACOptions sac)
    : CriticLearnerBase(std::move(critic), std::move(target), opt),
      actor_(&actor),
      rs_(actor.as_rsamplable()),
      sac_(std::move(sac)),
      target_entropy_(sac_.target_entropy_scale * static_cast<double>(actor.action_dim())),
      log_alpha_(Tensor::scalar(std::log(sac_.init_temperature)).set_requires_grad(true)),
      actor_opt_(actor.parameters(), AdamOptions{.lr = sac_.actor_lr}),
      alpha_opt_({log_alpha_}, AdamOptions{.lr = sac_.alpha_lr}) {
  if (rs_ == nullptr && (sac_.train_actor || !sac_.next_action_source))
    throw ValueError("SAC: policy '" + actor.kind() +
                     "' is not reparameterisable (as_rsamplable() is null); give next_action_source and "
                     "train_actor = false (PA-RL + RLPD)");
}

double SAC::alpha() const { return std::exp(log_alpha_.item()); }

Metrics SAC::update_critic(const Batch& batch, Generator& gen) {
  Metrics m;
  Tensor y;
  {
    NoGrad ng;
    Tensor next_a, ent;
    if (sac_.next_action_source) {
      next_a = sac_.next_action_source(batch.next_obs, 1, gen);  // [B, 1, A]
    } else {
      models::RSample r = rs_->rsample(batch.next_obs, gen);
      next_a = unsqueeze(r.action, 1);
      if (sac_.backup_entropy) ent = r.log_prob * alpha();
    }
    Tensor tq = squeeze(reduce_target(target_->q(batch.next_obs, next_a), gen), -1);  // [B]
    if (ent.defined()) tq = tq - ent;
    y = batch.rewards + batch.masks * tq * opt_.gamma;
    m["target_mean"] = mean(y).item();
  }
  Tensor head = critic_->head_output(batch.obs, batch.actions);
  Tensor loss = critic_->loss_from_head(head, y);
  Tensor q_data = critic_->q_from_head(head);
  critic_step(loss);
  update_target();
  m["critic_loss"] = loss.item();
  add_q_metrics(m, q_data, batch);
  return m;
}

Metrics SAC::update_actor(const Batch& batch, Generator& gen) {
  Metrics m;
  if (rs_ == nullptr) return m;
  Tensor logp;
  {
    FreezeScope fz(*critic_);
    models::RSample r = rs_->rsample(batch.obs, gen);
    Tensor q = mean(critic_->q(batch.obs, r.action), {0});  // [B]
    Tensor loss = mean(r.log_prob * alpha() - q);
    actor_opt_.zero_grad();
    loss.backward();
    actor_opt_.step();
    logp = r.log_prob.detach();
    m["actor_loss"] = loss.item();
  }
  Tensor aloss = -mean(log_alpha_ * (logp + target_entropy_));
  alpha_opt_.zero_grad();
  aloss.backward();
  alpha_opt_.step();
  m["alpha_loss"] = aloss.item();
  m["alpha"] = alpha();
  m["entropy"] = -mean(logp).item();
  return m;
}

Metrics SAC::update(const Batch& batch, Generator& gen) {
  Metrics m = update_critic(batch, gen);
  if (sac_.train_actor) {
    Metrics a = update_actor(batch, gen);
    m.insert(a.begin(), a.end());
  }
  if (extra_metrics) extra_metrics(m);
  return m;
}

TensorMap SAC::state_dict() const {
  TensorMap out = CriticLearnerBase::state_dict();
  put_prefixed(out, "actor_optim.", actor_opt_.state_dict());
  put_prefixed(out, "alpha_optim.", alpha_opt_.state_dict());
  out["log_alpha"] = log_alpha_;
  return out;
}

void SAC::load_state_dict(const TensorMap& state) {
  CriticLearnerBase::load_state_dict(state);
  actor_opt_.load_state_dict(take_prefixed(state, "actor_optim."));
  alpha_opt_.load_state_dict(take_prefixed(state, "alpha_optim."));
  auto it = state.find("log_alpha");
  if (it == state.end()) throw ValueError("SAC::load_state_dict: missing 'log_alpha'");
  NoGrad ng;
  log_alpha_.copy_(it->second);
}

void SAC::reset_optimizers() {
  CriticLearnerBase::reset_optimizers();
  actor_opt_.reset_state();
  alpha_opt_.reset_state();
}

}  // namespace anyrl::rl
