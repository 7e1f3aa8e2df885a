#!/usr/bin/env bash
# GPU benchmarks (issue 15): the attack-cost table, training throughput of CNN, CNN-F, FPD (when
# registered) and the CIFAR-10 WideResNet-40-2 family (synthetic data in the real format), and the
# accuracy effect of bf16 autocast on one short run. Not yet run on a GPU: no GPU was lent to the
# session that wrote it (it was checked end to end on the CPU with SMOKE=1 DEVICE=cpu).
#
#   bash benchmarks/gpu.sh            # fp32, then the same tables with --amp bf16
#   DEVICE=cpu SMOKE=1 bash benchmarks/gpu.sh   # a minutes-long dry run of every step
#
# Outputs: benchmarks/results/gpu/*.json (and the printed tables); paste them into RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-benchmarks/results/gpu}
mkdir -p "$OUT"
if [[ "${SMOKE:-0}" == 1 ]]; then
  N=8; BATCHES=1; SPSA_ITER=1; SQUARE=5; APGD=2; SUBSET=256; AMP_N=50; MODES="off"; BS=(--batch-size 8)
else
  N=500; BATCHES=20; SPSA_ITER=2; SQUARE=100; APGD=20; SUBSET=10000; AMP_N=1000; MODES="off bf16"; BS=()
fi
run() { echo "+ $*" >&2; uv run "$@"; }
models=(cnn-fmnist cnnf-fmnist)
if uv run cnnf-bench models 2>/dev/null | grep -q "fpd-fmnist"; then models+=(fpd-fmnist); fi
cifar=(cnn-cifar10 cnnf-cifar10)
if uv run cnnf-bench models 2>/dev/null | grep -q "fpd-cifar10"; then cifar+=(fpd-cifar10); fi
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
run python benchmarks/synthetic_cifar.py "$data" --per-batch 2000 --test 1000 >/dev/null

for amp in $MODES; do
  run python benchmarks/attack_cost.py --device "$DEVICE" --amp "$amp" --n "$N" --spsa-iter "$SPSA_ITER" \
    --square-iter "$SQUARE" --apgd-iter "$APGD" --label "gpu-$amp" --out "$OUT/attack_cost_$amp.json"
  run python benchmarks/train_throughput.py --device "$DEVICE" --amp "$amp" --batches "$BATCHES" \
    "${BS[@]}" --models "${models[@]}" --out "$OUT/train_fmnist_$amp.json"
  CNNF_BENCH_DATA="$data" run python benchmarks/train_throughput.py --device "$DEVICE" --amp "$amp" \
    --batches "$BATCHES" "${BS[@]}" --models "${cifar[@]}" --out "$OUT/train_cifar10_$amp.json"
done
run python benchmarks/amp_accuracy.py --device "$DEVICE" --train-subset "$SUBSET" --n "$AMP_N" \
  --out "$OUT/amp_accuracy.json"
run python benchmarks/attack_cost.py --render "$OUT"/attack_cost_*.json
