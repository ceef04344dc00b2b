// Module plumbing: stable dotted names, parameters(), train/eval, dtype conversion,
// state_dict / load_state_dict errors, safetensors round trip, shared sub-modules.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>

#include "anyrl/nn/nn.hpp"

using namespace anyrl;
using namespace anyrl::nn;

namespace {
struct Critic : Module {
  MLP mlp;
  Critic(Generator& gen) : mlp(MLPConfig{4, {8, 8}, 1, Activation::ReLU, true}, gen) { register_module("critic", mlp); }
};
struct Net : Module {
  std::shared_ptr<Linear> shared;
  Critic a, b;
  Tensor scale;
  Net(Generator& gen) : shared(std::make_shared<Linear>(3, 3, gen)), a(gen), b(gen) {
    register_module("a", a);
    register_module("b", b);
    register_module("enc1", shared);
    register_module("enc2", shared);
    scale = Tensor::ones(Shape{2});
    register_buffer("scale", scale);
  }
};
std::string tmp_path(const char* name) { return (std::filesystem::temp_directory_path() / name).string(); }
}  // namespace

TEST_CASE("named_parameters gives stable dotted paths in registration order") {
  Generator gen(1);
  Critic c(gen);
  auto np = c.named_parameters();
  std::vector<std::string> names;
  for (auto& [n, t] : np) names.push_back(n);
  std::vector<std::string> want = {"critic.layers.0.weight", "critic.layers.0.bias", "critic.norms.0.weight",
                                   "critic.norms.0.bias",    "critic.layers.1.weight", "critic.layers.1.bias",
                                   "critic.norms.1.weight",  "critic.norms.1.bias",  "critic.layers.2.weight",
                                   "critic.layers.2.bias"};
  CHECK(names == want);
  CHECK(np[0].second.shape() == Shape{8, 4});
  CHECK(c.num_parameters() == 8 * 4 + 8 + 8 + 8 + 8 * 8 + 8 + 8 + 8 + 8 + 1);
  for (auto& p : c.parameters()) CHECK(p.requires_grad());
}

TEST_CASE("shared sub-modules: listed under each path, one tensor in parameters()") {
  Generator gen(2);
  Net n(gen);
  auto sd = n.state_dict();
  CHECK(sd.count("enc1.weight") == 1);
  CHECK(sd.count("enc2.weight") == 1);
  CHECK(sd.count("scale") == 1);
  CHECK(sd.at("enc1.weight").shares_storage(sd.at("enc2.weight")));
  CHECK(static_cast<std::int64_t>(n.parameters().size()) == 2 * 10 + 2);
}

TEST_CASE("train/eval propagates; requires_grad_ freezes") {
  Generator gen(3);
  Net n(gen);
  CHECK(n.a.mlp.is_training());
  n.eval();
  CHECK_FALSE(n.a.mlp.is_training());
  CHECK_FALSE(n.shared->is_training());
  n.train();
  CHECK(n.b.mlp.is_training());
  n.requires_grad_(false);
  for (auto& p : n.parameters()) CHECK_FALSE(p.requires_grad());
}

TEST_CASE("load_state_dict: strict errors name the key; non-strict skips missing/extra") {
  Generator gen(4);
  Critic c(gen);
  TensorMap sd = c.state_dict();
  TensorMap missing = sd;
  missing.erase("critic.layers.1.bias");
  try {
    c.load_state_dict(missing);
    FAIL("expected an error");
  } catch (const ValueError& e) {
    CHECK(std::string(e.what()).find("critic.layers.1.bias") != std::string::npos);
  }
  TensorMap bad = sd;
  bad["critic.layers.0.weight"] = Tensor::zeros(Shape{4, 8});
  try {
    c.load_state_dict(bad);
    FAIL("expected an error");
  } catch (const ValueError& e) {
    CHECK(std::string(e.what()).find("critic.layers.0.weight") != std::string::npos);
    CHECK(std::string(e.what()).find("[4,8]") != std::string::npos);
  }
  TensorMap extra = sd;
  extra["critic.layers.9.weight"] = Tensor::zeros(Shape{1});
  CHECK_THROWS_AS(c.load_state_dict(extra), ValueError);
  // Non-strict: missing and extra keys ignored, the rest copied.
  TensorMap partial;
  partial["critic.layers.2.bias"] = Tensor::full(Shape{1}, 3.5);
  partial["unrelated"] = Tensor::zeros(Shape{2});
  c.load_state_dict(partial, false);
  CHECK(c.state_dict().at("critic.layers.2.bias").item() == 3.5);
  // ...but a shape mismatch still throws.
  partial["critic.layers.2.bias"] = Tensor::zeros(Shape{2});
  CHECK_THROWS_AS(c.load_state_dict(partial, false), ValueError);
}

TEST_CASE("save/load round trip through safetensors restores identical outputs") {
  Generator g1(5), g2(6);
  Critic a(g1), b(g2);
  Tensor x = uniform(Shape{7, 4}, -1, 1, g1);
  NoGrad ng;
  CHECK(a.mlp.forward(x).to_vector<float>() != b.mlp.forward(x).to_vector<float>());
  const std::string path = tmp_path("anyrl_nn_module_roundtrip.safetensors");
  a.save(path, {{"kind", "critic"}});
  b.load(path);
  CHECK(a.mlp.forward(x).to_vector<float>() == b.mlp.forward(x).to_vector<float>());
  std::map<std::string, std::string> meta;
  load_safetensors(path, &meta);
  CHECK(meta["kind"] == "critic");
  std::filesystem::remove(path);
}

TEST_CASE("to(Float64) converts parameters and buffers, keeps sharing and requires_grad") {
  Generator gen(7);
  Net n(gen);
  Tensor before = n.shared->weight;
  n.to(DType::Float64);
  CHECK(n.dtype() == DType::Float64);
  CHECK(n.scale.dtype() == DType::Float64);
  CHECK(n.shared->weight.requires_grad());
  CHECK(n.state_dict().at("enc1.weight").shares_storage(n.state_dict().at("enc2.weight")));
  CHECK(n.shared->weight.to_vector<float>() == before.to_vector<float>());
}
