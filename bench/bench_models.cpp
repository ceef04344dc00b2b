// The models layer side by side with libtorch (CPU), in the same binary, with the same thread
// count (issue 3, "Benchmarks"). The anyrl side runs the real anyrl::models classes with their
// paper-default configs; the libtorch side is the same network written with torch:: ops, with
// the SAME weights (copied from the anyrl model at start-up, so the equivalence is checked
// numerically before anything is timed), the same layer sizes, denoising steps and tokens.
//
// Shapes: obs dim F = 29, action dim A = 8.
//   sample/diffusion        DiffusionPolicy::sample(obs[256, 29], 32): K = 5 DDPM steps over
//                           N = 256 x 32 = 8192 rows; LN-ResNet H = 256, 3 blocks (H -> 4H -> H),
//                           Mish, Fourier time embedding 64 -> MLP 128 -> 128. Both sides split
//                           the first Dense over [a_t | time | state] (the state's share once per
//                           state, the time's once per step), as the anyrl class does.
//   sample/autoregressive   AutoregressivePolicy::sample(obs[256, 29], 32): 1 state prefix token,
//                           4 pre-LN blocks, D = 256, 8 heads, MLP 4D (GELU), 128 bins; prefix
//                           encoded once per state, KV cache repeated x32, then A - 1 = 7
//                           incremental steps over N = 8192 rows (KV cache on both sides),
//                           softmax + multinomial per dimension.
//   critic/q_dqda           QEnsemble (E = 10, hidden 3 x 512, LayerNorm, ReLU, scalar head)
//                           q(obs[256, 29], act[256, 10, 8]) -> [10, 256, 10] and dQ/da of sum(Q)
//                           (anyrl::grad / torch::autograd::grad w.r.t. the actions). The critic's
//                           parameters are frozen (requires_grad off), as in PA-RL's action
//                           optimisation (rl/src/pa_rl.cpp).
//   loss/diffusion          supervised_loss + backward, batch 1024 (dropout 0.1 active: train mode)
//   loss/autoregressive     supervised_loss + backward, batch 256 (teacher-forced CE over 8 tokens)
//   loss/tanh_gaussian      supervised_loss + backward, batch 256 (MLP 29 -> 256 -> 256 -> 16, NLL)
//
// Useful FLOPs = the GEMM FLOPs of each row, counted analytically (see *_flops() below; one
// multiply-add = 2 FLOPs; forward+backward of a loss = 3x the forward GEMM FLOPs, i.e. 6 x MACs).
// Reported as GFLOP/s and % of the OpenBLAS sgemm ceiling measured in the same run.
//
//   bench_models [--threads=N] [--no_check] [google-benchmark flags]
// --no_check skips the start-up check that the torch networks reproduce the anyrl outputs.
// Defaults: --threads=2 (or $ANYRL_BENCH_THREADS), --benchmark_repetitions=5,
// --benchmark_report_aggregates_only=true, --benchmark_enable_random_interleaving=true.
// libtorch is measured in two configurations (as in bench_step): N OpenMP + N OpenBLAS threads
// ("libtorch") and 1 OpenMP + N OpenBLAS threads ("libtorch_omp1"); ratios are taken against
// the faster of the two.
#include <benchmark/benchmark.h>
#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <numbers>
#include <set>
#include <string>
#include <vector>

#include "anyrl/models/models.hpp"
#include "bench_common.hpp"

#ifdef ANYRL_BENCH_HAVE_TORCH
#include <ATen/Parallel.h>
#include <torch/torch.h>
#include <torch/version.h>
#endif

namespace {

namespace ab = anyrl_bench;
namespace am = anyrl::models;
using anyrl::Shape;
using anyrl::Tensor;

constexpr std::int64_t kObs = 29, kAct = 8;
constexpr std::int64_t kStates = 256, kSamples = 32, kCand = 10;
constexpr std::int64_t kDiffLossBatch = 1024, kArLossBatch = 256, kTgLossBatch = 256;

am::DiffusionConfig diffusion_config() {
  am::DiffusionConfig c;  // paper defaults: K 5, cosine, H 256, 3 blocks, Mish, Fourier 64, time MLP 128-128, dropout 0.1
  c.obs_dim = kObs;
  c.act_dim = kAct;
  return c;
}
am::AutoregressiveConfig ar_config() {
  am::AutoregressiveConfig c;  // paper defaults: 128 bins, 1 prefix token, D 256, 4 layers, 8 heads, MLP 4D
  c.obs_dim = kObs;
  c.act_dim = kAct;
  return c;
}
am::QEnsembleConfig q_config() {
  am::QEnsembleConfig c;  // paper defaults: E 10, hidden 512 x 3, LayerNorm, ReLU, scalar head
  c.obs_dim = kObs;
  c.act_dim = kAct;
  return c;
}
am::TanhGaussianConfig tg_config() {
  am::TanhGaussianConfig c;  // paper defaults: hidden 256 x 2, ReLU, no LayerNorm
  c.obs_dim = kObs;
  c.act_dim = kAct;
  return c;
}

// ---- useful GEMM FLOPs -------------------------------------------------------------------------

// Diffusion sampling, B states x n samples, N = B n rows, K steps, LN-ResNet width H with nb
// blocks (H -> 4H -> H each: 8 H^2 MACs per row), time MLP Td -> Th1 -> Th (on ONE row per step):
//   2 * [ B F H                                    (state share of the first Dense, once)
//       + K ( N (A H + nb 8 H^2 + H A)              (action share of the first Dense, blocks, output)
//           + Td Th1 + Th1 Th + Th H ) ]            (time MLP + time share of the first Dense)
double diffusion_sample_flops() {
  const auto c = diffusion_config();
  const double B = kStates, N = double(kStates) * kSamples, F = kObs, A = kAct, H = double(c.hidden);
  const double K = c.steps, nb = c.blocks, Td = double(c.time_dim), Th1 = double(c.time_hidden[0]),
               Th = double(c.time_hidden.back());
  return 2.0 * (B * F * H + K * (N * (A * H + nb * 8 * H * H + H * A) + Td * Th1 + Th1 * Th + Th * H));
}

// Diffusion loss at batch B: 6 * B * [ (A + Th + F) H + nb 8 H^2 + H A + Td Th1 + Th1 Th ].
double diffusion_loss_flops() {
  const auto c = diffusion_config();
  const double B = kDiffLossBatch, F = kObs, A = kAct, H = double(c.hidden), nb = c.blocks;
  const double Td = double(c.time_dim), Th1 = double(c.time_hidden[0]), Th = double(c.time_hidden.back());
  return 6.0 * B * ((A + Th + F) * H + nb * 8 * H * H + H * A + Td * Th1 + Th1 * Th);
}

// Transformer layer GEMM MACs per token: qkv 3D^2 + proj D^2 + fc1 r D^2 + fc2 r D^2 = (4 + 2r) D^2
// (= 12 D^2 at r = 4); attention scores + weights x V cost 2 S D MACs per query over S keys.
// Autoregressive sampling (P prefix tokens, L layers, V bins, N = B n):
//   2 * [ B (F P D + L (P 12D^2 + 2 P^2 D) + D V)                       (prefix, once per state)
//       + sum_{i=0}^{A-2} N (L (12 D^2 + 2 S_i D) + D V) ]   S_i = P + i + 1 (cached + new key)
double ar_sample_flops() {
  const auto c = ar_config();
  const double B = kStates, N = double(kStates) * kSamples, F = kObs, D = double(c.width), P = double(c.prefix_tokens);
  const double L = c.layers, V = double(c.bins), lay = (4.0 + 2.0 * double(c.mlp_ratio)) * D * D;
  double macs = B * (F * P * D + L * (P * lay + 2 * P * P * D) + D * V);
  for (std::int64_t i = 0; i + 1 < kAct; ++i) {
    const double S = P + double(i) + 1;
    macs += N * (L * (lay + 2 * S * D) + D * V);
  }
  return 2.0 * macs;
}

// Autoregressive loss at batch B over T = P + A - 1 tokens (the full causal T x T attention is
// computed on both sides): 6 * B * [ F P D + L (T 12D^2 + 2 T^2 D) + A D V ].
double ar_loss_flops() {
  const auto c = ar_config();
  const double B = kArLossBatch, F = kObs, D = double(c.width), P = double(c.prefix_tokens), A = kAct;
  const double L = c.layers, V = double(c.bins), T = P + A - 1, lay = (4.0 + 2.0 * double(c.mlp_ratio)) * D * D;
  return 6.0 * B * (F * P * D + L * (T * lay + 2 * T * T * D) + A * D * V);
}

// Critic Q + dQ/da, R = B x Ncand rows, E members, widths d_0 = F + A, d_1..d_L, 1:
//   4 * E * R * sum_l d_l d_{l+1}   (forward 2x; the input-gradient backward 2x: dX only,
//                                    the parameters are frozen)
double critic_flops() {
  const auto c = q_config();
  std::vector<double> d{double(kObs + kAct)};
  for (auto h : c.hidden) d.push_back(double(h));
  d.push_back(1);
  double macs = 0;
  for (std::size_t l = 0; l + 1 < d.size(); ++l) macs += d[l] * d[l + 1];
  return 4.0 * double(c.ensemble) * double(kStates * kCand) * macs;
}

// TanhGaussian loss at batch B: 6 * B * (F h1 + h1 h2 + h2 2A).
double tg_loss_flops() {
  const auto c = tg_config();
  std::vector<double> d{double(kObs)};
  for (auto h : c.hidden) d.push_back(double(h));
  d.push_back(2.0 * kAct);
  double macs = 0;
  for (std::size_t l = 0; l + 1 < d.size(); ++l) macs += d[l] * d[l + 1];
  return 6.0 * kTgLossBatch * macs;
}

// ---- rows ---------------------------------------------------------------------------------------

struct Row {
  std::string key;    // benchmark name prefix
  std::string desc;   // for the table
  double flops;       // useful GEMM FLOPs per call
  double target_ratio;       // anyrl / libtorch <= this (0 = none)
  double target_ceiling_pct; // >= this % of the sgemm ceiling (0 = none)
};

const std::vector<Row>& rows() {
  static const std::vector<Row> r = {
      {"sample/diffusion", "diffusion sample 256x32 K=5", diffusion_sample_flops(), 0.8, 50},
      {"sample/autoregressive", "AR sample 256x32 A=8 (KV)", ar_sample_flops(), 0.5, 0},
      {"critic/q_dqda", "critic Q+dQ/da E=10 256x10", critic_flops(), 0, 0},
      {"loss/diffusion", "diffusion loss fwd+bwd B=1024", diffusion_loss_flops(), 0.8, 50},
      {"loss/autoregressive", "AR loss fwd+bwd B=256", ar_loss_flops(), 0, 0},
      {"loss/tanh_gaussian", "TanhGaussian loss fwd+bwd B=256", tg_loss_flops(), 0, 0},
  };
  return r;
}

// ---- the anyrl side -------------------------------------------------------------------------------

struct AnyrlModels {
  anyrl::Generator gen{42};
  std::unique_ptr<am::DiffusionPolicy> diff;
  std::unique_ptr<am::AutoregressivePolicy> ar;
  std::unique_ptr<am::QEnsemble> q;
  std::unique_ptr<am::TanhGaussianPolicy> tg;
  Tensor obs_s, cand;                 // [256, 29], [256, 10, 8]
  Tensor obs_dl, act_dl;              // diffusion loss batch
  Tensor obs_al, act_al;              // AR loss batch
  Tensor obs_tl, act_tl;              // TanhGaussian loss batch

  AnyrlModels() {
    diff = std::make_unique<am::DiffusionPolicy>(diffusion_config(), gen);
    ar = std::make_unique<am::AutoregressivePolicy>(ar_config(), gen);
    q = std::make_unique<am::QEnsemble>(q_config(), gen);
    q->requires_grad_(false);  // frozen critic, as in PA-RL's action optimisation
    tg = std::make_unique<am::TanhGaussianPolicy>(tg_config(), gen);
    obs_s = anyrl::randn(Shape{kStates, kObs}, gen);
    cand = anyrl::uniform(Shape{kStates, kCand, kAct}, -0.99, 0.99, gen);
    obs_dl = anyrl::randn(Shape{kDiffLossBatch, kObs}, gen);
    act_dl = anyrl::uniform(Shape{kDiffLossBatch, kAct}, -0.99, 0.99, gen);
    obs_al = anyrl::randn(Shape{kArLossBatch, kObs}, gen);
    act_al = anyrl::uniform(Shape{kArLossBatch, kAct}, -0.99, 0.99, gen);
    obs_tl = anyrl::randn(Shape{kTgLossBatch, kObs}, gen);
    act_tl = anyrl::uniform(Shape{kTgLossBatch, kAct}, -0.99, 0.99, gen);
  }

  static AnyrlModels& get() {
    static AnyrlModels m;
    return m;
  }

  Tensor critic_q_dqda() {
    Tensor a = cand.detach();
    a.set_requires_grad(true);
    Tensor qv = q->q(obs_s, a);  // [E, B, N]
    return anyrl::grad(anyrl::sum(qv), {a})[0];
  }

  // One call of the row; returns something to keep alive.
  Tensor run(const std::string& key) {
    if (key == "sample/diffusion") return diff->sample(obs_s, kSamples, gen);
    if (key == "sample/autoregressive") return ar->sample(obs_s, kSamples, gen);
    if (key == "critic/q_dqda") return critic_q_dqda();
    am::Policy* p = key == "loss/diffusion" ? static_cast<am::Policy*>(diff.get())
                    : key == "loss/autoregressive" ? static_cast<am::Policy*>(ar.get())
                                                   : static_cast<am::Policy*>(tg.get());
    const Tensor& o = key == "loss/diffusion" ? obs_dl : key == "loss/autoregressive" ? obs_al : obs_tl;
    const Tensor& a = key == "loss/diffusion" ? act_dl : key == "loss/autoregressive" ? act_al : act_tl;
    p->zero_grad();
    Tensor loss = p->supervised_loss(o, a, gen);
    loss.backward();
    return loss;
  }
};

// ---- the libtorch side ------------------------------------------------------------------------------

#ifdef ANYRL_BENCH_HAVE_TORCH
torch::Tensor to_torch(const Tensor& t) {
  std::vector<float> v = t.to(anyrl::DType::Float32).to_vector<float>();
  std::vector<std::int64_t> sz(t.shape().begin(), t.shape().end());
  return torch::from_blob(v.data(), sz, torch::kFloat32).clone();
}

using TParams = std::map<std::string, torch::Tensor>;
TParams copy_params(const anyrl::nn::Module& m, bool requires_grad) {
  TParams p;
  for (const auto& [name, t] : m.named_parameters()) p[name] = to_torch(t).requires_grad_(requires_grad);
  return p;
}
void zero_grads(TParams& p) {
  for (auto& [n, t] : p) t.mutable_grad() = torch::Tensor();
}
torch::Tensor lin(const TParams& P, const std::string& name, const torch::Tensor& x) {
  return torch::linear(x, P.at(name + ".weight"), P.at(name + ".bias"));
}
torch::Tensor ln(const TParams& P, const std::string& name, const torch::Tensor& x) {
  return torch::layer_norm(x, {x.size(-1)}, P.at(name + ".weight"), P.at(name + ".bias"), 1e-5);
}

// DiffusionPolicy in torch:: ops.
struct TorchDiffusion {
  TParams P;
  am::DiffusionConfig c;
  am::DDPMSchedule s;
  torch::Tensor sqrt_ab, sqrt_1mab;  // [K]

  explicit TorchDiffusion(const am::DiffusionPolicy& m) : P(copy_params(m, true)), c(m.config()), s(m.schedule()) {
    std::vector<float> a, b;
    for (double ab : s.alpha_bars) {
      a.push_back(float(std::sqrt(ab)));
      b.push_back(float(std::sqrt(1.0 - ab)));
    }
    sqrt_ab = torch::tensor(a);
    sqrt_1mab = torch::tensor(b);
  }
  torch::Tensor time_features(const torch::Tensor& t) const {  // t [N, 1]
    torch::Tensor arg = torch::matmul(t, P.at("time_emb.kernel").t()) * (2.0 * std::numbers::pi);
    torch::Tensor h = torch::cat({torch::cos(arg), torch::sin(arg)}, 1);
    const std::size_t L = c.time_hidden.size();
    for (std::size_t i = 0; i < L; ++i) {
      h = lin(P, "time_mlp.layers." + std::to_string(i), h);
      if (i + 1 < L) h = torch::mish(h);
    }
    return h;
  }
  torch::Tensor forward_hidden(torch::Tensor h, bool train) const {
    for (int i = 0; i < c.blocks; ++i) {
      const std::string b = "net.blocks." + std::to_string(i);
      torch::Tensor x = train ? torch::dropout(h, c.dropout, true) : h;
      x = ln(P, b + ".norm", x);
      x = lin(P, b + ".fc2", torch::mish(lin(P, b + ".fc1", x)));
      h = h + x;
    }
    return lin(P, "net.output", torch::mish(h));
  }
  torch::Tensor eps(const torch::Tensor& a_t, const torch::Tensor& t, const torch::Tensor& s_, bool train) const {
    return forward_hidden(lin(P, "net.input", torch::cat({a_t, time_features(t), s_}, 1)), train);
  }
  torch::Tensor sample(const torch::Tensor& obs, std::int64_t n) const {
    torch::NoGradGuard ng;
    const std::int64_t B = obs.size(0), A = c.act_dim, N = B * n, H = c.hidden, Dt = c.time_hidden.back();
    const torch::Tensor& W = P.at("net.input.weight");
    torch::Tensor Wa = W.narrow(1, 0, A), Wt = W.narrow(1, A, Dt), Ws = W.narrow(1, A + Dt, obs.size(1));
    torch::Tensor hs = torch::linear(obs, Ws, P.at("net.input.bias"));
    hs = hs.unsqueeze(1).expand({B, n, H}).reshape({N, H});
    torch::Tensor a = torch::randn({N, A});
    for (int t = c.steps; t >= 1; --t) {
      torch::Tensor ht = torch::linear(time_features(torch::full({1, 1}, double(t))), Wt);
      torch::Tensor h = torch::linear(a, Wa) + hs + ht;
      torch::Tensor e = forward_hidden(h, false);
      const double al = s.alphas[t - 1], ab = s.alpha_bars[t - 1];
      a = (a - e * ((1.0 - al) / std::sqrt(1.0 - ab))) * (1.0 / std::sqrt(al));
      if (t > 1) a = a + torch::randn({N, A}) * s.sigmas[t - 1];
      if (c.clip_sample) a = torch::clamp(a, -1.0, 1.0);
    }
    return a.reshape({B, n, A});
  }
  torch::Tensor loss(const torch::Tensor& obs, const torch::Tensor& act) const {
    const std::int64_t B = obs.size(0);
    torch::Tensor t = torch::randint(1, c.steps + 1, {B}, torch::kLong);
    torch::Tensor noise = torch::randn_like(act);
    torch::Tensor idx = t - 1;
    torch::Tensor a_t = act * sqrt_ab.index_select(0, idx).unsqueeze(1) + noise * sqrt_1mab.index_select(0, idx).unsqueeze(1);
    torch::Tensor pred = eps(a_t, t.to(torch::kFloat32).unsqueeze(1), obs, true);
    return (pred - noise).square().sum(1).mean();
  }
};

// AutoregressivePolicy in torch:: ops (KV cache: k, v [N, heads, S, dh] per layer, concatenated
// per step like the anyrl class).
struct TorchAR {
  TParams P;
  am::AutoregressiveConfig c;
  struct KV {
    torch::Tensor k, v;
  };

  explicit TorchAR(const am::AutoregressivePolicy& m) : P(copy_params(m, true)), c(m.config()) {}

  torch::Tensor block(int i, torch::Tensor x, KV* cache) const {
    const std::string b = "blocks." + std::to_string(i);
    const std::int64_t N = x.size(0), T = x.size(1), D = c.width, H = c.heads, dh = D / H;
    torch::Tensor qkv = lin(P, b + ".attn.qkv", ln(P, b + ".ln1", x)).reshape({N, T, 3, H, dh}).permute({2, 0, 3, 1, 4});
    torch::Tensor q = qkv[0], k = qkv[1], v = qkv[2];
    std::int64_t past = 0;
    if (cache) {
      if (cache->k.defined()) {
        past = cache->k.size(2);
        k = torch::cat({cache->k, k}, 2);
        v = torch::cat({cache->v, v}, 2);
      }
      cache->k = k.detach();
      cache->v = v.detach();
    }
    torch::Tensor scores = torch::matmul(q * (1.0 / std::sqrt(double(dh))), k.transpose(-2, -1));
    if (T > 1) {
      torch::Tensor mask = torch::ones({T, past + T}, torch::kBool).triu(past + 1);
      scores = scores.masked_fill(mask, -1e9);
    }
    torch::Tensor att = torch::matmul(torch::softmax(scores, -1), v);
    x = x + lin(P, b + ".attn.proj", att.permute({0, 2, 1, 3}).reshape({N, T, D}));
    return x + lin(P, b + ".fc2", torch::gelu(lin(P, b + ".fc1", ln(P, b + ".ln2", x))));
  }
  torch::Tensor run(torch::Tensor x, std::vector<KV>* cache) const {
    for (int i = 0; i < c.layers; ++i) x = block(i, x, cache ? &(*cache)[std::size_t(i)] : nullptr);
    return ln(P, "ln_f", x);
  }
  torch::Tensor prefix(const torch::Tensor& obs) const {
    const std::int64_t B = obs.size(0), Pt = c.prefix_tokens, D = c.width;
    return lin(P, "state_proj", obs).reshape({B, Pt, D}) + P.at("pos_emb").narrow(0, 0, Pt);
  }
  torch::Tensor tokens(const torch::Tensor& a) const {
    const double w = (c.high - c.low) / double(c.bins);
    return torch::clamp(torch::floor((a - c.low) / w), 0, double(c.bins - 1)).to(torch::kLong);
  }
  torch::Tensor logits(const torch::Tensor& obs, const torch::Tensor& tok) const {
    const std::int64_t Pt = c.prefix_tokens, A = c.act_dim;
    torch::Tensor x = prefix(obs);
    torch::Tensor prev = torch::embedding(P.at("tok_emb.weight"), tok.narrow(1, 0, A - 1)) +
                         P.at("pos_emb").narrow(0, Pt, A - 1);
    x = torch::cat({x, prev}, 1);
    return lin(P, "head", run(x, nullptr).narrow(1, Pt - 1, A));
  }
  torch::Tensor loss(const torch::Tensor& obs, const torch::Tensor& act) const {
    torch::Tensor tok = tokens(act);
    torch::Tensor lg = logits(obs, tok);
    return torch::cross_entropy_loss(lg.reshape({-1, c.bins}), tok.reshape({-1}));
  }
  torch::Tensor sample(const torch::Tensor& obs, std::int64_t n) const {
    torch::NoGradGuard ng;
    const std::int64_t Pt = c.prefix_tokens, A = c.act_dim, D = c.width, B = obs.size(0), N = B * n;
    std::vector<KV> cache(static_cast<std::size_t>(c.layers));
    torch::Tensor h = run(prefix(obs), &cache);
    torch::Tensor lg = lin(P, "head", h.narrow(1, Pt - 1, 1).reshape({B, D}));
    if (n > 1) {
      torch::Tensor idx = torch::arange(N, torch::kLong).div(n, "floor");
      for (auto& l : cache) {
        l.k = l.k.index_select(0, idx);
        l.v = l.v.index_select(0, idx);
      }
      lg = lg.unsqueeze(1).expand({B, n, c.bins}).reshape({N, c.bins});
    }
    std::vector<torch::Tensor> toks;
    for (std::int64_t i = 0; i < A; ++i) {
      torch::Tensor t = torch::multinomial(torch::softmax(lg * (1.0 / c.temperature), -1), 1).squeeze(1);
      toks.push_back(t);
      if (i + 1 == A) break;
      torch::Tensor x = (torch::embedding(P.at("tok_emb.weight"), t) + P.at("pos_emb").narrow(0, Pt + i, 1)).reshape({N, 1, D});
      lg = lin(P, "head", run(x, &cache).reshape({N, D}));
    }
    const double w = (c.high - c.low) / double(c.bins);
    return (torch::stack(toks, 1).to(torch::kFloat32) + 0.5).mul(w).add(c.low).reshape({B, n, A});
  }
};

// QEnsemble in torch:: ops: baddbmm per layer (weights [E, in, out], biases [E, 1, out]).
struct TorchQ {
  TParams P;
  am::QEnsembleConfig c;
  explicit TorchQ(const am::QEnsemble& m) : P(copy_params(m, false)), c(m.config()) {}
  torch::Tensor q(const torch::Tensor& obs, const torch::Tensor& act) const {  // act [B, N, A]
    const std::int64_t B = obs.size(0), N = act.size(1), A = act.size(2), F = obs.size(1), R = B * N, E = c.ensemble;
    torch::Tensor x = torch::cat({obs.unsqueeze(1).expand({B, N, F}).reshape({R, F}), act.reshape({R, A})}, 1);
    x = x.unsqueeze(0).expand({E, R, F + A});
    const std::size_t L = c.hidden.size() + 1;
    for (std::size_t l = 0; l < L; ++l) {
      const std::string n = "layers." + std::to_string(l);
      x = torch::baddbmm(P.at(n + ".bias"), x, P.at(n + ".weight"));
      if (l + 1 < L) {
        if (c.layer_norm) x = ln(P, "norms." + std::to_string(l), x);
        x = torch::relu(x);
      }
    }
    return x.reshape({E, B, N});
  }
  torch::Tensor q_dqda(const torch::Tensor& obs, const torch::Tensor& cand) const {
    torch::Tensor a = cand.detach().requires_grad_(true);
    torch::Tensor qv = q(obs, a);
    return torch::autograd::grad({qv.sum()}, {a})[0];
  }
};

// TanhGaussianPolicy's NLL in torch:: ops.
struct TorchTG {
  TParams P;
  am::TanhGaussianConfig c;
  explicit TorchTG(const am::TanhGaussianPolicy& m) : P(copy_params(m, true)), c(m.config()) {}
  torch::Tensor loss(const torch::Tensor& obs, const torch::Tensor& act) const {
    torch::Tensor h = obs;
    const std::size_t L = c.hidden.size() + 1;
    for (std::size_t l = 0; l < L; ++l) {
      h = lin(P, "net.layers." + std::to_string(l), h);
      if (l + 1 < L) h = torch::relu(h);
    }
    auto parts = h.split(c.act_dim, -1);
    torch::Tensor mean = parts[0], log_std = torch::clamp(parts[1], c.log_std_min, c.log_std_max);
    torch::Tensor a = torch::clamp(act, -1.0 + c.action_eps, 1.0 - c.action_eps);
    torch::Tensor u = (torch::log(a + 1.0) - torch::log(1.0 - a)) * 0.5;
    const double half_log_2pi = 0.5 * std::log(2.0 * std::numbers::pi);
    torch::Tensor z = (u - mean) / torch::exp(log_std);
    torch::Tensor gauss = z.square() * -0.5 - half_log_2pi - log_std;
    torch::Tensor log_det = (std::log(2.0) - u - torch::softplus(u * -2.0)) * 2.0;
    return -(gauss - log_det).sum(-1).mean();
  }
};

struct TorchModels {
  std::unique_ptr<TorchDiffusion> diff;
  std::unique_ptr<TorchAR> ar;
  std::unique_ptr<TorchQ> q;
  std::unique_ptr<TorchTG> tg;
  torch::Tensor obs_s, cand, obs_dl, act_dl, obs_al, act_al, obs_tl, act_tl;

  TorchModels() {
    AnyrlModels& m = AnyrlModels::get();
    torch::manual_seed(42);
    diff = std::make_unique<TorchDiffusion>(*m.diff);
    ar = std::make_unique<TorchAR>(*m.ar);
    q = std::make_unique<TorchQ>(*m.q);
    tg = std::make_unique<TorchTG>(*m.tg);
    obs_s = to_torch(m.obs_s);
    cand = to_torch(m.cand);
    obs_dl = to_torch(m.obs_dl);
    act_dl = to_torch(m.act_dl);
    obs_al = to_torch(m.obs_al);
    act_al = to_torch(m.act_al);
    obs_tl = to_torch(m.obs_tl);
    act_tl = to_torch(m.act_tl);
  }
  static TorchModels& get() {
    static TorchModels m;
    return m;
  }
  torch::Tensor run(const std::string& key) {
    if (key == "sample/diffusion") return diff->sample(obs_s, kSamples);
    if (key == "sample/autoregressive") return ar->sample(obs_s, kSamples);
    if (key == "critic/q_dqda") return q->q_dqda(obs_s, cand);
    torch::Tensor loss;
    if (key == "loss/diffusion") {
      zero_grads(diff->P);
      loss = diff->loss(obs_dl, act_dl);
    } else if (key == "loss/autoregressive") {
      zero_grads(ar->P);
      loss = ar->loss(obs_al, act_al);
    } else {
      zero_grads(tg->P);
      loss = tg->loss(obs_tl, act_tl);
    }
    loss.backward();
    return loss;
  }
};

// max |a - b| / max |b| (relative to the reference's scale)
double max_abs_diff(const Tensor& a, const torch::Tensor& b) {
  return (to_torch(a) - b.detach()).abs().max().item<double>() / std::max(1e-30, b.detach().abs().max().item<double>());
}

// The torch networks compute what the anyrl classes compute (same weights, deterministic paths).
void check_equivalence() {
  AnyrlModels& m = AnyrlModels::get();
  TorchModels& t = TorchModels::get();
  std::printf("equivalence (max |anyrl - libtorch| / max |libtorch|, same weights and inputs):\n");
  {
    anyrl::NoGrad ng;
    anyrl::Generator g(7);
    Tensor a = anyrl::uniform(Shape{64, kAct}, -1, 1, g), tt = Tensor::full(Shape{64}, 3.0), s = anyrl::randn(Shape{64, kObs}, g);
    m.diff->eval();
    Tensor e = m.diff->eps(a, tt, s);
    m.diff->train();
    torch::NoGradGuard tng;
    torch::Tensor et = t.diff->eps(to_torch(a), to_torch(tt).unsqueeze(1), to_torch(s), false);
    std::printf("  diffusion eps network            %.2e\n", max_abs_diff(e, et));
  }
  {
    anyrl::NoGrad ng;
    anyrl::Generator g(8);
    Tensor o = anyrl::randn(Shape{16, kObs}, g), act = anyrl::uniform(Shape{16, kAct}, -1, 1, g);
    Tensor tok = m.ar->tokenizer().encode(act);
    Tensor full = m.ar->logits(o, tok);
    torch::NoGradGuard tng;
    torch::Tensor tt = t.ar->tokens(to_torch(act));
    std::printf("  AR tokens equal                  %s\n",
                torch::equal(tt, torch::tensor(tok.to_vector<std::int64_t>()).reshape({16, kAct})) ? "yes" : "NO");
    std::printf("  AR logits (teacher-forced)       %.2e\n", max_abs_diff(full, t.ar->logits(to_torch(o), tt)));
  }
  {
    Tensor qa;
    {
      anyrl::NoGrad ng;
      qa = m.q->q(m.obs_s, m.cand);
    }
    torch::NoGradGuard tng;
    std::printf("  critic Q                         %.2e\n", max_abs_diff(qa, t.q->q(t.obs_s, t.cand)));
  }
  {
    Tensor ga = m.critic_q_dqda();
    torch::Tensor gt = t.q->q_dqda(t.obs_s, t.cand);
    TorchQ qd = *t.q;  // float64 reference
    for (auto& [name, p] : qd.P) p = p.to(torch::kFloat64);
    torch::Tensor g64 = qd.q_dqda(t.obs_s.to(torch::kFloat64), t.cand.to(torch::kFloat64)).to(torch::kFloat32);
    // Max-norm differences here are dominated by ReLU units whose pre-activation is within
    // float32 rounding of 0 (they flip between the two float32 runs and float64 alike), so the
    // relative L2 error is printed too.
    auto rel2 = [](const torch::Tensor& a, const torch::Tensor& b) { return ((a - b).norm() / b.norm()).item<double>(); };
    torch::Tensor gat = to_torch(ga);
    std::printf("  critic dQ/da                     %.2e  (rel. L2 %.2e; max-norm vs float64: anyrl %.2e, libtorch %.2e)\n",
                max_abs_diff(ga, gt), rel2(gat, gt), max_abs_diff(ga, g64),
                (gt - g64).abs().max().item<double>() / g64.abs().max().item<double>());
  }
  {
    anyrl::Generator g(9);
    Tensor l = m.tg->supervised_loss(m.obs_tl, m.act_tl, g);
    std::printf("  TanhGaussian NLL                 %.2e\n", max_abs_diff(l, t.tg->loss(t.obs_tl, t.act_tl)));
  }
}

void report_torch_blas() {
  std::printf("libtorch %s  (at::get_num_threads() = %d)\n", TORCH_VERSION, at::get_num_threads());
  torch::Tensor a = torch::randn({256, 256}), b = torch::randn({256, 256});
  torch::Tensor c = torch::mm(a, b);
  benchmark::DoNotOptimize(c.data_ptr());
  for (const auto& p : ab::loaded_blas_libraries()) std::printf("  mapped after a torch::mm: %s\n", p.c_str());
}

void set_torch_blas_threads(int n) {
  static auto f = reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (f) f(n);
}
#endif

struct TorchVariant {
  std::string name;
  int intra_op, blas;
};
std::vector<TorchVariant>& torch_variants() {
  static std::vector<TorchVariant> v;
  return v;
}

std::set<std::string>& warmed() {
  static std::set<std::string> s;
  return s;
}

std::string bench_name(const Row& r, const std::string& impl) { return r.key + "/" + impl; }

void register_all() {
  for (const Row& r : rows()) {
    const std::string key = r.key;
    const double flops = r.flops;
    auto* ba = benchmark::RegisterBenchmark(bench_name(r, "anyrl").c_str(), [key, flops](benchmark::State& st) {
      AnyrlModels& m = AnyrlModels::get();
      if (warmed().insert(key + "/anyrl").second)
        for (int i = 0; i < 2; ++i) m.run(key);  // allocator cache (once, not per repetition)
      for (auto _ : st) {
        Tensor out = m.run(key);
        benchmark::DoNotOptimize(out.raw_data());
      }
      st.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
    });
    ab::with_min(ba)->UseRealTime()->Unit(benchmark::kMillisecond);
#ifdef ANYRL_BENCH_HAVE_TORCH
    for (const TorchVariant& v : torch_variants()) {
      auto* bt = benchmark::RegisterBenchmark(bench_name(r, v.name).c_str(), [key, flops, v](benchmark::State& st) {
        torch::set_num_threads(v.intra_op);
        set_torch_blas_threads(v.blas);
        TorchModels& m = TorchModels::get();
        if (warmed().insert(key + "/" + v.name).second)
          for (int i = 0; i < 2; ++i) m.run(key);
        for (auto _ : st) {
          torch::Tensor out = m.run(key);
          benchmark::DoNotOptimize(out.data_ptr());
        }
        st.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
      });
      ab::with_min(bt)->UseRealTime()->Unit(benchmark::kMillisecond);
    }
#endif
  }
}

void print_summary(const ab::KeepingReporter& rep, int threads) {
  const double ceil = rep.ceiling_gflops();
  std::printf("\n=== bench_models summary (medians; %d threads; load %s) ===\n", threads, ab::load_average().c_str());
  if (ceil > 0)
    std::printf("sgemm ceiling (OpenBLAS, best of 1024^3 / 2048^3): %.1f GFLOP/s\n", ceil);
  else
    std::printf("sgemm ceiling: not measured\n");
  std::printf("libtorch variants:");
  for (const auto& v : torch_variants())
    std::printf("  %s = %d OpenMP intra-op / %d OpenBLAS threads;", v.name.c_str(), v.intra_op, v.blas);
  std::printf("\nratio = anyrl median / fastest libtorch variant's median; ratio min = the same with each side's\n"
              "fastest repetition; GFLOP = useful GEMM GFLOP per call (analytic)\n");
  std::printf("%-32s %7s %9s", "row", "GFLOP", "anyrl ms");
  for (const auto& v : torch_variants()) std::printf(" %14s", (v.name + " ms").c_str());
  std::printf(" %7s %7s %4s %10s %7s %7s %4s %10s %9s\n", "ratio", "target", "met", "anyrl GF/s", "% ceil", "target",
              "met", "torch GF/s", "ratio min");
  auto ms = [](const ab::Result* r) { return r && !r->error && r->seconds > 0 ? r->seconds * 1e3 : -1.0; };
  for (const Row& r : rows()) {
    const double a = ms(rep.find(bench_name(r, "anyrl")));
    std::printf("%-32s %7.3f", r.desc.c_str(), r.flops * 1e-9);
    if (a > 0)
      std::printf(" %9.3f", a);
    else
      std::printf(" %9s", "-");
    double best = -1, best_min = -1;
    for (const auto& v : torch_variants()) {
      const ab::Result* res = rep.find(bench_name(r, v.name));
      if (res && !res->error && res->best > 0 && (best_min < 0 || res->best * 1e3 < best_min)) best_min = res->best * 1e3;
      const double t = ms(res);
      if (t > 0) {
        std::printf(" %14.3f", t);
        if (best < 0 || t < best) best = t;
      } else {
        std::printf(" %14s", "-");
      }
    }
    char sr[32] = "-", st[32] = "-", sm[8] = "", sg[32] = "-", sp[32] = "-", sct[32] = "-", scm[8] = "", stg[32] = "-",
         srm[32] = "-";
    if (a > 0 && best > 0) std::snprintf(sr, sizeof sr, "%.2fx", a / best);
    if (r.target_ratio > 0) {
      std::snprintf(st, sizeof st, "<=%.2fx", r.target_ratio);
      if (a > 0 && best > 0) std::snprintf(sm, sizeof sm, "%s", a / best <= r.target_ratio ? "yes" : "NO");
    }
    double pct = -1;
    if (a > 0) {
      std::snprintf(sg, sizeof sg, "%.1f", r.flops / (a * 1e-3) * 1e-9);
      if (ceil > 0) {
        pct = 100.0 * r.flops / (a * 1e-3) * 1e-9 / ceil;
        std::snprintf(sp, sizeof sp, "%.0f%%", pct);
      }
    }
    if (r.target_ceiling_pct > 0) {
      std::snprintf(sct, sizeof sct, ">=%.0f%%", r.target_ceiling_pct);
      if (pct >= 0) std::snprintf(scm, sizeof scm, "%s", pct >= r.target_ceiling_pct ? "yes" : "NO");
    }
    if (best > 0) std::snprintf(stg, sizeof stg, "%.1f", r.flops / (best * 1e-3) * 1e-9);
    const ab::Result* ra = rep.find(bench_name(r, "anyrl"));
    if (ra && !ra->error && ra->best > 0 && best_min > 0) std::snprintf(srm, sizeof srm, "%.2fx", ra->best * 1e3 / best_min);
    std::printf(" %7s %7s %4s %10s %7s %7s %4s %10s %9s\n", sr, st, sm, sg, sp, sct, scm, stg, srm);
  }
  std::printf("targets (issue 3): diffusion sample and loss <= 0.8x libtorch and >= 50%% of the ceiling;\n"
              "autoregressive sample <= 0.5x libtorch; the other rows are reported without a target.\n");
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = ab::take_threads_flag(argc, argv);
  const bool no_check = ab::take_flag(argc, argv, "--no_check");
  anyrl::set_num_threads(threads);
#ifdef ANYRL_BENCH_HAVE_TORCH
  torch::set_num_threads(threads);
#endif
  auto args = ab::with_default_flags(argc, argv,
                                     {"--benchmark_repetitions=5", "--benchmark_report_aggregates_only=true",
                                      "--benchmark_enable_random_interleaving=true"});
  int n = static_cast<int>(args.size()) - 1;
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;

  std::printf("cpu: %s   load: %s\n", ab::cpu_model().c_str(), ab::load_average().c_str());
  std::printf("threads: anyrl %d", anyrl::num_threads());
#ifdef ANYRL_BENCH_HAVE_TORCH
  std::printf(", libtorch intra-op %d\n", at::get_num_threads());
  report_torch_blas();
  set_torch_blas_threads(threads);
#else
  std::printf("\nlibtorch: not found at configure time; only the anyrl side runs\n");
#endif
  ab::OpenBlas& ob = ab::OpenBlas::get();
  std::printf("ceiling library: %s\n",
              ob.ok() ? (ob.path + " [" + ob.config + "]").c_str() : "libopenblas.so.0 NOT FOUND (ceiling skipped)");
  benchmark::AddCustomContext("threads", std::to_string(threads));
  std::printf("useful GFLOP per call:");
  for (const Row& r : rows()) std::printf("  %s %.3f;", r.key.c_str(), r.flops * 1e-9);
  std::printf("\n");

#ifdef ANYRL_BENCH_HAVE_TORCH
  if (!no_check) check_equivalence();
  torch_variants().push_back({"libtorch", threads, threads});
  if (threads > 1) torch_variants().push_back({"libtorch_omp1", 1, threads});
#else
  (void)no_check;
#endif
  ab::register_ceiling(threads);
  register_all();

  ab::KeepingReporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  print_summary(rep, threads);
  benchmark::Shutdown();
  return 0;
}
