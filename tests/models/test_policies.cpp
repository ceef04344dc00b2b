// The three policy classes behind the policy-agnostic interface: interface contract, float64
// gradient checks, DDPM maths against a float64 reference, AR tokenisation and KV-cache
// decoding, multimodality (the paper's reason to exist), conditioning, checkpoints.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <random>

#include "common.hpp"
#include "nn/gradcheck.hpp"

using namespace mt;

namespace {
std::vector<std::unique_ptr<Policy>> all_policies(std::int64_t obs, std::int64_t act, std::uint64_t seed) {
  Generator gen(seed);
  std::vector<std::unique_ptr<Policy>> ps;
  ps.push_back(std::make_unique<TanhGaussianPolicy>(small_tg(obs, act), gen));
  ps.push_back(std::make_unique<DiffusionPolicy>(small_diffusion(obs, act), gen));
  ps.push_back(std::make_unique<AutoregressivePolicy>(small_ar(obs, act), gen));
  return ps;
}
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

TEST_CASE("every policy honours the interface: shapes, range, no graph, act, capabilities") {
  const std::int64_t O = 5, A = 3, B = 4, n = 6;
  for (auto& p : all_policies(O, A, 1)) {
    Policy& pol = *p;
    INFO(pol.kind());
    Generator gen(2);
    Tensor obs = uniform(Shape{B, O}, -1, 1, gen);
    Tensor s = pol.sample(obs, n, gen);
    CHECK(s.shape() == Shape{B, n, A});
    CHECK_FALSE(s.requires_grad());
    for (double v : s.to_vector<double>()) CHECK((v >= -1.0 && v <= 1.0));
    CHECK(pol.act(obs.select0(0), gen).shape() == Shape{A});
    CHECK(pol.act(obs, gen).shape() == Shape{B, A});
    CHECK(pol.act(obs, gen, true).shape() == Shape{B, A});
    Tensor loss = pol.supervised_loss(obs, slice(s, 1, 0, 1).reshape(Shape{B, A}), gen);
    CHECK(loss.dim() == 0);
    CHECK(loss.requires_grad());
    CHECK(pol.action_dim() == A);
    // Same generator state -> same samples (reproducible).
    Generator g1(9), g2(9);
    CHECK(pol.sample(obs, n, g1).to_vector<float>() == pol.sample(obs, n, g2).to_vector<float>());
  }
  auto ps = all_policies(O, A, 1);
  CHECK(ps[0]->as_rsamplable() != nullptr);
  CHECK(ps[0]->as_log_prob() != nullptr);
  CHECK(ps[1]->as_rsamplable() == nullptr);
  CHECK(ps[1]->as_log_prob() == nullptr);
  CHECK(ps[2]->as_rsamplable() == nullptr);
  CHECK(ps[2]->as_log_prob() != nullptr);
}

TEST_CASE("gradient check (float64) of every policy's supervised loss w.r.t. all parameters") {
  const std::int64_t O = 3, A = 2, B = 4;
  for (auto& p : all_policies(O, A, 3)) {
    INFO(p->kind());
    p->to(DType::Float64);
    Generator gen(4);
    Tensor obs = uniform(Shape{B, O}, -1, 1, gen, DType::Float64);
    Tensor act = uniform(Shape{B, A}, -0.9, 0.9, gen, DType::Float64);
    gradcheck::Options opt;
    opt.max_elems = 6;
    std::string err = gradcheck::check([&] { Generator g(5); return p->supervised_loss(obs, act, g); },
                                       gradcheck::params_of(*p), opt);
    CHECK_MESSAGE(err == "", err);
  }
  // Tanh-Gaussian's reparameterised sample and log-prob, w.r.t. parameters and observations.
  Generator gen(6);
  TanhGaussianPolicy tg(small_tg(O, A), gen);
  tg.to(DType::Float64);
  Tensor obs = gradcheck::input64(Shape{B, O}, gen);
  auto f = [&] {
    Generator g(7);
    RSample r = tg.rsample(obs, g);
    return concat({r.action, unsqueeze(r.log_prob, 1)}, 1);
  };
  CHECK(gradcheck::check(f, gradcheck::params_of(tg, {{"obs", obs}})) == "");
}

TEST_CASE("tanh-Gaussian log_prob matches a float64 reference density") {
  Generator gen(8);
  TanhGaussianPolicy tg(small_tg(2, 2), gen);
  tg.to(DType::Float64);
  Tensor obs = uniform(Shape{3, 2}, -1, 1, gen, DType::Float64);
  Tensor act = uniform(Shape{3, 2}, -0.95, 0.95, gen, DType::Float64);
  NoGrad ng;
  auto d = tg.dist(obs);
  auto mu = d.mean.to_vector<double>(), ls = d.log_std.to_vector<double>(), a = act.to_vector<double>();
  auto lp = tg.log_prob(obs, act).to_vector<double>();
  for (int b = 0; b < 3; ++b) {
    double ref = 0;
    for (int j = 0; j < 2; ++j) {
      const double x = a[b * 2 + j], u = std::atanh(x), sd = std::exp(ls[b * 2 + j]);
      ref += -0.5 * std::pow((u - mu[b * 2 + j]) / sd, 2) - std::log(sd) - 0.5 * std::log(2 * std::numbers::pi) -
             std::log(1 - x * x);
    }
    CHECK(lp[b] == doctest::Approx(ref).epsilon(1e-9));
  }
}

TEST_CASE("DDPM maths: cosine schedule, forward noising and the reverse step match a float64 reference") {
  const int K = 5;
  DDPMSchedule s = DDPMSchedule::make(K, BetaSchedule::Cosine);
  // Reference (IDQL's cosine_beta_schedule).
  std::vector<double> ab_ref(K + 1);
  for (int t = 0; t <= K; ++t) {
    const double c = std::cos((static_cast<double>(t) / K + 0.008) / 1.008 * std::numbers::pi / 2);
    ab_ref[t] = c * c;
  }
  double prod = 1;
  for (int t = 1; t <= K; ++t) {
    const double beta = std::min(1 - ab_ref[t] / ab_ref[t - 1], 0.999);
    CHECK(s.betas[t - 1] == doctest::Approx(beta).epsilon(1e-14));
    prod *= 1 - beta;
    CHECK(s.alpha_bars[t - 1] == doctest::Approx(prod).epsilon(1e-14));
    CHECK(s.sigmas[t - 1] == doctest::Approx(std::sqrt(beta)).epsilon(1e-14));
  }
  CHECK(s.betas[K - 1] == 0.999);  // clipped
  Generator gen(10);
  Tensor a0 = uniform(Shape{6, 3}, -1, 1, gen, DType::Float64), eps = randn(Shape{6, 3}, gen, DType::Float64);
  std::vector<int> ts = {1, 2, 3, 4, 5, 3};
  auto q = s.q_sample(a0, ts, eps).to_vector<double>();
  auto av = a0.to_vector<double>(), ev = eps.to_vector<double>();
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 3; ++j) {
      const double ab = s.alpha_bars[ts[i] - 1];
      CHECK(q[i * 3 + j] == doctest::Approx(std::sqrt(ab) * av[i * 3 + j] + std::sqrt(1 - ab) * ev[i * 3 + j]).epsilon(1e-14));
    }
  Tensor at = uniform(Shape{6, 3}, -1, 1, gen, DType::Float64), ep = randn(Shape{6, 3}, gen, DType::Float64),
         z = randn(Shape{6, 3}, gen, DType::Float64);
  auto atv = at.to_vector<double>(), epv = ep.to_vector<double>(), zv = z.to_vector<double>();
  for (int t = 1; t <= K; ++t) {
    auto out = s.p_step(at, ep, t, z, false).to_vector<double>();
    auto outc = s.p_step(at, ep, t, z, true).to_vector<double>();
    const double al = s.alphas[t - 1], ab = s.alpha_bars[t - 1];
    for (int i = 0; i < 18; ++i) {
      const double ref = (atv[i] - (1 - al) / std::sqrt(1 - ab) * epv[i]) / std::sqrt(al) + (t > 1 ? std::sqrt(1 - al) * zv[i] : 0.0);
      CHECK(out[i] == doctest::Approx(ref).epsilon(1e-12));
      CHECK(outc[i] == doctest::Approx(std::clamp(ref, -1.0, 1.0)).epsilon(1e-12));
    }
  }
  // Posterior variance option: beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t).
  DDPMSchedule sp = DDPMSchedule::make(K, BetaSchedule::Cosine, true);
  CHECK(sp.sigmas[0] == 0.0);
  CHECK(sp.sigmas[2] == doctest::Approx(std::sqrt(s.betas[2] * (1 - s.alpha_bars[1]) / (1 - s.alpha_bars[2]))));
}

TEST_CASE("diffusion sampling (state share of the first layer hoisted) equals the naive eps() loop") {
  Generator gen(11);
  DiffusionPolicy p(small_diffusion(3, 2), gen);
  p.eval();
  Tensor obs = uniform(Shape{4, 3}, -1, 1, gen);
  Generator g1(12), g2(12);
  Tensor fast = p.sample(obs, 5, g1);
  NoGrad ng;
  Tensor s = index_select(obs, 0, Tensor::from_vector<std::int64_t>({0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3}));
  Tensor a = randn(Shape{20, 2}, g2);
  for (int t = 5; t >= 1; --t) {
    Tensor e = p.eps(a, Tensor::full(Shape{20}, t), s);
    Tensor z = t > 1 ? randn(Shape{20, 2}, g2) : Tensor();
    a = p.schedule().p_step(a, e, t, z, true);
  }
  const double d = max_abs_diff(fast, a.reshape(Shape{4, 5, 2}));
  MESSAGE("hoisted vs naive diffusion sampling: max |diff| = " << d);
  CHECK(d < 1e-5);
}

namespace {
// Mean and std of K-step ancestral DDPM sampling (sigma_t^2 = beta_t, clipping) of N(mu, sd^2)
// data with the *exact* noise predictor E[eps | a_t], in float64: what a perfectly trained
// model must reproduce. (Few steps shrink the spread: K = 5 gives std ~0.09 for sd = 0.15.)
std::pair<double, double> exact_ddpm_gaussian(const DDPMSchedule& s, double mu, double sd, int n = 200000) {
  std::mt19937_64 rng(1);
  std::normal_distribution<double> N01;
  double m = 0, m2 = 0;
  for (int i = 0; i < n; ++i) {
    double a = N01(rng);
    for (int t = s.steps(); t >= 1; --t) {
      const double ab = s.alpha_bars[t - 1], al = s.alphas[t - 1];
      const double eps = std::sqrt(1 - ab) * (a - std::sqrt(ab) * mu) / (ab * sd * sd + 1 - ab);
      a = (a - (1 - al) / std::sqrt(1 - ab) * eps) / std::sqrt(al);
      if (t > 1) a += s.sigmas[t - 1] * N01(rng);
      a = std::clamp(a, -1.0, 1.0);
    }
    m += a;
    m2 += a * a;
  }
  m /= n;
  return {m, std::sqrt(m2 / n - m * m)};
}
}  // namespace

TEST_CASE("DDPM trained on a known 1-D Gaussian: K = 20 recovers mean and std; K = 5 matches the exact sampler") {
  const double mu = 0.2, sd = 0.15;
  for (int K : {20, 5}) {
    DiffusionConfig c = small_diffusion(1, 1);
    c.steps = K;
    c.hidden = 32;
    Generator gen(13);
    DiffusionPolicy p(c, gen);
    auto data = [&](std::int64_t B, Generator& g) {
      return std::make_pair(Tensor::zeros(Shape{B, 1}), normal(Shape{B, 1}, mu, sd, g));
    };
    auto t0 = std::chrono::steady_clock::now();
    train_bc(p, data, 1000, 256, 2e-3);
    Generator sg(14);
    auto v = p.sample(Tensor::zeros(Shape{1, 1}), 4000, sg).to_vector<double>();
    double m = 0, s2 = 0;
    for (double x : v) m += x;
    m /= v.size();
    for (double x : v) s2 += (x - m) * (x - m);
    const double std_hat = std::sqrt(s2 / (v.size() - 1));
    auto [m_ref, s_ref] = exact_ddpm_gaussian(p.schedule(), mu, sd);
    MESSAGE("K=" << K << ": data N(0.2, 0.15^2); sampled mean " << m << ", std " << std_hat << "; exact-denoiser sampler mean "
                 << m_ref << ", std " << s_ref << " (" << seconds_since(t0) << " s)");
    CHECK(std::abs(m - m_ref) < (K == 5 ? 0.04 : 0.02));  // K = 5 amplifies eps errors: 1/sqrt(alpha_5) = 32
    CHECK(std::abs(std_hat - s_ref) < 0.15 * s_ref);
    if (K == 20) {
      CHECK(std::abs(m - mu) < 0.02);
      CHECK(std::abs(std_hat - sd) < 0.15 * sd);
    }
  }
}

TEST_CASE("autoregressive tokeniser: decode(encode(a)) is within half a bin; edges clamp") {
  UniformTokenizer tok{128, -1.0, 1.0};
  Generator gen(15);
  Tensor a = uniform(Shape{1000, 3}, -1, 1, gen, DType::Float64);
  Tensor back = tok.decode(tok.encode(a), DType::Float64);
  CHECK(max_abs_diff(a, back) <= tok.width() / 2 + 1e-12);
  auto e = tok.encode(Tensor::from_vector<double>({-1.0, 1.0, -3.0, 5.0, 0.0})).to_vector<std::int64_t>();
  CHECK(e == std::vector<std::int64_t>{0, 127, 0, 127, 64});
}

TEST_CASE("autoregressive KV-cache decoding equals full recomputation") {
  Generator gen(16);
  AutoregressiveConfig c = small_ar(3, 5, 16);
  c.prefix_tokens = 2;
  AutoregressivePolicy p(c, gen);
  p.eval();
  p.to(DType::Float64);
  Tensor obs = uniform(Shape{4, 3}, -1, 1, gen, DType::Float64);
  Tensor tokens = randint(Shape{4, 5}, 0, 16, gen);
  NoGrad ng;
  const double d = max_abs_diff(p.logits(obs, tokens), p.logits_incremental(obs, tokens));
  MESSAGE("AR logits, incremental (cache) vs full (float64): max |diff| = " << d);
  CHECK(d < 1e-12);
  // The sampler's own step logits (n samples per state from one cached prefix) are the full
  // model's logits of the tokens it drew.
  Tensor step_logits;
  Generator sg(17);
  Tensor drawn = p.sample_tokens(obs, 3, sg, false, &step_logits);
  CHECK(drawn.shape() == Shape{12, 5});
  Tensor rep = index_select(obs, 0, Tensor::from_vector<std::int64_t>({0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3}));
  const double d2 = max_abs_diff(step_logits, p.logits(rep, drawn));
  MESSAGE("AR sampler step logits vs full recomputation: max |diff| = " << d2);
  CHECK(d2 < 1e-12);
}

TEST_CASE("multimodality: Diffusion and Autoregressive cover 4 modes; Tanh-Gaussian puts mass between them") {
  const double radius = 0.25;  // modes are 1.0 apart (20 noise std), noise std 0.05: 'in a mode' = within 5 std
  auto stats = [&](Policy& p, double s, std::array<double, 4>& frac, double& between) {
    Generator g(100);
    Tensor a = p.sample(Tensor::full(Shape{1, 1}, s), 1000, g);
    auto v = a.to_vector<double>();
    auto c = mode_centres(s);
    frac = {0, 0, 0, 0};
    between = 0;
    for (int i = 0; i < 1000; ++i) {
      int hit = -1;
      for (int k = 0; k < 4; ++k)
        if (std::hypot(v[2 * i] - c[k].first, v[2 * i + 1] - c[k].second) < radius) hit = k;
      if (hit >= 0) frac[hit] += 1e-3;
      else between += 1e-3;
    }
  };
  Generator gen(18);
  // K = 20 here: with K = 5 even the exact denoiser puts ~33% of samples between these sharp
  // modes (1.0 apart, std 0.04) -- the few-step sampler, not the network, is the limit (docs/models.md).
  DiffusionConfig dc = small_diffusion(1, 2);
  dc.steps = 20;
  dc.hidden = 128;
  dc.posterior_variance = true;
  DiffusionPolicy dp_train(dc, gen), dp(dc, gen);  // dp: EMA of dp_train's weights (as IDQL)
  AutoregressivePolicy ap(small_ar(1, 2), gen);
  TanhGaussianPolicy tp(small_tg(1, 2), gen);
  struct Run {
    Policy* p;
    int steps;
    double lr;
  };
  for (Run r : {Run{&dp, 2500, 1e-3}, Run{&ap, 1200, 1e-3}, Run{&tp, 800, 1e-3}}) {
    auto t0 = std::chrono::steady_clock::now();
    double loss = r.p == &dp ? train_bc(dp_train, four_modes, r.steps, 256, r.lr, 1, &dp)
                             : train_bc(*r.p, four_modes, r.steps, 256, r.lr);
    const double secs = seconds_since(t0);
    for (double s : {-0.5, 0.5}) {
      std::array<double, 4> f;
      double between;
      stats(*r.p, s, f, between);
      MESSAGE(r.p->kind() << " s=" << s << ": modes " << f[0] << " " << f[1] << " " << f[2] << " " << f[3]
                          << ", between " << between << " (final loss " << loss << ", " << r.steps << " steps, " << secs << " s)");
      if (r.p == &tp) {
        CHECK(between > 0.3);
      } else {
        for (double x : f) CHECK(x >= 0.15);
        CHECK(between < 0.05);
      }
    }
  }
}

TEST_CASE("conditioning: each class learns a state-dependent target") {
  Generator gen(19);
  DiffusionPolicy dp(small_diffusion(1, 2), gen);
  AutoregressivePolicy ap(small_ar(1, 2), gen);
  TanhGaussianPolicy tp(small_tg(1, 2), gen);
  struct Run {
    Policy* p;
    int steps;
    double bound;
  };
  // Bounds: mean Euclidean error of one sample per state vs f(s) over 256 test states. The data
  // noise alone contributes ~0.025 (std 0.02 per dim); AR adds up to half a bin (1/64).
  for (Run r : {Run{&dp, 1500, 0.06}, Run{&ap, 1000, 0.06}, Run{&tp, 800, 0.06}}) {
    train_bc(*r.p, conditioned, r.steps, 256, 1e-3);
    Generator g(200);
    Tensor s = Tensor::from_vector<float>([] {
      std::vector<float> v(256);
      for (int i = 0; i < 256; ++i) v[i] = -0.95f + 1.9f * static_cast<float>(i) / 255.f;
      return v;
    }(), Shape{256, 1});
    auto a = r.p->sample(s, 1, g).to_vector<double>();
    auto sv = s.to_vector<double>();
    double err = 0;
    for (int i = 0; i < 256; ++i) {
      auto f = cond_target(sv[i]);
      err += std::hypot(a[2 * i] - f.first, a[2 * i + 1] - f.second) / 256;
    }
    MESSAGE(r.p->kind() << ": mean |a - f(s)| = " << err << " (bound " << r.bound << ")");
    CHECK(err < r.bound);
  }
}

TEST_CASE("checkpoint round trip of every policy gives identical outputs") {
  auto a = all_policies(3, 2, 21), b = all_policies(3, 2, 22);
  Generator gen(23);
  Tensor obs = uniform(Shape{4, 3}, -1, 1, gen);
  Tensor act = uniform(Shape{4, 2}, -0.9, 0.9, gen);
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO(a[i]->kind());
    const std::string path = (std::filesystem::temp_directory_path() / ("anyrl_policy_" + a[i]->kind() + ".safetensors")).string();
    a[i]->eval();
    b[i]->eval();
    a[i]->save(path, {{"kind", a[i]->kind()}});
    b[i]->load(path);
    Generator g1(5), g2(5), g3(6), g4(6);
    CHECK(a[i]->sample(obs, 8, g1).to_vector<float>() == b[i]->sample(obs, 8, g2).to_vector<float>());
    CHECK(a[i]->supervised_loss(obs, act, g3).item() == b[i]->supervised_loss(obs, act, g4).item());
    std::filesystem::remove(path);
  }
}

TEST_CASE("policies on pixels: a CNN encoder shared with the critic") {
  Generator gen(24);
  nn::CnnEncoderConfig ec;
  ec.channels = 3;
  ec.height = ec.width = 16;
  ec.filters = 8;
  ec.layers = 2;
  ec.feature_dim = 10;
  auto enc = std::make_shared<nn::CnnEncoder>(ec, gen);
  DiffusionPolicy dp(small_diffusion(0, 2), gen, enc);
  QEnsembleConfig qc;
  qc.act_dim = 2;
  qc.ensemble = 2;
  qc.hidden = {16, 16};
  qc.action_every_layer = true;
  QEnsemble q(qc, gen, enc);
  CHECK(dp.state_dict().at("encoder.convs.0.weight").shares_storage(q.state_dict().at("encoder.convs.0.weight")));
  Tensor img = uniform(Shape{3, 3, 16, 16}, 0, 255, gen);
  Tensor a = dp.sample(nn::random_shift(img, 4, gen), 4, gen);
  CHECK(a.shape() == Shape{3, 4, 2});
  CHECK(q.q(img, a).shape() == Shape{2, 3, 4});
  CHECK(dp.act(img.select0(0), gen).shape() == Shape{2});
  Tensor loss = dp.supervised_loss(img, a.select0(0).reshape(Shape{4, 2}).slice0(0, 3), gen);
  loss.backward();
  CHECK(enc->named_parameters()[0].second.grad().defined());
}
