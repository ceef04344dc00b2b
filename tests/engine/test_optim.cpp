// Optimisers and training utilities against straightforward scalar references of the
// published formulas, checkpoint continuation, determinism and the zero-allocation promise.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <numbers>

#include "anyrl/engine/engine.hpp"

using namespace anyrl;

namespace {

struct ThreadGuard {
  int prev = num_threads();
  ~ThreadGuard() { set_num_threads(prev); }
};

template <class T>
Tensor make_param(std::int64_t n, double scale, double shift) {
  std::vector<T> v(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<T>(std::sin(0.7 * static_cast<double>(i) + shift) * scale);
  Tensor p = Tensor::from_vector(v, Shape{n});
  p.set_requires_grad(true);
  return p;
}

// A gradient that depends on the parameter (as a real loss would) and on the step, so
// errors in the state would compound: g = 2 (p - 0.3) + 0.1 cos(t + i).
double grad_rule(double p, int t, std::size_t i) { return 2.0 * (p - 0.3) + 0.1 * std::cos(t + static_cast<double>(i)); }

// Writes grad_rule into p's gradient in place (creating the buffer the first time).
template <class T>
void set_grad_from_rule(Tensor& p, int t) {
  if (!p.grad().defined()) p.set_grad(Tensor::zeros(p.shape(), p.dtype()));
  T* g = p.grad().template data<T>();
  const T* x = p.template data<T>();
  for (std::int64_t i = 0; i < p.numel(); ++i) g[i] = static_cast<T>(grad_rule(static_cast<double>(x[i]), t, static_cast<std::size_t>(i)));
}

// Scalar reference Adam / AdamW (Kingma & Ba; Loshchilov & Hutter), in double.
struct RefAdam {
  double lr, b1, b2, eps, wd;
  bool decoupled;
  std::vector<double> m, v;
  int t = 0;
  void step(std::vector<double>& p, const std::vector<double>& g) {
    if (m.empty()) m.assign(p.size(), 0.0), v.assign(p.size(), 0.0);
    ++t;
    for (std::size_t i = 0; i < p.size(); ++i) {
      double gi = g[i];
      if (decoupled) p[i] -= lr * wd * p[i];
      else gi += wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      const double mhat = m[i] / (1 - std::pow(b1, t));
      const double vhat = v[i] / (1 - std::pow(b2, t));
      p[i] -= lr * mhat / (std::sqrt(vhat) + eps);
    }
  }
};

// Scalar reference SGD with momentum / Nesterov / L2 (PyTorch's convention: the buffer
// starts as the first gradient, no dampening).
struct RefSGD {
  double lr, mom, wd;
  bool nesterov;
  std::vector<double> buf;
  void step(std::vector<double>& p, const std::vector<double>& g) {
    const bool first = buf.empty();
    if (first) buf.assign(p.size(), 0.0);
    for (std::size_t i = 0; i < p.size(); ++i) {
      double d = g[i] + wd * p[i];
      if (mom > 0) {
        buf[i] = first ? d : mom * buf[i] + d;
        d = nesterov ? d + mom * buf[i] : buf[i];
      }
      p[i] -= lr * d;
    }
  }
};

template <class T>
bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.data<T>(), b.data<T>(), a.nbytes()) == 0;
}

template <class Opt, class Ref>
void check_against_reference(DType dtype, Opt&& make_opt, Ref ref, double tol, int steps) {
  const std::int64_t n = 37;
  Tensor p = dtype == DType::Float64 ? make_param<double>(n, 1.0, 0.2) : make_param<float>(n, 1.0, 0.2);
  Tensor frozen = make_param<float>(5, 1.0, 0.0);  // never gets a gradient: untouched
  const std::vector<float> frozen0 = frozen.to_vector<float>();
  auto opt = make_opt(std::vector<Tensor>{p, frozen});
  std::vector<double> rp = p.to_vector<double>();
  for (int t = 0; t < steps; ++t) {
    if (dtype == DType::Float64) set_grad_from_rule<double>(p, t);
    else set_grad_from_rule<float>(p, t);
    // The reference sees the same gradient values (rounded to the parameter's dtype).
    const std::vector<double> g = p.grad().to_vector<double>();
    opt.step();
    ref.step(rp, g);
    const std::vector<double> got = p.to_vector<double>();
    for (std::size_t i = 0; i < rp.size(); ++i) {
      CAPTURE(t);
      CAPTURE(i);
      REQUIRE(got[i] == doctest::Approx(rp[i]).epsilon(tol).scale(1.0));
    }
  }
  CHECK(opt.steps() == steps);
  CHECK(frozen.to_vector<float>() == frozen0);
}

}  // namespace

TEST_CASE("Adam matches the published update (bias-corrected), float64 and float32") {
  for (DType dt : {DType::Float64, DType::Float32}) {
    CAPTURE(dtype_name(dt));
    const double tol = dt == DType::Float64 ? 1e-12 : 2e-5;
    for (double wd : {0.0, 0.05}) {
      CAPTURE(wd);
      AdamOptions o;
      o.lr = 0.01;
      o.beta1 = 0.9;
      o.beta2 = 0.99;
      o.eps = 1e-8;
      o.weight_decay = wd;
      check_against_reference(dt, [&](std::vector<Tensor> ps) { return Adam(ps, o); },
                              RefAdam{o.lr, o.beta1, o.beta2, o.eps, wd, false, {}, {}}, tol, 25);
    }
  }
  // A beta1 below 0.5 takes torch.lerp's other branch.
  AdamOptions o;
  o.lr = 0.05;
  o.beta1 = 0.3;
  check_against_reference(DType::Float64, [&](std::vector<Tensor> ps) { return Adam(ps, o); },
                          RefAdam{o.lr, o.beta1, o.beta2, o.eps, 0.0, false, {}, {}}, 1e-12, 10);
}

TEST_CASE("AdamW decays the parameter before the Adam update") {
  for (DType dt : {DType::Float64, DType::Float32}) {
    CAPTURE(dtype_name(dt));
    AdamOptions o;
    o.lr = 0.02;
    o.weight_decay = 0.1;
    check_against_reference(dt, [&](std::vector<Tensor> ps) { return AdamW(ps, o); },
                            RefAdam{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, true, {}, {}},
                            dt == DType::Float64 ? 1e-12 : 2e-5, 25);
  }
  // One step by hand: p = 1, g = 0.5 -> m_hat = g, v_hat = g^2, p' = (1 - lr wd) - lr g / (|g| + eps).
  Tensor p = Tensor::from_vector(std::vector<double>{1.0});
  p.set_requires_grad(true);
  p.set_grad(Tensor::from_vector(std::vector<double>{0.5}));
  AdamOptions o;
  o.lr = 0.1;
  o.weight_decay = 0.01;
  AdamW opt({p}, o);
  opt.step();
  CHECK(p.item() == doctest::Approx(1.0 * (1 - 0.1 * 0.01) - 0.1 * 0.5 / (0.5 + 1e-8)).epsilon(1e-14));
}

TEST_CASE("SGD: plain, momentum, Nesterov, weight decay") {
  struct Case {
    double mom, wd;
    bool nesterov;
  };
  for (const Case c : {Case{0.0, 0.0, false}, Case{0.9, 0.0, false}, Case{0.9, 0.01, true}, Case{0.5, 0.1, false}}) {
    CAPTURE(c.mom);
    CAPTURE(c.nesterov);
    for (DType dt : {DType::Float64, DType::Float32}) {
      SGDOptions o;
      o.lr = 0.05;
      o.momentum = c.mom;
      o.weight_decay = c.wd;
      o.nesterov = c.nesterov;
      check_against_reference(dt, [&](std::vector<Tensor> ps) { return SGD(ps, o); }, RefSGD{o.lr, c.mom, c.wd, c.nesterov, {}},
                              dt == DType::Float64 ? 1e-12 : 2e-5, 20);
    }
  }
  CHECK_THROWS_WITH_AS(SGD({make_param<float>(3, 1, 0)}, SGDOptions{0.1, 0.0, 0.0, true}), doctest::Contains("nesterov"), ValueError);
}

TEST_CASE("clip_grad_norm: global L2 norm, PyTorch's scale, returns the norm before clipping") {
  Tensor a = make_param<float>(3, 1, 0);
  Tensor b = make_param<double>(2, 1, 0);
  Tensor none = make_param<float>(4, 1, 0);  // no grad: ignored
  a.set_grad(Tensor::from_vector(std::vector<float>{3, 0, 4}));
  b.set_grad(Tensor::from_vector(std::vector<double>{0, 12}));
  const double norm = clip_grad_norm({a, b, none}, 6.5);
  CHECK(norm == 13.0);
  const double coef = 6.5 / (13.0 + 1e-6);
  CHECK(a.grad().to_vector<float>() == std::vector<float>{3 * static_cast<float>(coef), 0.0f, 4 * static_cast<float>(coef)});
  CHECK(b.grad().to_vector<double>()[1] == 12 * coef);
  CHECK(!none.grad().defined());
  // Below the limit nothing changes (bitwise).
  const std::vector<double> before = b.grad().to_vector<double>();
  const double n2 = clip_grad_norm({b}, 100.0);
  CHECK(n2 == doctest::Approx(12 * coef));
  CHECK(b.grad().to_vector<double>() == before);
  CHECK_THROWS_AS(clip_grad_norm({a}, -1.0), ValueError);

  // A large gradient: the chunked sum is bitwise the same with 1 and 2 threads.
  ThreadGuard guard;
  const std::int64_t n = (1 << 20) + 17;
  auto run = [&](int threads) {
    set_num_threads(threads);
    Tensor p = make_param<float>(n, 1, 0);
    p.set_grad(p.detach().clone());
    const double nrm = clip_grad_norm({p}, 1.0);
    return std::make_pair(nrm, p.grad());
  };
  const auto [n1, g1] = run(1);
  const auto [n2b, g2] = run(2);
  CHECK(n1 == n2b);
  CHECK(bitwise_equal<float>(g1, g2));
  double ref = 0;
  const float* x = make_param<float>(n, 1, 0).data<float>();
  for (std::int64_t i = 0; i < n; ++i) ref += static_cast<double>(x[i]) * x[i];
  CHECK(n1 == doctest::Approx(std::sqrt(ref)).epsilon(1e-12));
}

TEST_CASE("polyak_update moves targets toward sources") {
  Tensor t = Tensor::from_vector(std::vector<float>{1, 2, 3});
  Tensor s = Tensor::from_vector(std::vector<float>{11, 12, 13});
  Tensor t64 = Tensor::from_vector(std::vector<double>{0, 10});
  Tensor s64 = Tensor::from_vector(std::vector<double>{1, 20});
  t.set_requires_grad(true);  // target parameters may require grad; the update is not recorded
  polyak_update({t, t64}, {s, s64}, 0.1);
  CHECK(t.to_vector<float>() == std::vector<float>{0.9f * 1 + 0.1f * 11, 0.9f * 2 + 0.1f * 12, 0.9f * 3 + 0.1f * 13});
  CHECK(t64.to_vector<double>() == std::vector<double>{0.1, 0.9 * 10 + 0.1 * 20});
  CHECK(!t.grad_fn());
  polyak_update({t}, {s}, 1.0);
  CHECK(t.to_vector<float>() == s.to_vector<float>());
  CHECK_THROWS_WITH_AS(polyak_update({t, t64}, {s}, 0.5), doctest::Contains("2 target tensors but 1"), ValueError);
  CHECK_THROWS_WITH_AS(polyak_update({t}, {s64}, 0.5), doctest::Contains("pair 0"), ValueError);
  CHECK_THROWS_AS(polyak_update({t}, {s}, 1.5), ValueError);
}

TEST_CASE("learning-rate schedules at known points") {
  const WarmupCosineLR s(1.0, 10, 110, 0.1);
  CHECK(s.at(0) == 0.0);
  CHECK(s.at(5) == doctest::Approx(0.5));
  CHECK(s.at(10) == doctest::Approx(1.0));
  CHECK(s.at(60) == doctest::Approx(0.55));                                                   // half-way: midpoint
  CHECK(s.at(35) == doctest::Approx(0.1 + 0.9 * 0.5 * (1 + std::cos(std::numbers::pi / 4))));  // a quarter
  CHECK(s.at(110) == doctest::Approx(0.1));
  CHECK(s.at(5000) == doctest::Approx(0.1));
  const WarmupCosineLR no_cos(0.5, 4, 4);
  CHECK(no_cos.at(2) == doctest::Approx(0.25));
  CHECK(no_cos.at(4) == 0.5);
  CHECK(no_cos.at(100) == 0.5);
  const WarmupCosineLR no_warm(2.0, 0, 100);
  CHECK(no_warm.at(0) == 2.0);
  CHECK(no_warm.at(50) == doctest::Approx(1.0));
  CHECK(ConstantLR(3e-4).at(12345) == 3e-4);
}

TEST_CASE("state_dict -> load_state_dict continues bitwise identically (through a file)") {
  namespace fs = std::filesystem;
  const std::string path = (fs::temp_directory_path() / ("anyrl_optim_" + std::to_string(::getpid()) + ".safetensors")).string();
  auto run = [&](auto make) {
    std::vector<Tensor> ps{make_param<float>(50, 1, 0), make_param<double>(7, 2, 1)};
    auto opt = make(ps);
    auto step = [&](int t) {
      set_grad_from_rule<float>(ps[0], t);
      set_grad_from_rule<double>(ps[1], t);
      opt.step();
    };
    for (int t = 0; t < 10; ++t) step(t);
    // Checkpoint: parameters and optimiser state.
    TensorMap ckpt = opt.state_dict();
    CHECK(ckpt.at("step").dtype() == DType::Int64);
    CHECK(ckpt.at("step").item() == 10);
    ckpt["param.0"] = ps[0];
    ckpt["param.1"] = ps[1];
    save_safetensors(path, ckpt);
    for (int t = 10; t < 20; ++t) step(t);  // the uninterrupted run

    TensorMap loaded = load_safetensors(path);
    std::vector<Tensor> qs{make_param<float>(50, 0, 0), make_param<double>(7, 0, 0)};
    load_into({{"0", loaded.at("param.0")}, {"1", loaded.at("param.1")}}, {{"0", qs[0]}, {"1", qs[1]}}, "params");
    loaded.erase("param.0");
    loaded.erase("param.1");
    auto resumed = make(qs);
    resumed.load_state_dict(loaded);
    CHECK(resumed.steps() == 10);
    for (int t = 10; t < 20; ++t) {
      set_grad_from_rule<float>(qs[0], t);
      set_grad_from_rule<double>(qs[1], t);
      resumed.step();
    }
    CHECK(bitwise_equal<float>(ps[0], qs[0]));
    CHECK(bitwise_equal<double>(ps[1], qs[1]));
    const TensorMap sa = opt.state_dict(), sb = resumed.state_dict();
    REQUIRE(sa.size() == sb.size());
    for (const auto& [k, v] : sa) {
      CAPTURE(k);
      CHECK(std::memcmp(v.raw_data(), sb.at(k).raw_data(), v.nbytes()) == 0);
    }
    return sa;
  };
  AdamOptions ao;
  ao.lr = 0.01;
  ao.weight_decay = 0.01;
  const TensorMap adam = run([&](std::vector<Tensor> ps) { return Adam(ps, ao); });
  CHECK(adam.count("0.exp_avg") == 1);
  CHECK(adam.count("1.exp_avg_sq") == 1);
  CHECK(adam.size() == 5);
  run([&](std::vector<Tensor> ps) { return AdamW(ps, ao); });
  SGDOptions so;
  so.lr = 0.01;
  so.momentum = 0.9;
  so.nesterov = true;
  const TensorMap sgd = run([&](std::vector<Tensor> ps) { return SGD(ps, so); });
  CHECK(sgd.count("0.momentum_buffer") == 1);
  CHECK(sgd.size() == 3);
  std::filesystem::remove(path);
}

TEST_CASE("load_state_dict names the missing or mismatched entry") {
  std::vector<Tensor> ps{make_param<float>(4, 1, 0), make_param<float>(3, 1, 0)};
  Adam opt(ps, AdamOptions{});
  for (auto& p : ps) p.set_grad(Tensor::ones(p.shape()));
  opt.step();
  const TensorMap good = opt.state_dict();
  Adam fresh(ps, AdamOptions{});
  fresh.load_state_dict(good);  // sanity

  auto err = [&](TensorMap m) -> std::string {
    try {
      Adam o(ps, AdamOptions{});
      o.load_state_dict(m);
    } catch (const ValueError& e) {
      return e.what();
    }
    return "";
  };
  TensorMap m = good;
  m.erase("step");
  CHECK(err(m).find("missing entry 'step'") != std::string::npos);
  m = good;
  m.erase("1.exp_avg_sq");
  CHECK(err(m).find("missing entry '1.exp_avg_sq'") != std::string::npos);
  m = good;
  m["0.exp_avg"] = Tensor::zeros(Shape{5});
  CHECK(err(m).find("entry '0.exp_avg' is Tensor") != std::string::npos);
  CHECK(err(m).find("[5]") != std::string::npos);
  m = good;
  m["1.exp_avg"] = Tensor::zeros(Shape{3}, DType::Float64);
  CHECK(err(m).find("'1.exp_avg'") != std::string::npos);
  CHECK(err(m).find("float64") != std::string::npos);
  m = good;
  m["2.exp_avg"] = Tensor::zeros(Shape{3});
  CHECK(err(m).find("unexpected entry '2.exp_avg'") != std::string::npos);
  m = good;
  m["00.exp_avg"] = Tensor::zeros(Shape{4});
  CHECK(err(m).find("unexpected entry '00.exp_avg'") != std::string::npos);
  m = good;
  m["0.momentum_buffer"] = Tensor::zeros(Shape{4});
  CHECK(err(m).find("unexpected entry '0.momentum_buffer'") != std::string::npos);
  m = good;
  m["step"] = Tensor::scalar(1.5);
  CHECK(err(m).find("'step'") != std::string::npos);
  m = {{"step", Tensor::scalar(3, DType::Int64)}};
  CHECK(err(m).find("missing entry '0.exp_avg'") != std::string::npos);
  // A fresh optimiser's dict (step 0, no state) loads into anything.
  Adam o2(ps, AdamOptions{});
  o2.load_state_dict(Adam(ps, AdamOptions{}).state_dict());
  CHECK(o2.steps() == 0);
}

TEST_CASE("reset_state and zero_grad") {
  Tensor p = make_param<float>(6, 1, 0);
  Tensor q = p.detach().clone();
  q.set_requires_grad(true);
  Adam a({p}, AdamOptions{});
  for (int t = 0; t < 3; ++t) {
    set_grad_from_rule<float>(p, t);
    a.step();
  }
  a.reset_state();
  CHECK(a.steps() == 0);
  // After a reset the optimiser behaves like a fresh one from the current parameters.
  {
    NoGrad no_grad;
    q.copy_(p.detach());
  }
  Adam b({q}, AdamOptions{});
  for (int t = 0; t < 3; ++t) {
    set_grad_from_rule<float>(p, t);
    set_grad_from_rule<float>(q, t);
    a.step();
    b.step();
  }
  CHECK(bitwise_equal<float>(p, q));
  a.zero_grad(/*set_to_none=*/false);
  CHECK(p.grad().to_vector<float>() == std::vector<float>(6, 0.0f));
  a.zero_grad();
  CHECK_FALSE(p.grad().defined());
}

TEST_CASE("optimiser steps allocate nothing after the first and are thread-count independent") {
  ThreadGuard guard;
  auto train = [&](int threads) {
    set_num_threads(threads);
    // A big parameter (split across threads), a small one and a float64 one.
    std::vector<Tensor> ps{make_param<float>((1 << 18) + 5, 1, 0), make_param<float>(10, 1, 1), make_param<double>(100, 1, 2)};
    AdamW adam(ps, AdamOptions{1e-3, 0.9, 0.999, 1e-8, 1e-2});
    SGD sgd(ps, SGDOptions{1e-3, 0.9, 1e-4, true});
    auto set_grads = [&](int t) {
      set_grad_from_rule<float>(ps[0], t);
      set_grad_from_rule<float>(ps[1], t);
      set_grad_from_rule<double>(ps[2], t);
    };
    set_grads(0);
    adam.step();  // creates the state
    sgd.step();
    (void)clip_grad_norm(ps, 1.0);
    const AllocatorStats before = allocator_stats();
    for (int t = 1; t < 8; ++t) {
      set_grads(t);
      (void)clip_grad_norm(ps, 1.0);
      adam.step();
      sgd.step();
      polyak_update({ps[1]}, {ps[1]}, 0.5);
      adam.zero_grad(/*set_to_none=*/false);
    }
    const AllocatorStats after = allocator_stats();
    CHECK(after.os_allocs == before.os_allocs);
    CHECK(after.requests == before.requests);  // not even a cached tensor allocation
    return ps;
  };
  const auto one = train(1);
  const auto two = train(2);
  CHECK(bitwise_equal<float>(one[0], two[0]));
  CHECK(bitwise_equal<float>(one[1], two[1]));
  CHECK(bitwise_equal<double>(one[2], two[2]));
}

TEST_CASE("optimisers reject bad parameters, options and gradients") {
  CHECK_THROWS_AS(Adam({make_param<float>(2, 1, 0)}, AdamOptions{-1.0}), ValueError);
  CHECK_THROWS_WITH_AS(Adam({make_param<float>(2, 1, 0)}, AdamOptions{1e-3, 1.0}), doctest::Contains("beta1"), ValueError);
  CHECK_THROWS_WITH_AS(SGD({make_param<float>(2, 1, 0), Tensor::zeros(Shape{2}, DType::Int64)}, SGDOptions{}),
                       doctest::Contains("parameter 1"), DTypeError);
  Tensor p = make_param<float>(4, 1, 0);
  bool accepted = true;  // Tensor::set_grad may already refuse a mismatched gradient
  try {
    p.set_grad(Tensor::zeros(Shape{4}, DType::Float64));
  } catch (const Error&) {
    accepted = false;
  }
  if (accepted) {
    Adam opt({make_param<float>(3, 1, 0), p}, AdamOptions{});
    CHECK_THROWS_WITH_AS(opt.step(), doctest::Contains("gradient of parameter 1"), ValueError);
  }
}
