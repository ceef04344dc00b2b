// Checkpoints: round trip, atomicity under a simulated crash, truncation, pruning, NaN guard.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "anyrl/engine/ops.hpp"
#include "anyrl/engine/optim.hpp"
#include "anyrl/engine/serialize.hpp"
#include "anyrl/rl/checkpoint.hpp"
#include "anyrl/rl/data.hpp"

using namespace anyrl;
using namespace anyrl::rl;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("anyrl_rl_test_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(p);
  return p;
}

Checkpoint make_checkpoint(std::int64_t step, float w) {
  Checkpoint ck;
  ck.step = step;
  ck.group("policy")["w"] = Tensor::full(Shape{2, 3}, w);
  ck.group("critic")["q.weight"] = Tensor::full(Shape{4}, w * 2);
  ck.group("critic_optim");  // empty groups survive too
  ck.set_counter("env_steps", step * 10);
  Generator g(42, 1);
  g.uniform_float();
  ck.set_rng("train", g);
  ck.metadata["phase"] = "online";
  return ck;
}

}  // namespace

TEST_CASE("Checkpoint: groups, counters, RNG state and metadata round trip") {
  const fs::path d = fresh_dir("ckpt_roundtrip");
  TransitionBuffer buf({2}, 1, 8);
  const float o[2] = {1, 2}, a[1] = {0.5f};
  for (int i = 0; i < 11; ++i) buf.add(o, a, float(i), o, i % 4 == 0, 0.f);
  Checkpoint ck = make_checkpoint(1234, 0.5f);
  ck.groups["buffer"] = buf.state_dict();
  Adam opt({Tensor::ones(Shape{3}).set_requires_grad()}, AdamOptions{});
  ck.groups["policy_optim"] = opt.state_dict();
  save_checkpoint(d / "a.safetensors", ck);

  const Checkpoint back = load_checkpoint(d / "a.safetensors", {"policy", "critic", "buffer"});
  CHECK(back.step == 1234);
  CHECK(back.metadata.at("phase") == "online");
  CHECK(back.has("critic_optim"));
  CHECK(back.at("critic_optim").empty());
  CHECK(back.tensor("policy", "w").to_vector<float>() == std::vector<float>(6, 0.5f));
  CHECK(back.counter("env_steps") == 12340);
  Generator g;
  back.get_rng("train", g);
  Generator want(42, 1);
  want.uniform_float();
  CHECK(g.state() == want.state());
  TransitionBuffer buf2({2}, 1, 8);
  buf2.load_state_dict(back.at("buffer"));
  CHECK(buf2.total_added() == 11);
  CHECK(buf2.rewards().to_vector<float>() == buf.rewards().to_vector<float>());

  SUBCASE("missing groups and tensors are named") {
    CHECK_THROWS_WITH_AS(load_checkpoint(d / "a.safetensors", {"policy", "target", "alpha"}),
                         doctest::Contains("is missing groups target, alpha (it has: buffer, counters, critic"),
                         ValueError);
    CHECK_THROWS_WITH_AS(back.tensor("policy", "b"), doctest::Contains("group 'policy' has no tensor 'b' (it has: w)"),
                         ValueError);
    CHECK_THROWS_WITH_AS(back.counter("updates"), doctest::Contains("no tensor 'updates'"), ValueError);
  }
  SUBCASE("a plain safetensors file is not a checkpoint") {
    save_safetensors((d / "plain.safetensors").string(), {{"x", Tensor::ones(Shape{1})}});
    CHECK_THROWS_WITH_AS(load_checkpoint(d / "plain.safetensors"), doctest::Contains("is not an anyrl checkpoint"), IOError);
  }
  fs::remove_all(d);
}

TEST_CASE("CheckpointManager: latest pointer, keep_last pruning, pinned phase ends") {
  const fs::path d = fresh_dir("ckpt_manager");
  CheckpointManager m(d, 2);
  CHECK_FALSE(m.latest().has_value());
  CHECK_THROWS_WITH_AS(m.load_latest(), doctest::Contains("no checkpoint in"), IOError);
  m.save(make_checkpoint(100, 1.f));
  const fs::path pinned = m.save(make_checkpoint(200, 2.f), "offline_end", true);
  m.save(make_checkpoint(300, 3.f));
  const fs::path last = m.save(make_checkpoint(400, 4.f));
  // keep_last 2 unpinned (300, 400) + the pinned phase end.
  const auto files = m.list();
  REQUIRE(files.size() == 3);
  CHECK(files[0] == pinned);
  CHECK(files[1].filename() == "ckpt_000000000300.safetensors");
  CHECK(files[2] == last);
  CHECK(*m.latest() == last);
  CHECK(m.load_latest().step == 400);
  CHECK(m.load_latest().tensor("policy", "w").to_vector<float>()[0] == 4.f);
  fs::remove_all(d);
}

TEST_CASE("Checkpoint atomicity: a crash mid-write leaves the previous checkpoint loadable") {
  const fs::path d = fresh_dir("ckpt_crash");
  CheckpointManager m(d, 3);
  const fs::path good = m.save(make_checkpoint(100, 1.f));

  // Crash while writing step 200: save_safetensors writes "<file>.tmp.<pid>" and renames only
  // when complete, so a crash leaves a partial temp file and no ckpt_...200 under its name...
  const fs::path next = d / "ckpt_000000000200.safetensors";
  save_checkpoint(next, make_checkpoint(200, 2.f));
  const auto full_size = fs::file_size(next);
  fs::remove(next);
  {
    std::ofstream tmp(next.string() + ".tmp.99999", std::ios::binary);
    tmp << std::string(static_cast<std::size_t>(full_size / 2), 'x');
  }
  CHECK(*m.latest() == good);
  CHECK(m.load_latest().step == 100);
  // ...and a crash after the rename but before `latest` moved leaves latest on the old one.
  save_checkpoint(next, make_checkpoint(200, 2.f));
  CHECK(*m.latest() == good);
  CHECK(m.load_latest().tensor("policy", "w").to_vector<float>()[0] == 1.f);
  // Temp files are not mistaken for checkpoints.
  CHECK(m.list().size() == 2);

  SUBCASE("a truncated checkpoint is a clear error naming the file") {
    fs::resize_file(next, full_size - 7);
    try {
      (void)load_checkpoint(next);
      FAIL("no error");
    } catch (const IOError& e) {
      const std::string msg = e.what();
      CHECK(msg.find("cannot load checkpoint '" + next.string() + "'") != std::string::npos);
    }
    fs::resize_file(next, 5);
    CHECK_THROWS_WITH_AS(load_checkpoint(next), doctest::Contains("cannot load checkpoint"), IOError);
  }
  SUBCASE("latest naming a vanished file is reported") {
    fs::remove(good);
    CHECK_THROWS_WITH_AS(m.latest(), doctest::Contains("which does not exist"), IOError);
  }
  fs::remove_all(d);
}

TEST_CASE("NaN/Inf guard: clear messages the trainer turns into a stop message") {
  CHECK_NOTHROW(check_finite("critic loss", 0.5));
  CHECK_THROWS_WITH_AS(check_finite("critic loss", std::nan("")), "critic loss is NaN", NonFiniteError);
  CHECK_THROWS_WITH_AS(check_finite("critic loss", -INFINITY), "critic loss is -Inf", NonFiniteError);
  CHECK_NOTHROW(check_finite("q", Tensor::ones(Shape{4, 4})));
  CHECK_THROWS_WITH_AS(check_finite("critic loss", Tensor::scalar(std::nan(""))), "critic loss is NaN", NonFiniteError);
  std::vector<float> v(256, 1.f);
  v[17] = std::nanf("");
  v[30] = std::nanf("");
  v[40] = INFINITY;
  CHECK_THROWS_WITH_AS(check_finite("q_values", Tensor::from_vector(v, Shape{16, 16})),
                       "q_values has 2 NaN and 1 Inf among 256 values (first at flat index 17)", NonFiniteError);
  CHECK_NOTHROW(check_bounded("q", Tensor::full(Shape{3}, -99.0), 100.0));
  CHECK_THROWS_WITH_AS(check_bounded("q", Tensor::from_vector<float>({1.f, -2e6f, 3.f}), 1e5),
                       doctest::Contains("q has 1 values beyond"), NonFiniteError);
  try {
    check_finite("critic loss", std::nan(""));
  } catch (const NonFiniteError& e) {
    CHECK(e.name == "critic loss");
    CHECK(stopped_message(5000, e, fs::path("runs/a/checkpoints/ckpt_000000004000.safetensors")) ==
          "stopped at step 5000: critic loss is NaN; last good checkpoint: runs/a/checkpoints/ckpt_000000004000.safetensors");
    CHECK(stopped_message(3, e, std::nullopt) == "stopped at step 3: critic loss is NaN; no checkpoint was written yet");
  }
}
