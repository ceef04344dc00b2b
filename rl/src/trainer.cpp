// The offline -> online trainer. See trainer.hpp.
#include "anyrl/rl/trainer.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <numeric>
#include <sstream>
#include <stdexcept>

#include "anyrl/engine/autograd.hpp"
#include "anyrl/engine/ops.hpp"
#include "anyrl/engine/parallel.hpp"
#include "anyrl/envs/collect.hpp"
#include "anyrl/envs/hdf5_io.hpp"
#include "anyrl/envs/image.hpp"
#include "anyrl/envs/registry.hpp"
#include "anyrl/envs/vector_env.hpp"
#include "anyrl/models/autoregressive.hpp"
#include "anyrl/models/critics.hpp"
#include "anyrl/models/diffusion.hpp"
#include "anyrl/models/tanh_gaussian.hpp"
#include "anyrl/rl/checkpoint.hpp"
#include "anyrl/rl/critic_learners.hpp"
#include "anyrl/rl/data.hpp"
#include "anyrl/rl/logger.hpp"
#include "anyrl/rl/pa_rl.hpp"
#include "anyrl/rl/progress.hpp"
#include "anyrl/rl/run.hpp"

namespace anyrl::rl {

void declare_train_config(Config& c) {
  // ---- run ---------------------------------------------------------------------------------
  c.add_string("name", "", "run label used by `anyrl plot` (empty: <env>/<method>)");
  c.add_string("env", "pointmaze-umaze", "environment name (envs registry)");
  c.add_string("dataset", "generate:diverse:100000",
               "offline data: a D4RL-format .hdf5 path, or generate:<kind>:<size> (envs::collect_dataset); "
               "ignored by method sac (online only; \"none\" or \"\" allowed there)");
  c.add_int("dataset_seed", 0, "seed of a generated dataset", 0);
  c.add_string("method", "parl_calql", "algorithm",
               {"parl_calql", "parl_iql", "parl_rlpd", "bc", "calql_sac", "iql_awr", "idql", "cem", "sac"});
  c.add_int("seed", 0, "run seed (networks, sampling, env seeds)", 0);
  c.add_int("threads", 0, "CPU threads (0: keep ANYRL_NUM_THREADS / default)", 0, 256);
  // ---- policy ------------------------------------------------------------------------------
  c.add_string("policy.kind", "diffusion", "policy class", {"diffusion", "autoregressive", "tanh_gaussian"});
  c.add_float("policy.lr", 3e-4, "BC pre-training learning rate", 0.0);
  c.add_string("policy.lr_schedule", "cosine", "BC learning-rate schedule (warm-up + cosine decay, or constant)",
               {"cosine", "constant"});
  c.add_int("policy.warmup_steps", 1000, "BC learning-rate warm-up steps (cosine schedule)", 0);
  c.add_int("policy.batch_size", 1024, "BC and distillation batch size", 1);
  c.add_float("policy.distill_lr", 5e-5, "distillation / fine-tuning learning rate (1e-5 kitchen-like)", 0.0);
  c.add_float("policy.grad_clip", 0.0, "policy global-norm gradient clip (0: none)", 0.0);
  c.add_int_list("policy.hidden", {256, 256}, "tanh_gaussian: MLP hidden widths");
  c.add_int("policy.diffusion_steps", 5, "diffusion: denoising steps K", 1, 1000);
  c.add_int("policy.diffusion_hidden", 256, "diffusion: LN-ResNet width", 1);
  c.add_int("policy.diffusion_blocks", 3, "diffusion: LN-ResNet blocks", 1);
  c.add_float("policy.dropout", 0.1, "diffusion / autoregressive dropout", 0.0, 0.99);
  c.add_int("policy.ar_width", 256, "autoregressive: transformer width", 1);
  c.add_int("policy.ar_layers", 4, "autoregressive: layers", 1);
  c.add_int("policy.ar_heads", 8, "autoregressive: attention heads", 1);
  c.add_int("policy.ar_bins", 128, "autoregressive: bins per action dimension", 2);
  // ---- critic ------------------------------------------------------------------------------
  c.add_int("critic.ensemble", 10, "Q ensemble members (2 on small machines)", 1, 1000);
  c.add_int("critic.subset", 2, "target = min over a random subset of this many members", 1);
  c.add_int_list("critic.hidden", {512, 512, 512}, "critic hidden widths ([256]*4 for the mazes in the paper)");
  c.add_string("critic.head", "scalar", "critic head", {"scalar", "hlgauss"});
  c.add_bool("critic.layer_norm", true, "LayerNorm after each hidden layer of the critic (false: plain MLP, RLtools/CleanRL SAC)");
  c.add_int("critic.bins", 128, "HL-Gauss bins", 2);
  c.add_float("critic.v_min", -100.0, "HL-Gauss support minimum");
  c.add_float("critic.v_max", 0.0, "HL-Gauss support maximum");
  c.add_float("critic.lr", 3e-4, "critic learning rate", 0.0);
  c.add_float("critic.tau", 5e-3, "Polyak rate of the target critic", 0.0, 1.0);
  c.add_int("critic.batch_size", 256, "critic batch size", 1);
  c.add_float("critic.grad_clip", 0.0, "critic global-norm gradient clip (0: none)", 0.0);
  // ---- Cal-QL / IQL / SAC ------------------------------------------------------------------
  c.add_float("calql.alpha", 0.005, "CQL weight alpha (0.01 pixels)", 0.0);
  c.add_int("calql.n_actions", 10, "uniform and policy actions per state in the CQL term", 1);
  c.add_bool("calql.max_target_backup", true, "TD target: max over sampled next actions (else mean)");
  c.add_bool("calql.bound", true, "Cal-QL bound max(Q, V^mu) (false: plain CQL)");
  c.add_string("calql.form", "logsumexp", "regulariser form", {"logsumexp", "simple"});
  c.add_float("iql.expectile", 0.7, "IQL expectile tau (0.9 mazes)", 0.0, 1.0);
  c.add_float("iql.beta", 3.0, "AWR temperature (10 mazes)", 0.0);
  c.add_float("sac.actor_lr", 3e-4, "SAC / Cal-QL tanh-Gaussian actor learning rate", 0.0);
  c.add_float("sac.init_temperature", 1.0, "initial entropy temperature", 0.0);
  c.add_float("sac.target_entropy_scale", -1.0, "target entropy = scale * |A| (-0.5 RLPD)");
  c.add_int("sac.actor_every", 1,
            "method sac: one actor + temperature update every N env steps (CleanRL policy_frequency; 1 = textbook)", 1);
  // ---- PA-RL -------------------------------------------------------------------------------
  c.add_int("parl.k", 32, "base-policy samples per state", 1);
  c.add_int("parl.m", 10, "candidates kept after global re-ranking", 1);
  c.add_int("parl.steps", 10, "local gradient-ascent steps T (0: re-ranking only)", 0);
  c.add_float("parl.step_size", 3e-4, "local step size eta", 0.0);
  c.add_string("parl.selection", "softmax",
               "pi_opt for distillation and critic targets; auto: softmax during offline pre-training, then "
               "argmax if the mean std of candidate Q-values over pre-training is below "
               "parl.auto_spread_threshold, else softmax (paper App. B.1)",
               {"softmax", "argmax", "auto"});
  c.add_float("parl.auto_spread_threshold", 1.0,
              "parl.selection = auto: candidate-Q std below which pi_opt becomes argmax (paper: CALVIN 0.02 -> "
              "argmax; kitchen 1.6-11.5 -> softmax)",
              0.0);
  c.add_string("parl.act_selection", "argmax", "pi_opt when acting (online and eval)", {"softmax", "argmax"});
  c.add_float("parl.temperature", 1.0, "softmax temperature of pi_opt", 0.0);
  c.add_bool("parl.dataset_action", true, "swap the worst candidate for the dataset action in distillation");
  c.add_bool("parl.global_opt", true,
             "ablation: false = no global optimisation (k = m = 1 policy sample, no dataset-action swap; local steps only)");
  c.add_bool("parl.local_opt", true, "ablation: false = no local optimisation (T = 0, re-ranking only)");
  c.add_bool("parl.action_cache", false,
             "cache k base-policy samples per buffer row and reuse them in critic updates (parl_calql, parl_rlpd)");
  c.add_int("parl.cache_refresh_every", 1, "recompute the action cache every N distillation epochs/steps", 1);
  c.add_string("parl.cache_refresh_unit", "epochs",
               "unit of parl.cache_refresh_every (epoch = (offline + online rows) / policy.batch_size distillation steps)",
               {"epochs", "steps"});
  // ---- CEM ablation (method = "cem") ---------------------------------------------------------
  c.add_int("cem.iterations", 3, "CEM refits of the Gaussian (0: uniform random candidates)", 0);
  c.add_int("cem.population", 32, "CEM candidates per state and iteration (the final population is the global step's sample set)", 1);
  c.add_float("cem.elite_fraction", 0.1, "fraction of the population used to refit mean/std", 0.0, 1.0);
  c.add_float("cem.min_std", 0.05, "lower bound of the refitted per-dimension std", 0.0);
  // ---- IDQL (method = "idql") ----------------------------------------------------------------
  c.add_int("idql.samples", 64, "behaviour-policy samples re-ranked per state when acting (N)", 1);
  c.add_string("idql.selection", "argmax",
               "argmax of Q, or sample softmax((Q - V) / idql.temperature) (IDQL's advantage weighting)",
               {"argmax", "softmax"});
  c.add_float("idql.temperature", 0.1, "temperature of idql.selection = softmax", 0.0);
  // ---- phase budgets -----------------------------------------------------------------------
  c.add_int("train.bc_steps", 100000, "BC pre-training gradient steps", 0);
  c.add_int("train.offline_steps", 500000, "offline critic pre-training steps", 0);
  c.add_float("train.offline_distill_ratio", 1.0, "offline: distillation steps per critic step (PA-RL)", 0.0);
  c.add_int("train.online_env_steps", 200000, "online fine-tuning env steps", 0);
  c.add_int("train.warmup_episodes", 0, "online episodes collected before the first update", 0);
  c.add_int("train.random_steps", 0,
            "method sac: first N env steps act uniformly at random in [-1, 1]^A; updates start after them "
            "(RLtools 100, CleanRL learning_starts 5000)", 0);
  c.add_float("train.utd", 1.0, "online critic steps per env step (10 for RLPD)", 0.0);
  c.add_float("train.distill_per_env_step", 1.0, "online distillation (or actor) steps per env step", 0.0);
  c.add_float("train.mixing_ratio", 0.5, "offline fraction of online critic batches (0.25 kitchen-like)", 0.0, 1.0);
  c.add_float("train.reward_scale", 1.0, "r' = scale * r + bias");
  c.add_float("train.reward_bias", 0.0, "reward bias (-1 maze, -4 kitchen-like)");
  c.add_float("train.gamma", 0.99, "discount", 0.0, 1.0);
  c.add_int("train.online_capacity", 0, "online buffer rows (0: online_env_steps + one episode)", 0);
  c.add_int("train.log_every", 100, "train.csv record every N steps (bc/offline)", 1);
  c.add_int("train.checkpoint_every", 10000, "checkpoint every N global steps (0: phase ends only)", 0);
  c.add_int("train.keep_checkpoints", 3, "periodic checkpoints kept (phase ends are pinned)", 1);
  c.add_float("train.q_limit", 1e6, "stop when |mean Q| exceeds this (exploding critic)", 0.0);
  // ---- evaluation --------------------------------------------------------------------------
  c.add_int("eval.episodes", 32, "episodes per evaluation (VectorEnv copies)", 1);
  c.add_int("eval.every_episodes", 10, "evaluate every N online episodes (0: phase ends only)", 0);
  c.add_int("eval.threads", 1, "VectorEnv stepping threads", 1, 256);
}

std::shared_ptr<models::Policy> make_policy(const Config& c, std::int64_t obs_dim, std::int64_t act_dim,
                                            Generator& init) {
  const std::string kind = c.get_string("policy.kind");
  if (kind == "tanh_gaussian") {
    models::TanhGaussianConfig pc;
    pc.obs_dim = obs_dim;
    pc.act_dim = act_dim;
    pc.hidden = c.get_int_list("policy.hidden");
    return std::make_shared<models::TanhGaussianPolicy>(pc, init);
  } else if (kind == "diffusion") {
    models::DiffusionConfig pc;
    pc.obs_dim = obs_dim;
    pc.act_dim = act_dim;
    pc.steps = static_cast<int>(c.get_int("policy.diffusion_steps"));
    pc.hidden = c.get_int("policy.diffusion_hidden");
    pc.blocks = static_cast<int>(c.get_int("policy.diffusion_blocks"));
    pc.dropout = c.get_float("policy.dropout");
    return std::make_shared<models::DiffusionPolicy>(pc, init);
  } else {
    models::AutoregressiveConfig pc;
    pc.obs_dim = obs_dim;
    pc.act_dim = act_dim;
    pc.width = c.get_int("policy.ar_width");
    pc.layers = static_cast<int>(c.get_int("policy.ar_layers"));
    pc.heads = c.get_int("policy.ar_heads");
    pc.bins = c.get_int("policy.ar_bins");
    pc.dropout = c.get_float("policy.dropout");
    return std::make_shared<models::AutoregressivePolicy>(pc, init);
  }
}

std::shared_ptr<models::QEnsemble> make_critic(const Config& c, std::int64_t obs_dim, std::int64_t act_dim,
                                               Generator& init) {
  models::QEnsembleConfig qc;
  qc.obs_dim = obs_dim;
  qc.act_dim = act_dim;
  qc.ensemble = c.get_int("critic.ensemble");
  qc.hidden = c.get_int_list("critic.hidden");
  qc.head = c.get_string("critic.head") == "hlgauss" ? models::QHead::HLGauss : models::QHead::Scalar;
  qc.layer_norm = c.get_bool("critic.layer_norm");
  qc.hl.bins = c.get_int("critic.bins");
  qc.hl.v_min = c.get_float("critic.v_min");
  qc.hl.v_max = c.get_float("critic.v_max");
  if (qc.hl.v_max <= qc.hl.v_min) throw ConfigError("config key 'critic.v_max': must exceed critic.v_min");
  if (c.get_int("critic.subset") > qc.ensemble)
    throw ConfigError("config key 'critic.subset': exceeds critic.ensemble");
  return std::make_shared<models::QEnsemble>(qc, init);
}

Config make_train_config() {
  Config c;
  declare_train_config(c);
  return c;
}

namespace {

enum Phase : std::int64_t { kBC = 0, kOffline = 1, kOnline = 2, kDone = 3 };
const char* phase_name(std::int64_t p) {
  switch (p) {
    case kBC: return "bc";
    case kOffline: return "offline";
    case kOnline: return "online";
    default: return "done";
  }
}

std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

const std::vector<std::string> kTrainColumns = {
    "phase",        "env_steps",     "episodes",       "bc_loss",         "critic_loss",   "td_loss",
    "cql_loss",     "value_loss",    "q_loss",         "actor_loss",      "alpha",         "distill_loss",
    "q_data_mean",  "q_data_std",    "q_mc_gap",       "calql_bound_rate", "cand_q_mean",  "cand_q_spread",
    "local_abs_delta", "local_q_gain", "local_accept_rate", "lr",          "episode_return", "episode_length",
    "episode_success"};
const std::vector<std::string> kEvalColumns = {"phase", "env_steps", "episodes", "success",
                                               "return", "return_std", "length"};

envs::Dataset load_dataset(const Config& c) {
  const std::string& spec = c.get_string("dataset");
  if (spec.rfind("generate:", 0) == 0) {
    std::string rest = spec.substr(9);
    auto colon = rest.find(':');
    envs::CollectOptions o;
    o.env = c.get_string("env");
    o.dataset = rest.substr(0, colon);
    if (colon != std::string::npos) {
      const std::string n = rest.substr(colon + 1);
      try {
        std::size_t used = 0;
        o.size = std::stoll(n, &used);
        if (used != n.size() || o.size < 0) throw std::invalid_argument("");
      } catch (const std::exception&) {
        throw ConfigError("config key 'dataset': bad size '" + n + "' in '" + spec +
                          "' (expected generate:<kind>:<transitions>)");
      }
    }
    const auto kinds = envs::dataset_kinds(o.env);
    if (std::find(kinds.begin(), kinds.end(), o.dataset) == kinds.end()) {
      std::string list;
      for (const auto& k : kinds) list += (list.empty() ? "" : ", ") + k;
      throw ConfigError("config key 'dataset': unknown dataset kind '" + o.dataset + "' for " + o.env +
                        " (valid: " + list + ")");
    }
    o.seed = static_cast<std::uint64_t>(c.get_int("dataset_seed"));
    o.num_threads = 1;  // output is thread-independent; keep the run's cores for training
    return envs::collect_dataset(o);
  }
  return envs::read_d4rl(spec);
}

// PA-RL pipelines: action optimisation + distillation (cem is PA-RL + Cal-QL with CEM candidates).
bool is_parl(const std::string& m) { return m.rfind("parl_", 0) == 0 || m == "cem"; }

// Rows of x[B, K, A] picked per state by idx[B, M] (int64) -> [B, M, A].
Tensor pick_rows(const Tensor& x, const Tensor& idx) {
  const std::int64_t B = x.size(0), K = x.size(1), A = x.size(2), M = idx.size(1);
  std::vector<std::int64_t> off(static_cast<std::size_t>(B * M));
  const Tensor ic = idx.dtype() == DType::Int64 ? idx : idx.to(DType::Int64);
  const std::int64_t* ip = ic.data<std::int64_t>();
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t j = 0; j < M; ++j) off[static_cast<std::size_t>(b * M + j)] = b * K + ip[b * M + j];
  return index_select(x.reshape(Shape{B * K, A}), 0, Tensor::from_vector(off)).reshape(Shape{B, M, A});
}

}  // namespace

// =============================================================================================
struct Trainer::Impl {
  Config cfg;
  TrainerOptions topt;
  std::filesystem::path dir;
  std::string method;
  std::unique_ptr<envs::Env> env;
  envs::EnvSpec spec;
  RewardTransform rt;
  ReturnOptions ret;
  std::unique_ptr<TransitionBuffer> offline, online;
  std::unique_ptr<EpisodeWriter> writer;
  std::shared_ptr<models::Policy> policy;
  std::shared_ptr<models::QEnsemble> critic;
  std::unique_ptr<ActionOptimizer> aopt, act_opt;
  std::unique_ptr<Distiller> distiller;
  std::unique_ptr<CriticLearnerBase> learner;
  std::unique_ptr<SAC> sac_actor;     // calql_sac: the tanh-Gaussian actor update
  std::unique_ptr<AWRActor> awr;      // iql_awr
  SAC* sac = nullptr;                 // method sac: the learner (critic, actor, temperature)
  Generator gen;
  // action cache (parl.action_cache): k base samples per row of each buffer, own RNG stream
  bool use_cache = false;
  std::unique_ptr<ActionCache> off_cache, on_cache;
  Generator cache_gen;
  std::int64_t cache_distill = 0;  // distillation steps since the last refresh
  // parl.selection = auto: candidate-Q spread (std) accumulated over offline pre-training
  bool auto_selection = false;
  double spread_sum = 0.0;
  std::int64_t spread_n = 0;
  // counters
  std::int64_t phase = kBC, phase_step = 0, env_steps = 0, episodes = 0, evals = 0;
  double distill_acc = 0.0;
  double critic_acc = 0.0;  // method sac: fractional critic updates per env step (train.utd)
  std::int64_t bc_steps = 0, offline_steps = 0, online_env_steps = 0;
  std::unique_ptr<MetricsLogger> logger;
  std::unique_ptr<CheckpointManager> ckpts;
  std::optional<std::filesystem::path> last_good;
  std::unique_ptr<ProgressBar> bar;
  TrainResult result;

  std::int64_t global_step() const {
    if (phase == kBC) return phase_step;
    if (phase == kOffline) return bc_steps + phase_step;
    return bc_steps + offline_steps + env_steps;
  }

  void build(bool for_eval);
  Checkpoint make_checkpoint() const;
  void load(const Checkpoint& ck);
  void save(const std::string& tag, bool pinned);
  EvalResult evaluate(std::int64_t episodes, std::uint64_t stream);
  Tensor act(const Tensor& obs, Generator& g, bool explore);
  void log_train(Metrics m);
  void guard(Metrics& m);
  void do_eval();
  bool maybe_stop();
  void maybe_checkpoint(std::int64_t before, std::int64_t after);
  void run_bc();
  void run_offline();
  /// parl.selection = auto: switch pi_opt (distillation, critic targets) to argmax when the
  /// candidate-Q spread measured during offline pre-training is small (paper App. B.1).
  void decide_selection(bool announce);
  void run_online();
  void run_online_sac();
  /// Episode-end bookkeeping shared by the online loops: NaN guard, train row, progress, periodic
  /// evaluation, checkpoint, interruption. True when the run must stop now (interrupted).
  bool end_online_episode(Metrics& m, double ep_return, std::int64_t len, bool success, std::int64_t before,
                          std::int64_t eval_every);
  /// Final online evaluation and the phase's pinned checkpoint.
  void finish_online();
  Metrics distill_step(const Batch& b);
  Metrics critic_step(const Batch& b);
  Metrics actor_step(const Batch& b);
  // action cache
  void cache_sync();
  void cache_after_distill();
  Batch critic_batch_offline(std::int64_t n);
  Batch critic_batch_mixed(const MixedSampler& s, std::int64_t n);
  // CEM candidates ([B, population, A]) and IDQL's re-ranked action ([B, A])
  Tensor cem_samples(const Tensor& obs, Generator& g) const;
  Tensor idql_act(const Tensor& obs, Generator& g) const;
};

void Trainer::Impl::build(bool for_eval) {
  const Config& c = cfg;
  method = c.get_string("method");
  if (c.get_int("threads") > 0) set_num_threads(static_cast<int>(c.get_int("threads")));
  const std::string env_name = c.get_string("env");
  if (!envs::env_exists(env_name)) {
    std::string list;
    for (const auto& n : envs::env_names()) list += (list.empty() ? "" : ", ") + n;
    throw ConfigError("config key 'env': unknown environment '" + env_name + "' (valid: " + list + ")");
  }
  env = envs::make_env(env_name);
  spec = env->spec();
  const std::string kind = c.get_string("policy.kind");
  if ((method == "calql_sac" || method == "sac") && kind != "tanh_gaussian")
    throw ConfigError("config key 'policy.kind': method " + method + " needs policy.kind = \"tanh_gaussian\", got '" +
                      kind + "'");
  const bool no_data = c.get_string("dataset").empty() || c.get_string("dataset") == "none";
  if (method != "sac" && no_data)
    throw ConfigError("config key 'dataset': method " + method + " needs offline data (a .hdf5 path or "
                      "generate:<kind>:<size>), got '" + c.get_string("dataset") + "'; only method sac runs without");
  if (method == "iql_awr" && kind == "diffusion")
    throw ConfigError("config key 'policy.kind': method iql_awr needs a policy with log_prob "
                      "(tanh_gaussian or autoregressive), got 'diffusion'");
  if (method == "cem" && c.get_int("parl.m") > c.get_int("cem.population"))
    throw ConfigError("config key 'parl.m': " + std::to_string(c.get_int("parl.m")) + " exceeds cem.population = " +
                      std::to_string(c.get_int("cem.population")));
  if (method != "cem" && c.get_bool("parl.global_opt") && c.get_int("parl.m") > c.get_int("parl.k"))
    throw ConfigError("config key 'parl.m': " + std::to_string(c.get_int("parl.m")) + " exceeds parl.k = " +
                      std::to_string(c.get_int("parl.k")));
  // method sac is online only: train.bc_steps and train.offline_steps are ignored.
  bc_steps = method == "sac" ? 0 : c.get_int("train.bc_steps");
  offline_steps = (method == "bc" || method == "sac") ? 0 : c.get_int("train.offline_steps");
  online_env_steps = method == "bc" ? 0 : c.get_int("train.online_env_steps");

  const std::uint64_t seed = static_cast<std::uint64_t>(c.get_int("seed"));
  gen = Generator(seed, 1);
  Generator init_gen(seed, 2);
  const std::int64_t obs_dim = spec.obs_dim(), act_dim = spec.action_dim;

  rt = RewardTransform{c.get_float("train.reward_scale"), c.get_float("train.reward_bias")};
  ret.gamma = c.get_float("train.gamma");
  ret.failure_reward = sparse_failure_reward(spec, rt);

  policy = make_policy(c, obs_dim, act_dim, init_gen);  // policy first: init_gen order is part of a seed's result
  critic = make_critic(c, obs_dim, act_dim, init_gen);

  ActionOptOptions ao;
  ao.k = c.get_int("parl.k");
  ao.m = c.get_int("parl.m");
  ao.steps = static_cast<int>(c.get_int("parl.steps"));
  ao.step_size = c.get_float("parl.step_size");
  ao.include_dataset_action = c.get_bool("parl.dataset_action");
  ao.temperature = c.get_float("parl.temperature");
  ao.selection = c.get_string("parl.selection") == "argmax" ? Selection::Argmax : Selection::Softmax;
  auto_selection = c.get_string("parl.selection") == "auto";  // softmax until decided
  if (!c.get_bool("parl.global_opt")) {  // ablation: one policy sample, local steps only
    ao.k = 1;
    ao.m = 1;
    ao.include_dataset_action = false;  // it would replace the only candidate (distillation = BC)
  }
  if (!c.get_bool("parl.local_opt")) ao.steps = 0;  // ablation: re-ranking only
  aopt = std::make_unique<ActionOptimizer>(*critic, ao);
  ao.selection = c.get_string("parl.act_selection") == "argmax" ? Selection::Argmax : Selection::Softmax;
  act_opt = std::make_unique<ActionOptimizer>(*critic, ao);
  DistillOptions dopt;
  dopt.lr = c.get_float("policy.distill_lr");
  dopt.grad_clip = c.get_float("policy.grad_clip");
  distiller = std::make_unique<Distiller>(*policy, *aopt, dopt);

  CriticOptions co;
  co.gamma = ret.gamma;
  co.tau = c.get_float("critic.tau");
  co.lr = c.get_float("critic.lr");
  co.subset = c.get_int("critic.subset");
  co.grad_clip = c.get_float("critic.grad_clip");
  CQLOptions cq;
  cq.alpha = c.get_float("calql.alpha");
  cq.n_actions = c.get_int("calql.n_actions");
  cq.max_target_backup = c.get_bool("calql.max_target_backup");
  cq.calql = c.get_bool("calql.bound");
  cq.form = c.get_string("calql.form") == "simple" ? CQLForm::Simple : CQLForm::LogSumExp;
  SACOptions so;
  so.actor_lr = c.get_float("sac.actor_lr");
  so.alpha_lr = c.get_float("sac.actor_lr");
  so.init_temperature = c.get_float("sac.init_temperature");
  so.target_entropy_scale = c.get_float("sac.target_entropy_scale");
  if (method == "parl_calql") {
    learner = std::make_unique<CalQL>(critic, nullptr, aopt->source(*policy), co, cq);
  } else if (method == "cem") {
    // PA-RL + Cal-QL whose global step draws its candidates from CEM instead of the policy.
    ActionSource src = [this](const Tensor& obs, std::int64_t n, Generator& g) {
      NoGrad ng;
      Candidates cands = aopt->optimize(*policy, obs, g, Tensor(), cem_samples(obs, g));
      return aopt->sample_pi_opt_n(cands.actions, cands.q, n, g);
    };
    learner = std::make_unique<CalQL>(critic, nullptr, std::move(src), co, cq);
  } else if (method == "calql_sac") {
    learner = std::make_unique<CalQL>(critic, nullptr, policy_source(*policy), co, cq);
    // The tanh-Gaussian actor update of SAC against the same critic (its own target copy is unused).
    sac_actor = std::make_unique<SAC>(critic, nullptr, *policy, co, so);
  } else if (method == "parl_iql" || method == "iql_awr" || method == "idql") {
    IQLOptions io;
    io.expectile = c.get_float("iql.expectile");
    io.beta = c.get_float("iql.beta");
    io.value_lr = co.lr;
    models::ValueNetConfig vc;
    vc.obs_dim = obs_dim;
    vc.hidden = c.get_int_list("critic.hidden");
    auto value = std::make_shared<models::ValueNet>(vc, init_gen);
    learner = std::make_unique<IQL>(critic, nullptr, value, co, io);
    if (method == "iql_awr") awr = std::make_unique<AWRActor>(*policy, *static_cast<IQL*>(learner.get()), c.get_float("sac.actor_lr"));
  } else if (method == "parl_rlpd") {
    so.train_actor = false;
    so.backup_entropy = false;
    so.next_action_source = aopt->source(*policy);
    learner = std::make_unique<SAC>(critic, nullptr, *policy, co, so);
  } else if (method == "sac") {
    // Textbook SAC: next actions from the actor, entropy bonus in the target, min over the
    // critic.subset members (2 of 2 = twin critics), actor + automatic temperature.
    so.backup_entropy = true;
    so.train_actor = true;
    auto s = std::make_unique<SAC>(critic, nullptr, *policy, co, so);
    sac = s.get();
    learner = std::move(s);
  }
  if (for_eval) return;

  // ---- data
  std::vector<std::int64_t> shape(spec.obs_shape.begin(), spec.obs_shape.end());
  if (method == "sac") {
    offline = std::make_unique<TransitionBuffer>(shape, act_dim, 1, rt);  // online only: stays empty
  } else {
    envs::Dataset d = load_dataset(c);
    if (d.obs_dim != obs_dim || d.action_dim != act_dim)
      throw ConfigError("config key 'dataset': '" + c.get_string("dataset") + "' has obs_dim " +
                        std::to_string(d.obs_dim) + " and action_dim " + std::to_string(d.action_dim) + ", but " +
                        env_name + " has " + std::to_string(obs_dim) + " and " + std::to_string(act_dim));
    OfflineOptions oo;
    oo.reward = rt;
    oo.returns = ret;
    oo.source = c.get_string("dataset");
    offline = std::make_unique<TransitionBuffer>(TransitionBuffer::from_dataset(d, oo));
  }
  std::int64_t cap = c.get_int("train.online_capacity");
  if (cap == 0) cap = std::max<std::int64_t>(online_env_steps + spec.time_limit, 1);
  online = std::make_unique<TransitionBuffer>(shape, act_dim, cap, rt);
  writer = std::make_unique<EpisodeWriter>(*online, ret, spec.time_limit + 1);

  // ---- action cache (only learners that sample pi_opt in critic updates use it)
  use_cache = c.get_bool("parl.action_cache") && (method == "parl_calql" || method == "parl_rlpd");
  if (use_cache) {
    off_cache = std::make_unique<ActionCache>(aopt->options().k);
    on_cache = std::make_unique<ActionCache>(aopt->options().k);
    cache_gen = Generator(seed, 3);
    cache_distill = 0;
  }
}

Checkpoint Trainer::Impl::make_checkpoint() const {
  Checkpoint ck;
  ck.step = global_step();
  ck.group("distiller") = distiller->state_dict();
  if (learner) ck.group("learner") = learner->state_dict();
  if (sac_actor) ck.group("sac_actor") = sac_actor->state_dict();
  if (awr) ck.group("awr_optim") = const_cast<AWRActor&>(*awr).optimizer().state_dict();
  ck.group("online") = online->state_dict();
  ck.set_rng("train", gen);
  ck.set_counter("phase", phase);
  ck.set_counter("phase_step", phase_step);
  ck.set_counter("env_steps", env_steps);
  ck.set_counter("episodes", episodes);
  ck.set_counter("evals", evals);
  ck.group("trainer")["distill_acc"] = Tensor::from_vector(std::vector<double>{distill_acc});
  if (auto_selection) {
    ck.group("trainer")["spread_sum"] = Tensor::from_vector(std::vector<double>{spread_sum});
    ck.group("trainer")["spread_n"] = Tensor::from_vector(std::vector<std::int64_t>{spread_n});
    ck.metadata["parl_selection"] = aopt->options().selection == Selection::Argmax ? "argmax" : "softmax";
  }
  if (method == "sac") ck.group("trainer")["critic_acc"] = Tensor::from_vector(std::vector<double>{critic_acc});
  if (use_cache) {
    ck.group("cache_offline") = off_cache->state_dict();
    ck.group("cache_online") = on_cache->state_dict();
    ck.set_rng("cache", cache_gen);
    ck.set_counter("cache_distill", cache_distill);
  }
  ck.metadata["phase"] = phase_name(phase);
  ck.metadata["method"] = method;
  ck.metadata["config"] = cfg.dump();
  return ck;
}

void Trainer::Impl::load(const Checkpoint& ck) {
  distiller->load_state_dict(ck.at("distiller"));
  if (learner) learner->load_state_dict(ck.at("learner"));
  if (sac_actor) sac_actor->load_state_dict(ck.at("sac_actor"));
  if (awr) awr->optimizer().load_state_dict(ck.at("awr_optim"));
  if (online) online->load_state_dict(ck.at("online"));
  ck.get_rng("train", gen);
  phase = ck.counter("phase");
  phase_step = ck.counter("phase_step");
  env_steps = ck.counter("env_steps");
  episodes = ck.counter("episodes");
  evals = ck.counter("evals");
  distill_acc = ck.tensor("trainer", "distill_acc").to_vector<double>().at(0);
  if (method == "sac") critic_acc = ck.tensor("trainer", "critic_acc").to_vector<double>().at(0);
  if (auto_selection && ck.has("trainer") && ck.at("trainer").count("spread_sum")) {
    spread_sum = ck.tensor("trainer", "spread_sum").to_vector<double>().at(0);
    spread_n = ck.tensor("trainer", "spread_n").to_vector<std::int64_t>().at(0);
    if (phase >= kOnline) decide_selection(/*announce=*/false);
  }
  if (use_cache && ck.has("cache_offline")) {
    off_cache->load_state_dict(ck.at("cache_offline"));
    on_cache->load_state_dict(ck.at("cache_online"));
    ck.get_rng("cache", cache_gen);
    cache_distill = ck.counter("cache_distill");
  }
}

void Trainer::Impl::save(const std::string& tag, bool pinned) { last_good = ckpts->save(make_checkpoint(), tag, pinned); }

Tensor Trainer::Impl::act(const Tensor& obs, Generator& g, bool explore) {
  if (method == "idql") return idql_act(obs, g);
  if (is_parl(method)) {
    Candidates cands = method == "cem" ? act_opt->optimize(*policy, obs, g, Tensor(), cem_samples(obs, g))
                                       : act_opt->optimize(*policy, obs, g);
    return act_opt->sample_pi_opt(cands.actions, cands.q, g);
  }
  NoGrad ng;
  return policy->act(obs, g, /*deterministic=*/!explore);
}

EvalResult Trainer::Impl::evaluate(std::int64_t n, std::uint64_t stream) {
  const std::uint64_t seed = static_cast<std::uint64_t>(cfg.get_int("seed"));
  Generator g(seed, 1000 + stream);
  envs::VectorEnv venv(cfg.get_string("env"), static_cast<int>(n), static_cast<int>(cfg.get_int("eval.threads")));
  venv.reset(mix64(seed * 0x100000001B3ull + 7777 + stream));
  const int od = venv.obs_dim();
  std::vector<uint8_t> done(n, 0), succ(n, 0);
  std::vector<double> rets(n, 0.0), lens(n, 0.0);
  std::int64_t remaining = n;
  for (int t = 0; t < spec.time_limit + 1 && remaining > 0; ++t) {
    std::vector<float> o(venv.obs().begin(), venv.obs().end());
    Tensor a = act(Tensor::from_vector(o, Shape{n, od}), g, false);
    std::vector<float> av = a.to_vector<float>();
    venv.step(av);
    for (std::int64_t i = 0; i < n; ++i) {
      if (done[i]) continue;
      if (venv.success()[i]) succ[i] = 1;
      if (venv.terminated()[i] || venv.truncated()[i]) {
        done[i] = 1;
        --remaining;
        rets[i] = venv.final_returns()[i];
        lens[i] = venv.final_lengths()[i];
      }
    }
  }
  EvalResult r;
  r.episodes = n;
  double s = 0, m = 0, l = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    s += succ[i];
    m += rets[i];
    l += lens[i];
  }
  r.success = s / n;
  r.return_mean = m / n;
  r.length_mean = l / n;
  double v = 0;
  for (std::int64_t i = 0; i < n; ++i) v += (rets[i] - r.return_mean) * (rets[i] - r.return_mean);
  r.return_std = std::sqrt(v / n);
  return r;
}

void Trainer::Impl::guard(Metrics& m) {
  if (topt.metrics_hook) topt.metrics_hook(m, global_step());
  for (const auto& [k, v] : m) check_finite(k, v);
  auto it = m.find("q_data_mean");
  const double lim = cfg.get_float("train.q_limit");
  if (it != m.end() && lim > 0 && std::abs(it->second) > lim) {
    std::ostringstream s;
    s << "Q values exploded: q_data_mean = " << it->second << " exceeds train.q_limit = " << lim;
    throw NonFiniteError("q_data_mean", s.str());
  }
}

void Trainer::Impl::log_train(Metrics m) {
  MetricRecord rec;
  rec.emplace_back("phase", std::string(phase_name(phase)));
  rec.emplace_back("env_steps", env_steps);
  rec.emplace_back("episodes", episodes);
  for (std::size_t i = 3; i < kTrainColumns.size(); ++i) {
    auto it = m.find(kTrainColumns[i]);
    if (it != m.end()) rec.emplace_back(kTrainColumns[i], it->second);
  }
  logger->log("train", global_step(), rec);
  std::ostringstream note;
  for (const char* k : {"bc_loss", "critic_loss", "value_loss", "distill_loss", "q_data_mean"}) {
    auto it = m.find(k);
    if (it != m.end()) {
      char buf[48];
      std::snprintf(buf, sizeof buf, "%s %.4g  ", k, it->second);
      note << buf;
    }
  }
  if (bar) bar->set_note(note.str());
}

void Trainer::Impl::do_eval() {
  const EvalResult r = evaluate(cfg.get_int("eval.episodes"), static_cast<std::uint64_t>(evals));
  ++evals;
  MetricRecord rec;
  rec.emplace_back("phase", std::string(phase_name(phase)));
  rec.emplace_back("env_steps", env_steps);
  rec.emplace_back("episodes", episodes);
  rec.emplace_back("success", r.success);
  rec.emplace_back("return", r.return_mean);
  rec.emplace_back("return_std", r.return_std);
  rec.emplace_back("length", r.length_mean);
  logger->log("eval", global_step(), rec);
  if (!result.first_eval) result.first_eval = r;
  result.last_eval = r;
  if (bar) {
    bar->set_eval("success", r.success);
    std::ostringstream s;
    s << "eval @" << global_step() << " (" << phase_name(phase) << "): success " << r.success << ", return "
      << r.return_mean << " over " << r.episodes << " episodes";
    bar->message(s.str());
  }
}

bool Trainer::Impl::maybe_stop() {
  if (topt.stop_at_step >= 0 && global_step() >= topt.stop_at_step) {
    save("", false);
    result.status = TrainResult::Status::Interrupted;
    return true;
  }
  return false;
}

void Trainer::Impl::maybe_checkpoint(std::int64_t before, std::int64_t after) {
  const std::int64_t every = cfg.get_int("train.checkpoint_every");
  if (every > 0 && after / every != before / every) save("", false);
}

Metrics Trainer::Impl::distill_step(const Batch& b) {
  Metrics m = method == "cem" ? distiller->step(b.obs, gen, b.actions, cem_samples(b.obs, gen))
                              : distiller->step(b.obs, gen, b.actions);
  cache_after_distill();
  return m;
}

Metrics Trainer::Impl::critic_step(const Batch& b) {
  Metrics m = learner->update(b, gen);
  if (use_cache) aopt->clear_bindings();
  return m;
}

Metrics Trainer::Impl::actor_step(const Batch& b) {
  if (sac_actor) return sac_actor->update_actor(b, gen);
  if (awr) return awr->update(b, gen);
  if (method == "idql") {  // the behaviour policy keeps doing BC on offline + online data
    Metrics m;
    m["bc_loss"] = distiller->supervised_step(b.obs, b.actions, gen);
    return m;
  }
  return distill_step(b);
}

// ---- action cache -----------------------------------------------------------------------------
// Cached rows follow the buffers (appended and ring-overwritten online rows are sampled as they
// arrive, in sync()); the whole cache is recomputed with the current policy every
// parl.cache_refresh_every distillation epochs/steps. Samples come from their own stream
// (cache_gen), so the training stream sees the same batch indices with and without the cache.
void Trainer::Impl::cache_sync() {
  off_cache->sync(*policy, *offline, cache_gen);
  on_cache->sync(*policy, *online, cache_gen);
}

void Trainer::Impl::cache_after_distill() {
  if (!use_cache) return;
  ++cache_distill;
  std::int64_t period = cfg.get_int("parl.cache_refresh_every");
  if (cfg.get_string("parl.cache_refresh_unit") == "epochs") {
    const std::int64_t pbs = cfg.get_int("policy.batch_size");
    const std::int64_t rows = offline->size() + online->size();
    period *= std::max<std::int64_t>(1, (rows + pbs - 1) / pbs);
  }
  if (cache_distill < period) return;
  cache_distill = 0;
  off_cache->refresh(*policy, *offline, cache_gen);
  on_cache->refresh(*policy, *online, cache_gen);
}

Batch Trainer::Impl::critic_batch_offline(std::int64_t n) {
  cache_sync();
  return off_cache->sample(*offline, n, gen, *aopt);
}

Batch Trainer::Impl::critic_batch_mixed(const MixedSampler& s, std::int64_t n) {
  // Same draws as MixedSampler::sample (offline rows first, then online), plus cached samples.
  cache_sync();
  const std::int64_t k = s.offline_count(n);
  Tensor os, ns;
  Batch b;
  if (k == n) {
    b = off_cache->draw(*offline, n, gen, os, ns);
    b.num_offline = n;
  } else if (k == 0) {
    b = on_cache->draw(*online, n, gen, os, ns);
  } else {
    Tensor os2, ns2;
    Batch a = off_cache->draw(*offline, k, gen, os, ns);
    a.num_offline = k;
    Batch c = on_cache->draw(*online, n - k, gen, os2, ns2);
    b = concat_batches(a, c);
    os = concat({os, os2}, 0);
    ns = concat({ns, ns2}, 0);
  }
  aopt->bind_base_samples(b.obs, os);
  aopt->bind_base_samples(b.next_obs, ns);
  return b;
}

// ---- CEM candidates and IDQL action selection ---------------------------------------------------
Tensor Trainer::Impl::cem_samples(const Tensor& obs, Generator& g) const {
  NoGrad ng;
  const std::int64_t B = obs.size(0), A = spec.action_dim, P = cfg.get_int("cem.population");
  const std::int64_t iters = cfg.get_int("cem.iterations");
  const std::int64_t E =
      std::clamp<std::int64_t>(std::llround(static_cast<double>(P) * cfg.get_float("cem.elite_fraction")), 1, P);
  const double lo = aopt->options().low, hi = aopt->options().high, min_std = cfg.get_float("cem.min_std");
  Tensor pop = uniform(Shape{B, P, A}, lo, hi, g);
  for (std::int64_t it = 0; it < iters; ++it) {
    Tensor q = aopt->score(obs, pop);  // [B, P]
    auto [vals, idx] = topk(q, E, true);
    Tensor el = pick_rows(pop, idx);                                   // [B, E, A]
    Tensor mu = expand(mean(el, {1}, true), Shape{B, P, A});
    Tensor sd = expand(clamp(sqrt(var(el, {1}, true, 0)), min_std, 1e30), Shape{B, P, A});
    pop = clamp(mu + sd * normal(Shape{B, P, A}, 0.0, 1.0, g), lo, hi);
  }
  return pop;
}

Tensor Trainer::Impl::idql_act(const Tensor& obs, Generator& g) const {
  NoGrad ng;
  const std::int64_t B = obs.size(0), A = spec.action_dim, N = cfg.get_int("idql.samples");
  Tensor s = policy->sample(obs, N, g);  // [B, N, A]
  Tensor q = aopt->score(obs, s);        // [B, N]
  Tensor idx;
  if (cfg.get_string("idql.selection") == "argmax") {
    idx = argmax(q, -1, true);
  } else {
    Tensor v = expand(unsqueeze(static_cast<IQL*>(learner.get())->value().v(obs), -1), Shape{B, N});
    idx = multinomial(softmax((q - v) / std::max(cfg.get_float("idql.temperature"), 1e-8), -1), g).reshape(Shape{B, 1});
  }
  return pick_rows(s, idx).reshape(Shape{B, A});
}

void Trainer::Impl::run_bc() {
  const std::int64_t bs = cfg.get_int("policy.batch_size");
  const double lr0 = cfg.get_float("policy.lr");
  const bool cosine = cfg.get_string("policy.lr_schedule") == "cosine";
  const std::int64_t warm = cfg.get_int("policy.warmup_steps");
  const std::int64_t log_every = cfg.get_int("train.log_every");
  if (bc_steps == 0) {
    phase = kOffline;
    return;
  }
  if (bar) bar->phase("bc", bc_steps, phase_step);
  while (phase_step < bc_steps) {
    double lr = lr0;
    if (cosine) {
      const double t = static_cast<double>(phase_step);
      lr = lr0 * (warm > 0 ? std::min(1.0, (t + 1) / warm) : 1.0) * 0.5 * (1.0 + std::cos(std::numbers::pi * t / bc_steps));
    }
    distiller->optimizer().set_lr(lr);
    Batch b = offline->sample(bs, gen);
    Metrics m;
    m["bc_loss"] = distiller->supervised_step(b.obs, b.actions, gen);
    m["lr"] = lr;
    const std::int64_t before = global_step();
    ++phase_step;
    guard(m);
    if (phase_step % log_every == 0 || phase_step == bc_steps) log_train(m);
    if (bar) bar->update(phase_step);
    if (phase_step < bc_steps) {
      maybe_checkpoint(before, global_step());
      if (maybe_stop()) return;
    }
  }
  distiller->optimizer().set_lr(cfg.get_float("policy.distill_lr"));
  distiller->reset_optimizer();
  do_eval();
  phase = kOffline;
  phase_step = 0;
  save("bc", true);
}

void Trainer::Impl::decide_selection(bool announce) {
  if (spread_n == 0) return;  // nothing measured (no offline phase): keep softmax
  const double spread = spread_sum / static_cast<double>(spread_n);
  const bool argmax = spread < cfg.get_float("parl.auto_spread_threshold");
  aopt->options().selection = argmax ? Selection::Argmax : Selection::Softmax;
  if (announce)
    std::fprintf(stderr, "parl.selection = auto: mean candidate-Q std over pre-training %.4g %s %.4g -> %s\n", spread,
                 argmax ? "<" : ">=", cfg.get_float("parl.auto_spread_threshold"), argmax ? "argmax" : "softmax");
}

void Trainer::Impl::run_offline() {
  const std::int64_t bs = cfg.get_int("critic.batch_size");
  const std::int64_t pbs = cfg.get_int("policy.batch_size");
  const double ratio = cfg.get_float("train.offline_distill_ratio");
  const std::int64_t log_every = cfg.get_int("train.log_every");
  distiller->optimizer().set_lr(cfg.get_float("policy.distill_lr"));
  if (offline_steps == 0) {
    phase = kOnline;
    return;
  }
  if (bar) bar->phase("offline", offline_steps, phase_step);
  while (phase_step < offline_steps) {
    Batch b = use_cache ? critic_batch_offline(bs) : offline->sample(bs, gen);
    Metrics m = critic_step(b);
    if (is_parl(method) || sac_actor || awr) {
      distill_acc += (sac_actor || awr) ? 1.0 : ratio;
      while (distill_acc >= 1.0) {
        distill_acc -= 1.0;
        Batch pb = (sac_actor || awr) ? b : offline->sample(pbs, gen);
        for (const auto& [k, v] : actor_step(pb)) m[k] = v;
        if (auto_selection && m.count("cand_q_spread") && std::isfinite(m["cand_q_spread"])) {
          spread_sum += m["cand_q_spread"];
          ++spread_n;
        }
      }
    }
    const std::int64_t before = global_step();
    ++phase_step;
    guard(m);
    if (phase_step % log_every == 0 || phase_step == offline_steps) log_train(m);
    if (bar) bar->update(phase_step);
    if (phase_step < offline_steps) {
      maybe_checkpoint(before, global_step());
      if (maybe_stop()) return;
    }
  }
  if (auto_selection) decide_selection(/*announce=*/true);
  do_eval();
  phase = kOnline;
  phase_step = 0;
  save("offline", true);
}

bool Trainer::Impl::end_online_episode(Metrics& m, double ep_return, std::int64_t len, bool success,
                                       std::int64_t before, std::int64_t eval_every) {
  guard(m);
  m["episode_return"] = ep_return;
  m["episode_length"] = static_cast<double>(len);
  m["episode_success"] = success ? 1.0 : 0.0;
  log_train(m);
  if (bar) bar->update(env_steps);
  if (env_steps >= online_env_steps) return false;  // the last episode: finish_online() follows
  if (eval_every > 0 && episodes % eval_every == 0) do_eval();
  maybe_checkpoint(before, global_step());
  return maybe_stop();
}

void Trainer::Impl::finish_online() {
  do_eval();
  phase = kDone;
  phase_step = 0;
  save("online", true);
}

void Trainer::Impl::run_online() {
  if (online_env_steps == 0) {
    phase = kDone;
    save("done", true);
    return;
  }
  if (phase_step == 0 && env_steps == 0) {
    // DESIGN §4: optimiser state is reset at the offline -> online switch.
    if (learner) learner->reset_optimizers();
    if (sac_actor) sac_actor->reset_optimizers();
    if (awr) awr->reset_optimizer();
    distiller->reset_optimizer();
    distill_acc = 0.0;
    critic_acc = 0.0;
  }
  if (method == "sac") {
    run_online_sac();
    return;
  }
  distiller->optimizer().set_lr(cfg.get_float("policy.distill_lr"));
  const std::int64_t bs = cfg.get_int("critic.batch_size");
  const std::int64_t pbs = cfg.get_int("policy.batch_size");
  const double utd = cfg.get_float("train.utd"), dps = cfg.get_float("train.distill_per_env_step");
  const std::int64_t warm = cfg.get_int("train.warmup_episodes");
  const std::int64_t eval_every = cfg.get_int("eval.every_episodes");
  MixedSampler critic_sampler(*offline, *online, MixOptions{cfg.get_float("train.mixing_ratio"), false});
  MixedSampler distill_sampler(*offline, *online, MixOptions{0.5, true});
  const std::uint64_t seed = static_cast<std::uint64_t>(cfg.get_int("seed"));
  const int od = env->obs_dim(), ad = env->action_dim();
  if (bar) bar->phase("online", online_env_steps, env_steps);
  std::vector<float> obs(od), next(od);
  while (env_steps < online_env_steps) {
    const std::int64_t before = global_step();
    // ---- one trajectory with pi_opt (explore: sample the policy for non-PA-RL methods)
    env->reset(mix64(seed * 0x100000001B3ull + static_cast<std::uint64_t>(episodes)), obs);
    bool success = false;
    std::int64_t len = 0;
    for (;;) {
      Tensor a = act(Tensor::from_vector(obs, Shape{1, od}), gen, true);
      std::vector<float> av = a.to_vector<float>();
      av.resize(ad);
      envs::StepResult sr = env->step(av, next);
      success = success || sr.info.success;
      writer->add(obs, av, sr.reward, next, sr.terminated);
      ++len;
      obs.swap(next);
      if (sr.terminated || sr.truncated) break;
    }
    const double ep_return = writer->end();
    env_steps += len;
    ++episodes;
    // ---- updates
    Metrics m;
    if (episodes > warm) {
      const std::int64_t n_critic = static_cast<std::int64_t>(std::llround(len * utd));
      for (std::int64_t i = 0; i < n_critic; ++i) {
        Batch b = use_cache ? critic_batch_mixed(critic_sampler, bs) : critic_sampler.sample(bs, gen);
        for (const auto& [k, v] : critic_step(b)) m[k] = v;
      }
      distill_acc += len * dps;
      while (distill_acc >= 1.0) {
        distill_acc -= 1.0;
        Batch b = (sac_actor || awr) ? critic_sampler.sample(bs, gen) : distill_sampler.sample(pbs, gen);
        for (const auto& [k, v] : actor_step(b)) m[k] = v;
      }
    }
    if (end_online_episode(m, ep_return, len, success, before, eval_every)) return;
  }
  finish_online();
}

// Method sac (Haarnoja et al. 2018, as in RLtools / CleanRL): online only, one env step at a
// time. The first train.random_steps env steps act uniformly at random; from then on every env
// step takes train.utd critic updates (fractional UTDs accumulate) on batches of the online
// buffer, each followed by a Polyak update of the target, and every sac.actor_every env steps
// one actor + temperature update (on the last critic batch). Episodes are the loop boundaries
// for logging, evaluation, checkpoints and interruption, exactly as in run_online(); the last
// episode is cut at the env-step budget.
void Trainer::Impl::run_online_sac() {
  const std::int64_t bs = cfg.get_int("critic.batch_size");
  const double utd = cfg.get_float("train.utd");
  const std::int64_t random_steps = cfg.get_int("train.random_steps");
  const std::int64_t actor_every = cfg.get_int("sac.actor_every");
  const std::int64_t warm = cfg.get_int("train.warmup_episodes");
  const std::int64_t eval_every = cfg.get_int("eval.every_episodes");
  const std::uint64_t seed = static_cast<std::uint64_t>(cfg.get_int("seed"));
  const int od = env->obs_dim(), ad = env->action_dim();
  // The untrained policy starts the learning curve (there is no bc/offline phase to evaluate).
  if (bar) bar->phase("online", online_env_steps, env_steps);
  if (env_steps == 0 && episodes == 0 && evals == 0) do_eval();
  std::vector<float> obs(od), next(od), av(ad);
  while (env_steps < online_env_steps) {
    const std::int64_t before = global_step();
    env->reset(mix64(seed * 0x100000001B3ull + static_cast<std::uint64_t>(episodes)), obs);
    bool success = false;
    std::int64_t len = 0;
    Metrics m;
    for (;;) {
      if (env_steps < random_steps) {
        av = uniform(Shape{1, ad}, -1.0, 1.0, gen).to_vector<float>();
      } else {
        av = act(Tensor::from_vector(obs, Shape{1, od}), gen, true).to_vector<float>();
      }
      av.resize(ad);
      envs::StepResult sr = env->step(av, next);
      success = success || sr.info.success;
      writer->add(obs, av, sr.reward, next, sr.terminated);
      ++len;
      ++env_steps;
      obs.swap(next);
      if (env_steps >= random_steps && episodes >= warm) {
        Batch b;
        bool have = false;
        critic_acc += utd;
        while (critic_acc >= 1.0) {
          critic_acc -= 1.0;
          b = online->sample(bs, gen);
          have = true;
          for (const auto& [k, v] : sac->update_critic(b, gen)) m[k] = v;
        }
        if (env_steps % actor_every == 0) {
          if (!have) b = online->sample(bs, gen);
          for (const auto& [k, v] : sac->update_actor(b, gen)) m[k] = v;
        }
      }
      if (sr.terminated || sr.truncated || env_steps >= online_env_steps) break;
    }
    const double ep_return = writer->end();
    ++episodes;
    if (end_online_episode(m, ep_return, len, success, before, eval_every)) return;
  }
  finish_online();
}

// =============================================================================================
Trainer::Trainer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Trainer::~Trainer() = default;

Trainer::Trainer(const Config& cfg, const std::filesystem::path& run_dir, TrainerOptions opt)
    : impl_(std::make_unique<Impl>()) {
  Impl& t = *impl_;
  t.cfg = cfg;
  t.topt = std::move(opt);
  t.build(false);  // validates before touching the folder
  RunDir rd = RunDir::open(run_dir, cfg.dump(), t.topt.overwrite ? RunDir::Mode::Overwrite : RunDir::Mode::New);
  t.dir = rd.path();
  t.logger = std::make_unique<MetricsLogger>(t.dir);
  t.ckpts = std::make_unique<CheckpointManager>(rd.checkpoints_dir(), static_cast<int>(cfg.get_int("train.keep_checkpoints")));
}

std::unique_ptr<Trainer> Trainer::resume(const std::filesystem::path& run_dir, TrainerOptions opt) {
  RunDir rd = RunDir::open(run_dir, "", RunDir::Mode::Resume);
  auto impl = std::make_unique<Impl>();
  impl->cfg = make_train_config();
  impl->cfg.load_string(rd.config_text(), rd.config_path().string());
  impl->topt = std::move(opt);
  impl->build(false);
  impl->dir = rd.path();
  impl->ckpts = std::make_unique<CheckpointManager>(rd.checkpoints_dir(),
                                                    static_cast<int>(impl->cfg.get_int("train.keep_checkpoints")));
  std::int64_t resume_step = -1;
  if (auto p = impl->ckpts->latest()) {
    Checkpoint ck = load_checkpoint(*p);
    impl->load(ck);
    impl->last_good = p;
    resume_step = ck.step;
  }
  impl->logger = std::make_unique<MetricsLogger>(impl->dir, resume_step);
  return std::unique_ptr<Trainer>(new Trainer(std::move(impl)));
}

std::unique_ptr<Trainer> Trainer::open_for_eval(const std::filesystem::path& run_dir) {
  RunDir rd = RunDir::existing(run_dir);
  auto impl = std::make_unique<Impl>();
  impl->cfg = make_train_config();
  impl->cfg.load_string(rd.config_text(), rd.config_path().string());
  impl->build(true);
  impl->dir = rd.path();
  CheckpointManager m(rd.checkpoints_dir());
  auto p = m.latest();
  if (!p) throw IOError("run " + rd.path().string() + " has no checkpoint yet");
  Checkpoint ck = load_checkpoint(*p);
  impl->distiller->load_state_dict(ck.at("distiller"));
  if (impl->learner) impl->learner->load_state_dict(ck.at("learner"));
  impl->phase = ck.counter("phase");
  impl->phase_step = ck.counter("phase_step");
  impl->env_steps = ck.counter("env_steps");
  impl->episodes = ck.counter("episodes");
  impl->last_good = p;
  return std::unique_ptr<Trainer>(new Trainer(std::move(impl)));
}

TrainResult Trainer::run() {
  Impl& t = *impl_;
  if (t.topt.progress) {
    ProgressBar::Options po;
    po.out = t.topt.progress_out;
    t.bar = std::make_unique<ProgressBar>(po);
  }
  t.logger->declare("train", kTrainColumns);
  t.logger->declare("eval", kEvalColumns);
  t.result = TrainResult{};
  try {
    if (t.phase == kBC) t.run_bc();
    if (t.result.status == TrainResult::Status::Finished && t.phase == kOffline) t.run_offline();
    if (t.result.status == TrainResult::Status::Finished && t.phase == kOnline) t.run_online();
  } catch (const NonFiniteError& e) {
    t.result.status = TrainResult::Status::Stopped;
    t.result.message = stopped_message(t.global_step(), e, t.last_good);
    if (t.bar) t.bar->message(t.result.message);
  }
  if (t.bar) t.bar->finish();
  t.result.step = t.global_step();
  return t.result;
}

EvalResult Trainer::evaluate(std::int64_t episodes, std::uint64_t stream) { return impl_->evaluate(episodes, stream); }

EvalResult Trainer::record_frames(const std::filesystem::path& dir, std::int64_t episodes, int size) {
  Impl& t = *impl_;
  std::filesystem::create_directories(dir);
  const std::uint64_t seed = static_cast<std::uint64_t>(t.cfg.get_int("seed"));
  Generator g(seed, 5000);
  const int od = t.env->obs_dim(), ad = t.env->action_dim();
  std::vector<float> obs(od);
  EvalResult r;
  r.episodes = episodes;
  std::vector<double> rets;
  for (std::int64_t e = 0; e < episodes; ++e) {
    t.env->reset(mix64(seed * 31 + 99991 + static_cast<std::uint64_t>(e)), obs);
    double ret = 0;
    bool succ = false;
    int step = 0;
    auto frame = [&]() {
      char name[64];
      std::snprintf(name, sizeof name, "ep%03lld_%04d.png", static_cast<long long>(e), step);
      auto rgb = t.env->render_rgb(size, size);
      envs::write_png((dir / name).string(), size, size, rgb);
    };
    frame();
    for (;;) {
      Tensor a = t.act(Tensor::from_vector(obs, Shape{1, od}), g, false);
      std::vector<float> av = a.to_vector<float>();
      av.resize(ad);
      envs::StepResult sr = t.env->step(av, obs);
      ret += sr.reward;
      succ = succ || sr.info.success;
      ++step;
      frame();
      if (sr.terminated || sr.truncated) break;
    }
    rets.push_back(ret);
    r.success += succ ? 1.0 / episodes : 0.0;
    r.length_mean += static_cast<double>(step) / episodes;
  }
  r.return_mean = std::accumulate(rets.begin(), rets.end(), 0.0) / std::max<std::int64_t>(episodes, 1);
  return r;
}

const Config& Trainer::config() const { return impl_->cfg; }
std::int64_t Trainer::global_step() const { return impl_->global_step(); }
std::string Trainer::phase() const { return phase_name(impl_->phase); }
const std::filesystem::path& Trainer::run_dir() const { return impl_->dir; }

}  // namespace anyrl::rl
