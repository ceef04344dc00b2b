// Every nn module's parameters (and inputs) pass a float64 finite-difference gradient check;
// layers match independent references (E separate Linears, a naive convolution loop,
// full-vs-incremental attention, causal masking).
#include <doctest/doctest.h>

#include <cmath>

#include "anyrl/nn/nn.hpp"
#include "nn/gradcheck.hpp"

using namespace anyrl;
using namespace anyrl::nn;
using gradcheck::input64;
using gradcheck::params_of;

namespace {
double max_abs_diff(const Tensor& a, const Tensor& b) {
  auto x = a.to_vector<double>(), y = b.to_vector<double>();
  REQUIRE(x.size() == y.size());
  double m = 0;
  for (std::size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}
}  // namespace

TEST_CASE("gradient check: Linear, EnsembleLinear (shared and per-member input), LayerNorm, Embedding") {
  Generator gen(11);
  {
    Linear l(5, 4, gen);
    l.to(DType::Float64);
    Tensor x = input64(Shape{3, 5}, gen);
    CHECK_MESSAGE(gradcheck::check([&] { return l.forward(x); }, params_of(l, {{"x", x}})) == "", "Linear");
  }
  {
    EnsembleLinear l(3, 5, 4, gen);
    l.to(DType::Float64);
    Tensor x = input64(Shape{6, 5}, gen), xe = input64(Shape{3, 6, 5}, gen);
    CHECK(gradcheck::check([&] { return l.forward(x); }, params_of(l, {{"x", x}})) == "");
    CHECK(gradcheck::check([&] { return l.forward(xe); }, params_of(l, {{"xe", xe}})) == "");
  }
  {
    LayerNorm ln(6);
    ln.to(DType::Float64);
    { NoGrad ng; ln.weight.copy_(uniform(Shape{6}, 0.5, 1.5, gen, DType::Float64)); }
    Tensor x = input64(Shape{4, 6}, gen);
    CHECK(gradcheck::check([&] { return ln.forward(x); }, params_of(ln, {{"x", x}})) == "");
  }
  {
    Embedding e(10, 4, gen);
    e.to(DType::Float64);
    Tensor ids = Tensor::from_vector<std::int64_t>({1, 3, 3, 9, 0}, Shape{5});
    CHECK(gradcheck::check([&] { return e.forward(ids); }, params_of(e)) == "");
  }
}

TEST_CASE("gradient check: MLP (LayerNorm, mish, dropout with a fixed mask) and LN-ResNet") {
  Generator gen(12);
  MLPConfig c{4, {8, 8}, 3, Activation::Mish, true, 0.2};
  MLP m(c, gen);
  m.to(DType::Float64);
  Tensor x = input64(Shape{5, 4}, gen);
  // Dropout active: re-creating the generator inside f gives the same mask on every call.
  CHECK(gradcheck::check([&] { Generator g(99); return m.forward(x, &g); }, params_of(m, {{"x", x}})) == "");
  LNResNetConfig rc{6, 2, 8, 2, 0.1, Activation::Mish, true};
  LNResNet r(rc, gen);
  r.to(DType::Float64);
  { NoGrad ng; for (auto& b : r.blocks) b->norm.weight.copy_(uniform(Shape{8}, 0.5, 1.5, gen, DType::Float64)); }
  Tensor y = input64(Shape{5, 6}, gen);
  CHECK(gradcheck::check([&] { Generator g(5); return r.forward(y, &g); }, params_of(r, {{"y", y}})) == "");
  CHECK(gradcheck::check([&] { return r.forward(y); }, params_of(r, {{"y", y}})) == "");
}

TEST_CASE("gradient check: sinusoidal and learned Fourier time embeddings") {
  Generator gen(13);
  SinusoidalEmbedding s(8);
  Tensor t = input64(Shape{4}, gen, 0, 5);
  CHECK(gradcheck::check([&] { return s.forward(t); }, {{"t", t}}) == "");
  FourierEmbedding f(8, gen);
  f.to(DType::Float64);
  Tensor t2 = input64(Shape{4, 1}, gen, 0, 5);
  CHECK(gradcheck::check([&] { return f.forward(t2); }, params_of(f, {{"t", t2}})) == "");
  NoGrad ng;
  Tensor e = s.forward(Tensor::from_vector<float>({0.f, 2.f}));
  CHECK(e.shape() == Shape{2, 8});
  auto v = e.to_vector<float>();
  CHECK(v[0] == 0.0f);              // sin(0)
  CHECK(v[4] == doctest::Approx(1.0));  // cos(0)
  CHECK(v[8] == doctest::Approx(std::sin(2.0)));  // sin(2 * f_0), f_0 = 1
}

TEST_CASE("gradient check: causal self-attention and pre-LN transformer block") {
  Generator gen(14);
  CausalSelfAttention a(8, 2, gen);
  a.to(DType::Float64);
  Tensor x = input64(Shape{2, 5, 8}, gen);
  CHECK(gradcheck::check([&] { return a.forward(x); }, params_of(a, {{"x", x}})) == "");
  TransformerBlock b(TransformerConfig{8, 2, 2, 0.1, Activation::GELU}, gen);
  b.to(DType::Float64);
  CHECK(gradcheck::check([&] { Generator g(3); return b.forward(x, nullptr, &g); }, params_of(b, {{"x", x}})) == "");
}

TEST_CASE("gradient check: Conv2d (stride, padding), CNN encoder, random shift") {
  Generator gen(15);
  Conv2d c(2, 3, 3, gen, 2, 1);
  c.to(DType::Float64);
  Tensor x = input64(Shape{2, 2, 7, 6}, gen);
  CHECK(gradcheck::check([&] { return c.forward(x); }, params_of(c, {{"x", x}})) == "");
  CnnEncoderConfig ec;
  ec.channels = 2;
  ec.height = ec.width = 12;
  ec.filters = 4;
  ec.layers = 2;
  ec.feature_dim = 5;
  ec.pixel_scale = 1.0;
  CnnEncoder enc(ec, gen);
  enc.to(DType::Float64);
  Tensor img = input64(Shape{2, 2, 12, 12}, gen, 0, 1);
  CHECK(gradcheck::check([&] { return enc.forward(img); }, params_of(enc, {{"img", img}})) == "");
  CHECK(gradcheck::check([&] { Generator g(8); return random_shift(img, 2, g); }, {{"img", img}}) == "");
}

TEST_CASE("EnsembleLinear equals E separate Linears with the same weights") {
  Generator gen(21);
  const std::int64_t E = 4, B = 9, I = 5, O = 3;
  EnsembleLinear el(E, I, O, gen);
  Tensor xe = uniform(Shape{E, B, I}, -1, 1, gen), xs = uniform(Shape{B, I}, -1, 1, gen);
  NoGrad ng;
  Tensor ye = el.forward(xe), ys = el.forward(xs);
  CHECK(ye.shape() == Shape{E, B, O});
  for (std::int64_t e = 0; e < E; ++e) {
    Linear l(I, O, gen);
    l.weight.copy_(transpose(el.weight.select0(e), 0, 1));
    l.bias.copy_(el.bias.select0(e).reshape(Shape{O}));
    CHECK(max_abs_diff(ye.select0(e), l.forward(xe.select0(e))) < 1e-6);
    CHECK(max_abs_diff(ys.select0(e), l.forward(xs)) < 1e-6);
  }
}

TEST_CASE("Conv2d matches a naive convolution loop") {
  Generator gen(22);
  for (auto [k, s, p] : {std::tuple{3, 1, 0}, std::tuple{3, 2, 1}, std::tuple{2, 2, 0}, std::tuple{1, 1, 0}}) {
    Conv2d c(3, 4, k, gen, s, p);
    const std::int64_t N = 2, C = 3, H = 9, W = 8;
    Tensor x = uniform(Shape{N, C, H, W}, -1, 1, gen);
    NoGrad ng;
    Tensor y = c.forward(x);
    const std::int64_t Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
    REQUIRE(y.shape() == Shape{N, 4, Ho, Wo});
    auto xv = x.to_vector<double>(), wv = c.weight.to_vector<double>(), bv = c.bias.to_vector<double>(),
         yv = y.to_vector<double>();
    double worst = 0;
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t o = 0; o < 4; ++o)
        for (std::int64_t i = 0; i < Ho; ++i)
          for (std::int64_t j = 0; j < Wo; ++j) {
            double acc = bv[o];
            for (std::int64_t ci = 0; ci < C; ++ci)
              for (std::int64_t ky = 0; ky < k; ++ky)
                for (std::int64_t kx = 0; kx < k; ++kx) {
                  const std::int64_t yy = i * s + ky - p, xx = j * s + kx - p;
                  if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                  acc += wv[((o * C + ci) * k + ky) * k + kx] * xv[((n * C + ci) * H + yy) * W + xx];
                }
            worst = std::max(worst, std::abs(acc - yv[((n * 4 + o) * Ho + i) * Wo + j]));
          }
    CHECK_MESSAGE(worst < 1e-5, "k=" << k << " s=" << s << " p=" << p);
  }
}

TEST_CASE("attention is causal, and KV-cached incremental decoding equals full recomputation") {
  Generator gen(23);
  TransformerConfig tc{16, 4, 4, 0.0, Activation::GELU};
  TransformerBlock b1(tc, gen), b2(tc, gen);
  b1.to(DType::Float64);
  b2.to(DType::Float64);
  const std::int64_t N = 3, T = 6;
  Tensor x = uniform(Shape{N, T, 16}, -1, 1, gen, DType::Float64);
  NoGrad ng;
  Tensor full = b2.forward(b1.forward(x));
  // Changing a later token leaves earlier outputs untouched.
  Tensor x2 = x.clone();
  { double* p = static_cast<double*>(x2.raw_data()); for (std::int64_t n = 0; n < N; ++n) p[(n * T + T - 1) * 16] += 1.0; }
  Tensor full2 = b2.forward(b1.forward(x2));
  CHECK(max_abs_diff(slice(full, 1, 0, T - 1), slice(full2, 1, 0, T - 1)) == 0.0);
  CHECK(max_abs_diff(slice(full, 1, T - 1, T), slice(full2, 1, T - 1, T)) > 1e-3);
  // Prefix of 2 tokens, then one token at a time through the cache.
  KVCache c1, c2;
  c1.layers.resize(1);
  c2.layers.resize(1);
  std::vector<Tensor> parts{b2.forward(b1.forward(slice(x, 1, 0, 2), &c1.layers[0]), &c2.layers[0])};
  for (std::int64_t t = 2; t < T; ++t)
    parts.push_back(b2.forward(b1.forward(slice(x, 1, t, t + 1), &c1.layers[0]), &c2.layers[0]));
  Tensor inc = concat(parts, 1);
  CHECK(c1.length() == T);
  const double d = max_abs_diff(inc, full);
  MESSAGE("incremental vs full attention (float64): max |diff| = " << d);
  CHECK(d < 1e-12);
}

TEST_CASE("KVCache::repeat_interleave serves n samples from one encoded prefix") {
  Generator gen(24);
  CausalSelfAttention a(8, 2, gen);
  Tensor x = uniform(Shape{2, 3, 8}, -1, 1, gen);
  Tensor nxt = uniform(Shape{2, 1, 8}, -1, 1, gen);
  NoGrad ng;
  KVCache c;
  c.layers.resize(1);
  a.forward(x, &c.layers[0]);
  c.repeat_interleave(3);
  CHECK(c.layers[0].k.size(0) == 6);
  Tensor rep = index_select(nxt, 0, Tensor::from_vector<std::int64_t>({0, 0, 0, 1, 1, 1}));
  Tensor y = a.forward(rep, &c.layers[0]);
  KVCache ref;
  ref.layers.resize(1);
  a.forward(x, &ref.layers[0]);
  Tensor yr = a.forward(nxt, &ref.layers[0]);
  CHECK(max_abs_diff(y.select0(4), yr.select0(1)) < 1e-6);
  CHECK(max_abs_diff(y.select0(0), yr.select0(0)) < 1e-6);
}

TEST_CASE("initialisers: orthogonal rows/columns, fans and bounds") {
  Generator gen(25);
  for (auto shape : {Shape{8, 5}, Shape{5, 8}, Shape{3, 6, 6}}) {
    Tensor w = Tensor::empty(shape);
    orthogonal_(w, gen, 2.0);
    const std::int64_t R = shape[shape.rank() - 2], C = shape[shape.rank() - 1];
    Tensor m = w.reshape(Shape{-1, R, C});
    Tensor g = R >= C ? matmul(transpose(m, 1, 2), m) : matmul(m, transpose(m, 1, 2));
    const std::int64_t k = std::min(R, C);
    auto v = g.to_vector<double>();
    double worst = 0;
    for (std::int64_t b = 0; b < m.size(0); ++b)
      for (std::int64_t i = 0; i < k; ++i)
        for (std::int64_t j = 0; j < k; ++j) worst = std::max(worst, std::abs(v[(b * k + i) * k + j] - (i == j ? 4.0 : 0.0)));
    CHECK_MESSAGE(worst < 1e-5, shape.str());
  }
  Tensor w = Tensor::empty(Shape{64, 100});
  kaiming_uniform_(w, gen);
  double mx = 0;
  for (double v : w.to_vector<double>()) mx = std::max(mx, std::abs(v));
  CHECK(mx <= std::sqrt(2.0) * std::sqrt(3.0 / 100.0));
  CHECK(mx > 0.9 * std::sqrt(2.0) * std::sqrt(3.0 / 100.0));
  Linear z(4, 3, gen, true, Init::Zeros);
  for (double v : z.weight.to_vector<double>()) CHECK(v == 0.0);
  CHECK(parse_init("orthogonal") == Init::Orthogonal);
  CHECK_THROWS_AS(parse_init("nope"), ValueError);
}

TEST_CASE("dropout: off in eval or without a generator; keeps E[x] in training") {
  Generator gen(26);
  Dropout d(0.25);
  Tensor x = Tensor::ones(Shape{20000});
  Tensor y = d.forward(x, &gen);
  auto v = y.to_vector<double>();
  double s = 0, zeros = 0;
  for (double e : v) {
    s += e;
    zeros += e == 0.0;
  }
  CHECK(zeros / v.size() == doctest::Approx(0.25).epsilon(0.05));
  CHECK(s / v.size() == doctest::Approx(1.0).epsilon(0.03));
  CHECK(d.forward(x, nullptr).shares_storage(x));
  d.eval();
  CHECK(d.forward(x, &gen).shares_storage(x));
}

TEST_CASE("random_shift moves each image by at most pad pixels with edge replication") {
  Generator gen(27);
  Tensor img = Tensor::from_vector<float>(std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, Shape{1, 1, 4, 4});
  bool moved = false;
  for (int trial = 0; trial < 10; ++trial) {
    Tensor o = random_shift(img, 1, gen);
    auto v = o.to_vector<float>();
    // Every output row is an input row (clamped), shifted consistently.
    const float dy = std::floor(v[5] / 4) - 1, dx = std::fmod(v[5], 4.f) - 1;
    CHECK(std::abs(dy) <= 1);
    CHECK(std::abs(dx) <= 1);
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) {
        const int y = std::clamp(i + static_cast<int>(dy), 0, 3), x = std::clamp(j + static_cast<int>(dx), 0, 3);
        CHECK(v[i * 4 + j] == static_cast<float>(y * 4 + x));
      }
    moved = moved || dy != 0 || dx != 0;
  }
  CHECK(moved);
  CHECK(random_shift(img, 0, gen).shares_storage(img));
}

TEST_CASE("LNResNet::forward_hidden after a split first layer equals forward") {
  Generator gen(28);
  LNResNet r(LNResNetConfig{7, 2, 16, 2, 0.1, Activation::Mish, true}, gen);
  r.eval();
  Tensor x = uniform(Shape{5, 7}, -1, 1, gen);
  NoGrad ng;
  Tensor a = slice(x, 1, 0, 3), b = slice(x, 1, 3, 7);
  Tensor h = add(linear(a, slice(r.input.weight, 1, 0, 3)), linear(b, slice(r.input.weight, 1, 3, 7), r.input.bias));
  CHECK(max_abs_diff(r.forward_hidden(h), r.forward(x)) < 1e-5);
}

TEST_CASE("the module gradient check catches a wrong backward rule") {
  Generator gen(29);
  Tensor x = input64(Shape{4}, gen);
  auto bad = [&] {
    Tensor out = mul(x.detach(), 2.0);
    return record(out, "bad_double", {x}, [](const Tensor& g, const std::vector<bool>&, std::vector<Tensor>& gi) {
      gi[0] = mul(g, 3.0);  // should be 2
    });
  };
  CHECK(gradcheck::check(bad, {{"x", x}}) != "");
  CHECK(gradcheck::check([&] { return mul(x, 2.0); }, {{"x", x}}) == "");
}
