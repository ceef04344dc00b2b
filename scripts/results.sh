#!/usr/bin/env bash
# Regenerates docs/results.md: offline -> online success of every method of the PA-RL results
# table (PA-RL paper, Table 1) on pointmaze-medium, pointmaze-large and kitchen-like partial/mixed,
# over several seeds, with the CPU budget below. Runs already finished are skipped, so an
# interrupted invocation continues where it stopped.
#
#   scripts/results.sh [--jobs N] [--seeds "0 1 2"] [--runs DIR] [--tasks "..."] [--only-table]
#                      [--table FILE]   (default docs/results.md)
#
# Each run is one `anyrl train` of configs/<task>/<method>.toml (the paper's hyper-parameters)
# with the CPU overrides in common_overrides/method_overrides; the table lists them.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
anyrl="${ANYRL:-$root/build/apps/anyrl}"  # $ANYRL: another binary (then set $ANYRL_COMMIT)
runs="$root/runs/results"
jobs=2
seeds="0 1 2"
tasks="pointmaze-medium pointmaze-large kitchen-like-partial kitchen-like-mixed"
only_table=0
table="$root/docs/results.md"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --jobs) jobs="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --tasks) tasks="$2"; shift 2 ;;
    --only-table) only_table=1; shift ;;
    --table) table="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "results.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

# Table rows (the paper's Table 1 methods) and the ablation rows, which run on one maze and one
# kitchen-like dataset only.
methods="calql_sac iql_awr idql_diffusion parl_calql_diffusion parl_calql_autoregressive parl_iql_diffusion parl_rlpd_diffusion"
ablations="parl_calql_diffusion_no_global_opt parl_calql_diffusion_no_local_opt"
ablation_tasks="pointmaze-medium kitchen-like-partial"

# CPU budget: every run is 1 thread; on the 2-core development VM a run takes 5 s (IQL) to about
# 3 minutes (PA-RL + Cal-QL with the autoregressive policy) when the machine is otherwise idle.
common_overrides=(
  threads=1
  critic.ensemble=2 critic.subset=2 "critic.hidden=[64, 64]" critic.bins=32
  critic.lr=1e-3 critic.batch_size=64
  calql.n_actions=2
  train.offline_steps=2000 train.online_env_steps=3000 train.utd=0.5
  train.distill_per_env_step=0.25 train.log_every=100 train.checkpoint_every=0
  eval.episodes=32 eval.every_episodes=0
  policy.batch_size=64 policy.lr=1e-3 policy.warmup_steps=10 policy.distill_lr=3e-4
  policy.dropout=0.0
  policy.diffusion_hidden=64 policy.diffusion_blocks=1
  policy.ar_width=64 policy.ar_layers=1 policy.ar_heads=2 policy.ar_bins=32
  "policy.hidden=[64, 64]"
  parl.k=4 parl.m=2
  idql.samples=16
)
method_overrides() {  # extra overrides per method (budgets that differ by phase structure)
  case "$1" in
    calql_sac|iql_awr) ;;                                  # no BC phase in these configs
    parl_rlpd_diffusion) echo "train.bc_steps=1000 train.offline_steps=0 train.utd=1" ;;
    *) echo "train.bc_steps=1000" ;;
  esac
}
dataset_override() {
  case "$1" in
    pointmaze-*) echo "dataset=generate:diverse:50000" ;;
    kitchen-like-partial) echo "dataset=generate:partial:50000" ;;
    kitchen-like-mixed) echo "dataset=generate:mixed:50000" ;;
  esac
}

run_one() {  # task method seed
  local task="$1" method="$2" seed="$3"
  local out="$runs/$task/$method/seed$seed"
  if [[ -f "$out/done" ]]; then return 0; fi
  local args=(train --config "$root/configs/$task/$method.toml" --seed "$seed" --out "$out"
              --overwrite --quiet --set "$(dataset_override "$task")")
  local o
  for o in "${common_overrides[@]}" $(method_overrides "$method"); do args+=(--set "$o"); done
  mkdir -p "$(dirname "$out")"
  local start=$SECONDS
  if "$anyrl" "${args[@]}" > "$out.log" 2>&1; then
    echo "$((SECONDS - start))" > "$out/done"
    echo "done  $task/$method/seed$seed in $((SECONDS - start)) s"
  else
    echo "FAILED $task/$method/seed$seed (log: $out.log)" >&2
  fi
}
export -f run_one method_overrides dataset_override
export root anyrl runs

if [[ $only_table -eq 0 ]]; then
  [[ -x "$anyrl" ]] || { echo "results.sh: $anyrl not found; build first (README)" >&2; exit 1; }
  list=()
  for seed in $seeds; do
    for task in $tasks; do
      for m in $methods; do list+=("$task $m $seed"); done
      if [[ " $ablation_tasks " == *" $task "* ]]; then
        for m in $ablations; do list+=("$task $m $seed"); done
      fi
    done
  done
  echo "results.sh: ${#list[@]} runs, $jobs at a time, into $runs"
  # Bash arrays cannot be exported; the workers re-read this script's overrides via a file.
  mkdir -p "$runs"
  # Which build made these runs: the checkout's commit unless $ANYRL_COMMIT says otherwise.
  commit="${ANYRL_COMMIT:-$(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD || echo '+local changes')}"
  if [[ -f "$runs/COMMIT" && "$(cat "$runs/COMMIT")" != "$commit" ]]; then
    echo "results.sh: warning: finished runs in $runs were made by $(cat "$runs/COMMIT"), new ones by $commit" >&2
    commit="$(cat "$runs/COMMIT") + $commit"
  fi
  echo "$commit" > "$runs/COMMIT"
  printf '%s\n' "${common_overrides[@]}" > "$runs.overrides"
  printf '%s\n' "${list[@]}" | xargs -P "$jobs" -L 1 bash -c '
    mapfile -t common_overrides < "$runs.overrides"
    run_one "$0" "$1" "$2"' || echo "results.sh: some runs failed (FAILED lines above); the table marks them 'not run'" >&2
fi

python3 "$root/scripts/results_table.py" --runs "$runs" --seeds "$seeds" \
  --overrides "$(printf '%s; ' "${common_overrides[@]}")" > "$table.tmp"
mv "$table.tmp" "$table"
echo "wrote $table"
