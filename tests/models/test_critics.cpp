// Critics: HL-Gauss target histograms and expectation, Q-ensemble gradient checks (parameters
// and the action input, scalar and HL-Gauss heads), batched candidates, fitting a known
// Q(s, a) surface, value network, checkpoints.
#include <doctest/doctest.h>

#include <filesystem>

#include "common.hpp"
#include "nn/gradcheck.hpp"

using namespace mt;

namespace {
QEnsembleConfig small_q(QHead head, bool every_layer = false) {
  QEnsembleConfig c;
  c.obs_dim = 3;
  c.act_dim = 2;
  c.ensemble = 3;
  c.hidden = {16, 16};
  c.activation = nn::Activation::SiLU;  // smooth: finite differences need no kinks
  c.head = head;
  c.action_every_layer = every_layer;
  c.hl.bins = 24;
  c.hl.v_min = -10;
  c.hl.v_max = 10;
  return c;
}
}  // namespace

TEST_CASE("HL-Gauss target histogram: sums to 1, mean recovers y inside the support, clips at the edges") {
  HLGauss hl;  // PA-RL: 128 bins on [-100, 0], sigma = 0.75 bin width
  const double w = hl.bin_width();
  CHECK(w == doctest::Approx(100.0 / 128));
  CHECK(hl.sigma() == doctest::Approx(0.75 * w));
  std::vector<double> ys;
  for (double y = -130; y <= 30; y += 0.37) ys.push_back(y);
  Tensor y = Tensor::from_vector<double>(ys);
  Tensor p = hl.target_probs(y);
  CHECK(p.shape() == Shape{static_cast<std::int64_t>(ys.size()), 128});
  auto pv = p.to_vector<double>();
  auto c = hl.centers(DType::Float64).to_vector<double>();
  double worst_inside = 0;
  for (std::size_t i = 0; i < ys.size(); ++i) {
    double s = 0, m = 0;
    for (int j = 0; j < 128; ++j) {
      CHECK(pv[i * 128 + j] >= 0.0);
      s += pv[i * 128 + j];
      m += pv[i * 128 + j] * c[j];
    }
    CHECK(s == doctest::Approx(1.0).epsilon(1e-12));
    if (ys[i] > hl.v_min + 3 * hl.sigma() && ys[i] < hl.v_max - 3 * hl.sigma())
      worst_inside = std::max(worst_inside, std::abs(m - ys[i]));
    // Outside the support the target clips: the mean stays inside, at the nearest edge's side.
    if (ys[i] >= hl.v_max) CHECK(m <= hl.v_max);
    if (ys[i] >= hl.v_max) CHECK(m >= hl.v_max - w);
    if (ys[i] <= hl.v_min) CHECK(m >= hl.v_min);
    if (ys[i] <= hl.v_min) CHECK(m <= hl.v_min + w);
  }
  MESSAGE("HL-Gauss: worst |E[hist(y)] - y| inside the support = " << worst_inside << " (bin width " << w << ")");
  CHECK(worst_inside < w / 10);
  // Far outside: all mass in the end bin.
  auto far = hl.target_probs(Tensor::from_vector<double>({1e4, -1e4})).to_vector<double>();
  CHECK(far[127] == doctest::Approx(1.0));
  CHECK(far[128] == doctest::Approx(1.0));
  // Q = expectation over centres: logits = log p gives back the histogram mean.
  Tensor q = hl.expectation(log(add(hl.target_probs(Tensor::from_vector<double>({-42.0, -7.3})), 1e-300)));
  auto qv = q.to_vector<double>();
  CHECK(qv[0] == doctest::Approx(-42.0).epsilon(1e-3));
  CHECK(qv[1] == doctest::Approx(-7.3).epsilon(1e-3));
}

TEST_CASE("gradient check (float64): Q ensemble loss w.r.t. parameters, scalar and HL-Gauss, action at every layer") {
  for (auto [head, every] : {std::pair{QHead::Scalar, false}, std::pair{QHead::HLGauss, false}, std::pair{QHead::HLGauss, true}}) {
    INFO("head " << (head == QHead::Scalar ? "scalar" : "hl-gauss") << " every_layer " << every);
    Generator gen(31);
    QEnsemble q(small_q(head, every), gen);
    q.to(DType::Float64);
    Tensor obs = uniform(Shape{5, 3}, -1, 1, gen, DType::Float64);
    Tensor act = uniform(Shape{5, 2}, -1, 1, gen, DType::Float64);
    Tensor y = uniform(Shape{5}, -8, 8, gen, DType::Float64);
    Tensor ye = uniform(Shape{3, 5}, -8, 8, gen, DType::Float64);
    gradcheck::Options opt;
    opt.max_elems = 8;
    std::string e1 = gradcheck::check([&] { return q.loss(obs, act, y); }, gradcheck::params_of(q), opt);
    CHECK_MESSAGE(e1 == "", e1);
    std::string e2 = gradcheck::check([&] { return q.loss(obs, act, ye); }, gradcheck::params_of(q), opt);
    CHECK_MESSAGE(e2 == "", e2);
  }
}

TEST_CASE("Q ensemble input gradient dQ/da matches finite differences (PA-RL local optimisation)") {
  for (auto head : {QHead::Scalar, QHead::HLGauss}) {
    Generator gen(32);
    QEnsemble q(small_q(head, true), gen);
    q.to(DType::Float64);
    q.requires_grad_(false);  // frozen critic, gradient w.r.t. the action only
    Tensor obs = uniform(Shape{4, 3}, -1, 1, gen, DType::Float64);
    Tensor act = gradcheck::input64(Shape{4, 6, 2}, gen);  // 6 candidates per state
    std::string err = gradcheck::check([&] { return mean(q.q(obs, act), {0}); }, {{"act", act}});
    CHECK_MESSAGE(err == "", err);
    // anyrl::grad of the ensemble mean: one gradient per candidate, parameters untouched.
    Tensor g = anyrl::grad(sum(mean(q.q(obs, act), {0})), {act})[0];
    CHECK(g.shape() == act.shape());
    for (auto& p : q.parameters()) CHECK_FALSE(p.grad().defined());
  }
}

TEST_CASE("Q ensemble: [B, N, A] candidates equal the flattened batch; members differ; shapes") {
  Generator gen(33);
  QEnsemble q(small_q(QHead::HLGauss), gen);
  Tensor obs = uniform(Shape{4, 3}, -1, 1, gen), act = uniform(Shape{4, 5, 2}, -1, 1, gen);
  NoGrad ng;
  Tensor qb = q.q(obs, act);
  CHECK(qb.shape() == Shape{3, 4, 5});
  Tensor obs_rep = index_select(obs, 0, Tensor::from_vector<std::int64_t>({0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3}));
  Tensor qf = q.q(obs_rep, act.reshape(Shape{20, 2}));
  CHECK(qf.shape() == Shape{3, 20});
  CHECK(max_abs_diff(qb.reshape(Shape{3, 20}), qf) < 1e-5);
  CHECK(max_abs_diff(qb.select0(0), qb.select0(1)) > 1e-3);
  CHECK(q.head_output(obs, act.select0(0).slice0(0, 4).reshape(Shape{4, 2})).shape() == Shape{3, 4, 24});
  CHECK_THROWS_AS(q.q(obs, uniform(Shape{4, 3}, -1, 1, gen)), ShapeError);
}

TEST_CASE("critics fit a known Q(s, a) surface (scalar and HL-Gauss heads)") {
  // Q(s, a) = -50 + 20 s0 a0 - 15 a1^2 + 10 s1, inside PA-RL's support [-100, 0].
  auto truth = [](const std::vector<double>& s, const std::vector<double>& a, std::int64_t i) {
    return -50 + 20 * s[3 * i] * a[2 * i] - 15 * a[2 * i + 1] * a[2 * i + 1] + 10 * s[3 * i + 1];
  };
  for (auto head : {QHead::Scalar, QHead::HLGauss}) {
    QEnsembleConfig c;
    c.obs_dim = 3;
    c.act_dim = 2;
    c.ensemble = 2;
    c.hidden = {64, 64};
    c.head = head;
    Generator gen(34), dgen(35);
    QEnsemble q(c, gen);
    Adam opt(q.parameters(), AdamOptions{.lr = 3e-3});
    for (int step = 0; step < 800; ++step) {
      Tensor s = uniform(Shape{256, 3}, -1, 1, dgen), a = uniform(Shape{256, 2}, -1, 1, dgen);
      auto sv = s.to_vector<double>(), av = a.to_vector<double>();
      std::vector<float> y(256);
      for (int i = 0; i < 256; ++i) y[i] = static_cast<float>(truth(sv, av, i));
      opt.zero_grad();
      Tensor loss = q.loss(s, a, Tensor::from_vector<float>(y));
      loss.backward();
      opt.step();
    }
    Tensor s = uniform(Shape{1000, 3}, -1, 1, dgen), a = uniform(Shape{1000, 2}, -1, 1, dgen);
    NoGrad ng;
    auto qv = mean(q.q(s, a), {0}).to_vector<double>();
    auto sv = s.to_vector<double>(), av = a.to_vector<double>();
    double se = 0;
    for (int i = 0; i < 1000; ++i) se += std::pow(qv[i] - truth(sv, av, i), 2);
    const double rmse = std::sqrt(se / 1000);
    MESSAGE(std::string(head == QHead::Scalar ? "scalar" : "HL-Gauss") << " critic: RMSE vs true Q = " << rmse
                                                            << " (Q range ~[-85, -15], HL bin width 0.78)");
    CHECK(rmse < 1.5);
  }
}

TEST_CASE("value network: shape, gradient check, fits V(s)") {
  Generator gen(36);
  ValueNetConfig c;
  c.obs_dim = 3;
  c.hidden = {16, 16};
  c.activation = nn::Activation::SiLU;
  ValueNet v(c, gen);
  v.to(DType::Float64);
  Tensor obs = gradcheck::input64(Shape{5, 3}, gen);
  CHECK(v.v(obs).shape() == Shape{5});
  CHECK(gradcheck::check([&] { return v.v(obs); }, gradcheck::params_of(v, {{"obs", obs}})) == "");
}

TEST_CASE("checkpoint round trip of critics gives identical outputs") {
  for (auto head : {QHead::Scalar, QHead::HLGauss}) {
    Generator g1(40), g2(41);
    QEnsemble a(small_q(head), g1), b(small_q(head), g2);
    const std::string path = (std::filesystem::temp_directory_path() / "anyrl_q_roundtrip.safetensors").string();
    a.save(path);
    b.load(path);
    Tensor obs = uniform(Shape{4, 3}, -1, 1, g1), act = uniform(Shape{4, 2}, -1, 1, g1);
    NoGrad ng;
    CHECK(a.q(obs, act).to_vector<float>() == b.q(obs, act).to_vector<float>());
    std::filesystem::remove(path);
  }
  Generator g3(42);
  ValueNet v1(ValueNetConfig{3, {8}}, g3), v2(ValueNetConfig{3, {8}}, g3);
  const std::string path = (std::filesystem::temp_directory_path() / "anyrl_v_roundtrip.safetensors").string();
  v1.save(path);
  v2.load(path);
  Tensor obs = uniform(Shape{4, 3}, -1, 1, g3);
  NoGrad ng;
  CHECK(v1.v(obs).to_vector<float>() == v2.v(obs).to_vector<float>());
  std::filesystem::remove(path);
  // Loading a scalar-head checkpoint into an HL-Gauss critic names the mismatching tensor.
  Generator g4(43);
  QEnsemble s(small_q(QHead::Scalar), g4), h(small_q(QHead::HLGauss), g4);
  try {
    h.load_state_dict(s.state_dict());
    FAIL("expected an error");
  } catch (const ValueError& e) {
    CHECK(std::string(e.what()).find("layers.2.") != std::string::npos);
  }
}
