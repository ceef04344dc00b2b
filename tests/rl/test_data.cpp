// Replay buffers, offline datasets, Monte-Carlo returns, mixed sampling, buffer checkpoints.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <vector>

#include "anyrl/engine/allocator.hpp"
#include "anyrl/engine/ops.hpp"
#include "anyrl/engine/serialize.hpp"
#include "anyrl/envs/dataset.hpp"
#include "anyrl/rl/data.hpp"

using namespace anyrl;
using namespace anyrl::rl;

namespace {

// A transition whose every field encodes its id, so rows can be identified after sampling.
void add_marked(TransitionBuffer& b, int id, bool terminal = false) {
  const float o[2] = {float(id), float(id) + 0.5f};
  const float a[1] = {float(id) / 1000.f};
  const float n[2] = {float(id) + 1, float(id) + 1.5f};
  b.add(o, a, float(id), n, terminal, float(-id));
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

bool batches_equal(const Batch& a, const Batch& b) {
  return bitwise_equal(a.obs, b.obs) && bitwise_equal(a.actions, b.actions) && bitwise_equal(a.rewards, b.rewards) &&
         bitwise_equal(a.next_obs, b.next_obs) && bitwise_equal(a.masks, b.masks) &&
         bitwise_equal(a.mc_returns, b.mc_returns);
}

}  // namespace

TEST_CASE("TransitionBuffer: ring buffer wraps around and overwrites the oldest rows") {
  TransitionBuffer b({2}, 1, 5);
  CHECK(b.empty());
  for (int i = 0; i < 7; ++i) add_marked(b, i, i == 3);
  CHECK(b.size() == 5);
  CHECK(b.full());
  CHECK(b.total_added() == 7);
  CHECK(b.position() == 2);
  // Rows 0,1 hold transitions 5,6; rows 2..4 still hold 2,3,4.
  const std::vector<float> obs = b.obs().to_vector<float>();
  const std::vector<float> want = {5, 5.5f, 6, 6.5f, 2, 2.5f, 3, 3.5f, 4, 4.5f};
  CHECK(obs == want);
  CHECK(b.rewards().to_vector<float>() == std::vector<float>{5, 6, 2, 3, 4});
  CHECK(b.masks().to_vector<float>() == std::vector<float>{1, 1, 1, 0, 1});
  CHECK(b.next_obs().to_vector<float>()[0] == 6.f);
  CHECK_FALSE(b.holds(1));
  CHECK(b.holds(2));
  CHECK(b.holds(6));
  CHECK_FALSE(b.holds(7));

  SUBCASE("shape errors name the span") {
    const float o[3] = {0, 0, 0}, a[1] = {0};
    CHECK_THROWS_WITH_AS(b.add(o, a, 0.f, o, false), doctest::Contains("obs has 3 floats, expected 2"), ShapeError);
  }
  SUBCASE("gather checks the valid range") {
    TransitionBuffer c({2}, 1, 10);
    add_marked(c, 0);
    add_marked(c, 1);
    CHECK_THROWS_WITH_AS(c.gather(Tensor::from_vector<std::int64_t>({0, 2})), doctest::Contains("index 2 at position 1"),
                         ValueError);
    Batch g = c.gather(Tensor::from_vector<std::int64_t>({1, 0, 1}));
    CHECK(g.rewards.to_vector<float>() == std::vector<float>{1, 0, 1});
    CHECK(g.obs.shape() == Shape{3, 2});
    CHECK(g.actions.shape() == Shape{3, 1});
  }
}

TEST_CASE("TransitionBuffer: sampling is uniform over the valid rows") {
  TransitionBuffer b({2}, 1, 64);
  Generator gen(123);
  SUBCASE("partially filled: never samples beyond size()") {
    for (int i = 0; i < 3; ++i) add_marked(b, i);
    Batch s = b.sample(4096, gen);
    for (float r : s.rewards.to_vector<float>()) CHECK((r == 0 || r == 1 || r == 2));
  }
  SUBCASE("chi-square of 200k draws over 10 rows") {
    TransitionBuffer c({2}, 1, 10);
    for (int i = 0; i < 10; ++i) add_marked(c, i);
    std::vector<double> counts(10, 0.0);
    const int n = 200000;
    for (int k = 0; k < 20; ++k)
      for (float r : c.sample(n / 20, gen).rewards.to_vector<float>()) counts[static_cast<int>(r)] += 1;
    double chi2 = 0;
    for (double cnt : counts) chi2 += (cnt - n / 10.0) * (cnt - n / 10.0) / (n / 10.0);
    // 9 degrees of freedom: P(chi2 > 27.88) = 0.001.
    CHECK(chi2 < 27.88);
  }
  SUBCASE("same generator state, same samples") {
    for (int i = 0; i < 20; ++i) add_marked(b, i);
    Generator g1(5), g2(5);
    CHECK(batches_equal(b.sample(32, g1), b.sample(32, g2)));
  }
  CHECK_THROWS_AS(TransitionBuffer({2}, 1, 4).sample(1, gen), ValueError);
}

TEST_CASE("MixedSampler: exact offline/online fractions, offline rows first") {
  TransitionBuffer off({2}, 1, 300), on({2}, 1, 300);
  for (int i = 0; i < 300; ++i) add_marked(off, i);       // rewards < 1000: offline
  for (int i = 0; i < 100; ++i) add_marked(on, 1000 + i);  // rewards >= 1000: online
  Generator gen(9);
  auto count_offline = [](const Batch& b) {
    std::int64_t k = 0;
    for (float r : b.rewards.to_vector<float>()) k += r < 1000;
    return k;
  };
  auto offline_prefix = [](const Batch& b) {
    auto r = b.rewards.to_vector<float>();
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(r.size()); ++i)
      if ((i < b.num_offline) != (r[i] < 1000)) return false;
    return true;
  };
  for (auto [frac, want] : {std::pair{0.5, 128}, std::pair{0.25, 64}, std::pair{1.0, 256}, std::pair{0.0, 0}}) {
    MixedSampler m(off, on, MixOptions{frac, false});
    for (int rep = 0; rep < 5; ++rep) {
      Batch b = m.sample(256, gen);
      CHECK(b.size() == 256);
      CHECK(b.num_offline == want);
      CHECK(count_offline(b) == want);
      CHECK(offline_prefix(b));
    }
  }
  SUBCASE("Batch::to keeps everything") {
    Batch b = MixedSampler(off, on).sample(8, gen);
    Batch c = b.to(Device::cpu());
    CHECK(c.num_offline == 4);
    CHECK(c.rewards.to_vector<float>() == b.rewards.to_vector<float>());
  }
  SUBCASE("proportional to the buffer sizes (distillation)") {
    MixedSampler m(off, on, MixOptions{0.5, true});
    Batch b = m.sample(256, gen);
    CHECK(count_offline(b) == 192);  // 256 * 300 / 400
    CHECK(m.offline_count(100) == 75);
  }
  SUBCASE("an empty online buffer gives an all-offline batch") {
    TransitionBuffer empty({2}, 1, 10);
    MixedSampler m(off, empty, MixOptions{0.5, false});
    CHECK(count_offline(m.sample(64, gen)) == 64);
  }
  CHECK_THROWS_AS(MixedSampler(off, on, MixOptions{1.5, false}), ValueError);
  CHECK_THROWS_AS(MixedSampler(off, TransitionBuffer({3}, 1, 4)), ShapeError);
}

TEST_CASE("Monte-Carlo returns: hand-computed episodes, failure convention") {
  ReturnOptions ro;
  ro.gamma = 0.9;
  ro.failure_reward = -1.0;
  std::vector<float> out(3);
  // Success at the last step (rewards after bias -1): -1, -1, 0.
  discounted_returns(std::vector<float>{-1, -1, 0}, ro, out);
  CHECK(out[2] == doctest::Approx(0.0));
  CHECK(out[1] == doctest::Approx(-1.0));
  CHECK(out[0] == doctest::Approx(-1.9));
  // A failed sparse episode: every transition gets r / (1 - gamma) = -10, not the truncated sum.
  std::vector<float> f(4);
  discounted_returns(std::vector<float>{-1, -1, -1, -1}, ro, f);
  for (float v : f) CHECK(v == doctest::Approx(-10.0));
  ro.failure_reward.reset();
  discounted_returns(std::vector<float>{-1, -1, -1, -1}, ro, f);
  CHECK(f[0] == doctest::Approx(-1 - 0.9 - 0.81 - 0.729));
  CHECK(f[3] == doctest::Approx(-1.0));
}

TEST_CASE("EpisodeWriter: online episodes get their MC returns when they end") {
  TransitionBuffer b({2}, 1, 100, RewardTransform{1.0, -1.0});
  ReturnOptions ro{0.9, -1.0};
  EpisodeWriter w(b, ro, 10);
  const float o[2] = {0, 0}, a[1] = {0};
  // Success episode: raw rewards 0, 0, 1 (terminal at the goal).
  w.add(o, a, 0.f, o, false);
  w.add(o, a, 0.f, o, false);
  w.add(o, a, 1.f, o, true);
  CHECK(b.mc_return_at(0) == kPendingReturn);  // not known before the episode ends
  CHECK(w.end() == doctest::Approx(-2.0));
  CHECK(b.mc_return_at(0) == doctest::Approx(-1.9));
  CHECK(b.mc_return_at(1) == doctest::Approx(-1.0));
  CHECK(b.mc_return_at(2) == doctest::Approx(0.0));
  CHECK(b.masks().to_vector<float>() == std::vector<float>{1, 1, 0});
  // Failed episode cut by the time limit: raw rewards all 0 -> -1 each -> failure tail -10.
  for (int i = 0; i < 4; ++i) w.add(o, a, 0.f, o, false);
  w.end();
  for (int r = 3; r < 7; ++r) CHECK(b.mc_return_at(r) == doctest::Approx(-10.0));
  CHECK(w.length() == 0);

  SUBCASE("an episode longer than the buffer keeps the returns of its surviving rows") {
    TransitionBuffer small({2}, 1, 3);
    EpisodeWriter w2(small, ReturnOptions{0.5, std::nullopt}, 4);
    for (int i = 0; i < 5; ++i) w2.add(o, a, 1.f, o, false);
    w2.end();
    // Surviving transitions are the last 3 (stamps 2,3,4 at rows 2,0,1): returns 1.75, 1.5, 1.
    CHECK(small.mc_return_at(2) == doctest::Approx(1.75));
    CHECK(small.mc_return_at(0) == doctest::Approx(1.5));
    CHECK(small.mc_return_at(1) == doctest::Approx(1.0));
  }
}

TEST_CASE("from_dataset: rewards, masks, next observations and MC returns of a D4RL dataset") {
  envs::Dataset d;
  d.obs_dim = 1;
  d.action_dim = 1;
  // Episode A: 3 steps reaching the goal (terminal). Episode B: 3 steps, cut by a timeout, never succeeds.
  d.observations = {0, 1, 2, 10, 11, 12};
  d.actions = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
  d.rewards = {0, 0, 1, 0, 0, 0};
  d.terminals = {0, 0, 1, 0, 0, 0};
  d.timeouts = {0, 0, 0, 0, 0, 1};
  d.size = 6;
  OfflineOptions opt;
  opt.reward = RewardTransform{1.0, -1.0};
  opt.returns = ReturnOptions{0.9, -1.0};
  OfflineStats st;
  TransitionBuffer b = TransitionBuffer::from_dataset(d, opt, &st);
  // No next_observations: the last row of the cut episode B has no successor and is dropped.
  CHECK(st.episodes == 2);
  CHECK(st.dropped == 1);
  CHECK(st.failed_episodes == 1);
  CHECK(b.size() == 5);
  CHECK(b.rewards().to_vector<float>() == std::vector<float>{-1, -1, 0, -1, -1});
  CHECK(b.masks().to_vector<float>() == std::vector<float>{1, 1, 0, 1, 1});
  CHECK(b.next_obs().to_vector<float>() == std::vector<float>{1, 2, 2, 11, 12});
  const auto mc = b.mc_returns().to_vector<float>();
  CHECK(mc[0] == doctest::Approx(-1.9));
  CHECK(mc[1] == doctest::Approx(-1.0));
  CHECK(mc[2] == doctest::Approx(0.0));
  CHECK(mc[3] == doctest::Approx(-10.0));
  CHECK(mc[4] == doctest::Approx(-10.0));

  SUBCASE("next_observations from the file are used as given") {
    d.next_observations = {1, 2, 3, 11, 12, 13};
    TransitionBuffer c = TransitionBuffer::from_dataset(d, opt);
    CHECK(c.size() == 6);
    CHECK(c.next_obs().to_vector<float>() == std::vector<float>{1, 2, 3, 11, 12, 13});
  }
  SUBCASE("NaN/Inf are refused with the array and index") {
    d.observations[4] = std::nanf("");
    opt.source = "maze.hdf5";
    CHECK_THROWS_WITH_AS(TransitionBuffer::from_dataset(d, opt),
                         doctest::Contains("from_dataset(maze.hdf5): observations[4] is nan"), ValueError);
    d.observations[4] = 11;
    d.actions[2] = INFINITY;
    CHECK_THROWS_WITH_AS(TransitionBuffer::from_dataset(d, opt), doctest::Contains("actions[2] is inf"), ValueError);
  }
  SUBCASE("inconsistent sizes name the array") {
    d.rewards.pop_back();
    CHECK_THROWS_WITH_AS(TransitionBuffer::from_dataset(d, opt), doctest::Contains("rewards has 5 values, expected 6"),
                         ValueError);
  }
}

TEST_CASE("Steady state: adding and sampling allocate nothing from the OS") {
  TransitionBuffer off({17}, 6, 2000), on({17}, 6, 1000);
  std::vector<float> o(17, 0.5f), a(6, 0.1f);
  for (int i = 0; i < 2000; ++i) off.add(o, a, 1.f, o, false, 0.f);
  EpisodeWriter w(on, ReturnOptions{0.99, -1.0}, 100);
  MixedSampler mix(off, on, MixOptions{0.5, false});
  Generator gen(1);
  auto iteration = [&](int i) {
    o[0] = static_cast<float>(i);
    w.add(o, a, 0.f, o, false);
    if (w.length() == 50) w.end();
    Batch b = mix.sample(256, gen);
    Batch c = off.sample(256, gen);
    CHECK(b.size() == 256);
  };
  for (int i = 0; i < 1100; ++i) iteration(i);  // fills the online ring, warms the cache
  reset_allocator_stats();
  for (int i = 0; i < 500; ++i) iteration(i);
  const AllocatorStats st = allocator_stats();
  CHECK(st.os_allocs == 0);
  CHECK(st.requests > 0);
}

TEST_CASE("state_dict round trip: the restored buffer gives bitwise the same future samples") {
  const std::string path = (std::filesystem::temp_directory_path() / ("anyrl_rl_buffer_state_" + std::to_string(::getpid()) + ".safetensors")).string();
  TransitionBuffer a({3}, 2, 50);
  Generator fill(77);
  auto add_random = [&](TransitionBuffer& b, Generator& g) {
    std::vector<float> o(3), n(3), act(2);
    for (auto& v : o) v = g.uniform_float();
    for (auto& v : n) v = g.uniform_float();
    for (auto& v : act) v = g.uniform_float() * 2 - 1;
    b.add(o, act, g.uniform_float(), n, g.uniform_float() < 0.1f, g.uniform_float());
  };
  for (int i = 0; i < 73; ++i) add_random(a, fill);  // wrapped
  save_safetensors(path, a.state_dict("buffer."));
  TransitionBuffer b({3}, 2, 50);
  b.load_state_dict(load_safetensors(path), "buffer.");
  CHECK(b.size() == a.size());
  CHECK(b.position() == a.position());
  CHECK(b.total_added() == a.total_added());
  Generator g1(2024), g2(2024);
  CHECK(batches_equal(a.sample(128, g1), b.sample(128, g2)));
  // Continue both identically: same rows overwritten, same samples.
  Generator f1 = fill, f2 = fill;
  for (int i = 0; i < 30; ++i) add_random(a, f1), add_random(b, f2);
  CHECK(batches_equal(a.sample(128, g1), b.sample(128, g2)));
  CHECK(bitwise_equal(a.obs(), b.obs()));

  SUBCASE("generator state round trip") {
    Generator g(5, 3);
    g.uniform_float();
    Generator h;
    set_generator_state(h, generator_state(g));
    CHECK(h.state() == g.state());
  }
  SUBCASE("mismatched buffers are refused") {
    TransitionBuffer c({3}, 2, 40);
    CHECK_THROWS_WITH_AS(c.load_state_dict(a.state_dict()), doctest::Contains("capacity 50"), ValueError);
    TensorMap sd = a.state_dict();
    sd.erase("masks");
    TransitionBuffer e({3}, 2, 50);
    CHECK_THROWS_WITH_AS(e.load_state_dict(sd), doctest::Contains("no entry 'masks'"), ValueError);
    CHECK(e.size() == 0);  // unchanged
  }
  std::filesystem::remove(path);
}
