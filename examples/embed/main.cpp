// Embedding the anyrl engine in another C++ program: a tiny critic Q(s, a), the gradient of Q
// with respect to the action (what PA-RL's local optimisation climbs), and a checkpoint.
#include <anyrl/engine/engine.hpp>
#include <cstdio>

int main() {
  using namespace anyrl;
  Generator gen(42);
  Tensor w1 = mul(randn(Shape{16, 5}, gen), 0.3).detach().set_requires_grad();
  Tensor w2 = mul(randn(Shape{1, 16}, gen), 0.3).detach().set_requires_grad();
  Tensor s = randn(Shape{4, 3}, gen);
  Tensor a = uniform(Shape{4, 2}, -1.0, 1.0, gen).set_requires_grad();
  Tensor q = linear(tanh(linear(concat({s, a}, 1), w1)), w2);
  Tensor dq_da = grad(sum(q), {a})[0];  // the critic's weights are left untouched
  std::printf("Q = %s\ndQ/da = %s\n", q.str().c_str(), dq_da.str().c_str());
  save_safetensors("embed_critic.safetensors", {{"w1", w1}, {"w2", w2}});
  TensorMap back = load_safetensors("embed_critic.safetensors");
  std::printf("reloaded %zu tensors; w1 %s\n", back.size(), back.at("w1").desc().c_str());
  return back.size() == 2 && !w1.grad().defined() ? 0 : 1;
}
