#include "anyrl/models/policy.hpp"

namespace anyrl::models {

Tensor Policy::batch_obs(const Tensor& obs, bool& single) const {
  const Shape os = obs_shape();
  single = obs.dim() == os.rank();
  if (single) {
    Shape s{1};
    for (auto d : os) s.push_back(d);
    return obs.reshape(s);
  }
  return obs;
}

Tensor Policy::act(const Tensor& obs, Generator& gen, bool deterministic) const {
  bool single = false;
  Tensor o = batch_obs(obs, single);
  Tensor a = sample(o, 1, gen);  // [B, 1, A]
  a = a.reshape(Shape{a.size(0), a.size(2)});
  return single ? a.reshape(Shape{a.size(1)}) : a;
}

Tensor encode_obs(const nn::Encoder* encoder, const Tensor& obs) {
  if (encoder) return encoder->forward(obs);
  if (obs.dim() < 1) throw ShapeError("policy: observations need a batch dimension, got " + obs.desc());
  return obs.dim() == 2 ? obs : obs.reshape(Shape{obs.size(0), -1});
}

}  // namespace anyrl::models
