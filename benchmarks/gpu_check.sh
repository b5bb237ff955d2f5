#!/usr/bin/env bash
# Every GPU figure of the neural-retriever issue and the DIN issue, in one go, on a bare GPU image.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]        (SCALE=full by default; SCALE=medium for a quick pass)
#
# Installs what a bare image lacks (the project with --no-deps, so the image's CUDA torch stays),
# checks CUDA, writes the synthetic world at $SCALE and ingests it, then measures:
#   1. DIN's training step (benchmarks/din_step.py, full-scale catalogue, CUDA), and under torchrun
#      with NCCL at 1 and 2 workers when two GPUs are there (benchmarks/ddp_step.py);
#   2. exact top-100 for 1,371,980 random users x 105,542 articles on the device;
#   3. per neural retriever: one epoch over 8 training weeks of buyers, and retrieval for every
#      customer at k=100 (benchmarks/neural_gpu.py);
#   4. TDM: beam-search cost per customer, one epoch over 8 weeks, retrieval for last week's buyers
#      and for every customer (benchmarks/tdm.py cost, hmrec recall --method tdm);
#   5. the whole validation run of the full pipeline with the GPU profile (benchmarks/full_pipeline.py
#      --profile gpu --part validation: six sources for 5 weeks, merge, DIN, evaluate), each step's
#      wall time and peak memory, DIN's seconds per epoch and MAP@12 against merge.
# Results go to OUT_DIR/gpu.jsonl (one JSON line per figure, written as measured) and stdout.
# Without CUDA it says so and stops with exit code 3: no GPU figure is ever made up on a CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-${OUT:-benchmarks/out}}"
SCALE="${SCALE:-full}"
WORK="${WORK:-/tmp/hmrec-gpu}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT" "$WORK"

echo "== installing (pip)"
"$PY" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
"$PY" -c "import torch" 2>/dev/null || "$PY" -m pip install -q torch
"$PY" -m pip install -q "polars>=1.20" "pyarrow>=15" "numpy>=1.26" "scipy>=1.11" "implicit>=0.7" "annoy>=1.17" "threadpoolctl>=3" "typer>=0.12" "rich>=13" "lightgbm>=4" "plotext>=5.2,<6"
"$PY" -m pip install -q -e . --no-deps
HMREC="$(dirname "$(command -v "$PY")")/hmrec"
[ -x "$HMREC" ] || HMREC="$("$PY" -c 'import sys, pathlib; print(pathlib.Path(sys.executable).parent / "hmrec")')"

echo "== device"
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "no CUDA device visible to torch: GPU figures NOT measured (nothing written)" | tee -a "$OUT/gpu.jsonl.skipped"
    exit 3
fi
"$PY" -c "import torch; p = torch.cuda.get_device_properties(0); print(f'{p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, CUDA {torch.version.cuda}')" | tee "$OUT/gpu_device.txt"
nproc | sed 's/^/cpu cores: /'

echo "== DIN training step (full-scale catalogue, 2M rows, 2 epochs)"
"$PY" benchmarks/din_step.py --device cuda --rows 2000000 --epochs 2 | tee -a "$OUT/gpu.jsonl"

echo "== DDP (NCCL): DIN's step at 1 and 2 workers, one GPU each (benchmarks/ddp_step.py)"
GPUS="$("$PY" -c "import torch; print(torch.cuda.device_count())")"
if [ "$GPUS" -ge 2 ]; then
    "$PY" benchmarks/ddp_step.py --device cuda --runs 1x1,2x1 --rows 2000000 | tee -a "$OUT/gpu.jsonl"
else
    "$PY" benchmarks/ddp_step.py --device cuda --runs 1x1 --rows 2000000 | tee -a "$OUT/gpu.jsonl"
    echo "one GPU: DDP with 2 NCCL workers NOT measured (it needs a GPU per worker)"
fi

echo "== synthetic world ($SCALE) and store"
if [ ! -f "$WORK/raw-$SCALE/transactions_train.csv" ]; then
    /usr/bin/time -f "synth %e s" "$HMREC" data synth --scale "$SCALE" --seed 0 --out "$WORK/raw-$SCALE" -q
fi
"$HMREC" data ingest "$WORK/raw-$SCALE" --data "$WORK/store-$SCALE" -q

echo "== exact top-100 and the neural retrievers (one epoch, every customer)"
"$PY" benchmarks/neural_gpu.py --data "$WORK/store-$SCALE" --cache "$WORK/cache" --out "$OUT/gpu.jsonl" --device cuda

echo "== TDM: beam-search cost per customer (8k .. 1M leaves), then one epoch over 8 weeks and retrieval"
"$PY" benchmarks/tdm.py cost --device cuda --customers 4096 | tee -a "$OUT/gpu.jsonl"
/usr/bin/time -f "tdm last week %e s %M KB" "$HMREC" recall --method tdm --device cuda --data "$WORK/store-$SCALE" --cache "$WORK/cache" \
    --week last --k 100 -o weeks=8 -o epochs=1 -o tree_rounds=0 --json -q | tee -a "$OUT/gpu.jsonl"
/usr/bin/time -f "tdm all customers %e s %M KB" "$HMREC" recall --method tdm --device cuda --data "$WORK/store-$SCALE" --cache "$WORK/cache" \
    --week last --k 100 -o weeks=8 -o epochs=1 -o tree_rounds=0 --customers all --json -q | tee -a "$OUT/gpu.jsonl"

echo "== the full pipeline's validation run, GPU profile (sources for 5 weeks, merge, DIN, evaluate)"
"$PY" benchmarks/full_pipeline.py --workdir "$WORK/pipeline" --data "$WORK/store-$SCALE" --cache "$WORK/cache" --profile gpu --part validation --rankers din \
    | tee "$OUT/pipeline_gpu.txt" | grep '^{' >> "$OUT/gpu.jsonl"

echo "== done: $OUT/gpu.jsonl"
