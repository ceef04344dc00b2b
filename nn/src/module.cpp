#include "anyrl/nn/module.hpp"

#include <set>

namespace anyrl::nn {

void Module::register_parameter(const std::string& name, Tensor& slot) {
  if (!slot.defined()) throw ValueError("Module::register_parameter: '" + name + "' is undefined");
  for (const auto& s : params_)
    if (s.name == name) throw ValueError("Module::register_parameter: duplicate name '" + name + "'");
  if (!is_floating(slot.dtype()))
    throw DTypeError("Module::register_parameter: '" + name + "' must be a float tensor, got " + slot.desc());
  if (!slot.requires_grad()) slot.set_requires_grad(true);
  params_.push_back({name, &slot, true});
}

void Module::register_buffer(const std::string& name, Tensor& slot, bool persistent) {
  if (!slot.defined()) throw ValueError("Module::register_buffer: '" + name + "' is undefined");
  buffers_.push_back({name, &slot, persistent});
}

void Module::register_module(const std::string& name, Module& child) {
  for (const auto& c : children_)
    if (c.first == name) throw ValueError("Module::register_module: duplicate name '" + name + "'");
  children_.emplace_back(name, &child);
}

void Module::register_module(const std::string& name, std::shared_ptr<Module> child) {
  if (!child) throw ValueError("Module::register_module: '" + name + "' is null");
  register_module(name, *child);
  owned_.push_back(std::move(child));
}

void Module::collect(const std::string& prefix, NamedTensors& out, bool params, bool persistent_only) const {
  for (const auto& s : params ? params_ : buffers_)
    if (!persistent_only || s.persistent) out.emplace_back(prefix + s.name, *s.tensor);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out, params, persistent_only);
}

void Module::collect_slots(std::vector<Tensor*>& out, bool params, bool buffers) const {
  if (params)
    for (const auto& s : params_) out.push_back(s.tensor);
  if (buffers)
    for (const auto& s : buffers_) out.push_back(s.tensor);
  for (const auto& c : children_) c.second->collect_slots(out, params, buffers);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", out, true, false);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", out, false, true);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor*> slots;
  collect_slots(slots, true, false);
  std::vector<Tensor> out;
  std::set<const void*> seen;
  for (Tensor* t : slots)
    if (seen.insert(t->impl_ptr().get()).second) out.push_back(*t);
  return out;
}

std::int64_t Module::num_parameters() const {
  std::int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& c : children_) c.second->train(on);
}

void Module::requires_grad_(bool on) {
  for (auto& p : parameters()) {
    Tensor t = p;
    t.set_requires_grad(on);
  }
}

void Module::zero_grad(bool set_to_none) {
  for (auto& p : parameters()) {
    Tensor t = p;
    if (!t.grad().defined()) continue;
    if (set_to_none) t.set_grad(Tensor());
    else t.zero_grad();
  }
}

void Module::to(DType dtype) {
  if (!is_floating(dtype)) throw DTypeError(std::string("Module::to: needs a float dtype, got ") + dtype_name(dtype));
  std::vector<Tensor*> slots;
  collect_slots(slots, true, true);
  // A tensor shared by two slots (shared sub-module) must stay shared after conversion.
  std::map<const void*, Tensor> done;
  NoGrad ng;
  for (Tensor* t : slots) {
    if (!is_floating(t->dtype()) || t->dtype() == dtype) continue;
    const void* key = t->impl_ptr().get();
    auto it = done.find(key);
    if (it != done.end()) {
      *t = it->second;
      continue;
    }
    const bool rg = t->requires_grad();
    Tensor c = t->detach().to(dtype);
    if (rg) c.set_requires_grad(true);
    done[key] = c;
    *t = c;
  }
}

DType Module::dtype() const {
  auto ps = parameters();
  return ps.empty() ? DType::Float32 : ps.front().dtype();
}

TensorMap Module::state_dict() const {
  TensorMap m;
  for (auto& [k, v] : named_parameters()) m[k] = v;
  for (auto& [k, v] : named_buffers()) m[k] = v;
  return m;
}

void Module::load_state_dict(const TensorMap& state, bool strict) {
  TensorMap dst = state_dict();
  if (strict) {
    load_into(state, dst, "Module::load_state_dict", true);
    return;
  }
  TensorMap src, d2;
  for (auto& [k, v] : dst) {
    auto it = state.find(k);
    if (it == state.end()) continue;
    src[k] = it->second;
    d2[k] = v;
  }
  load_into(src, d2, "Module::load_state_dict", true);
}

void Module::save(const std::string& path, const std::map<std::string, std::string>& metadata) const {
  save_safetensors(path, state_dict(), metadata);
}

void Module::load(const std::string& path, bool strict) { load_state_dict(load_safetensors(path), strict); }

}  // namespace anyrl::nn
