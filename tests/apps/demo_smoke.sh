#!/usr/bin/env bash
# The README's main job (`anyrl demo`) on a seconds-long budget: it must train through every
# phase, print the success rates before and after fine-tuning, write the curve PNG, and reject
# unknown options with a non-zero exit. Usage: demo_smoke.sh path/to/anyrl SOURCE_DIR
set -euo pipefail
anyrl="$1"; src="$2"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cd "$src"  # the demo finds configs/pointmaze-medium/demo.toml from the working directory

out="$("$anyrl" demo --quiet --out "$tmp/demo" --set dataset=generate:diverse:3000 \
  --set train.bc_steps=20 --set train.offline_steps=20 --set train.online_env_steps=300 \
  --set eval.episodes=4 --set train.checkpoint_every=0)"
echo "$out"
for line in "after BC pre-training" "after offline PA-RL pre-training" "after online fine-tuning" "wrote $tmp/demo/curve.png"; do
  grep -qF "$line" <<<"$out" || { echo "FAIL: demo output lacks '$line'"; exit 1; }
done
[[ "$(head -c 8 "$tmp/demo/curve.png" | od -An -tx1 | tr -d ' \n')" == "89504e470d0a1a0a" ]] \
  || { echo "FAIL: $tmp/demo/curve.png is not a PNG"; exit 1; }
[[ "$(grep -c ',online,' "$tmp/demo/eval.csv")" -ge 1 ]] || { echo "FAIL: no online evaluation in eval.csv"; exit 1; }

if err="$("$anyrl" demo --bogus 2>&1)"; then echo "FAIL: unknown option accepted"; exit 1; fi
grep -qF "unknown option '--bogus'" <<<"$err" || { echo "FAIL: unclear error: $err"; exit 1; }

"$anyrl" demo engine --steps 50 | tail -1 | grep -q "lower" || { echo "FAIL: engine demo"; exit 1; }
echo "demo smoke: OK"
