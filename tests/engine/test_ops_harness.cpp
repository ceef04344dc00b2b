// The table-driven op harness (DESIGN §2.3): every op in anyrl/engine/ops.hpp is checked
//   (a) forward in float64 against a naive reference written with plain loops (op_harness.hpp),
//       and in float32 within float32 tolerance;
//   (b) for differentiable ops, the gradient w.r.t. every float input (broadcast ones included)
//       against float64 central finite differences with a random upstream gradient, through
//       both anyrl::grad() and anyrl::backward(); and the float32 gradient against the float64 one.
// Each op is a doctest SUBCASE named after it; every message names the op, the case (input
// shapes and arguments) and the dtype. Set ANYRL_HARNESS_SUMMARY=1 to print the coverage table.
#include <doctest/doctest.h>

#include <array>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <thread>

#include "anyrl/engine/engine.hpp"
#include "op_harness.hpp"

using namespace harness;
using anyrl::DType;
using anyrl::Tensor;
using Ts = std::vector<Tensor>;
using Nds = std::vector<Nd>;

namespace {

// ---------------------------------------------------------------------------------------
// Table entries
// ---------------------------------------------------------------------------------------
struct In {
  Dims shape;
  Domain dom = Domain::uniform();
  std::optional<DType> dtype;  // unset: the float dtype the case runs in
  bool diff = true;            // gradient-checked (float inputs only)
};
In F(Dims s, Domain d = Domain::uniform()) { return In{std::move(s), d, std::nullopt, true}; }
In Fnd(Dims s, Domain d = Domain::uniform()) { return In{std::move(s), d, std::nullopt, false}; }
In I(Dims s, std::int64_t lo, std::int64_t hi, DType dt = DType::Int64) {
  return In{std::move(s), Domain::integers(lo, hi), dt, false};
}
In B(Dims s) { return In{std::move(s), Domain::boolean(), DType::Bool, false}; }

enum class Grad { Check, None, IfRecorded };

using Fn = std::function<Ts(const Ts&)>;
using RefFn = std::function<Nds(const Nds&)>;

struct Case {
  std::string label;
  std::vector<In> in;
  Fn fn;
  RefFn ref;
  Grad grad = Grad::Check;
  std::vector<int> grad_outputs;  // outputs fed an upstream gradient (empty = all float outputs)
  double f32_rtol = 1e-4, f32_atol = 1e-5;
  std::function<void(Nds&)> fixup;  // adjusts random inputs (e.g. keeps a - b off a kink)
  int fd_samples = 0;  // > 0: finite differences on this many random elements per input (large cases)
};

struct Op {
  std::string name;
  std::vector<Case> cases;
};

template <class F>
Fn f1(F f) {
  return [f](const Ts& x) { return Ts{f(x)}; };
}
template <class R>
RefFn r1(R r) {
  return [r](const Nds& x) { return Nds{r(x)}; };
}

std::string ints_str(const std::vector<int>& v) {
  std::string r = "{";
  for (std::size_t i = 0; i < v.size(); ++i) r += (i ? "," : "") + std::to_string(v[i]);
  return r + "}";
}

Case mk(std::vector<In> in, Fn fn, RefFn ref, const std::string& extra = "") {
  std::string l = "(";
  for (std::size_t i = 0; i < in.size(); ++i) {
    l += (i ? ", " : "") + dims_str(in[i].shape);
    if (in[i].dtype) l += std::string(":") + anyrl::dtype_name(*in[i].dtype);
  }
  l += ")";
  if (!extra.empty()) l += " " + extra;
  Case c;
  c.label = l;
  c.in = std::move(in);
  c.fn = std::move(fn);
  c.ref = std::move(ref);
  return c;
}

Case with_grad(Case c, Grad g, std::vector<int> outs = {}) {
  c.grad = g;
  c.grad_outputs = std::move(outs);
  return c;
}

// ---------------------------------------------------------------------------------------
// Runner
// ---------------------------------------------------------------------------------------
struct OpStats {
  int cases = 0, grad_cases = 0, failures = 0;
  std::vector<std::string> notes;
};
std::map<std::string, OpStats>& stats() {
  static auto* s = new std::map<std::string, OpStats>;  // leaked: read by a static destructor
  return *s;
}
struct SummaryPrinter {
  ~SummaryPrinter() {
    if (!std::getenv("ANYRL_HARNESS_SUMMARY")) return;
    std::printf("\n%-22s %6s %6s %6s\n", "op", "cases", "grad", "fail");
    for (auto& [name, s] : stats()) {
      std::printf("%-22s %6d %6d %6d", name.c_str(), s.cases, s.grad_cases, s.failures);
      for (auto& n : s.notes) std::printf("  [%s]", n.c_str());
      std::printf("\n");
    }
  }
} g_summary_printer;

struct Ctx {
  std::string op, label;
  OpStats* st;
  std::string str(DType dt) const { return op + label + " " + anyrl::dtype_name(dt); }
};

bool check(Ctx& c, bool ok, const std::string& msg) {
  if (!ok) {
    ++c.st->failures;
    FAIL_CHECK(msg);
  }
  return ok;
}

Ts make_inputs(const Nds& xs, const std::vector<In>& in, DType dt, bool requires_grad) {
  Ts ts;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    Tensor t = to_tensor(xs[i], in[i].dtype.value_or(dt));
    if (requires_grad && in[i].diff && !in[i].dtype) t.set_requires_grad(true);
    ts.push_back(t);
  }
  return ts;
}

constexpr double kF64Rtol = 1e-10, kF64Atol = 1e-10;
constexpr double kFdEps = 1e-6, kFdRtol = 1e-5, kFdAtol = 1e-7;

void check_forward(Ctx& cx, const Case& c, const Nds& xs, const Nds& want, DType dt) {
  const std::string ctx = cx.str(dt);
  Ts outs;
  try {
    outs = c.fn(make_inputs(xs, c.in, dt, false));
  } catch (const std::exception& e) {
    check(cx, false, ctx + ": forward threw: " + e.what());
    return;
  }
  if (!check(cx, outs.size() == want.size(),
             ctx + ": " + std::to_string(outs.size()) + " outputs, expected " + std::to_string(want.size())))
    return;
  for (std::size_t i = 0; i < outs.size(); ++i) {
    const std::string oc = ctx + " output " + std::to_string(i);
    if (!check(cx, outs[i].defined(), oc + ": undefined")) continue;
    const DType exp_dt = want[i].dtype.value_or(dt);
    check(cx, outs[i].dtype() == exp_dt,
          oc + ": dtype " + anyrl::dtype_name(outs[i].dtype()) + ", expected " + anyrl::dtype_name(exp_dt));
    check(cx, outs[i].device() == anyrl::Device::cpu(), oc + ": not on the CPU");
    Nd got = from_tensor(outs[i]);
    double rtol = 0, atol = 0;
    if (anyrl::is_floating(exp_dt)) {
      const bool f32 = exp_dt == DType::Float32 || dt == DType::Float32;
      rtol = f32 ? c.f32_rtol : kF64Rtol;
      atol = f32 ? c.f32_atol : kF64Atol;
    }
    const std::string err = compare(got, want[i], rtol, atol);
    check(cx, err.empty(), oc + " forward vs naive reference: " + err);
  }
}

/// Runs fn and returns its outputs as Nds (float64 inputs, no graph).
Nds eval_nograd(const Case& c, const Nds& xs) {
  anyrl::NoGrad ng;
  Ts outs = c.fn(make_inputs(xs, c.in, DType::Float64, false));
  Nds r;
  for (auto& o : outs) r.push_back(from_tensor(o));
  return r;
}

void check_gradient(Ctx& cx, const Case& c, const Nds& xs, Rng& rng) {
  const std::string ctx = cx.str(DType::Float64);
  Ts ts = make_inputs(xs, c.in, DType::Float64, true);
  std::vector<std::size_t> leaf_idx;
  Ts leaves;
  for (std::size_t i = 0; i < ts.size(); ++i)
    if (ts[i].requires_grad()) {
      leaf_idx.push_back(i);
      leaves.push_back(ts[i]);
    }
  Ts outs;
  try {
    outs = c.fn(ts);
  } catch (const std::exception& e) {
    check(cx, false, ctx + ": forward (requires_grad) threw: " + e.what());
    return;
  }
  std::vector<std::size_t> gout;
  for (std::size_t i = 0; i < outs.size(); ++i) {
    const std::string oc = ctx + " output " + std::to_string(i);
    if (!anyrl::is_floating(outs[i].dtype())) {
      check(cx, !outs[i].requires_grad(), oc + ": a non-float output must not require grad");
      continue;
    }
    if (c.grad == Grad::None) continue;
    if (!c.grad_outputs.empty() &&
        std::find(c.grad_outputs.begin(), c.grad_outputs.end(), static_cast<int>(i)) == c.grad_outputs.end())
      continue;
    if (c.grad == Grad::IfRecorded && !outs[i].requires_grad()) continue;
    if (!check(cx, outs[i].requires_grad(), oc + ": output of a differentiable op does not require grad")) continue;
    gout.push_back(i);
  }
  if (gout.empty() || leaves.empty()) {
    if (c.grad == Grad::IfRecorded) {
      auto& n = cx.st->notes;
      if (std::find(n.begin(), n.end(), "no gradient recorded") == n.end()) n.push_back("no gradient recorded");
    }
    return;
  }
  ++cx.st->grad_cases;

  // Random upstream gradients.
  Nds ups;
  for (std::size_t i : gout) ups.push_back(random_nd(to_dims(outs[i].shape()), Domain::uniform(-1, 1), rng));

  // Analytic gradients via anyrl::grad().
  Nds ana;
  for (auto& l : leaves) ana.emplace_back(to_dims(l.shape()));
  try {
    for (std::size_t n = 0; n < gout.size(); ++n) {
      Ts gs = anyrl::grad(outs[gout[n]], leaves, to_tensor(ups[n], DType::Float64), /*retain_graph=*/true);
      if (!check(cx, gs.size() == leaves.size(), ctx + ": grad() returned the wrong number of tensors")) return;
      for (std::size_t j = 0; j < leaves.size(); ++j) {
        const std::string gc = ctx + " grad wrt input " + std::to_string(leaf_idx[j]) + " " + dims_str(xs[leaf_idx[j]].shape);
        if (!check(cx, gs[j].defined(), gc + ": undefined")) return;
        if (!check(cx, gs[j].shape() == leaves[j].shape(),
                   gc + ": gradient shape " + gs[j].shape().str() + " != input shape " + leaves[j].shape().str()))
          return;
        check(cx, gs[j].dtype() == DType::Float64, gc + ": gradient dtype " + anyrl::dtype_name(gs[j].dtype()));
        Nd g = from_tensor(gs[j]);
        for (std::size_t e = 0; e < g.v.size(); ++e) ana[j].v[e] += g.v[e];
      }
    }
  } catch (const std::exception& e) {
    check(cx, false, ctx + ": grad() threw: " + e.what());
    return;
  }
  for (std::size_t j = 0; j < leaves.size(); ++j)
    check(cx, !leaves[j].grad().defined(), ctx + ": anyrl::grad() wrote into input " + std::to_string(leaf_idx[j]) + ".grad()");

  // Central finite differences in float64.
  try {
    for (std::size_t j = 0; j < leaves.size(); ++j) {
      const std::size_t k = leaf_idx[j];
      Nd fd(xs[k].shape);
      std::vector<std::size_t> elems(xs[k].v.size());
      std::iota(elems.begin(), elems.end(), std::size_t{0});
      Nd ana_j = ana[j];
      if (c.fd_samples > 0 && elems.size() > static_cast<std::size_t>(c.fd_samples)) {
        std::shuffle(elems.begin(), elems.end(), rng);
        elems.resize(static_cast<std::size_t>(c.fd_samples));
        fd = Nd({static_cast<std::int64_t>(elems.size())});
        ana_j = Nd({static_cast<std::int64_t>(elems.size())});
        for (std::size_t q = 0; q < elems.size(); ++q) ana_j.v[q] = ana[j].v[elems[q]];
      }
      for (std::size_t q = 0; q < elems.size(); ++q) {
        const std::size_t e = elems[q];
        Nds xp = xs, xm = xs;
        xp[k].v[e] += kFdEps;
        xm[k].v[e] -= kFdEps;
        Nds op = eval_nograd(c, xp), om = eval_nograd(c, xm);
        double s = 0;
        for (std::size_t n = 0; n < gout.size(); ++n) {
          const Nd &P = op[gout[n]], &M = om[gout[n]];
          for (std::size_t m = 0; m < P.v.size(); ++m) s += ups[n].v[m] * (P.v[m] - M.v[m]);
        }
        fd.v[q] = s / (2 * kFdEps);
      }
      const std::string err = compare(ana_j, fd, kFdRtol, kFdAtol);
      check(cx, err.empty(), ctx + " grad wrt input " + std::to_string(k) + " " + dims_str(xs[k].shape) +
                                 " vs finite differences" + (c.fd_samples > 0 ? " (sampled elements)" : "") + ": " + err);
    }
  } catch (const std::exception& e) {
    check(cx, false, ctx + ": finite-difference forward threw: " + e.what());
  }

  // The same gradients through anyrl::backward(), accumulated into the leaves' grad().
  try {
    const bool scalar_path = gout.size() == 1 && outs[gout[0]].dim() == 0;
    for (std::size_t n = 0; n < gout.size(); ++n) {
      if (scalar_path) anyrl::backward(outs[gout[n]]);  // implicit upstream 1
      else anyrl::backward(outs[gout[n]], to_tensor(ups[n], DType::Float64), /*retain_graph=*/true);
    }
    for (std::size_t j = 0; j < leaves.size(); ++j) {
      const std::string gc = ctx + " backward(): input " + std::to_string(leaf_idx[j]) + ".grad()";
      Tensor g = leaves[j].grad();
      if (!check(cx, g.defined(), gc + " undefined")) continue;
      Nd got = from_tensor(g);
      if (scalar_path)
        for (auto& v : got.v) v *= ups[0].v[0];
      const std::string err = compare(got, ana[j], 1e-9, 1e-12);
      check(cx, err.empty(), gc + " vs anyrl::grad(): " + err);
    }
  } catch (const std::exception& e) {
    check(cx, false, ctx + ": backward() threw: " + e.what());
  }

  // Only one input requiring grad at a time: the op's backward must honour `needs` and still
  // give that input the same gradient.
  if (leaves.size() > 1) {
    try {
      for (std::size_t j = 0; j < leaves.size(); ++j) {
        Ts t1 = make_inputs(xs, c.in, DType::Float64, false);
        t1[leaf_idx[j]].set_requires_grad(true);
        Ts o1 = c.fn(t1);
        Nd g1(xs[leaf_idx[j]].shape);
        for (std::size_t n = 0; n < gout.size(); ++n) {
          if (!check(cx, o1[gout[n]].requires_grad(),
                     ctx + ": with only input " + std::to_string(leaf_idx[j]) + " requiring grad, output " +
                         std::to_string(gout[n]) + " does not require grad"))
            continue;
          Ts gs = anyrl::grad(o1[gout[n]], {t1[leaf_idx[j]]}, to_tensor(ups[n], DType::Float64), true);
          Nd g = from_tensor(gs.at(0));
          if (!check(cx, g.shape == g1.shape, ctx + ": gradient shape (single input requiring grad)")) break;
          for (std::size_t e = 0; e < g.v.size(); ++e) g1.v[e] += g.v[e];
        }
        const std::string err = compare(g1, ana[j], 1e-9, 1e-12);
        check(cx, err.empty(), ctx + " grad wrt input " + std::to_string(leaf_idx[j]) +
                                   " when only it requires grad, vs all inputs requiring grad: " + err);
      }
    } catch (const std::exception& e) {
      check(cx, false, ctx + ": single-input gradient threw: " + e.what());
    }
  }

  // Float32 gradients agree with the float64 ones.
  try {
    const std::string c32 = cx.str(DType::Float32);
    Ts t32 = make_inputs(xs, c.in, DType::Float32, true);
    Ts l32;
    for (auto k : leaf_idx) l32.push_back(t32[k]);
    Ts o32 = c.fn(t32);
    Nds g32;
    for (auto& l : l32) g32.emplace_back(to_dims(l.shape()));
    for (std::size_t n = 0; n < gout.size(); ++n) {
      if (!check(cx, o32[gout[n]].requires_grad(), c32 + ": float32 output does not require grad")) return;
      Ts gs = anyrl::grad(o32[gout[n]], l32, to_tensor(ups[n], o32[gout[n]].dtype()), true);
      for (std::size_t j = 0; j < l32.size(); ++j) {
        if (!check(cx, gs[j].defined() && gs[j].dtype() == DType::Float32,
                   c32 + ": gradient undefined or not float32"))
          return;
        Nd g = from_tensor(gs[j]);
        if (!check(cx, g.shape == g32[j].shape, c32 + ": gradient shape")) return;
        for (std::size_t e = 0; e < g.v.size(); ++e) g32[j].v[e] += g.v[e];
      }
    }
    for (std::size_t j = 0; j < l32.size(); ++j) {
      const std::string err = compare(g32[j], ana[j], 2e-3, 2e-4);
      check(cx, err.empty(), c32 + " grad wrt input " + std::to_string(leaf_idx[j]) + " vs float64 gradient: " + err);
    }
  } catch (const std::exception& e) {
    check(cx, false, cx.str(DType::Float32) + ": float32 gradient threw: " + e.what());
  }
}

std::uint64_t seed_of(const std::string& s, std::size_t k) {
  std::uint64_t h = 1469598103934665603ull;
  for (char ch : s) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
  return h ^ (k * 0x9E3779B97F4A7C15ull);
}

void run_op(const Op& op) {
  OpStats& st = stats()[op.name];
  for (std::size_t k = 0; k < op.cases.size(); ++k) {
    const Case& c = op.cases[k];
    Ctx cx{op.name, c.label, &st};
    INFO(op.name << c.label);
    ++st.cases;
    Rng rng(seed_of(op.name + c.label, k));
    Nds xs;
    for (auto& in : c.in) xs.push_back(random_nd(in.shape, in.dom, rng));
    if (c.fixup) c.fixup(xs);
    Nds want;
    try {
      want = c.ref(xs);
    } catch (const std::exception& e) {
      check(cx, false, op.name + c.label + ": REFERENCE threw (test bug): " + e.what());
      continue;
    }
    check_forward(cx, c, xs, want, DType::Float64);
    check_forward(cx, c, xs, want, DType::Float32);
    bool any_diff = false;
    for (auto& in : c.in) any_diff |= in.diff && !in.dtype;
    if (any_diff || c.grad == Grad::None) {
      try {
        check_gradient(cx, c, xs, rng);
      } catch (const std::exception& e) {
        check(cx, false, op.name + c.label + ": gradient check threw: " + e.what());
      }
    }
  }
}

void run_table(const std::vector<Op>& table) {
  for (const Op& op : table) {
    SUBCASE(op.name.c_str()) { run_op(op); }
  }
}

// ---------------------------------------------------------------------------------------
// Shape sets
// ---------------------------------------------------------------------------------------
const std::vector<std::pair<Dims, Dims>> kBinaryShapes = {
    {{3, 4}, {3, 4}},             // same shape, non-square
    {{3, 4}, {4}},                // broadcast b (lower rank)
    {{4}, {3, 4}},                // broadcast a
    {{3, 1}, {1, 4}},             // both broadcast (size-1 dims)
    {{2, 1, 3}, {4, 1}},          // rank 3 vs 2, size-1 both ways
    {{}, {2, 3}},                 // rank-0 a
    {{2, 3}, {}},                 // rank-0 b
    {{}, {}},                     // both scalars
    {{2, 1, 3, 1}, {1, 3, 1, 2}}, // rank 4, broadcast in both directions
    {{5, 1}, {1}},
    {{0, 3}, {3}},                // empty dim
    {{2, 0}, {1, 0}},             // empty dim, broadcast
    {{2, 1, 2, 1, 2}, {1, 2, 1, 2, 1}},          // rank 5
    {{1, 2, 1, 2, 1, 2}, {2, 1, 2, 1, 2, 1}},    // rank 6 (kMaxRank)
};

const std::vector<Dims> kUnaryShapes = {{}, {5}, {3, 4}, {2, 3, 2}, {2, 1, 3, 2}, {0, 3}};

// ---------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------
using BinOp = Tensor (*)(const Tensor&, const Tensor&);

Op binary_op(const std::string& name, BinOp f, std::function<double(double, double)> r, Domain da, Domain db) {
  Op op{name, {}};
  for (auto& [sa, sb] : kBinaryShapes)
    op.cases.push_back(mk({F(sa, da), F(sb, db)}, f1([f](const Ts& x) { return f(x[0], x[1]); }),
                          r1([r](const Nds& x) { return ref::map2(x[0], x[1], r); })));
  return op;
}

std::vector<Op> elementwise_binary_table() {
  std::vector<Op> t;
  t.push_back(binary_op("add", anyrl::add, [](double a, double b) { return a + b; }, Domain::uniform(), Domain::uniform()));
  t.push_back(binary_op("sub", anyrl::sub, [](double a, double b) { return a - b; }, Domain::uniform(), Domain::uniform()));
  t.push_back(binary_op("mul", anyrl::mul, [](double a, double b) { return a * b; }, Domain::uniform(), Domain::uniform()));
  t.push_back(binary_op("div", anyrl::div, [](double a, double b) { return a / b; }, Domain::uniform(),
                        Domain::away({0.0}, -2, 2, 0.4)));
  t.push_back(binary_op("pow", anyrl::pow, [](double a, double b) { return std::pow(a, b); }, Domain::positive(),
                        Domain::uniform()));
  t.push_back(binary_op("minimum", anyrl::minimum, [](double a, double b) { return std::min(a, b); },
                        Domain::grid_a(), Domain::grid_b()));
  t.push_back(binary_op("maximum", anyrl::maximum, [](double a, double b) { return std::max(a, b); },
                        Domain::grid_a(), Domain::grid_b()));
  // Operators are the same functions; one case each proves the wiring.
  {
    Op op{"operators", {}};
    op.cases.push_back(mk({F({3, 4}), F({4}, Domain::away({0.0}, -2, 2, 0.4))},
                          f1([](const Ts& x) { return (x[0] + x[1]) * x[0] - x[1] / x[0].detach().clone() - (-x[1]) / x[1]; }),
                          r1([](const Nds& x) {
                            // (a+b)*a - b/a_const - (-b)/b ; a_const is a detached copy of a (no gradient).
                            return ref::map2(x[0], x[1], [](double a, double b) { return (a + b) * a - b / a + 1.0; });
                          }),
                          "(a+b)*a - b/a.detach() - (-b)/b"));
    op.cases.back().fixup = [](Nds& x) {
      for (auto& v : x[0].v)
        if (std::abs(v) < 0.4) v += v < 0 ? -0.4 : 0.4;
    };
    // d/da of b/a.detach() is 0: finite differences of the *reference* would disagree, so the
    // gradient is checked against a case without detach below and here only forward.
    op.cases.back().grad = Grad::None;
    op.cases.push_back(mk({F({2, 3}), F({3})}, f1([](const Ts& x) {
                            return 2.0 * x[0] + x[1] * 3.0 - x[0] / 4.0 + (1.0 - x[1]) + (x[0] - 0.5) + 2.0 / (x[1] + 3.0);
                          }),
                          r1([](const Nds& x) {
                            return ref::map2(x[0], x[1], [](double a, double b) {
                              return 2 * a + b * 3 - a / 4 + (1 - b) + (a - 0.5) + 2 / (b + 3);
                            });
                          }),
                          "scalar operators"));
    t.push_back(op);
  }
  {
    Op op{"where", {}};
    const std::vector<std::vector<Dims>> shapes = {{{3, 4}, {3, 4}, {3, 4}}, {{3, 4}, {4}, {3, 1}},
                                                   {{1, 4}, {3, 4}, {}},     {{3, 1}, {1, 4}, {4}},
                                                   {{2, 1, 3}, {1, 2, 1}, {3}}, {{0, 2}, {2}, {1, 2}},
                                                   {{}, {2, 2}, {2, 2}}};
    for (auto& s : shapes)
      op.cases.push_back(mk({B(s[0]), F(s[1]), F(s[2])}, f1([](const Ts& x) { return anyrl::where(x[0], x[1], x[2]); }),
                            r1([](const Nds& x) {
                              return ref::map_n({&x[0], &x[1], &x[2]},
                                                [](const std::vector<double>& v) { return v[0] != 0 ? v[1] : v[2]; });
                            })));
    t.push_back(op);
  }
  return t;
}

Op scalar_op(const std::string& name, std::function<Tensor(const Tensor&)> f, std::function<double(double)> r,
             Domain d, const std::string& extra, const std::vector<Dims>& shapes = kUnaryShapes) {
  Op op{name, {}};
  for (auto& s : shapes)
    op.cases.push_back(mk({F(s, d)}, f1([f](const Ts& x) { return f(x[0]); }),
                          r1([r](const Nds& x) { return ref::map1(x[0], r); }), extra));
  return op;
}

void append(Op& dst, const Op& src) { dst.cases.insert(dst.cases.end(), src.cases.begin(), src.cases.end()); }

std::vector<Op> elementwise_scalar_table() {
  std::vector<Op> t;
  {
    Op op = scalar_op("add_scalar", [](const Tensor& a) { return anyrl::add(a, 1.75); }, [](double a) { return a + 1.75; },
                      Domain::uniform(), "s=1.75");
    append(op, scalar_op("add_scalar", [](const Tensor& a) { return anyrl::add(a, -3.0); }, [](double a) { return a - 3.0; },
                         Domain::uniform(), "s=-3", {{2, 3}}));
    t.push_back(op);
  }
  {
    Op op = scalar_op("mul_scalar", [](const Tensor& a) { return anyrl::mul(a, -2.5); }, [](double a) { return a * -2.5; },
                      Domain::uniform(), "s=-2.5");
    append(op, scalar_op("mul_scalar", [](const Tensor& a) { return anyrl::mul(a, 0.0); }, [](double a) { return a * 0.0; },
                         Domain::uniform(), "s=0", {{2, 3}}));
    t.push_back(op);
  }
  {
    Op op{"pow_scalar", {}};
    for (double e : {2.0, 3.0, 1.0})
      append(op, scalar_op("pow_scalar", [e](const Tensor& a) { return anyrl::pow(a, e); },
                           [e](double a) { return std::pow(a, e); }, Domain::uniform(), "exponent=" + std::to_string(e)));
    for (double e : {0.5, -1.5, -1.0, 0.0, 2.7})
      append(op, scalar_op("pow_scalar", [e](const Tensor& a) { return anyrl::pow(a, e); },
                           [e](double a) { return std::pow(a, e); }, Domain::positive(), "exponent=" + std::to_string(e),
                           {{5}, {2, 3}, {}}));
    t.push_back(op);
  }
  t.push_back(scalar_op("rsub", [](const Tensor& a) { return anyrl::rsub(1.5, a); }, [](double a) { return 1.5 - a; },
                        Domain::uniform(), "s=1.5"));
  t.push_back(scalar_op("rdiv", [](const Tensor& a) { return anyrl::rdiv(-2.0, a); }, [](double a) { return -2.0 / a; },
                        Domain::away({0.0}, -2, 2, 0.4), "s=-2"));
  {
    Op op = scalar_op("clamp", [](const Tensor& a) { return anyrl::clamp(a, -0.5, 0.7); },
                      [](double a) { return std::clamp(a, -0.5, 0.7); }, Domain::away({-0.5, 0.7}), "lo=-0.5 hi=0.7");
    append(op, scalar_op("clamp", [](const Tensor& a) { return anyrl::clamp(a, 0.0, 10.0); },
                         [](double a) { return std::clamp(a, 0.0, 10.0); }, Domain::away({0.0}), "lo=0 hi=10", {{3, 4}}));
    t.push_back(op);
  }
  return t;
}

std::vector<Op> elementwise_unary_table() {
  using UF = Tensor (*)(const Tensor&);
  struct U {
    const char* name;
    UF f;
    std::function<double(double)> r;
    Domain d;
  };
  const std::vector<U> us = {
      {"neg", anyrl::neg, [](double x) { return -x; }, Domain::uniform()},
      {"exp", anyrl::exp, [](double x) { return std::exp(x); }, Domain::uniform()},
      {"log", anyrl::log, [](double x) { return std::log(x); }, Domain::positive(0.3, 3.0)},
      {"sqrt", anyrl::sqrt, [](double x) { return std::sqrt(x); }, Domain::positive(0.3, 3.0)},
      {"rsqrt", anyrl::rsqrt, [](double x) { return 1.0 / std::sqrt(x); }, Domain::positive(0.3, 3.0)},
      {"abs", anyrl::abs, [](double x) { return std::abs(x); }, Domain::away({0.0})},
      {"square", anyrl::square, [](double x) { return x * x; }, Domain::uniform()},
      {"tanh", anyrl::tanh, [](double x) { return std::tanh(x); }, Domain::uniform(-3, 3)},
      {"sigmoid", anyrl::sigmoid, [](double x) { return ref::sigmoid(x); }, Domain::uniform(-4, 4)},
      {"relu", anyrl::relu, [](double x) { return x > 0 ? x : 0.0; }, Domain::away({0.0})},
      {"gelu", anyrl::gelu, [](double x) { return ref::gelu(x); }, Domain::uniform(-3, 3)},
      {"silu", anyrl::silu, [](double x) { return x * ref::sigmoid(x); }, Domain::uniform(-4, 4)},
      {"mish", anyrl::mish, [](double x) { return x * std::tanh(ref::softplus(x)); }, Domain::uniform(-4, 4)},
      {"softplus", anyrl::softplus, [](double x) { return ref::softplus(x); }, Domain::uniform(-4, 4)},
  };
  std::vector<Op> t;
  for (auto& u : us) {
    Op op = scalar_op(u.name, u.f, u.r, u.d, "");
    if (std::string(u.name) == "softplus" || std::string(u.name) == "exp" || std::string(u.name) == "sigmoid") {
      // Wide range: softplus's linear region above 20, large exponents, saturated sigmoid.
      Domain wide = std::string(u.name) == "exp" ? Domain::uniform(-30, 30) : Domain::away({20.0}, -40, 40, 0.5);
      append(op, scalar_op(u.name, u.f, u.r, wide, "wide range", {{4, 5}}));
    }
    t.push_back(op);
  }
  t.push_back(scalar_op("swish", [](const Tensor& a) { return anyrl::swish(a); },
                        [](double x) { return x * ref::sigmoid(x); }, Domain::uniform(), "", {{3, 4}}));
  return t;
}

std::vector<Op> comparison_table() {
  std::vector<Op> t;
  using CF = Tensor (*)(const Tensor&, const Tensor&);
  struct Cmp {
    const char* name;
    CF f;
    std::function<bool(double, double)> r;
  };
  const std::vector<Cmp> cs = {
      {"eq", anyrl::eq, [](double a, double b) { return a == b; }}, {"ne", anyrl::ne, [](double a, double b) { return a != b; }},
      {"lt", anyrl::lt, [](double a, double b) { return a < b; }},  {"le", anyrl::le, [](double a, double b) { return a <= b; }},
      {"gt", anyrl::gt, [](double a, double b) { return a > b; }},  {"ge", anyrl::ge, [](double a, double b) { return a >= b; }},
  };
  const std::vector<std::pair<Dims, Dims>> shapes = {{{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{3, 1}, {1, 4}},
                                                     {{}, {2, 3}},     {{0, 2}, {2}}, {{2, 1, 2, 1}, {3, 1, 2}}};
  for (auto& c : cs) {
    Op op{c.name, {}};
    auto r = c.r;
    CF f = c.f;
    for (auto& [sa, sb] : shapes)
      op.cases.push_back(with_grad(mk({F(sa, Domain::ties()), F(sb, Domain::ties())}, f1([f](const Ts& x) { return f(x[0], x[1]); }),
                                      r1([r](const Nds& x) {
                                        return ref::map2(x[0], x[1], [r](double a, double b) { return r(a, b) ? 1.0 : 0.0; })
                                            .as(DType::Bool);
                                      })),
                                   Grad::None));
    // Integer inputs.
    op.cases.push_back(with_grad(mk({I({3, 4}, -2, 3), I({4}, -2, 3)}, f1([f](const Ts& x) { return f(x[0], x[1]); }),
                                    r1([r](const Nds& x) {
                                      return ref::map2(x[0], x[1], [r](double a, double b) { return r(a, b) ? 1.0 : 0.0; })
                                          .as(DType::Bool);
                                    })),
                                 Grad::None));
    t.push_back(op);
  }
  for (double s : {0.0, 0.5}) {
    Op lt{"lt_scalar", {}}, gt{"gt_scalar", {}};
    for (auto& sh : {Dims{3, 4}, Dims{}, Dims{0}}) {
      lt.cases.push_back(with_grad(mk({F(sh, Domain::ties())}, f1([s](const Ts& x) { return anyrl::lt(x[0], s); }),
                                      r1([s](const Nds& x) { return ref::map1(x[0], [s](double a) { return a < s ? 1.0 : 0.0; }).as(DType::Bool); }),
                                      "s=" + std::to_string(s)),
                                   Grad::None));
      gt.cases.push_back(with_grad(mk({F(sh, Domain::ties())}, f1([s](const Ts& x) { return anyrl::gt(x[0], s); }),
                                      r1([s](const Nds& x) { return ref::map1(x[0], [s](double a) { return a > s ? 1.0 : 0.0; }).as(DType::Bool); }),
                                      "s=" + std::to_string(s)),
                                   Grad::None));
    }
    t.push_back(lt);
    t.push_back(gt);
  }
  {
    Op op{"logical_not", {}};
    for (auto& sh : {Dims{3, 4}, Dims{}, Dims{0, 2}})
      op.cases.push_back(with_grad(mk({B(sh)}, f1([](const Ts& x) { return anyrl::logical_not(x[0]); }),
                                      r1([](const Nds& x) { return ref::map1(x[0], [](double a) { return a != 0 ? 0.0 : 1.0; }).as(DType::Bool); })),
                                   Grad::None));
    t.push_back(op);
  }
  {
    Op op{"isfinite", {}};
    for (auto& sh : {Dims{3, 4}, Dims{9}, Dims{}, Dims{0}})
      op.cases.push_back(with_grad(mk({Fnd(sh, Domain::special())}, f1([](const Ts& x) { return anyrl::isfinite(x[0]); }),
                                      r1([](const Nds& x) {
                                        return ref::map1(x[0], [](double a) { return std::isfinite(a) ? 1.0 : 0.0; }).as(DType::Bool);
                                      })),
                                   Grad::None));
    t.push_back(op);
  }
  return t;
}

// ---- reductions ---------------------------------------------------------------------------
struct RedSpec {
  Dims shape;
  std::vector<int> dims;
};
const std::vector<RedSpec> kRedSpecs = {
    {{5}, {}},          {{5}, {0}},           {{5}, {-1}},       {{3, 4}, {}},        {{3, 4}, {0}},
    {{3, 4}, {1}},      {{3, 4}, {-1}},       {{3, 4}, {-2, 1}}, {{2, 3, 4}, {0, 2}}, {{2, 3, 4}, {-1, -3}},
    {{2, 3, 4}, {1}},   {{2, 3, 4}, {}},      {{2, 3, 1, 2}, {2}}, {{2, 3, 1, 2}, {0, 3}}, {{2, 3, 1, 2}, {1, -1}},
    {{4, 1}, {0}},      {{1, 3}, {1}},
};

int group_size(const RedSpec& s) {
  if (s.dims.empty()) return static_cast<int>(numel(s.shape));
  int g = 1;
  for (int d : s.dims) g *= static_cast<int>(s.shape[norm_dim(d, static_cast<int>(s.shape.size()))]);
  return g;
}

using RedF = std::function<Tensor(const Tensor&, const std::vector<int>&, bool)>;
using RedG = std::function<double(const std::vector<double>&)>;

Op reduction_op(const std::string& name, RedF f, RedG g, Domain d, int min_group, bool allow_empty_sum) {
  Op op{name, {}};
  std::vector<RedSpec> specs = kRedSpecs;
  if (min_group <= 1) specs.push_back({{}, {}});  // rank 0
  for (auto& s : specs) {
    if (group_size(s) < min_group) continue;
    for (bool keep : {false, true}) {
      std::vector<int> dims = s.dims;
      op.cases.push_back(mk({F(s.shape, d)}, f1([f, dims, keep](const Ts& x) { return f(x[0], dims, keep); }),
                            r1([g, dims, keep](const Nds& x) { return ref::reduce(x[0], dims, keep, g); }),
                            "dims=" + ints_str(dims) + " keepdim=" + std::to_string(keep)));
    }
  }
  // Empty inputs where the reduced groups are not empty (or the op is a sum: empty sum = 0).
  std::vector<RedSpec> empties = {{{0, 3}, {1}}, {{3, 0, 2}, {2}}};
  if (allow_empty_sum) {
    empties.push_back({{0, 3}, {0}});
    empties.push_back({{2, 0}, {}});
  }
  for (auto& s : empties)
    for (bool keep : {false, true}) {
      std::vector<int> dims = s.dims;
      op.cases.push_back(mk({F(s.shape, d)}, f1([f, dims, keep](const Ts& x) { return f(x[0], dims, keep); }),
                            r1([g, dims, keep](const Nds& x) { return ref::reduce(x[0], dims, keep, g); }),
                            "dims=" + ints_str(dims) + " keepdim=" + std::to_string(keep)));
    }
  return op;
}

std::vector<Op> reduction_table() {
  std::vector<Op> t;
  t.push_back(reduction_op("sum", [](const Tensor& a, const std::vector<int>& d, bool k) { return anyrl::sum(a, d, k); },
                           ref::vsum, Domain::uniform(), 0, true));
  t.push_back(reduction_op("mean", [](const Tensor& a, const std::vector<int>& d, bool k) { return anyrl::mean(a, d, k); },
                           ref::vmean, Domain::uniform(), 1, false));
  t.push_back(reduction_op("max", [](const Tensor& a, const std::vector<int>& d, bool k) { return anyrl::max(a, d, k); },
                           ref::vmax, Domain::distinct(), 1, false));
  t.push_back(reduction_op("min", [](const Tensor& a, const std::vector<int>& d, bool k) { return anyrl::min(a, d, k); },
                           ref::vmin, Domain::distinct(), 1, false));
  t.push_back(reduction_op("logsumexp",
                           [](const Tensor& a, const std::vector<int>& d, bool k) { return anyrl::logsumexp(a, d, k); },
                           ref::vlse, Domain::uniform(-3, 3), 1, false));
  {
    // Large logits: logsumexp must be computed stably.
    Op& op = t.back();
    op.cases.push_back(mk({F({3, 4}, Domain::uniform(500, 800))},
                          f1([](const Ts& x) { return anyrl::logsumexp(x[0], {-1}); }),
                          r1([](const Nds& x) { return ref::reduce(x[0], {-1}, false, ref::vlse); }), "large values"));
    op.cases.back().grad = Grad::None;  // finite differences of values ~800 are too noisy
  }
  t.push_back(reduction_op("var(correction=1)",
                           [](const Tensor& a, const std::vector<int>& d, bool k) { return anyrl::var(a, d, k, 1); },
                           [](const std::vector<double>& x) { return ref::vvar(x, 1); }, Domain::uniform(), 2, false));
  t.push_back(reduction_op("var(correction=0)",
                           [](const Tensor& a, const std::vector<int>& d, bool k) { return anyrl::var(a, d, k, 0); },
                           [](const std::vector<double>& x) { return ref::vvar(x, 0); }, Domain::uniform(), 1, false));
  {
    // var's default correction is 1 (PyTorch).
    Op& op = t[t.size() - 2];
    op.cases.push_back(mk({F({3, 5})}, f1([](const Ts& x) { return anyrl::var(x[0]); }),
                          r1([](const Nds& x) { return ref::reduce(x[0], {}, false, [](auto& v) { return ref::vvar(v, 1); }); }),
                          "default arguments"));
  }
  {
    Op op{"sum_to", {}};
    const std::vector<std::pair<Dims, Dims>> st = {{{3, 4}, {4}},       {{3, 4}, {1, 4}},   {{3, 4}, {3, 1}},
                                                   {{2, 3, 4}, {3, 1}}, {{2, 3, 4}, {}},    {{3, 4}, {3, 4}},
                                                   {{2, 3, 4}, {1, 1, 4}}, {{0, 3}, {3}},   {{2, 1, 3, 2}, {1, 3, 1}}};
    for (auto& [a, s] : st) {
      Dims target = s;
      op.cases.push_back(mk({F(a)}, f1([target](const Ts& x) { return anyrl::sum_to(x[0], to_shape(target)); }),
                            r1([target](const Nds& x) { return ref::sum_to(x[0], target); }), "to " + dims_str(target)));
    }
    t.push_back(op);
  }
  return t;
}

// ---- linear algebra -------------------------------------------------------------------------
std::vector<Op> linalg_table() {
  std::vector<Op> t;
  {
    Op op{"matmul", {}};
    const std::vector<std::pair<Dims, Dims>> ms = {
        {{3, 4}, {4, 5}},       {{1, 4}, {4, 1}},       {{4, 1}, {1, 3}},          {{2, 3, 4}, {2, 4, 5}},  // [E,B,H]x[E,H,O]
        {{3, 4}, {2, 4, 5}},    // [B,H] x [E,H,O]
        {{2, 3, 4}, {4, 5}},    // [E,B,H] x [H,O]
        {{2, 1, 3, 4}, {3, 4, 2}}, // broadcast leading dims both ways
        {{1, 3, 4}, {2, 4, 2}}, {{4}, {4, 5}},          {{3, 4}, {4}},             {{4}, {4}},
        {{2, 3, 4}, {4}},       {{4}, {2, 4, 5}},       {{0, 4}, {4, 3}},          {{2, 0}, {0, 3}},
        {{2, 3, 0}, {2, 0, 4}},
    };
    for (auto& [a, b] : ms)
      op.cases.push_back(mk({F(a), F(b)}, f1([](const Ts& x) { return anyrl::matmul(x[0], x[1]); }),
                            r1([](const Nds& x) { return ref::matmul(x[0], x[1]); })));
    // Larger (exercises the blocked GEMM path): forward only to keep finite differences cheap.
    op.cases.push_back(with_grad(mk({F({33, 65}), F({65, 17})}, f1([](const Ts& x) { return anyrl::matmul(x[0], x[1]); }),
                                    r1([](const Nds& x) { return ref::matmul(x[0], x[1]); }), "large"),
                                 Grad::None));
    op.cases.back().f32_rtol = 2e-4;
    op.cases.back().f32_atol = 1e-4;
    op.cases.push_back(with_grad(mk({F({3, 17, 40}), F({3, 40, 9})}, f1([](const Ts& x) { return anyrl::matmul(x[0], x[1]); }),
                                    r1([](const Nds& x) { return ref::matmul(x[0], x[1]); }), "large batched"),
                                 Grad::None));
    op.cases.back().f32_rtol = 2e-4;
    op.cases.back().f32_atol = 1e-4;
    t.push_back(op);
  }
  {
    // a x b + bias, the bias broadcast to the product (ensemble bias [E,1,O], row bias [O], ...).
    Op op{"matmul with bias", {}};
    auto add_ref = [](const Nds& x) {
      return ref::map2(ref::matmul(x[0], x[1]), x[2], [](double u, double v) { return u + v; });
    };
    const std::vector<std::array<Dims, 3>> ms = {
        {Dims{3, 4}, Dims{4, 5}, Dims{5}},             {Dims{2, 3, 4}, Dims{2, 4, 5}, Dims{2, 1, 5}},
        {Dims{3, 4}, Dims{2, 4, 5}, Dims{2, 1, 5}},    {Dims{2, 3, 4}, Dims{4, 5}, Dims{3, 5}},
        {Dims{2, 3, 4}, Dims{2, 4, 5}, Dims{2, 3, 5}}, {Dims{2, 3, 0}, Dims{2, 0, 4}, Dims{2, 1, 4}},
    };
    for (auto& m : ms)
      op.cases.push_back(mk({F(m[0]), F(m[1]), F(m[2])},
                            f1([](const Ts& x) { return anyrl::matmul(x[0], x[1], x[2]); }), r1(add_ref)));
    t.push_back(op);
  }
  {
    Op op{"linear", {}};
    auto ref_lin = [](const Nd& x, const Nd& w, const Nd* b) {
      Nd y = ref::matmul(x, ref::transpose(w, 0, 1));
      if (b) y = ref::map2(y, *b, [](double u, double v) { return u + v; });
      return y;
    };
    for (auto& xs : {Dims{3, 4}, Dims{2, 3, 4}, Dims{4}, Dims{0, 4}, Dims{1, 4}}) {
      op.cases.push_back(mk({F(xs), F({5, 4}), F({5})}, f1([](const Ts& x) { return anyrl::linear(x[0], x[1], x[2]); }),
                            r1([ref_lin](const Nds& x) { return ref_lin(x[0], x[1], &x[2]); }), "with bias"));
      op.cases.push_back(mk({F(xs), F({5, 4})}, f1([](const Ts& x) { return anyrl::linear(x[0], x[1]); }),
                            r1([ref_lin](const Nds& x) { return ref_lin(x[0], x[1], nullptr); }), "no bias"));
    }
    op.cases.push_back(mk({F({2, 3}), F({1, 3}), F({1})}, f1([](const Ts& x) { return anyrl::linear(x[0], x[1], x[2]); }),
                          r1([ref_lin](const Nds& x) { return ref_lin(x[0], x[1], &x[2]); }), "out=1"));
    t.push_back(op);
  }
  return t;
}

// ---- neural-network ops ---------------------------------------------------------------------
std::vector<Op> nn_table() {
  std::vector<Op> t;
  for (bool logsm : {false, true}) {
    Op op{logsm ? "log_softmax" : "softmax", {}};
    const std::vector<std::pair<Dims, int>> ss = {{{5}, -1},    {{3, 4}, -1},   {{3, 4}, 0},     {{3, 4}, 1},
                                                  {{2, 3, 4}, 1}, {{2, 3, 4}, 0}, {{2, 3, 4}, -1}, {{2, 1, 3}, 1},
                                                  {{0, 4}, -1}};
    for (auto& [s, d] : ss) {
      int dim = d;
      op.cases.push_back(mk({F(s, Domain::uniform(-3, 3))},
                            f1([dim, logsm](const Ts& x) { return logsm ? anyrl::log_softmax(x[0], dim) : anyrl::softmax(x[0], dim); }),
                            r1([dim, logsm](const Nds& x) {
                              return ref::along(x[0], dim, logsm ? ref::log_softmax_line : ref::softmax_line);
                            }),
                            "dim=" + std::to_string(dim)));
    }
    op.cases.push_back(mk({F({2, 5}, Domain::uniform(-1000, 1000))},
                          f1([logsm](const Ts& x) { return logsm ? anyrl::log_softmax(x[0]) : anyrl::softmax(x[0]); }),
                          r1([logsm](const Nds& x) { return ref::along(x[0], -1, logsm ? ref::log_softmax_line : ref::softmax_line); }),
                          "large logits, default dim"));
    op.cases.back().grad = Grad::None;  // saturated: gradients are ~0, finite differences meaningless
    t.push_back(op);
  }
  {
    Op op{"layer_norm", {}};
    for (auto& s : {Dims{3, 5}, Dims{2, 3, 4}, Dims{4}, Dims{4, 1}, Dims{0, 3}}) {
      const std::int64_t D = s.back();
      op.cases.push_back(mk({F(s), F({D}), F({D})}, f1([](const Ts& x) { return anyrl::layer_norm(x[0], x[1], x[2]); }),
                            r1([](const Nds& x) { return ref::layer_norm(x[0], &x[1], &x[2], 1e-5); }), "weight+bias"));
      op.cases.push_back(mk({F(s)}, f1([](const Ts& x) { return anyrl::layer_norm(x[0], Tensor(), Tensor()); }),
                            r1([](const Nds& x) { return ref::layer_norm(x[0], nullptr, nullptr, 1e-5); }), "no affine"));
    }
    op.cases.push_back(mk({F({3, 4}), F({4})}, f1([](const Ts& x) { return anyrl::layer_norm(x[0], x[1], Tensor()); }),
                          r1([](const Nds& x) { return ref::layer_norm(x[0], &x[1], nullptr, 1e-5); }), "weight only"));
    op.cases.push_back(mk({F({3, 4}), F({4})}, f1([](const Ts& x) { return anyrl::layer_norm(x[0], Tensor(), x[1]); }),
                          r1([](const Nds& x) { return ref::layer_norm(x[0], nullptr, &x[1], 1e-5); }), "bias only"));
    op.cases.push_back(mk({F({3, 6}), F({6}), F({6})}, f1([](const Ts& x) { return anyrl::layer_norm(x[0], x[1], x[2], 0.1); }),
                          r1([](const Nds& x) { return ref::layer_norm(x[0], &x[1], &x[2], 0.1); }), "eps=0.1"));
    op.cases.push_back(mk({F({2, 8}, Domain::uniform(100, 100.5))},
                          f1([](const Ts& x) { return anyrl::layer_norm(x[0], Tensor(), Tensor()); }),
                          r1([](const Nds& x) { return ref::layer_norm(x[0], nullptr, nullptr, 1e-5); }),
                          "large mean (two-pass variance)"));
    op.cases.back().grad = Grad::None;
    op.cases.back().f32_rtol = 1e-3;  // float32 inputs near 100 carry ~4e-6 absolute rounding
    op.cases.back().f32_atol = 1e-3;
    t.push_back(op);
  }
  {
    Op op{"cross_entropy", {}};
    const std::vector<std::tuple<Dims, DType>> cs = {{{4, 5}, DType::Int64}, {{4, 5}, DType::Int32}, {{2, 3, 4}, DType::Int64},
                                                     {{2, 3, 4}, DType::Int32}, {{1, 3}, DType::Int64}, {{6, 1}, DType::Int64}};
    for (auto& [s, dt] : cs) {
      Dims ts(s.begin(), s.end() - 1);
      op.cases.push_back(mk({F(s, Domain::uniform(-3, 3)), I(ts, 0, s.back(), dt)},
                            f1([](const Ts& x) { return anyrl::cross_entropy(x[0], x[1]); }),
                            r1([](const Nds& x) { return ref::cross_entropy(x[0], x[1]); })));
    }
    op.cases.push_back(mk({F({3, 4}, Domain::uniform(-500, 500)), I({3}, 0, 4)},
                          f1([](const Ts& x) { return anyrl::cross_entropy(x[0], x[1]); }),
                          r1([](const Nds& x) { return ref::cross_entropy(x[0], x[1]); }), "large logits"));
    op.cases.back().grad = Grad::None;
    t.push_back(op);
  }
  {
    Op op{"cross_entropy_soft", {}};
    auto normalise = [](Nds& x) {
      Nd& p = x[1];
      const std::int64_t C = p.shape.back();
      for (std::int64_t r = 0; r < p.size() / C; ++r) {
        double s = 0;
        for (std::int64_t c = 0; c < C; ++c) s += p.v[r * C + c];
        for (std::int64_t c = 0; c < C; ++c) p.v[r * C + c] /= s;
      }
    };
    for (auto& s : {Dims{4, 5}, Dims{2, 3, 4}, Dims{1, 3}, Dims{5}}) {
      op.cases.push_back(mk({F(s, Domain::uniform(-3, 3)), F(s, Domain::positive(0.1, 1.0))},
                            f1([](const Ts& x) { return anyrl::cross_entropy_soft(x[0], x[1]); }),
                            r1([](const Nds& x) { return ref::cross_entropy_soft(x[0], x[1]); }),
                            "grad wrt logits and target_probs"));
      op.cases.back().fixup = normalise;
    }
    t.push_back(op);
  }
  {
    Op op{"mse_loss", {}};
    for (auto& s : {Dims{3, 4}, Dims{5}, Dims{}, Dims{2, 3, 2}})
      op.cases.push_back(mk({F(s), F(s)}, f1([](const Ts& x) { return anyrl::mse_loss(x[0], x[1]); }),
                            r1([](const Nds& x) {
                              Nd d = ref::map2(x[0], x[1], [](double a, double b) { return (a - b) * (a - b); });
                              return ref::reduce(d, {}, false, ref::vmean);
                            })));
    t.push_back(op);
  }
  {
    Op op{"huber_loss", {}};
    for (double delta : {1.0, 0.5, 2.0})
      for (auto& s : {Dims{3, 4}, Dims{6}, Dims{}, Dims{2, 2, 3}}) {
        op.cases.push_back(mk({F(s, Domain::uniform(-3, 3)), F(s, Domain::uniform(-1, 1))},
                              f1([delta](const Ts& x) { return anyrl::huber_loss(x[0], x[1], delta); }),
                              r1([delta](const Nds& x) {
                                Nd d = ref::map2(x[0], x[1], [delta](double a, double b) { return ref::huber(a - b, delta); });
                                return ref::reduce(d, {}, false, ref::vmean);
                              }),
                              "delta=" + std::to_string(delta)));
        // Keep |a - b| off the kinks at +-delta (both regions are still hit: |a-b| spans 0..4).
        op.cases.back().fixup = [delta](Nds& x) {
          for (std::size_t i = 0; i < x[0].v.size(); ++i) {
            double d = x[0].v[i] - x[1].v[i];
            if (std::abs(std::abs(d) - delta) < 0.1) x[0].v[i] += d > 0 ? 0.25 : -0.25;
          }
        };
      }
    // Both regions guaranteed in one tensor.
    op.cases.push_back(mk({F({4}), F({4})}, f1([](const Ts& x) { return anyrl::huber_loss(x[0], x[1]); }),
                          r1([](const Nds& x) {
                            Nd d = ref::map2(x[0], x[1], [](double a, double b) { return ref::huber(a - b, 1.0); });
                            return ref::reduce(d, {}, false, ref::vmean);
                          }),
                          "default delta, both regions"));
    op.cases.back().fixup = [](Nds& x) {
      x[0].v = {0.3, -0.4, 2.5, -3.0};
      x[1].v = {0.1, 0.2, 0.0, 0.5};
    };
    t.push_back(op);
  }
  {
    Op op{"expectile_loss", {}};
    for (double tau : {0.7, 0.1, 0.5, 0.9})
      for (auto& s : {Dims{3, 4}, Dims{7}, Dims{}}) {
        op.cases.push_back(mk({F(s, Domain::away({0.0}))}, f1([tau](const Ts& x) { return anyrl::expectile_loss(x[0], tau); }),
                              r1([tau](const Nds& x) {
                                Nd d = ref::map1(x[0], [tau](double u) { return std::abs(tau - (u < 0 ? 1.0 : 0.0)) * u * u; });
                                return ref::reduce(d, {}, false, ref::vmean);
                              }),
                              "tau=" + std::to_string(tau)));
      }
    t.push_back(op);
  }
  return t;
}

// ---- shape ops ------------------------------------------------------------------------------
std::vector<Op> shape_table() {
  std::vector<Op> t;
  {
    Op op{"reshape", {}};
    const std::vector<std::pair<Dims, Dims>> rs = {{{2, 3, 4}, {6, 4}}, {{2, 3, 4}, {4, -1}}, {{2, 3, 4}, {-1}},
                                                   {{2, 3, 4}, {2, 12}}, {{}, {1, 1}},         {{6}, {2, -1, 3}},
                                                   {{1}, {}},            {{0, 3}, {3, 0}},     {{0, 3}, {-1, 3}},
                                                   {{3, 4}, {2, 1, 6, 1}}};
    for (auto& [a, s] : rs) {
      Dims ns = s;
      op.cases.push_back(mk({F(a)}, f1([ns](const Ts& x) { return anyrl::reshape(x[0], to_shape(ns)); }),
                            r1([ns](const Nds& x) { return ref::reshape(x[0], ns); }), "to " + dims_str(ns)));
    }
    op.cases.push_back(mk({F({3, 4})}, f1([](const Ts& x) { return x[0].reshape(anyrl::Shape{2, -1}); }),
                          r1([](const Nds& x) { return ref::reshape(x[0], {2, -1}); }), "Tensor::reshape to [2,-1]"));
    op.cases.push_back(mk({F({2, 3, 2})}, f1([](const Ts& x) { return x[0].flatten(); }),
                          r1([](const Nds& x) { return ref::reshape(x[0], {-1}); }), "Tensor::flatten"));
    t.push_back(op);
  }
  {
    Op op{"transpose", {}};
    const std::vector<std::tuple<Dims, int, int>> ts = {{{3, 4}, -2, -1}, {{2, 3, 4}, 0, 2}, {{2, 3, 4}, -1, -3},
                                                        {{2, 3, 1, 2}, 1, 3}, {{3, 4}, 1, 1}, {{0, 3}, 0, 1}, {{5}, 0, 0}};
    for (auto& [s, d0, d1] : ts) {
      int a = d0, b = d1;
      op.cases.push_back(mk({F(s)}, f1([a, b](const Ts& x) { return anyrl::transpose(x[0], a, b); }),
                            r1([a, b](const Nds& x) { return ref::transpose(x[0], a, b); }),
                            "d0=" + std::to_string(a) + " d1=" + std::to_string(b)));
    }
    op.cases.push_back(mk({F({3, 5})}, f1([](const Ts& x) { return anyrl::transpose(x[0]); }),
                          r1([](const Nds& x) { return ref::transpose(x[0], -2, -1); }), "default dims"));
    t.push_back(op);
  }
  {
    Op op{"permute", {}};
    const std::vector<std::pair<Dims, std::vector<int>>> ps = {{{2, 3, 4}, {2, 0, 1}}, {{2, 3, 4}, {1, 2, 0}},
                                                               {{2, 3, 1, 2}, {3, 1, 0, 2}}, {{2, 3, 4}, {-1, 0, 1}},
                                                               {{3, 4}, {0, 1}}, {{0, 2, 3}, {2, 0, 1}}};
    for (auto& [s, o] : ps) {
      std::vector<int> order = o;
      op.cases.push_back(mk({F(s)}, f1([order](const Ts& x) { return anyrl::permute(x[0], order); }),
                            r1([order](const Nds& x) { return ref::permute(x[0], order); }), "order=" + ints_str(order)));
    }
    t.push_back(op);
  }
  {
    Op op{"unsqueeze", {}};
    const std::vector<std::pair<Dims, int>> us = {{{3, 4}, 0}, {{3, 4}, 1}, {{3, 4}, 2}, {{3, 4}, -1}, {{3, 4}, -3}, {{}, 0}, {{0, 2}, 1}};
    for (auto& [s, d] : us) {
      int dim = d;
      op.cases.push_back(mk({F(s)}, f1([dim](const Ts& x) { return anyrl::unsqueeze(x[0], dim); }),
                            r1([dim](const Nds& x) { return ref::unsqueeze(x[0], dim); }), "dim=" + std::to_string(dim)));
    }
    t.push_back(op);
  }
  {
    Op op{"squeeze", {}};
    const std::vector<std::pair<Dims, int>> ss = {{{3, 1, 4}, 1}, {{3, 1, 4}, -2}, {{1}, 0}, {{1, 3}, 0}, {{3, 1}, -1}, {{0, 1}, 1}};
    for (auto& [s, d] : ss) {
      int dim = d;
      op.cases.push_back(mk({F(s)}, f1([dim](const Ts& x) { return anyrl::squeeze(x[0], dim); }),
                            r1([dim](const Nds& x) { return ref::squeeze(x[0], dim); }), "dim=" + std::to_string(dim)));
    }
    t.push_back(op);
  }
  {
    Op op{"concat", {}};
    const std::vector<std::pair<std::vector<Dims>, int>> cs = {
        {{{2, 3}, {4, 3}}, 0},          {{{2, 3}, {2, 1}, {2, 2}}, 1}, {{{2, 3}, {2, 1}, {2, 2}}, -1},
        {{{2, 3, 4}, {2, 1, 4}}, 1},    {{{2, 3}, {0, 3}}, 0},          {{{3, 2}}, 0},
        {{{1, 2, 2}, {3, 2, 2}}, -3},   {{{2}, {3}, {1}}, 0}};
    for (auto& [shapes, d] : cs) {
      int dim = d;
      std::vector<In> in;
      for (auto& s : shapes) in.push_back(F(s));
      op.cases.push_back(mk(in, f1([dim](const Ts& x) { return anyrl::concat(x, dim); }),
                            r1([dim](const Nds& x) { return ref::concat(x, dim); }), "dim=" + std::to_string(dim)));
    }
    t.push_back(op);
  }
  {
    Op op{"stack", {}};
    const std::vector<std::pair<std::vector<Dims>, int>> ss = {
        {{{3, 4}, {3, 4}}, 0}, {{{3, 4}, {3, 4}}, 1}, {{{3, 4}, {3, 4}, {3, 4}}, 2}, {{{3, 4}, {3, 4}}, -1},
        {{{}, {}, {}}, 0},     {{{2}}, 0},            {{{0, 2}, {0, 2}}, 1}};
    for (auto& [shapes, d] : ss) {
      int dim = d;
      std::vector<In> in;
      for (auto& s : shapes) in.push_back(F(s));
      op.cases.push_back(mk(in, f1([dim](const Ts& x) { return anyrl::stack(x, dim); }),
                            r1([dim](const Nds& x) { return ref::stack(x, dim); }), "dim=" + std::to_string(dim)));
    }
    t.push_back(op);
  }
  {
    Op op{"split", {}};
    const std::vector<std::tuple<Dims, Dims, int>> ss = {{{5, 3}, {2, 3}, 0},  {{2, 6}, {1, 2, 3}, 1}, {{2, 6}, {4, 2}, -1},
                                                         {{5, 2}, {0, 5}, 0},  {{2, 3, 4}, {1, 2}, 1}, {{4}, {4}, 0}};
    for (auto& [s, sz, d] : ss) {
      int dim = d;
      Dims sizes = sz;
      op.cases.push_back(mk({F(s)}, [sizes, dim](const Ts& x) { return anyrl::split(x[0], sizes, dim); },
                            [sizes, dim](const Nds& x) { return ref::split(x[0], sizes, dim); },
                            "sizes=" + dims_str(sizes) + " dim=" + std::to_string(dim)));
    }
    // Only one piece used downstream: the others' (undefined) gradients count as zero.
    op.cases.push_back(with_grad(mk({F({2, 6})}, [](const Ts& x) { return anyrl::split(x[0], {1, 2, 3}, 1); },
                                    [](const Nds& x) { return ref::split(x[0], {1, 2, 3}, 1); }, "only piece 1 used"),
                                 Grad::Check, {1}));
    t.push_back(op);
  }
  {
    Op op{"slice", {}};
    const std::vector<std::tuple<Dims, int, std::int64_t, std::int64_t>> ss = {
        {{5, 4}, 0, 1, 4},  {{5, 4}, 1, -3, -1}, {{2, 5, 3}, 1, 1, 4}, {{2, 5, 3}, -2, -4, 5}, {{2, 5, 3}, 1, 2, 2},
        {{2, 5, 3}, 2, 0, 3}, {{6}, 0, -2, 6},   {{3, 4}, 0, 0, -1}};
    for (auto& [s, d, b, e] : ss) {
      int dim = d;
      std::int64_t st = b, en = e;
      op.cases.push_back(mk({F(s)}, f1([dim, st, en](const Ts& x) { return anyrl::slice(x[0], dim, st, en); }),
                            r1([dim, st, en](const Nds& x) { return ref::slice(x[0], dim, st, en); }),
                            "dim=" + std::to_string(dim) + " [" + std::to_string(st) + "," + std::to_string(en) + ")"));
    }
    t.push_back(op);
  }
  {
    Op op{"expand", {}};
    const std::vector<std::pair<Dims, Dims>> es = {{{3, 1}, {3, 4}}, {{4}, {2, 3, 4}}, {{}, {2, 2}}, {{1, 1}, {2, 3}},
                                                   {{3, 4}, {3, 4}}, {{1, 3}, {0, 3}}, {{2, 1, 3}, {2, 2, 4, 3}}};
    for (auto& [a, s] : es) {
      Dims ns = s;
      op.cases.push_back(mk({F(a)}, f1([ns](const Ts& x) { return anyrl::expand(x[0], to_shape(ns)); }),
                            r1([ns](const Nds& x) { return ref::expand(x[0], ns); }), "to " + dims_str(ns)));
    }
    t.push_back(op);
  }
  {
    Op op{"repeat", {}};
    const std::vector<std::pair<Dims, Dims>> rs = {{{2, 3}, {2, 1}}, {{2, 3}, {1, 3}}, {{2, 3}, {2, 2}}, {{3}, {2, 2}},
                                                   {{2, 1, 2}, {1, 3, 2}}, {{2, 3}, {1, 1}}, {{2, 3}, {0, 1}}, {{}, {3}}};
    for (auto& [a, r] : rs) {
      Dims reps = r;
      op.cases.push_back(mk({F(a)}, f1([reps](const Ts& x) { return anyrl::repeat(x[0], reps); }),
                            r1([reps](const Nds& x) { return ref::repeat(x[0], reps); }), "reps=" + dims_str(reps)));
    }
    t.push_back(op);
  }
  {
    Op op{"slice0/select0", {}};
    op.cases.push_back(mk({F({5, 3})}, f1([](const Ts& x) { return x[0].slice0(1, 4); }),
                          r1([](const Nds& x) { return ref::slice(x[0], 0, 1, 4); }), "slice0(1,4)"));
    op.cases.push_back(mk({F({5, 3})}, f1([](const Ts& x) { return x[0].slice0(0, 0); }),
                          r1([](const Nds& x) { return ref::slice(x[0], 0, 0, 0); }), "slice0(0,0)"));
    op.cases.push_back(mk({F({3, 2, 2})}, f1([](const Ts& x) { return x[0].slice0(2, 3); }),
                          r1([](const Nds& x) { return ref::slice(x[0], 0, 2, 3); }), "slice0(2,3)"));
    op.cases.push_back(mk({F({5, 3})}, f1([](const Ts& x) { return x[0].select0(2); }),
                          r1([](const Nds& x) { return ref::squeeze(ref::slice(x[0], 0, 2, 3), 0); }), "select0(2)"));
    op.cases.push_back(mk({F({4})}, f1([](const Ts& x) { return x[0].select0(1); }),
                          r1([](const Nds& x) { return ref::squeeze(ref::slice(x[0], 0, 1, 2), 0); }), "select0(1) -> scalar"));
    op.cases.push_back(mk({F({4, 3, 2})}, f1([](const Ts& x) { return x[0].slice0(1, 3).select0(1); }),
                          r1([](const Nds& x) { return ref::squeeze(ref::slice(x[0], 0, 2, 3), 0); }), "slice0(1,3).select0(1)"));
    // Two views of the same tensor used together (gradients of both views accumulate).
    op.cases.push_back(mk({F({4, 3})}, f1([](const Ts& x) { return anyrl::mul(x[0].slice0(0, 2), x[0].slice0(2, 4)); }),
                          r1([](const Nds& x) {
                            return ref::map2(ref::slice(x[0], 0, 0, 2), ref::slice(x[0], 0, 2, 4), [](double a, double b) { return a * b; });
                          }),
                          "slice0(0,2) * slice0(2,4)"));
    t.push_back(op);
  }
  {
    Op op{"clone", {}};
    for (auto& s : {Dims{3, 4}, Dims{}, Dims{0, 2}})
      op.cases.push_back(mk({F(s)}, f1([](const Ts& x) { return x[0].clone(); }), r1([](const Nds& x) { return x[0]; })));
    t.push_back(op);
  }
  {
    Op op{"to(dtype)", {}};
    // Forward only here (a float32 output cannot be finite-differenced in float64); the
    // gradient is checked exactly in the "to(dtype) gradient" test case below.
    for (auto& s : {Dims{3, 4}, Dims{}, Dims{0}}) {
      op.cases.push_back(with_grad(mk({F(s)}, f1([](const Ts& x) { return x[0].to(DType::Float32); }),
                                      r1([](const Nds& x) { return Nd(x[0]).as(DType::Float32); }), "to float32"),
                                   Grad::None));
      op.cases.back().f32_rtol = 1e-7;
      op.cases.back().f32_atol = 1e-7;
      op.cases.push_back(mk({F(s)}, f1([](const Ts& x) { return x[0].to(DType::Float64); }),
                            r1([](const Nds& x) { return Nd(x[0]).as(DType::Float64); }), "to float64"));
      op.cases.back().f32_rtol = 1e-7;
      op.cases.back().f32_atol = 1e-7;
    }
    t.push_back(op);
  }
  return t;
}

// ---- indexing -------------------------------------------------------------------------------
std::vector<Op> index_table() {
  std::vector<Op> t;
  {
    Op op{"index_select", {}};
    const std::vector<std::tuple<Dims, int, std::int64_t, DType>> cs = {
        {{5, 3}, 0, 7, DType::Int64}, {{5, 3}, 1, 5, DType::Int64}, {{5, 3}, -1, 2, DType::Int64},
        {{2, 4, 3}, 1, 6, DType::Int64}, {{5, 3}, 0, 4, DType::Int32}, {{5, 3}, 0, 0, DType::Int64}, {{6}, 0, 3, DType::Int64}};
    for (auto& [s, d, n, dt] : cs) {
      int dim = d;
      const std::int64_t size = s[norm_dim(dim, static_cast<int>(s.size()))];
      op.cases.push_back(mk({F(s), I({n}, 0, size, dt)}, f1([dim](const Ts& x) { return anyrl::index_select(x[0], dim, x[1]); }),
                            r1([dim](const Nds& x) { return ref::index_select(x[0], dim, x[1]); }),
                            "dim=" + std::to_string(dim) + " (duplicate indices)"));
    }
    t.push_back(op);
  }
  {
    Op op{"gather", {}};
    const std::vector<std::tuple<Dims, int, Dims>> cs = {{{3, 4}, 1, {3, 5}}, {{3, 4}, 0, {2, 4}}, {{2, 3, 4}, -1, {2, 3, 2}},
                                                         {{2, 3, 4}, 1, {2, 1, 4}}, {{3, 4}, 1, {2, 2}}, {{3, 4}, 1, {3, 0}},
                                                         {{5}, 0, {7}}};
    for (auto& [s, d, is] : cs) {
      int dim = d;
      const std::int64_t size = s[norm_dim(dim, static_cast<int>(s.size()))];
      op.cases.push_back(mk({F(s), I(is, 0, size)}, f1([dim](const Ts& x) { return anyrl::gather(x[0], dim, x[1]); }),
                            r1([dim](const Nds& x) { return ref::gather(x[0], dim, x[1]); }), "dim=" + std::to_string(dim)));
    }
    t.push_back(op);
  }
  {
    Op op{"scatter_add", {}};
    const std::vector<std::tuple<Dims, int, Dims>> cs = {{{3, 4}, 0, {5, 4}}, {{3, 4}, 1, {3, 6}}, {{2, 3, 4}, -1, {2, 3, 5}},
                                                         {{2, 3, 4}, 1, {2, 4, 4}}, {{4}, 0, {9}}, {{3, 4}, 0, {0, 4}}};
    for (auto& [s, d, is] : cs) {
      int dim = d;
      const std::int64_t size = s[norm_dim(dim, static_cast<int>(s.size()))];
      op.cases.push_back(mk({F(s), I(is, 0, size), F(is)},
                            f1([dim](const Ts& x) { return anyrl::scatter_add(x[0], dim, x[1], x[2]); }),
                            r1([dim](const Nds& x) { return ref::scatter_add(x[0], dim, x[1], x[2]); }),
                            "dim=" + std::to_string(dim) + " (duplicate indices)"));
    }
    t.push_back(op);
  }
  {
    Op op{"embedding", {}};
    const std::vector<std::tuple<Dims, Dims, DType>> cs = {{{5, 3}, {6}, DType::Int64},    {{5, 3}, {2, 3}, DType::Int64},
                                                           {{5, 3}, {4}, DType::Int32},    {{4, 2}, {}, DType::Int64},
                                                           {{3, 4}, {0}, DType::Int64},    {{6, 1}, {2, 2, 2}, DType::Int64}};
    for (auto& [w, ids, dt] : cs)
      op.cases.push_back(mk({F(w), I(ids, 0, w[0], dt)}, f1([](const Ts& x) { return anyrl::embedding(x[0], x[1]); }),
                            r1([](const Nds& x) { return ref::embedding(x[0], x[1]); }), "(duplicate ids)"));
    t.push_back(op);
  }
  {
    Op op{"one_hot", {}};
    const std::vector<std::tuple<Dims, std::int64_t, DType, std::optional<DType>>> cs = {
        {{5}, 4, DType::Int64, std::nullopt}, {{2, 3}, 5, DType::Int64, std::nullopt}, {{4}, 3, DType::Int32, std::nullopt},
        {{3}, 4, DType::Int64, DType::Float64}, {{}, 3, DType::Int64, std::nullopt},  {{0}, 2, DType::Int64, std::nullopt}};
    for (auto& [s, C, dt, out] : cs) {
      std::int64_t nc = C;
      std::optional<DType> od = out;
      op.cases.push_back(with_grad(
          mk({I(s, 0, nc, dt)},
             f1([nc, od](const Ts& x) { return od ? anyrl::one_hot(x[0], nc, *od) : anyrl::one_hot(x[0], nc); }),
             r1([nc, od](const Nds& x) { return ref::one_hot(x[0], nc).as(od.value_or(DType::Float32)); }),
             "num_classes=" + std::to_string(nc) + (od ? " float64" : " default dtype")),
          Grad::None));
    }
    t.push_back(op);
  }
  return t;
}

// ---- non-differentiable / sorting ---------------------------------------------------------
std::vector<Op> sort_table() {
  std::vector<Op> t;
  for (bool is_max : {true, false}) {
    Op op{is_max ? "argmax" : "argmin", {}};
    const std::vector<std::tuple<Dims, int, bool, Domain>> cs = {
        {{3, 5}, -1, false, Domain::distinct()}, {{3, 5}, 0, true, Domain::distinct()}, {{2, 3, 4}, 1, false, Domain::distinct()},
        {{5}, 0, false, Domain::distinct()},     {{4, 6}, -1, false, Domain::ties()},    {{6, 4}, 0, true, Domain::ties()},
        {{2, 3, 4}, -3, false, Domain::ties()}};
    for (auto& [s, d, k, dom] : cs) {
      int dim = d;
      bool keep = k;
      op.cases.push_back(with_grad(
          mk({F(s, dom)},
             f1([dim, keep, is_max](const Ts& x) { return is_max ? anyrl::argmax(x[0], dim, keep) : anyrl::argmin(x[0], dim, keep); }),
             r1([dim, keep, is_max](const Nds& x) { return ref::argext(x[0], dim, keep, is_max); }),
             "dim=" + std::to_string(dim) + " keepdim=" + std::to_string(keep) + (dom.kind == Domain::Ties ? " ties" : "")),
          Grad::None));
    }
    op.cases.push_back(with_grad(mk({F({3, 4})}, f1([is_max](const Ts& x) { return is_max ? anyrl::argmax(x[0]) : anyrl::argmin(x[0]); }),
                                    r1([is_max](const Nds& x) { return ref::argext(x[0], -1, false, is_max); }), "defaults"),
                                 Grad::None));
    t.push_back(op);
  }
  {
    Op op{"topk", {}};
    const std::vector<std::tuple<Dims, std::int64_t, bool>> cs = {{{3, 6}, 2, true}, {{3, 6}, 2, false}, {{6}, 6, true},
                                                                  {{6}, 6, false},   {{2, 3, 5}, 1, true}, {{2, 3, 5}, 3, false},
                                                                  {{4, 3}, 0, true}};
    for (auto& [s, kk, lg] : cs) {
      std::int64_t k = kk;
      bool largest = lg;
      op.cases.push_back(with_grad(mk({F(s, Domain::distinct())},
                                      [k, largest](const Ts& x) {
                                        auto [v, i] = anyrl::topk(x[0], k, largest);
                                        return Ts{v, i};
                                      },
                                      [k, largest](const Nds& x) {
                                        auto [v, i] = ref::sort(x[0], largest);
                                        return Nds{ref::slice(v, -1, 0, k), ref::slice(i, -1, 0, k).as(DType::Int64)};
                                      },
                                      "k=" + std::to_string(k) + (largest ? " largest" : " smallest")),
                                   Grad::Check, {0}));
    }
    t.push_back(op);
  }
  {
    Op op{"sort", {}};
    const std::vector<std::tuple<Dims, bool, Domain>> cs = {{{3, 6}, false, Domain::distinct()}, {{3, 6}, true, Domain::distinct()},
                                                            {{2, 2, 5}, false, Domain::distinct()}, {{4, 8}, false, Domain::ties()},
                                                            {{4, 8}, true, Domain::ties()},         {{7}, true, Domain::ties()},
                                                            {{3, 0}, false, Domain::distinct()}};
    for (auto& [s, de, dom] : cs) {
      bool desc = de;
      op.cases.push_back(with_grad(mk({F(s, dom)},
                                      [desc](const Ts& x) {
                                        auto [v, i] = anyrl::sort(x[0], desc);
                                        return Ts{v, i};
                                      },
                                      [desc](const Nds& x) {
                                        auto [v, i] = ref::sort(x[0], desc);
                                        return Nds{v, i};
                                      },
                                      std::string(desc ? "descending" : "ascending") + (dom.kind == Domain::Ties ? " ties (stable)" : "")),
                                   dom.kind == Domain::Ties ? Grad::None : Grad::IfRecorded, {0}));
    }
    t.push_back(op);
  }
  {
    Op op{"cumsum", {}};
    const std::vector<std::pair<Dims, int>> cs = {{{5}, 0}, {{3, 4}, 0}, {{3, 4}, -1}, {{2, 3, 4}, 1}, {{2, 3, 4}, -3}, {{0, 3}, 1}};
    for (auto& [s, d] : cs) {
      int dim = d;
      op.cases.push_back(with_grad(mk({F(s)}, f1([dim](const Ts& x) { return anyrl::cumsum(x[0], dim); }),
                                      r1([dim](const Nds& x) { return ref::cumsum(x[0], dim); }),
                                      "dim=" + std::to_string(dim)),
                                   Grad::IfRecorded));
    }
    t.push_back(op);
  }
  return t;
}

// ---- large shapes: parallel_for paths (> 16384 elements), blocked kernels, GEMM ---------------
Case large(Case c, int samples = 6) {
  c.fd_samples = samples;
  c.f32_rtol = std::max(c.f32_rtol, 2e-4);
  c.f32_atol = std::max(c.f32_atol, 1e-4);
  return c;
}

std::vector<Op> large_table() {
  std::vector<Op> t;
  {
    Op op{"large: binary", {}};
    const std::vector<std::pair<Dims, Dims>> ss = {{{130, 300}, {300}}, {{130, 1}, {1, 300}}, {{40000}, {}}, {{3, 1, 7000}, {4, 1}}};
    const std::vector<std::tuple<std::string, BinOp, std::function<double(double, double)>, Domain, Domain>> fs = {
        {"add", anyrl::add, [](double a, double b) { return a + b; }, Domain::uniform(), Domain::uniform()},
        {"mul", anyrl::mul, [](double a, double b) { return a * b; }, Domain::uniform(), Domain::uniform()},
        {"div", anyrl::div, [](double a, double b) { return a / b; }, Domain::uniform(), Domain::away({0.0}, -2, 2, 0.4)},
        {"maximum", anyrl::maximum, [](double a, double b) { return std::max(a, b); }, Domain::grid_a(), Domain::grid_b()},
        {"pow", anyrl::pow, [](double a, double b) { return std::pow(a, b); }, Domain::positive(), Domain::uniform()}};
    for (auto& [name, f, r, da, db] : fs)
      for (auto& [sa, sb] : ss) {
        BinOp fn = f;
        auto rf = r;
        op.cases.push_back(large(mk({F(sa, da), F(sb, db)}, f1([fn](const Ts& x) { return fn(x[0], x[1]); }),
                                    r1([rf](const Nds& x) { return ref::map2(x[0], x[1], rf); }), name)));
      }
    op.cases.push_back(large(mk({B({120, 200}), F({200}), F({120, 1})}, f1([](const Ts& x) { return anyrl::where(x[0], x[1], x[2]); }),
                                r1([](const Nds& x) {
                                  return ref::map_n({&x[0], &x[1], &x[2]}, [](const std::vector<double>& v) { return v[0] != 0 ? v[1] : v[2]; });
                                }),
                                "where")));
    t.push_back(op);
  }
  {
    Op op{"large: unary", {}};
    using UF = Tensor (*)(const Tensor&);
    const std::vector<std::tuple<std::string, UF, std::function<double(double)>, Domain>> us = {
        {"exp", anyrl::exp, [](double x) { return std::exp(x); }, Domain::uniform()},
        {"log", anyrl::log, [](double x) { return std::log(x); }, Domain::positive()},
        {"rsqrt", anyrl::rsqrt, [](double x) { return 1 / std::sqrt(x); }, Domain::positive()},
        {"tanh", anyrl::tanh, [](double x) { return std::tanh(x); }, Domain::uniform()},
        {"sigmoid", anyrl::sigmoid, [](double x) { return ref::sigmoid(x); }, Domain::uniform()},
        {"relu", anyrl::relu, [](double x) { return x > 0 ? x : 0.0; }, Domain::away({0.0})},
        {"gelu", anyrl::gelu, [](double x) { return ref::gelu(x); }, Domain::uniform()},
        {"silu", anyrl::silu, [](double x) { return x * ref::sigmoid(x); }, Domain::uniform()},
        {"mish", anyrl::mish, [](double x) { return x * std::tanh(ref::softplus(x)); }, Domain::uniform()},
        {"softplus", anyrl::softplus, [](double x) { return ref::softplus(x); }, Domain::uniform()}};
    for (auto& [name, f, r, d] : us) {
      UF fn = f;
      auto rf = r;
      op.cases.push_back(large(mk({F({200, 150}, d)}, f1([fn](const Ts& x) { return fn(x[0]); }),
                                  r1([rf](const Nds& x) { return ref::map1(x[0], rf); }), name)));
    }
    op.cases.push_back(large(mk({F({200, 150}, Domain::away({-0.5, 0.5}))}, f1([](const Ts& x) { return anyrl::clamp(x[0], -0.5, 0.5); }),
                                r1([](const Nds& x) { return ref::map1(x[0], [](double v) { return std::clamp(v, -0.5, 0.5); }); }), "clamp")));
    op.cases.push_back(large(mk({F({200, 150})}, f1([](const Ts& x) { return anyrl::pow(x[0], 3.0); }),
                                r1([](const Nds& x) { return ref::map1(x[0], [](double v) { return v * v * v; }); }), "pow_scalar 3")));
    t.push_back(op);
  }
  {
    Op op{"large: reductions", {}};
    const std::vector<RedSpec> rs = {{{40, 700}, {0}}, {{40, 700}, {1}}, {{40, 700}, {}}, {{3, 50, 300}, {1}},
                                     {{3, 50, 300}, {0, 2}}, {{20000}, {0}}, {{6, 3000}, {-1}}};
    const std::vector<std::tuple<std::string, RedF, RedG, Domain>> fs = {
        {"sum", [](const Tensor& a, const std::vector<int>& d, bool k) { return anyrl::sum(a, d, k); }, ref::vsum, Domain::uniform()},
        {"mean", [](const Tensor& a, const std::vector<int>& d, bool k) { return anyrl::mean(a, d, k); }, ref::vmean, Domain::uniform()},
        {"max", [](const Tensor& a, const std::vector<int>& d, bool k) { return anyrl::max(a, d, k); }, ref::vmax, Domain::distinct()},
        {"min", [](const Tensor& a, const std::vector<int>& d, bool k) { return anyrl::min(a, d, k); }, ref::vmin, Domain::distinct()},
        {"logsumexp", [](const Tensor& a, const std::vector<int>& d, bool k) { return anyrl::logsumexp(a, d, k); }, ref::vlse,
         Domain::uniform()},
        {"var", [](const Tensor& a, const std::vector<int>& d, bool k) { return anyrl::var(a, d, k); },
         [](const std::vector<double>& x) { return ref::vvar(x, 1); }, Domain::uniform()}};
    for (auto& [name, f, g, d] : fs)
      for (auto& s : rs) {
        std::vector<int> dims = s.dims;
        RedF fn = f;
        RedG gn = g;
        Case c = large(mk({F(s.shape, d)}, f1([fn, dims](const Ts& x) { return fn(x[0], dims, false); }),
                          r1([gn, dims](const Nds& x) { return ref::reduce(x[0], dims, false, gn); }),
                          name + " dims=" + ints_str(dims)));
        if (name == "sum" || name == "mean" || name == "var") c.f32_rtol = 1e-3;  // float32 accumulation of 20k terms
        op.cases.push_back(c);
      }
    op.cases.push_back(large(mk({F({300, 200})}, f1([](const Ts& x) { return anyrl::sum_to(x[0], anyrl::Shape{200}); }),
                                r1([](const Nds& x) { return ref::sum_to(x[0], {200}); }), "sum_to [200]")));
    op.cases.push_back(large(mk({F({300, 200})}, f1([](const Ts& x) { return anyrl::sum_to(x[0], anyrl::Shape{300, 1}); }),
                                r1([](const Nds& x) { return ref::sum_to(x[0], {300, 1}); }), "sum_to [300,1]")));
    t.push_back(op);
  }
  {
    Op op{"large: matmul/linear", {}};
    const std::vector<std::pair<Dims, Dims>> ms = {{{70, 90}, {90, 50}}, {{4, 40, 60}, {60, 30}}, {{40, 60}, {3, 60, 30}},
                                                   {{3, 40, 60}, {3, 60, 30}}, {{130}, {130, 70}}, {{2, 1, 33, 20}, {3, 20, 17}}};
    for (auto& [a, b] : ms)
      op.cases.push_back(large(mk({F(a), F(b)}, f1([](const Ts& x) { return anyrl::matmul(x[0], x[1]); }),
                                  r1([](const Nds& x) { return ref::matmul(x[0], x[1]); }), "matmul")));
    op.cases.push_back(large(mk({F({300, 64}), F({32, 64}), F({32})}, f1([](const Ts& x) { return anyrl::linear(x[0], x[1], x[2]); }),
                                r1([](const Nds& x) {
                                  return ref::map2(ref::matmul(x[0], ref::transpose(x[1], 0, 1)), x[2], [](double u, double v) { return u + v; });
                                }),
                                "linear")));
    op.cases.push_back(large(mk({F({5, 60, 64}), F({32, 64})}, f1([](const Ts& x) { return anyrl::linear(x[0], x[1]); }),
                                r1([](const Nds& x) { return ref::matmul(x[0], ref::transpose(x[1], 0, 1)); }), "linear 3-D x")));
    t.push_back(op);
  }
  {
    Op op{"large: nn", {}};
    for (auto& [s, d] : std::vector<std::pair<Dims, int>>{{{300, 100}, -1}, {{300, 100}, 0}, {{4, 100, 50}, 1}}) {
      int dim = d;
      op.cases.push_back(large(mk({F(s)}, f1([dim](const Ts& x) { return anyrl::softmax(x[0], dim); }),
                                  r1([dim](const Nds& x) { return ref::along(x[0], dim, ref::softmax_line); }), "softmax dim=" + std::to_string(dim))));
      op.cases.push_back(large(mk({F(s)}, f1([dim](const Ts& x) { return anyrl::log_softmax(x[0], dim); }),
                                  r1([dim](const Nds& x) { return ref::along(x[0], dim, ref::log_softmax_line); }),
                                  "log_softmax dim=" + std::to_string(dim))));
    }
    for (auto& s : {Dims{300, 70}, Dims{4, 65, 70}, Dims{130, 5}}) {
      const std::int64_t D = s.back();
      op.cases.push_back(large(mk({F(s), F({D}), F({D})}, f1([](const Ts& x) { return anyrl::layer_norm(x[0], x[1], x[2]); }),
                                  r1([](const Nds& x) { return ref::layer_norm(x[0], &x[1], &x[2], 1e-5); }), "layer_norm"), 10));
    }
    op.cases.push_back(large(mk({F({2000, 10}), I({2000}, 0, 10)}, f1([](const Ts& x) { return anyrl::cross_entropy(x[0], x[1]); }),
                                r1([](const Nds& x) { return ref::cross_entropy(x[0], x[1]); }), "cross_entropy")));
    op.cases.push_back(large(mk({F({500, 40}), F({500, 40}, Domain::positive(0, 1))},
                                f1([](const Ts& x) { return anyrl::cross_entropy_soft(x[0], x[1]); }),
                                r1([](const Nds& x) { return ref::cross_entropy_soft(x[0], x[1]); }), "cross_entropy_soft")));
    op.cases.push_back(large(mk({F({200, 101}), F({200, 101})}, f1([](const Ts& x) { return anyrl::mse_loss(x[0], x[1]); }),
                                r1([](const Nds& x) {
                                  return ref::reduce(ref::map2(x[0], x[1], [](double a, double b) { return (a - b) * (a - b); }), {}, false, ref::vmean);
                                }),
                                "mse_loss")));
    t.push_back(op);
  }
  {
    Op op{"large: shape/index", {}};
    op.cases.push_back(large(mk({F({30, 40, 50})}, f1([](const Ts& x) { return anyrl::permute(x[0], {2, 0, 1}); }),
                                r1([](const Nds& x) { return ref::permute(x[0], {2, 0, 1}); }), "permute")));
    op.cases.push_back(large(mk({F({300, 70})}, f1([](const Ts& x) { return anyrl::transpose(x[0]); }),
                                r1([](const Nds& x) { return ref::transpose(x[0], 0, 1); }), "transpose")));
    op.cases.push_back(large(mk({F({100, 150}), F({100, 50})}, f1([](const Ts& x) { return anyrl::concat({x[0], x[1]}, 1); }),
                                r1([](const Nds& x) { return ref::concat({x[0], x[1]}, 1); }), "concat")));
    op.cases.push_back(large(mk({F({100, 300})}, f1([](const Ts& x) { return anyrl::slice(x[0], 1, 17, 250); }),
                                r1([](const Nds& x) { return ref::slice(x[0], 1, 17, 250); }), "slice")));
    op.cases.push_back(large(mk({F({300, 1})}, f1([](const Ts& x) { return anyrl::expand(x[0], anyrl::Shape{300, 100}); }),
                                r1([](const Nds& x) { return ref::expand(x[0], {300, 100}); }), "expand")));
    op.cases.push_back(large(mk({F({50, 400}), I({300}, 0, 50)}, f1([](const Ts& x) { return anyrl::embedding(x[0], x[1]); }),
                                r1([](const Nds& x) { return ref::embedding(x[0], x[1]); }), "embedding")));
    op.cases.push_back(large(mk({F({50, 400}), I({300}, 0, 400)}, f1([](const Ts& x) { return anyrl::index_select(x[0], 1, x[1]); }),
                                r1([](const Nds& x) { return ref::index_select(x[0], 1, x[1]); }), "index_select dim 1")));
    op.cases.push_back(large(mk({F({200, 150}), I({200, 100}, 0, 150)}, f1([](const Ts& x) { return anyrl::gather(x[0], 1, x[1]); }),
                                r1([](const Nds& x) { return ref::gather(x[0], 1, x[1]); }), "gather")));
    op.cases.push_back(large(mk({F({50, 150}), I({200, 150}, 0, 50), F({200, 150})},
                                f1([](const Ts& x) { return anyrl::scatter_add(x[0], 0, x[1], x[2]); }),
                                r1([](const Nds& x) { return ref::scatter_add(x[0], 0, x[1], x[2]); }), "scatter_add")));
    op.cases.push_back(with_grad(large(mk({F({200, 150})}, f1([](const Ts& x) { return anyrl::cumsum(x[0], 0); }),
                                          r1([](const Nds& x) { return ref::cumsum(x[0], 0); }), "cumsum")),
                                 Grad::IfRecorded));
    op.cases.back().f32_rtol = 1e-3;
    op.cases.push_back(with_grad(large(mk({F({100, 200}, Domain::distinct())},
                                          [](const Ts& x) {
                                            auto [v, i] = anyrl::topk(x[0], 7);
                                            return Ts{v, i};
                                          },
                                          [](const Nds& x) {
                                            auto [v, i] = ref::sort(x[0], true);
                                            return Nds{ref::slice(v, -1, 0, 7), ref::slice(i, -1, 0, 7).as(DType::Int64)};
                                          },
                                          "topk")),
                                 Grad::Check, {0}));
    op.cases.push_back(with_grad(large(mk({F({100, 200}, Domain::ties())},
                                          [](const Ts& x) {
                                            auto [v, i] = anyrl::sort(x[0], true);
                                            return Ts{v, i};
                                          },
                                          [](const Nds& x) {
                                            auto [v, i] = ref::sort(x[0], true);
                                            return Nds{v, i};
                                          },
                                          "sort (stable, ties)")),
                                 Grad::None));
    op.cases.push_back(with_grad(large(mk({F({300, 100}, Domain::ties())}, f1([](const Ts& x) { return anyrl::argmax(x[0], 0); }),
                                          r1([](const Nds& x) { return ref::argext(x[0], 0, false, true); }), "argmax (ties)")),
                                 Grad::None));
    t.push_back(op);
  }
  return t;
}

// ---- ops applied to views (non-zero storage offsets) --------------------------------------
std::vector<Op> view_table() {
  std::vector<Op> t;
  Op op{"ops on views", {}};
  auto sl = [](const Nd& a, std::int64_t b, std::int64_t e) { return ref::slice(a, 0, b, e); };
  auto sel = [](const Nd& a, std::int64_t i) { return ref::squeeze(ref::slice(a, 0, i, i + 1), 0); };
  op.cases.push_back(mk({F({5, 4}), F({3, 4, 2})}, f1([](const Ts& x) { return anyrl::matmul(x[0].slice0(2, 5), x[1].select0(2)); }),
                        r1([sl, sel](const Nds& x) { return ref::matmul(sl(x[0], 2, 5), sel(x[1], 2)); }),
                        "matmul(a.slice0(2,5), b.select0(2))"));
  op.cases.push_back(mk({F({4, 5})}, f1([](const Ts& x) { return anyrl::softmax(x[0].slice0(1, 3)); }),
                        r1([sl](const Nds& x) { return ref::along(sl(x[0], 1, 3), -1, ref::softmax_line); }), "softmax(x.slice0(1,3))"));
  op.cases.push_back(mk({F({4, 5}), F({5}), F({5})}, f1([](const Ts& x) { return anyrl::layer_norm(x[0].slice0(1, 4), x[1], x[2]); }),
                        r1([sl](const Nds& x) { return ref::layer_norm(sl(x[0], 1, 4), &x[1], &x[2], 1e-5); }), "layer_norm(x.slice0(1,4))"));
  op.cases.push_back(mk({F({4, 5})}, f1([](const Ts& x) { return anyrl::sum(x[0].select0(3), {0}); }),
                        r1([sel](const Nds& x) { return ref::reduce(sel(x[0], 3), {0}, false, ref::vsum); }), "sum(x.select0(3))"));
  op.cases.push_back(mk({F({4, 3}), F({3})}, f1([](const Ts& x) { return anyrl::add(x[0].slice0(1, 3), x[1]) * x[0].select0(0); }),
                        r1([sl, sel](const Nds& x) {
                          Nd s = ref::map2(sl(x[0], 1, 3), x[1], [](double a, double b) { return a + b; });
                          return ref::map2(s, sel(x[0], 0), [](double a, double b) { return a * b; });
                        }),
                        "(x.slice0(1,3) + b) * x.select0(0)"));
  op.cases.push_back(mk({F({4, 3})}, f1([](const Ts& x) { return anyrl::concat({x[0].slice0(2, 4), x[0].slice0(0, 1)}, 0); }),
                        r1([sl](const Nds& x) { return ref::concat({sl(x[0], 2, 4), sl(x[0], 0, 1)}, 0); }), "concat of views"));
  op.cases.push_back(mk({F({5, 3}), I({4}, 0, 3)}, f1([](const Ts& x) { return anyrl::index_select(x[0].slice0(2, 5), 0, x[1]); }),
                        r1([sl](const Nds& x) { return ref::index_select(sl(x[0], 2, 5), 0, x[1]); }), "index_select(x.slice0(2,5))"));
  op.cases.push_back(mk({F({3, 4}, Domain::distinct())}, f1([](const Ts& x) { return anyrl::max(x[0].slice0(1, 3), {1}); }),
                        r1([sl](const Nds& x) { return ref::reduce(sl(x[0], 1, 3), {1}, false, ref::vmax); }), "max(x.slice0(1,3))"));
  op.cases.push_back(mk({F({3, 2, 4})}, f1([](const Ts& x) { return anyrl::transpose(x[0].select0(1)); }),
                        r1([sel](const Nds& x) { return ref::transpose(sel(x[0], 1), 0, 1); }), "transpose(x.select0(1))"));
  op.cases.push_back(mk({F({3, 4}), I({2}, 0, 4)}, f1([](const Ts& x) { return anyrl::cross_entropy(x[0].slice0(1, 3), x[1]); }),
                        r1([sl](const Nds& x) { return ref::cross_entropy(sl(x[0], 1, 3), x[1]); }), "cross_entropy(x.slice0(1,3))"));
  op.cases.push_back(mk({F({4, 3})}, f1([](const Ts& x) { return x[0].slice0(1, 4).slice0(1, 3).reshape({6}).slice0(2, 5); }),
                        r1([sl](const Nds& x) { return ref::slice(ref::reshape(sl(sl(x[0], 1, 4), 1, 3), {6}), 0, 2, 5); }),
                        "nested views"));
  t.push_back(op);
  return t;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// The harness, one TEST_CASE per family, one SUBCASE per op.
// ---------------------------------------------------------------------------------------
TEST_CASE("op harness: elementwise binary (broadcasting)") { run_table(elementwise_binary_table()); }
TEST_CASE("op harness: elementwise with a scalar") { run_table(elementwise_scalar_table()); }
TEST_CASE("op harness: elementwise unary") { run_table(elementwise_unary_table()); }
TEST_CASE("op harness: comparisons and predicates") { run_table(comparison_table()); }
TEST_CASE("op harness: reductions") { run_table(reduction_table()); }
TEST_CASE("op harness: matmul and linear") { run_table(linalg_table()); }
TEST_CASE("op harness: neural-network ops and losses") { run_table(nn_table()); }
TEST_CASE("op harness: shape ops and views") { run_table(shape_table()); }
TEST_CASE("op harness: indexing") { run_table(index_table()); }
TEST_CASE("op harness: argmax/argmin, topk, sort, cumsum") { run_table(sort_table()); }
TEST_CASE("op harness: large shapes (parallel and blocked kernel paths)") { run_table(large_table()); }
TEST_CASE("op harness: ops on views") { run_table(view_table()); }

// ---------------------------------------------------------------------------------------
// Semantics the table cannot express
// ---------------------------------------------------------------------------------------
namespace {
Tensor f64(const std::vector<double>& v, const anyrl::Shape& s) { return Tensor::from_vector<double>(v, s); }
std::vector<double> vals(const Tensor& t) { return from_tensor(t).v; }
}  // namespace

TEST_CASE("max/min: gradient is split evenly between tied maxima") {
  Tensor a = f64({1, 3, 3, 2, 5, 0}, {2, 3}).set_requires_grad(true);
  Tensor m = anyrl::max(a, {1});
  CHECK(vals(m) == std::vector<double>{3, 5});
  anyrl::backward(m, f64({1, 1}, {2}));
  CHECK(vals(a.grad()) == std::vector<double>{0, 0.5, 0.5, 0, 1, 0});

  Tensor b = f64({2, 2, 2, 2}, {4}).set_requires_grad(true);
  anyrl::backward(anyrl::min(b));
  CHECK(vals(b.grad()) == std::vector<double>{0.25, 0.25, 0.25, 0.25});
}

TEST_CASE("maximum/minimum of equal values and relu/abs at 0 give finite gradients") {
  Tensor a = f64({1, 2}, {2}).set_requires_grad(true);
  Tensor b = f64({1, 0}, {2}).set_requires_grad(true);
  anyrl::backward(anyrl::sum(anyrl::maximum(a, b)));
  REQUIRE(a.grad().defined());
  REQUIRE(b.grad().defined());
  // The tie's gradient goes to one side or is split; in total it is 1.
  auto ga = vals(a.grad()), gb = vals(b.grad());
  CHECK(ga[0] + gb[0] == doctest::Approx(1.0));
  CHECK(ga[1] == 1.0);
  CHECK(gb[1] == 0.0);
  Tensor z = f64({0.0}, {1}).set_requires_grad(true);
  anyrl::backward(anyrl::sum(anyrl::relu(z) + anyrl::abs(z)));
  CHECK(std::isfinite(vals(z.grad())[0]));
}

TEST_CASE("to(dtype) is differentiable between float dtypes") {
  for (DType from : {DType::Float64, DType::Float32}) {
    const DType to = from == DType::Float64 ? DType::Float32 : DType::Float64;
    CAPTURE(anyrl::dtype_name(from));
    Tensor x = to_tensor(Nd({2, 3}, {1, -2, 3.5, 0.25, 5, -6}), from).set_requires_grad(true);
    Tensor y = x.to(to);
    CHECK(y.dtype() == to);
    CHECK(y.requires_grad());
    Tensor up = to_tensor(Nd({2, 3}, {0.5, 1, -1, 2, 0.125, 3}), to);
    anyrl::backward(y, up);
    REQUIRE(x.grad().defined());
    CHECK(x.grad().dtype() == from);
    CHECK(vals(x.grad()) == std::vector<double>{0.5, 1, -1, 2, 0.125, 3});
  }
  // Same dtype: still a valid (differentiable) result.
  Tensor x = f64({1, 2}, {2}).set_requires_grad(true);
  Tensor y = x.to(DType::Float64);
  anyrl::backward(anyrl::sum(y));
  CHECK(vals(x.grad()) == std::vector<double>{1, 1});
  // Integer conversions (forward).
  Tensor i = Tensor::from_vector<std::int64_t>({1, -2, 3}, {3});
  CHECK(vals(i.to(DType::Float32)) == std::vector<double>{1, -2, 3});
  CHECK(vals(f64({1.0, -2.0}, {2}).to(DType::Int64)) == std::vector<double>{1, -2});
}

TEST_CASE("views: reshape, slice0 and select0 share storage; clone does not") {
  Tensor a = f64({0, 1, 2, 3, 4, 5}, {3, 2});
  CHECK(a.reshape({2, 3}).shares_storage(a));
  CHECK(a.slice0(1, 3).shares_storage(a));
  CHECK(a.select0(2).shares_storage(a));
  CHECK_FALSE(a.clone().shares_storage(a));
  CHECK(vals(a.slice0(1, 3)) == std::vector<double>{2, 3, 4, 5});
  CHECK(vals(a.select0(2)) == std::vector<double>{4, 5});
  // A write through the original shows in the view.
  Tensor v = a.select0(1);
  a.fill_(7.0);
  CHECK(vals(v) == std::vector<double>{7, 7});
  CHECK(vals(a.reshape({6}).slice0(4, 6)) == std::vector<double>{7, 7});
}

TEST_CASE("all_finite") {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(anyrl::all_finite(f64({1, 2, 3}, {3})));
  CHECK_FALSE(anyrl::all_finite(f64({1, inf, 3}, {3})));
  CHECK_FALSE(anyrl::all_finite(f64({1, 2, -inf}, {3})));
  CHECK_FALSE(anyrl::all_finite(f64({nan, 2}, {2})));
  CHECK(anyrl::all_finite(Tensor::zeros({0, 3}, DType::Float64)));
  CHECK(anyrl::all_finite(Tensor::scalar(2.0)));
  CHECK_FALSE(anyrl::all_finite(Tensor::full({2, 2}, inf, DType::Float32)));
  CHECK(anyrl::all_finite(Tensor::from_vector<std::int64_t>({1, 2}, {2})));
}

TEST_CASE("softplus is linear above 20 and exact below") {
  Tensor x = f64({25.0, 20.5, -30.0, 0.0}, {4});
  auto y = vals(anyrl::softplus(x));
  CHECK(y[0] == doctest::Approx(25.0).epsilon(1e-12));
  CHECK(y[1] == doctest::Approx(20.5).epsilon(1e-12));
  CHECK(y[2] == doctest::Approx(std::exp(-30.0)).epsilon(1e-6));
  CHECK(y[3] == doctest::Approx(std::log(2.0)).epsilon(1e-14));
}

// ---------------------------------------------------------------------------------------
// Autograd semantics
// ---------------------------------------------------------------------------------------
TEST_CASE("autograd: two backward calls accumulate (double) the gradient; zero_grad resets") {
  Tensor w = f64({1, -2, 3}, {3}).set_requires_grad(true);
  Tensor x = f64({0.5, 2, -1}, {3});
  anyrl::backward(anyrl::sum(anyrl::mul(w, x)));
  CHECK(vals(w.grad()) == std::vector<double>{0.5, 2, -1});
  anyrl::backward(anyrl::sum(anyrl::mul(w, x)));
  CHECK(vals(w.grad()) == std::vector<double>{1, 4, -2});
  w.zero_grad();
  REQUIRE(w.grad().defined());
  CHECK(vals(w.grad()) == std::vector<double>{0, 0, 0});
  anyrl::backward(anyrl::sum(anyrl::square(w)));
  CHECK(vals(w.grad()) == std::vector<double>{2, -4, 6});
}

TEST_CASE("autograd: retain_graph allows a second backward; without it the second throws AutogradError") {
  Tensor w = f64({1, 2}, {2}).set_requires_grad(true);
  Tensor y = anyrl::sum(anyrl::exp(w));
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();
  CHECK(vals(w.grad())[0] == doctest::Approx(2 * std::exp(1.0)));
  CHECK(vals(w.grad())[1] == doctest::Approx(2 * std::exp(2.0)));
  CHECK_THROWS_AS(y.backward(), anyrl::AutogradError);

  Tensor z = anyrl::sum(anyrl::mul(w, w));
  (void)anyrl::grad(z, {w});
  CHECK_THROWS_AS(anyrl::grad(z, {w}), anyrl::AutogradError);
  Tensor z2 = anyrl::sum(anyrl::mul(w, w));
  auto g1 = anyrl::grad(z2, {w}, Tensor(), true);
  auto g2 = anyrl::grad(z2, {w}, Tensor(), true);
  CHECK(vals(g1[0]) == vals(g2[0]));
}

TEST_CASE("autograd: NoGrad records nothing; EnableGrad re-enables") {
  Tensor w = f64({1, 2}, {2}).set_requires_grad(true);
  {
    anyrl::NoGrad ng;
    CHECK_FALSE(anyrl::grad_enabled());
    Tensor y = anyrl::exp(w) * 2.0 + w;
    CHECK_FALSE(y.requires_grad());
    CHECK(y.is_leaf());
    CHECK_FALSE(anyrl::matmul(w, w).requires_grad());
    {
      anyrl::EnableGrad eg;
      CHECK(anyrl::grad_enabled());
      CHECK(anyrl::exp(w).requires_grad());
    }
    CHECK_FALSE(anyrl::grad_enabled());
  }
  CHECK(anyrl::grad_enabled());
  CHECK(anyrl::exp(w).requires_grad());
  CHECK_FALSE(anyrl::exp(f64({1}, {1})).requires_grad());
}

TEST_CASE("autograd: detach cuts the graph") {
  Tensor w = f64({1, 2}, {2}).set_requires_grad(true);
  Tensor h = anyrl::mul(w, w);
  Tensor d = h.detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.is_leaf());
  CHECK(d.shares_storage(h));
  // y = w * detach(w*w): dy/dw = w*w only.
  anyrl::backward(anyrl::sum(anyrl::mul(w, d)));
  CHECK(vals(w.grad()) == std::vector<double>{1, 4});
}

TEST_CASE("autograd: grad() w.r.t. a non-leaf and w.r.t. an unused input") {
  Tensor x = f64({1, 2, 3}, {3}).set_requires_grad(true);
  Tensor unused = f64({5, 6}, {2}).set_requires_grad(true);
  Tensor h = anyrl::mul(x, 2.0);          // non-leaf
  Tensor y = anyrl::sum(anyrl::square(h));  // dy/dh = 2h = 4x
  auto g = anyrl::grad(y, {h, unused, x});
  REQUIRE(g.size() == 3);
  CHECK(vals(g[0]) == std::vector<double>{4, 8, 12});
  REQUIRE(g[1].defined());
  CHECK(g[1].shape() == unused.shape());
  CHECK(vals(g[1]) == std::vector<double>{0, 0});
  CHECK(vals(g[2]) == std::vector<double>{8, 16, 24});
  CHECK_FALSE(x.grad().defined());
  CHECK_FALSE(unused.grad().defined());
  CHECK_FALSE(h.is_leaf());
}

TEST_CASE("autograd: a parameter used twice (diamond) gets the summed gradient") {
  Tensor w = f64({0.5, -1.5}, {2}).set_requires_grad(true);
  Tensor a = anyrl::exp(w);
  Tensor b = anyrl::mul(w, 3.0);
  Tensor c = anyrl::mul(a, b);  // d/dw (3 w e^w) = 3 e^w (1 + w)
  anyrl::backward(anyrl::sum(c));
  auto g = vals(w.grad());
  CHECK(g[0] == doctest::Approx(3 * std::exp(0.5) * 1.5).epsilon(1e-12));
  CHECK(g[1] == doctest::Approx(3 * std::exp(-1.5) * -0.5).epsilon(1e-12));
  // The same tensor as both operands.
  Tensor v = f64({3}, {1}).set_requires_grad(true);
  anyrl::backward(anyrl::sum(anyrl::mul(v, v)));
  CHECK(vals(v.grad()) == std::vector<double>{6});
  // A shared non-leaf consumed by two branches of different lengths.
  Tensor u = f64({2}, {1}).set_requires_grad(true);
  Tensor s = anyrl::square(u);                        // u^2
  Tensor out = anyrl::add(anyrl::exp(anyrl::neg(s)), s);  // e^{-u^2} + u^2
  anyrl::backward(anyrl::sum(out));
  CHECK(vals(u.grad())[0] == doctest::Approx(-2 * 2 * std::exp(-4.0) + 4).epsilon(1e-12));
}

TEST_CASE("autograd: set_grad, grad of an integer-only graph, requires_grad propagation") {
  Tensor w = f64({1, 2}, {2}).set_requires_grad(true);
  w.set_grad(f64({10, 20}, {2}));
  anyrl::backward(anyrl::sum(w));
  CHECK(vals(w.grad()) == std::vector<double>{11, 21});
  Tensor c = f64({1, 2}, {2});
  CHECK_FALSE(anyrl::add(c, c).requires_grad());
  CHECK(anyrl::add(c, w).requires_grad());
  CHECK(anyrl::add(c, w).grad_fn() != nullptr);
  CHECK(w.is_leaf());
}

TEST_CASE("autograd: leaf gradients never alias the upstream gradient or each other") {
  Tensor a = f64({1, 2}, {2}).set_requires_grad(true);
  Tensor b = f64({3, 4}, {2}).set_requires_grad(true);
  Tensor up = f64({0.5, -1}, {2});
  anyrl::backward(anyrl::add(a, b), up);  // both gradients are `up` itself in the rule
  anyrl::backward(anyrl::add(a, b), up);
  CHECK(vals(up) == std::vector<double>{0.5, -1});
  CHECK(vals(a.grad()) == std::vector<double>{1, -2});
  CHECK(vals(b.grad()) == std::vector<double>{1, -2});
  CHECK_FALSE(a.grad().shares_storage(b.grad()));
  CHECK_FALSE(a.grad().shares_storage(up));
  anyrl::backward(anyrl::sum(a));  // touches only a.grad
  CHECK(vals(a.grad()) == std::vector<double>{2, -1});
  CHECK(vals(b.grad()) == std::vector<double>{1, -2});
  a.zero_grad();
  CHECK(vals(b.grad()) == std::vector<double>{1, -2});
  // A leaf that is itself the output.
  Tensor s = Tensor::scalar(2.0, DType::Float64).set_requires_grad(true);
  s.backward();
  CHECK(s.grad().item() == 1.0);
  s.backward();
  CHECK(s.grad().item() == 2.0);
}

TEST_CASE("autograd: only leaves get .grad(); constants get none; zero_grad on a fresh leaf is harmless") {
  Tensor w = f64({1, 2}, {2}).set_requires_grad(true);
  Tensor c = f64({3, 4}, {2});
  Tensor h = anyrl::mul(w, c);
  anyrl::backward(anyrl::sum(anyrl::square(h)));
  CHECK(vals(w.grad()) == std::vector<double>{2 * 3 * 3 * 1, 2 * 4 * 4 * 2});
  CHECK_FALSE(c.grad().defined());
  CHECK_FALSE(h.grad().defined());
  Tensor fresh = f64({1}, {1}).set_requires_grad(true);
  CHECK_NOTHROW(fresh.zero_grad());
  // detach() + set_requires_grad makes a new leaf: gradients stop there.
  Tensor d = h.detach().set_requires_grad(true);
  Tensor w2 = f64({1, 1}, {2}).set_requires_grad(true);
  anyrl::backward(anyrl::sum(anyrl::mul(d, w2)));
  CHECK(vals(d.grad()) == std::vector<double>{1, 1});
  CHECK(vals(w2.grad()) == vals(h));
  CHECK(vals(w.grad()) == std::vector<double>{18, 64});  // unchanged
}

TEST_CASE("autograd: grad() with the same input listed twice fills both slots") {
  // torch.autograd.grad(a*a, [a, a]) returns (2a, 2a).
  Tensor a = Tensor::scalar(3.0, DType::Float64).set_requires_grad(true);
  auto g = anyrl::grad(anyrl::mul(a, a), {a, a});
  REQUIRE(g.size() == 2);
  CHECK(g[0].item() == 6.0);
  CHECK(g[1].item() == 6.0);
}

TEST_CASE("autograd: grad mode is thread-local") {
  anyrl::NoGrad ng;
  bool other = false;
  std::thread th([&] { other = anyrl::grad_enabled(); });
  th.join();
  CHECK(other);
  CHECK_FALSE(anyrl::grad_enabled());
}

TEST_CASE("NaN semantics follow PyTorch: propagated by max/min/maximum/minimum, found by argmax, sorted last") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor x = f64({1, nan, 2}, {3});
  CHECK(std::isnan(anyrl::max(x).item()));
  CHECK(std::isnan(anyrl::min(x).item()));
  CHECK(std::isnan(anyrl::logsumexp(x).item()));
  CHECK(anyrl::argmax(x).item() == 1);  // torch.argmax treats NaN as the maximum
  CHECK(anyrl::argmin(x).item() == 1);
  auto mx = vals(anyrl::maximum(f64({nan, 1}, {2}), f64({1, nan}, {2})));
  CHECK(std::isnan(mx[0]));
  CHECK(std::isnan(mx[1]));
  auto mn = vals(anyrl::minimum(f64({nan, 1}, {2}), f64({1, nan}, {2})));
  CHECK(std::isnan(mn[0]));
  CHECK(std::isnan(mn[1]));
  auto [sv, si] = anyrl::sort(f64({3, nan, 1}, {3}));  // ascending: NaN last
  auto s = vals(sv);
  CHECK(s[0] == 1);
  CHECK(s[1] == 3);
  CHECK(std::isnan(s[2]));
  CHECK(vals(si) == std::vector<double>{2, 0, 1});
}
