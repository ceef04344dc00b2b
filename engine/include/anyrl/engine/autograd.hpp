// Reverse-mode autodiff on an eager tape.
//
// Every op whose inputs require grad (while grad mode is on) records a Node holding its
// inputs and a backward function. `backward()` walks the nodes reachable from the output in
// reverse topological order and accumulates gradients into leaves' `grad()`; `grad()` returns
// gradients for chosen tensors without touching `.grad` (PA-RL's dQ/da with a frozen critic).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "anyrl/engine/tensor.hpp"

namespace anyrl {

/// One recorded op. grads[i] must get the gradient of input i when needs[i] is true
/// (it may stay undefined otherwise; an undefined gradient means zero).
class Node {
 public:
  using BackwardFn =
      std::function<void(const Tensor& grad_out, const std::vector<bool>& needs, std::vector<Tensor>& grads)>;

  Node(const char* name, std::vector<Tensor> inputs, BackwardFn fn)
      : name_(name), inputs_(std::move(inputs)), fn_(std::move(fn)) {}
  /// Tears the graph behind it down iteratively (a deep tape must not overflow the stack).
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const char* name() const { return name_; }
  const std::vector<Tensor>& inputs() const { return inputs_; }
  bool released() const { return released_; }
  /// Frees the saved tensors and the backward function (after a backward pass).
  void release();
  void apply(const Tensor& grad_out, const std::vector<bool>& needs, std::vector<Tensor>& grads) const;

 private:
  const char* name_;
  std::vector<Tensor> inputs_;
  BackwardFn fn_;
  bool released_ = false;
};

/// True unless inside a NoGrad scope (thread-local).
bool grad_enabled();
void set_grad_enabled(bool on);

/// RAII scope in which no graph is recorded (evaluation, target computation, optimisers).
class NoGrad {
 public:
  NoGrad() : prev_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGrad() { set_grad_enabled(prev_); }
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool prev_;
};

/// RAII scope that turns grad mode back on inside a NoGrad region.
class EnableGrad {
 public:
  EnableGrad() : prev_(grad_enabled()) { set_grad_enabled(true); }
  ~EnableGrad() { set_grad_enabled(prev_); }
  EnableGrad(const EnableGrad&) = delete;
  EnableGrad& operator=(const EnableGrad&) = delete;

 private:
  bool prev_;
};

/// Accumulates d(output)/d(leaf) into every reachable leaf's grad(). See Tensor::backward.
void backward(const Tensor& output, const Tensor& grad_output = Tensor(), bool retain_graph = false);

/// Returns d(output)/d(inputs[i]) for each input (leaf or not) without touching any grad().
/// Inputs that the output does not depend on get a zero tensor of their shape.
std::vector<Tensor> grad(const Tensor& output, const std::vector<Tensor>& inputs,
                         const Tensor& grad_output = Tensor(), bool retain_graph = false);

/// Op-author helper: if grad mode is on and any input requires grad, attaches a Node to
/// `out` (which must be freshly created by the op) and marks it as requiring grad.
Tensor record(Tensor out, const char* name, std::vector<Tensor> inputs, Node::BackwardFn fn);

/// True if grad mode is on and any of the tensors requires grad.
bool any_requires_grad(std::initializer_list<const Tensor*> ts);

}  // namespace anyrl
