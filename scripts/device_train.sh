#!/usr/bin/env bash
# Train on one GPU machine and leave what is needed here under $OUT (used for the model in models/):
#   OUT=/some/dir bash scripts/device_train.sh [MINUTES] [training.train options...]
# Needs gpu_data/ (python -m scripts.pack_training_subset). Writes to $OUT: console.log, the best weights
# in fp16 split into pieces under 16 MiB (best16.safetensors.part-*; join with cat), logs.tar.gz (config,
# logs, curves, sample grids) and benchmarks.gpu's gpu.md/gpu.json for the trained model.
set -u
OUT=${OUT:-runs/device-out}
MINUTES=${1:-7}
shift || true
RUN=${RUN:-/tmp/gpu-run}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec > >(tee "$OUT/console.log") 2>&1
nvidia-smi -L
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, torch.cuda.get_device_name(0))"
# the budget covers the training loop; start-up and the last validation get two more minutes
LIMIT=$(python3 -c "print(int(float('$MINUTES') * 60 + 120))")
timeout --signal=TERM --kill-after=30 "$LIMIT" \
  python3 -m training.train --config training/configs/gpu.yaml --max-minutes "$MINUTES" --out "$RUN" "$@"
echo "training.train exit status $?"
python3 - "$RUN" <<'PY'
import sys
from pathlib import Path
import torch
from colorize.checkpoint import load_model, save_model
run = Path(sys.argv[1])
model, meta = load_model(run / "best.safetensors")
save_model(model, run / "best16.safetensors", meta, dtype=torch.float16)
print("best:", meta["training"]["step"], meta["metrics"]["validation"])
PY
split -b 15M -d "$RUN/best16.safetensors" "$OUT/best16.safetensors.part-"
ls -l "$OUT"
tar -C "$RUN" -czf "$OUT/logs.tar.gz" --exclude='*.pt' --exclude='*.safetensors' .
timeout 150 python3 -m benchmarks.gpu --checkpoint "$RUN/best16.safetensors" --out "$OUT" --runs 20
echo "benchmarks.gpu exit status $?"
ls -l "$OUT"
