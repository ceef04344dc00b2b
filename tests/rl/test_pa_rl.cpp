// PA-RL action optimisation, pi_opt, action cache and distillation; policy-agnosticism.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "anyrl/engine/autograd.hpp"
#include "anyrl/engine/ops.hpp"
#include "anyrl/models/models.hpp"
#include "anyrl/rl/pa_rl.hpp"

using namespace anyrl;
using namespace anyrl::rl;
using namespace anyrl::models;

namespace {

// Q_e(s, a) = -c_e * ||a - a*(s)||^2 with a*(s) = shift + s (obs_dim == act_dim): a known maximiser.
QFunction quadratic_q(double shift = 0.0) {
  return [shift](const Tensor& obs, const Tensor& act) {
    Tensor d = act - unsqueeze(obs + shift, 1);           // [B, N, A]
    Tensor s = sum(square(d), {-1});                      // [B, N]
    return stack({s * -1.0, s * -2.0}, 0);                // [2, B, N]
  };
}

TanhGaussianConfig tiny_tg(std::int64_t obs, std::int64_t act) {
  TanhGaussianConfig c;
  c.obs_dim = obs;
  c.act_dim = act;
  c.hidden = {32, 32};
  return c;
}

QEnsembleConfig tiny_q(std::int64_t obs, std::int64_t act) {
  QEnsembleConfig c;
  c.obs_dim = obs;
  c.act_dim = act;
  c.ensemble = 2;
  c.hidden = {32, 32};
  c.activation = nn::Activation::SiLU;
  return c;
}

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  REQUIRE_MESSAGE(f.good(), "cannot read " << path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("ActionOptimizer: global top-m equals a brute-force sort of the scores") {
  Generator gen(1);
  ActionOptOptions o;
  o.m = 5;
  ActionOptimizer opt(quadratic_q(), o);
  Tensor obs = uniform(Shape{4, 2}, -0.5, 0.5, gen);
  Tensor samples = uniform(Shape{4, 16, 2}, -1, 1, gen);
  Candidates c = opt.select_top(obs, samples);
  REQUIRE(c.actions.shape() == Shape{4, 5, 2});
  auto sc = opt.score(obs, samples).to_vector<float>();
  auto sv = samples.to_vector<float>();
  auto ca = c.actions.to_vector<float>();
  auto cq = c.q.to_vector<float>();
  for (int b = 0; b < 4; ++b) {
    std::vector<int> order(16);
    for (int i = 0; i < 16; ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return sc[b * 16 + x] > sc[b * 16 + y]; });
    for (int j = 0; j < 5; ++j) {
      CHECK(cq[b * 5 + j] == sc[b * 16 + order[j]]);
      for (int a = 0; a < 2; ++a) CHECK(ca[(b * 5 + j) * 2 + a] == sv[(b * 16 + order[j]) * 2 + a]);
    }
  }
  SUBCASE("T = 0: optimize is re-ranking only") {
    o.steps = 0;
    ActionOptimizer opt0(quadratic_q(), o);
    TanhGaussianPolicy pi(tiny_tg(2, 2), gen);
    Candidates c0 = opt0.optimize(pi, obs, gen, Tensor(), samples);
    CHECK(c0.actions.to_vector<float>() == ca);
    CHECK(c0.q.to_vector<float>() == cq);
    CHECK(c0.mean_abs_delta == 0.0);
  }
}

TEST_CASE("ActionOptimizer: local steps never lower Q, move toward the maximiser, respect bounds") {
  Generator gen(2);
  for (double eta : {0.05, 3.0}) {  // a small step and one that overshoots (must be rejected)
    CAPTURE(eta);
    ActionOptOptions o;
    o.m = 6;
    o.steps = 20;
    o.step_size = eta;
    ActionOptimizer opt(quadratic_q(), o);
    Tensor obs = uniform(Shape{8, 2}, -0.6, 0.6, gen);
    Tensor samples = uniform(Shape{8, 12, 2}, -1, 1, gen);
    Candidates top = opt.select_top(obs, samples);
    Candidates c = opt.local(obs, top);
    auto q0 = c.q_start.to_vector<float>(), q1 = c.q.to_vector<float>();
    for (std::size_t i = 0; i < q0.size(); ++i) CHECK(q1[i] >= q0[i]);
    // distance to a*(s) = s shrinks
    Tensor target = unsqueeze(obs, 1);
    double d0 = mean(sum(square(top.actions - target), {-1})).item();
    double d1 = mean(sum(square(c.actions - target), {-1})).item();
    CHECK(d1 < d0 * (eta < 1 ? 0.5 : 1.0));
    if (eta < 1) {
      CHECK(c.mean_abs_delta > 0.0);
      CHECK(opt.stats().accepted > 0.5);
    }
  }
  SUBCASE("maximiser outside the bounds: actions clipped to [-1, 1]") {
    ActionOptOptions o;
    o.steps = 50;
    o.step_size = 0.1;
    o.m = 4;
    ActionOptimizer opt(quadratic_q(1.5), o);
    Tensor obs = Tensor::zeros(Shape{3, 2});
    Candidates c = opt.local(obs, opt.select_top(obs, uniform(Shape{3, 8, 2}, -1, 1, gen)));
    auto v = c.actions.to_vector<float>();
    for (float x : v) {
      CHECK(x <= 1.0f);
      CHECK(x >= -1.0f);
    }
    CHECK(*std::min_element(v.begin(), v.end()) > 0.99f);  // all pushed to the bound
  }
}

TEST_CASE("pi_opt: weights are softmax(Q / temperature); sampling frequencies and argmax") {
  Generator gen(3);
  ActionOptOptions o;
  o.temperature = 0.5;
  ActionOptimizer opt(quadratic_q(), o);
  Tensor q = Tensor::from_vector<float>({0.f, 1.f, 2.f, 0.5f}, Shape{1, 4});
  Tensor cands = Tensor::from_vector<float>({0.f, 1.f, 2.f, 3.f}, Shape{1, 4, 1});
  auto w = opt.weights(q).to_vector<float>();
  std::vector<double> ref(4);
  double z = 0;
  for (int i = 0; i < 4; ++i) z += ref[i] = std::exp(std::vector<double>{0, 1, 2, 0.5}[i] / 0.5);
  for (int i = 0; i < 4; ++i) CHECK(w[i] == doctest::Approx(ref[i] / z).epsilon(1e-5));
  const int N = 20000;
  auto s = opt.sample_pi_opt_n(cands, q, N, gen).to_vector<float>();
  std::vector<double> freq(4, 0.0);
  for (float x : s) freq[static_cast<int>(x)] += 1.0 / N;
  for (int i = 0; i < 4; ++i) CHECK(freq[i] == doctest::Approx(ref[i] / z).epsilon(0.02).scale(1.0));
  opt.options().selection = Selection::Argmax;
  auto g = opt.sample_pi_opt_n(cands, q, 100, gen).to_vector<float>();
  for (float x : g) CHECK(x == 2.0f);
  CHECK(opt.sample_pi_opt(cands, q, gen).shape() == Shape{1, 1});
}

TEST_CASE("ActionOptimizer with a QEnsemble: critic grads and parameters untouched; dataset action swap") {
  Generator gen(4);
  QEnsemble critic(tiny_q(3, 2), gen);
  for (Tensor p : critic.parameters()) p.set_grad(Tensor::full(p.shape(), 7.0));
  TensorMap before;
  for (auto& [k, v] : critic.state_dict()) before[k] = v.clone();
  ActionOptOptions o;
  o.m = 4;
  o.steps = 5;
  o.step_size = 0.05;
  ActionOptimizer opt(critic, o);
  TanhGaussianPolicy pi(tiny_tg(3, 2), gen);
  Tensor obs = randn(Shape{5, 3}, gen);
  Tensor data = uniform(Shape{5, 2}, -1, 1, gen);
  Candidates c = opt.optimize(pi, obs, gen, data);
  CHECK(c.actions.shape() == Shape{5, 4, 2});
  auto q0 = c.q_start.to_vector<float>(), q1 = c.q.to_vector<float>();
  for (std::size_t i = 0; i < q0.size(); ++i) CHECK(q1[i] >= q0[i]);
  for (Tensor p : critic.parameters()) {
    CHECK(p.requires_grad());
    auto g = p.grad().to_vector<float>();
    CHECK(std::all_of(g.begin(), g.end(), [](float x) { return x == 7.0f; }));
  }
  for (auto& [k, v] : critic.state_dict()) CHECK(v.to_vector<float>() == before[k].to_vector<float>());
  // with_dataset_action: the last candidate is the data action, scored by the critic
  Candidates top = opt.select_top(obs, pi.sample(obs, 8, gen));
  Candidates sw = opt.with_dataset_action(obs, top, data);
  CHECK(squeeze(slice(sw.actions, 1, 3, 4), 1).to_vector<float>() == data.to_vector<float>());
  CHECK(squeeze(slice(sw.q, 1, 3, 4), 1).to_vector<float>() ==
        squeeze(opt.score(obs, unsqueeze(data, 1)), 1).to_vector<float>());
  CHECK(slice(sw.actions, 1, 0, 3).to_vector<float>() == slice(top.actions, 1, 0, 3).to_vector<float>());
}

TEST_CASE("PA-RL runs unchanged with tanh-Gaussian, diffusion and autoregressive policies") {
  Generator gen(5);
  const std::int64_t S = 3, A = 2, B = 6;
  QEnsemble critic(tiny_q(S, A), gen);
  DiffusionConfig dc;
  dc.obs_dim = S;
  dc.act_dim = A;
  dc.hidden = 16;
  dc.blocks = 1;
  dc.dropout = 0.0;
  dc.time_dim = 8;
  dc.time_hidden = {16};
  AutoregressiveConfig ac;
  ac.obs_dim = S;
  ac.act_dim = A;
  ac.bins = 16;
  ac.width = 16;
  ac.layers = 1;
  ac.heads = 2;
  ac.mlp_ratio = 2;
  std::vector<std::unique_ptr<Policy>> pols;
  pols.push_back(std::make_unique<TanhGaussianPolicy>(tiny_tg(S, A), gen));
  pols.push_back(std::make_unique<DiffusionPolicy>(dc, gen));
  pols.push_back(std::make_unique<AutoregressivePolicy>(ac, gen));
  ActionOptOptions o;
  o.k = 8;
  o.m = 3;
  o.steps = 3;
  o.step_size = 0.05;
  ActionOptimizer opt(critic, o);
  Tensor obs = randn(Shape{B, S}, gen);
  Tensor data = uniform(Shape{B, A}, -1, 1, gen);
  for (auto& p : pols) {
    CAPTURE(p->kind());
    Candidates c = opt.optimize(*p, obs, gen, data);
    CHECK(c.actions.shape() == Shape{B, 3, A});
    CHECK(all_finite(c.q));
    CHECK(mean(c.q - c.q_start).item() >= 0.0);
    CHECK(opt.source(*p)(obs, 4, gen).shape() == Shape{B, 4, A});
    Distiller d(*p, opt, DistillOptions{.lr = 1e-3});
    auto m = d.step(obs, gen, data);
    CHECK(std::isfinite(m.at("distill_loss")));
    CHECK(m.count("cand_q_spread") == 1);
  }
}

TEST_CASE("Distiller moves the policy toward the optimised actions") {
  Generator gen(6);
  TanhGaussianPolicy pi(tiny_tg(1, 1), gen);
  ActionOptOptions o;
  o.k = 16;
  o.m = 4;
  o.steps = 5;
  o.step_size = 0.05;
  o.selection = Selection::Argmax;
  ActionOptimizer opt(quadratic_q(0.0), o);  // a*(s) = s
  Distiller d(pi, opt, DistillOptions{.lr = 3e-3});
  Tensor obs = uniform(Shape{64, 1}, -0.7, 0.7, gen);
  auto dist = [&] {
    Tensor a = pi.act(obs, gen, true);
    return mean(abs(a - obs)).item();
  };
  const double before = dist();
  for (int i = 0; i < 300; ++i) d.step(uniform(Shape{64, 1}, -0.7, 0.7, gen), gen);
  const double after = dist();
  MESSAGE("mean |act - a*|: before " << before << ", after " << after);
  CHECK(after < 0.5 * before);
  CHECK(after < 0.1);
  // state_dict round trip
  TensorMap sd = d.state_dict();
  CHECK(sd.count("policy.net.layers.0.weight") + sd.size() > 0);
  d.load_state_dict(sd);
}

TEST_CASE("ActionCache: k samples per row, reused through bindings, extended for new rows") {
  Generator gen(7);
  TanhGaussianPolicy pi(tiny_tg(2, 1), gen);
  TransitionBuffer buf({2}, 1, 64);
  for (int i = 0; i < 20; ++i) {
    float o[2] = {float(i) / 20, -float(i) / 20}, a[1] = {0.1f};
    buf.add(o, a, 0.f, o, false, 0.f);
  }
  ActionCache cache(6);
  cache.refresh(pi, buf, gen);
  CHECK(cache.rows() == 20);
  ActionOptOptions o;
  o.k = 6;
  o.m = 2;
  o.steps = 0;
  o.selection = Selection::Argmax;
  ActionOptimizer opt(quadratic_q(), o);
  Batch b = cache.sample(buf, 5, gen, opt);
  Tensor bound = opt.bound_samples(b.obs);
  REQUIRE(bound.defined());
  CHECK(bound.shape() == Shape{5, 6, 1});
  CHECK(opt.bound_samples(b.next_obs).defined());
  // the source picks one of the cached samples (steps = 0: no local change)
  auto picked = opt.source(pi)(b.obs, 1, gen).to_vector<float>();
  auto bv = bound.to_vector<float>();
  for (int r = 0; r < 5; ++r) {
    bool found = false;
    for (int j = 0; j < 6; ++j) found = found || bv[r * 6 + j] == picked[r];
    CHECK(found);
  }
  opt.clear_bindings();
  CHECK_FALSE(opt.bound_samples(b.obs).defined());
  for (int i = 0; i < 3; ++i) {
    float ob[2] = {0.5f, 0.5f}, a[1] = {0.f};
    buf.add(ob, a, 0.f, ob, false, 0.f);
  }
  CHECK_THROWS_AS(cache.sample(buf, 5, gen, opt), ValueError);
  cache.extend(pi, buf, gen);
  CHECK(cache.rows() == 23);
}

TEST_CASE("PA-RL files never mention a concrete policy class (policy-agnosticism)") {
  const char* root = std::getenv("ANYRL_SOURCE_DIR");
  REQUIRE_MESSAGE(root != nullptr, "ANYRL_SOURCE_DIR is not set (run through ctest)");
  for (const char* f : {"rl/include/anyrl/rl/pa_rl.hpp", "rl/src/pa_rl.cpp", "rl/include/anyrl/rl/critic_learners.hpp",
                        "rl/src/critic_learners.cpp"}) {
    const std::string text = read_text(std::string(root) + "/" + f);
    CAPTURE(f);
    CHECK(text.size() > 100);
    for (const char* banned : {"TanhGaussian", "tanh_gaussian", "Diffusion", "diffusion.hpp", "DDPM", "Autoregressive",
                               "autoregressive.hpp", "models.hpp"}) {
      CAPTURE(banned);
      CHECK(text.find(banned) == std::string::npos);
    }
  }
}
