// The tape walker. Nodes are visited in reverse topological order (iterative DFS, so long
// chains cannot overflow the stack); the gradient flowing into each node is the sum of the
// contributions of its consumers.
#include "anyrl/engine/autograd.hpp"

#include <algorithm>
#include <cstdint>
#include <unordered_map>

#include "anyrl/engine/ops.hpp"
#include "pool.hpp"

namespace anyrl {
namespace {
thread_local bool t_grad_enabled = true;

// Adds g into slot (taking ownership of the first contribution without a copy).
void accumulate(Tensor& slot, const Tensor& g) {
  if (!slot.defined())
    slot = g;
  else
    slot = add(slot, g);
}

// Node* -> position, open addressing with linear probing (one allocation, no per-entry nodes:
// a backward walks a few hundred nodes and std::unordered_map allocated for each).
class NodeIndex {
 public:
  explicit NodeIndex(std::size_t expected = 64) { rehash(expected * 2); }
  std::int64_t find(const Node* n) const {
    for (std::size_t i = slot(n);; i = (i + 1) & mask_) {
      if (slots_[i].first == n) return slots_[i].second;
      if (slots_[i].first == nullptr) return -1;
    }
  }
  // Inserts n -> v; false (and no change) when n is present.
  bool insert(const Node* n, std::int64_t v) {
    if (2 * (size_ + 1) > slots_.size()) rehash(slots_.size() * 2);
    for (std::size_t i = slot(n);; i = (i + 1) & mask_) {
      if (slots_[i].first == n) return false;
      if (slots_[i].first == nullptr) {
        slots_[i] = {n, v};
        ++size_;
        return true;
      }
    }
  }

 private:
  std::size_t slot(const Node* n) const {
    auto h = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(n));
    h ^= h >> 29;
    h *= 0x9E3779B97F4A7C15ull;
    return static_cast<std::size_t>(h >> 20) & mask_;
  }
  void rehash(std::size_t want) {
    std::size_t cap = 16;
    while (cap < want) cap *= 2;
    std::vector<std::pair<const Node*, std::int64_t>> old(cap, {nullptr, std::int64_t{0}});
    old.swap(slots_);
    mask_ = cap - 1;
    size_ = 0;
    for (const auto& [n, v] : old)
      if (n) insert(n, v);
  }
  std::vector<std::pair<const Node*, std::int64_t>> slots_;
  std::size_t mask_ = 0, size_ = 0;
};

// Shared pointers keep every node alive until the walk ends: releasing one node's inputs
// may drop the last reference to another.
std::vector<std::shared_ptr<Node>> topo_order(const std::shared_ptr<Node>& root) {
  // Post-order DFS; reversed it gives consumers before producers.
  std::vector<std::shared_ptr<Node>> order;
  NodeIndex seen;
  std::vector<std::pair<std::shared_ptr<Node>, std::size_t>> stack;
  stack.emplace_back(root, 0);
  seen.insert(root.get(), 0);
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    const auto& ins = node->inputs();
    if (next < ins.size()) {
      const Tensor& in = ins[next++];
      if (in.defined() && in.impl().grad_fn) {
        const std::shared_ptr<Node>& child = in.impl().grad_fn;
        if (seen.insert(child.get(), 0)) stack.emplace_back(child, 0);
      }
    } else {
      order.push_back(std::move(node));
      stack.pop_back();
    }
  }
  std::reverse(order.begin(), order.end());
  return order;
}

Tensor seed_gradient(const Tensor& output, const Tensor& grad_output, const char* fn) {
  if (grad_output.defined()) {
    if (!(grad_output.shape() == output.shape()))
      throw ShapeError(std::string(fn) + ": grad_output " + grad_output.desc() + " does not match output " +
                       output.desc());
    if (grad_output.dtype() != output.dtype())
      throw DTypeError(std::string(fn) + ": grad_output " + grad_output.desc() + " has a different dtype than " +
                       output.desc());
    return grad_output;
  }
  if (output.numel() != 1)
    throw ShapeError(std::string(fn) + ": output " + output.desc() +
                     " is not a scalar; pass a grad_output of its shape");
  return Tensor::ones(output.shape(), output.dtype(), output.device());
}

// Core walker. If `wanted` is non-null, gradients are collected only for those tensors (by
// impl pointer) and leaves' grad() is untouched; otherwise leaves accumulate into grad().
void run_backward(const Tensor& output, const Tensor& seed, bool retain_graph,
                  const std::unordered_map<const detail::TensorImpl*, std::size_t>* wanted,
                  std::vector<Tensor>* results) {
  NoGrad ng;
  auto root_fn = output.impl().grad_fn;
  if (!root_fn) {
    // The output is itself a leaf.
    if (wanted) {
      auto it = wanted->find(output.impl_ptr().get());
      if (it != wanted->end()) accumulate((*results)[it->second], seed);
    } else if (output.requires_grad()) {
      Tensor g = output.grad();
      if (g.defined()) g.add_(seed); else output.impl().grad = seed.clone().impl_ptr();
    }
    return;
  }
  if (root_fn->released())
    throw AutogradError("backward: the graph of this tensor was already freed by an earlier backward; pass "
                        "retain_graph=true to the first call to backward twice");
  std::vector<std::shared_ptr<Node>> order = topo_order(root_fn);
  // Position of every node in `order`; pending gradients and the `useful` marks by position.
  NodeIndex pos(order.size());
  for (std::size_t k = 0; k < order.size(); ++k) pos.insert(order[k].get(), static_cast<std::int64_t>(k));
  auto pos_of = [&pos](const Node* n) { return static_cast<std::size_t>(pos.find(n)); };

  // Which nodes lead to a wanted tensor (only used with `wanted`): prune the rest.
  std::vector<char> useful;
  if (wanted) {
    useful.assign(order.size(), 0);
    for (std::size_t k = order.size(); k-- > 0;) {
      Node* n = order[k].get();
      for (const Tensor& in : n->inputs()) {
        if (!in.defined()) continue;
        if (wanted->count(in.impl_ptr().get()) || (in.impl().grad_fn && useful[pos_of(in.impl().grad_fn.get())])) {
          useful[k] = 1;
          break;
        }
      }
    }
  }
  auto is_useful = [&](const Tensor& in) { return in.impl().grad_fn && useful[pos_of(in.impl().grad_fn.get())]; };

  std::vector<Tensor> pending(order.size());
  std::vector<char> has_pending(order.size(), 0);
  pending[0] = seed;  // order[0] is the root
  has_pending[0] = 1;
  std::vector<bool> needs;
  std::vector<Tensor> grads;
  for (std::size_t k = 0; k < order.size(); ++k) {
    Node* node = order[k].get();
    if (!has_pending[k]) continue;
    Tensor g = std::move(pending[k]);
    has_pending[k] = 0;
    if (node->released())
      throw AutogradError(std::string("backward: node '") + node->name() +
                          "' was already freed by an earlier backward; pass retain_graph=true");
    const auto& ins = node->inputs();
    needs.assign(ins.size(), false);
    bool any = false;
    for (std::size_t i = 0; i < ins.size(); ++i) {
      const Tensor& in = ins[i];
      if (!in.defined() || !in.requires_grad()) continue;
      if (wanted) {
        bool direct = wanted->count(in.impl_ptr().get()) > 0;
        needs[i] = direct || is_useful(in);
      } else {
        needs[i] = true;
      }
      any = any || needs[i];
    }
    if (!any) continue;
    grads.assign(ins.size(), Tensor());
    node->apply(g, needs, grads);
    for (std::size_t i = 0; i < ins.size(); ++i) {
      if (!needs[i] || !grads[i].defined()) continue;
      const Tensor& in = ins[i];
      if (!(grads[i].shape() == in.shape()))
        throw AutogradError(std::string("backward: gradient rule of '") + node->name() + "' returned " +
                            grads[i].desc() + " for input " + std::to_string(i) + " " + in.desc());
      if (wanted) {
        auto it = wanted->find(in.impl_ptr().get());
        if (it != wanted->end()) accumulate((*results)[it->second], grads[i]);
        if (is_useful(in)) {
          const std::size_t q = pos_of(in.impl().grad_fn.get());
          accumulate(pending[q], grads[i]);
          has_pending[q] = 1;
        }
      } else if (in.impl().grad_fn) {
        const std::size_t q = pos_of(in.impl().grad_fn.get());
        accumulate(pending[q], grads[i]);
        has_pending[q] = 1;
      } else {
        // A leaf: accumulate into its own buffer. A fresh gradient that nothing else holds
        // (neither its handle nor its storage) is adopted as is; an alias of another
        // gradient (e.g. add passes its upstream through) is copied first.
        Tensor cur = in.grad();
        if (cur.defined())
          cur.add_(grads[i]);
        else if (grads[i].impl_ptr().use_count() == 1 && grads[i].impl().storage.use_count() == 1)
          in.impl().grad = grads[i].impl_ptr();
        else
          in.impl().grad = grads[i].clone().impl_ptr();
      }
    }
  }
  if (!retain_graph)
    for (const auto& node : order) node->release();
}

}  // namespace

bool grad_enabled() { return t_grad_enabled; }
void set_grad_enabled(bool on) { t_grad_enabled = on; }

Node::~Node() {
  // Destroying a node drops its inputs, whose last reference may destroy their own nodes, and
  // so on: recursion as deep as the tape. Instead, take over every producer node that only
  // this chain keeps alive and destroy them one at a time from an explicit stack.
  std::vector<std::shared_ptr<Node>> stack;
  auto harvest = [&stack](std::vector<Tensor>& ins) {
    for (Tensor& t : ins) {
      if (!t.defined() || t.impl_ptr().use_count() != 1) continue;
      auto& fn = t.impl().grad_fn;
      if (fn && fn.use_count() == 1) stack.push_back(std::move(fn));
    }
    ins.clear();
  };
  harvest(inputs_);
  while (!stack.empty()) {
    std::shared_ptr<Node> n = std::move(stack.back());
    stack.pop_back();
    harvest(n->inputs_);
  }  // n is destroyed here with no inputs left: no recursion
}

void Node::release() {
  inputs_.clear();
  inputs_.shrink_to_fit();
  fn_ = nullptr;
  released_ = true;
}

void Node::apply(const Tensor& grad_out, const std::vector<bool>& needs, std::vector<Tensor>& grads) const {
  fn_(grad_out, needs, grads);
}

bool any_requires_grad(std::initializer_list<const Tensor*> ts) {
  if (!grad_enabled()) return false;
  for (const Tensor* t : ts)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

Tensor record(Tensor out, const char* name, std::vector<Tensor> inputs, Node::BackwardFn fn) {
  if (!grad_enabled()) return out;
  bool any = false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) any = true;
  if (!any) return out;
  // Inputs that do not require grad are not needed by the walker; drop them so the tape does
  // not keep them alive (the rule captures what it needs itself).
  for (Tensor& t : inputs)
    if (t.defined() && !t.requires_grad()) t = Tensor();
  out.impl().grad_fn = detail::make_pooled<Node>(name, std::move(inputs), std::move(fn));
  out.impl().requires_grad = true;
  return out;
}

void backward(const Tensor& output, const Tensor& grad_output, bool retain_graph) {
  if (!output.requires_grad())
    throw AutogradError("backward: " + output.desc() +
                        " does not require grad (no input of its graph requires grad, or it was computed "
                        "under NoGrad)");
  Tensor seed = seed_gradient(output, grad_output, "backward");
  run_backward(output, seed, retain_graph, nullptr, nullptr);
}

std::vector<Tensor> grad(const Tensor& output, const std::vector<Tensor>& inputs, const Tensor& grad_output,
                         bool retain_graph) {
  std::unordered_map<const detail::TensorImpl*, std::size_t> wanted;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) throw ValueError("grad: input " + std::to_string(i) + " is undefined");
    if (!inputs[i].requires_grad())
      throw AutogradError("grad: input " + std::to_string(i) + " " + inputs[i].desc() + " does not require grad");
    wanted.emplace(inputs[i].impl_ptr().get(), i);  // a repeated input keeps its first slot
  }
  std::vector<Tensor> results(inputs.size());
  if (output.requires_grad()) {
    Tensor seed = seed_gradient(output, grad_output, "grad");
    run_backward(output, seed, retain_graph, &wanted, &results);
  }
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    std::size_t first = wanted.at(inputs[i].impl_ptr().get());
    if (first != i) results[i] = results[first];
  }
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (!results[i].defined()) results[i] = Tensor::zeros(inputs[i].shape(), inputs[i].dtype(), inputs[i].device());
  return results;
}

}  // namespace anyrl
