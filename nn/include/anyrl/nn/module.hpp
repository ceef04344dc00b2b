// anyrl::nn::Module — the base of every network: named parameters and buffers, registered
// sub-modules (so state_dict names are stable dotted paths such as `critic.layers.2.weight`),
// train/eval mode, dtype conversion, and checkpoints through the engine's safetensors I/O.
//
// A module owns its tensors as ordinary members and registers *where they live*:
//
//   struct Affine : anyrl::nn::Module {
//     anyrl::Tensor w, b;
//     Affine(std::int64_t d, anyrl::Generator& gen) {
//       w = anyrl::randn({d}, gen).set_requires_grad();  register_parameter("w", w);
//       b = anyrl::Tensor::zeros({d}).set_requires_grad(); register_parameter("b", b);
//     }
//     anyrl::Tensor forward(const anyrl::Tensor& x) const { return x * w + b; }
//   };
//
// Because the registry points at members, modules are neither copyable nor movable: create
// them in place, as members, or through std::make_shared / std::make_unique.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "anyrl/engine/engine.hpp"

namespace anyrl::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  Module(Module&&) = delete;
  Module& operator=(Module&&) = delete;

  // ---- parameters and buffers ----------------------------------------------------------
  /// Every parameter of this module and its sub-modules, in registration order, with dotted
  /// paths ("layers.0.weight"). A sub-module registered twice (shared) is listed once per path.
  NamedTensors named_parameters() const;
  /// The parameters without names, each tensor once (shared sub-modules are de-duplicated):
  /// what an optimiser takes.
  std::vector<Tensor> parameters() const;
  /// Persistent buffers (state that is saved but not trained, e.g. running statistics).
  NamedTensors named_buffers() const;
  /// Number of scalar parameters (each tensor counted once).
  std::int64_t num_parameters() const;
  /// Direct sub-modules with their names.
  std::vector<std::pair<std::string, Module*>> named_children() const { return children_; }

  // ---- mode -------------------------------------------------------------------------------
  /// Training mode (dropout active) for this module and every sub-module.
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  /// Turns requires_grad on/off for every parameter (freezing a network).
  void requires_grad_(bool on);
  /// Drops (or zeroes) every parameter's gradient.
  void zero_grad(bool set_to_none = true);
  /// Converts every parameter and buffer to a float dtype in place (float64 for gradient
  /// checks). Tensors already handed out (e.g. to an optimiser) are NOT updated: convert first.
  void to(DType dtype);
  /// The dtype of the first parameter (Float32 for a module without parameters).
  DType dtype() const;

  // ---- checkpoints ------------------------------------------------------------------------
  /// Parameters and persistent buffers by dotted path. The tensors share storage with the
  /// module (save them, or clone them for a snapshot).
  TensorMap state_dict() const;
  /// Copies `state` into the module's tensors. strict: every key must exist on both sides
  /// with the same shape and dtype. Non-strict: missing and unexpected keys are ignored, but a
  /// key present on both sides must still match. Errors are ValueErrors naming the key.
  void load_state_dict(const TensorMap& state, bool strict = true);
  /// Writes state_dict() to a safetensors file (atomic); `metadata` goes into __metadata__.
  void save(const std::string& path, const std::map<std::string, std::string>& metadata = {}) const;
  /// Reads a safetensors file written by save() (or by PyTorch with the same names).
  void load(const std::string& path, bool strict = true);

 protected:
  /// Registers `slot` (a member tensor) as a parameter. Its requires_grad is switched on.
  void register_parameter(const std::string& name, Tensor& slot);
  /// Registers `slot` as a buffer; non-persistent buffers are converted by to() but not saved.
  void register_buffer(const std::string& name, Tensor& slot, bool persistent = true);
  /// Registers a sub-module owned elsewhere (usually a member).
  void register_module(const std::string& name, Module& child);
  /// Registers a sub-module shared with others (e.g. an image encoder used by actor and critic).
  void register_module(const std::string& name, std::shared_ptr<Module> child);

 private:
  struct Slot {
    std::string name;
    Tensor* tensor;
    bool persistent;
  };
  std::vector<Slot> params_;
  std::vector<Slot> buffers_;
  std::vector<std::pair<std::string, Module*>> children_;
  std::vector<std::shared_ptr<Module>> owned_;
  bool training_ = true;

  void collect(const std::string& prefix, NamedTensors& out, bool params, bool persistent_only) const;
  void collect_slots(std::vector<Tensor*>& out, bool params, bool buffers) const;
};

/// An observation encoder: obs[B, ...] -> features[B, out_dim()]. Policies and critics take
/// one optionally (pixels); the same shared_ptr may be given to both to share it.
class Encoder : public Module {
 public:
  virtual Tensor forward(const Tensor& obs) const = 0;
  virtual std::int64_t out_dim() const = 0;
  /// Shape of one observation (no batch dimension), e.g. [C, H, W].
  virtual Shape input_shape() const = 0;
};

}  // namespace anyrl::nn
