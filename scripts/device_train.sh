#!/usr/bin/env bash
# Train on one GPU machine and leave what is needed here under $OUT (used for the model in models/):
#   OUT=/some/dir bash scripts/device_train.sh [MINUTES] [training.train options...]
# Needs gpu_data/ or gpu_data.zip (python -m scripts.pack_training_subset --zip). Writes to $OUT: console.log, the best weights
# in fp16 split into pieces under 16 MiB (best16.safetensors.part-*; join with cat), logs.tar.gz (config,
# logs, curves, sample grids) and benchmarks.gpu's gpu.md/gpu.json for the trained model.
# Env: CONFIG (default training/configs/shipped.yaml); INIT, a checkpoint packed by scripts/pack_init_weights.py
# to fine-tune from (unpacked, then --init-from); GPU_BENCH=0 skips benchmarks.gpu; SNAPSHOTS=N also exports the
# last N validation snapshots in fp16 (snapshot_<step>.safetensors; needs snapshots: true) for training.shipping.average.
# Photos packed in parts (scripts.pack_training_subset --parts) are unpacked by earlier calls; pass their
# folders as --data/--val-data.
set -u
OUT=${OUT:-runs/device-out}
MINUTES=${1:-7}
shift || true
RUN=${RUN:-/tmp/gpu-run}
CONFIG=${CONFIG:-training/configs/shipped.yaml}
INIT=${INIT:-}
GPU_BENCH=${GPU_BENCH:-1}
SNAPSHOTS=${SNAPSHOTS:-0}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec > >(tee "$OUT/console.log") 2>&1
nvidia-smi -L
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, torch.cuda.get_device_name(0))"
# the budget covers the training loop; start-up and the last validation get two more minutes
df -h /dev/shm | tail -1
if [ ! -d gpu_data ] && [ -f gpu_data.zip ]; then python3 -m zipfile -e gpu_data.zip . && echo "unpacked gpu_data.zip"; fi
INIT_ARGS=()
if [ -n "$INIT" ]; then
  python3 -m scripts.pack_init_weights unpack "$INIT" /tmp/init.safetensors || exit 1
  INIT_ARGS=(--init-from /tmp/init.safetensors)
fi
train() {  # MINUTES, then extra options; the budget covers the loop, start-up and the last validation get 2 min
  local limit
  limit=$(python3 -c "print(int(float('$1') * 60 + 120))")
  timeout --signal=TERM --kill-after=30 "$limit" \
    python3 -m training.train --config "$CONFIG" --max-minutes "$1" --out "$RUN" "${INIT_ARGS[@]}" "${@:2}"
}
START=$SECONDS
train "$MINUTES" "$@"
STATUS=$?
echo "training.train exit status $STATUS"
LEFT=$(python3 -c "print(round(float('$MINUTES') - ($SECONDS - $START) / 60 - 0.5, 1))")
if [ "$STATUS" != 0 ] && [ "$STATUS" != 130 ] && [ "$STATUS" != 124 ] && [ ! -f "$RUN/best.safetensors" ] \
    && python3 -c "import sys; sys.exit(float('$LEFT') < 2)"; then
  # failed early (data-loading workers are what differs most between machines): once more without them
  echo "training failed early; again for $LEFT min with --workers 0"
  rm -rf "$RUN"
  train "$LEFT" "$@" --workers 0
  echo "training.train (no workers) exit status $?"
fi
python3 - "$RUN" <<'PY'
import sys
from pathlib import Path
import torch
from colorize.checkpoint import load_model, save_model
run = Path(sys.argv[1])
if (run / "best.safetensors").is_file():
    model, meta = load_model(run / "best.safetensors")
    print("best:", meta["training"]["step"], meta["metrics"]["validation"])
else:  # stopped before its last validation: the weights of last.pt, marked as such
    from colorize.models import create_model
    import yaml
    state = torch.load(run / "last.pt", map_location="cpu", weights_only=False)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    model = create_model(cfg["arch"])
    model.load_state_dict(state["model"])
    meta = {"training": {"step": state.get("step"), "from": "last.pt, not validated"}}
    print("no best.safetensors: exported last.pt at step", state.get("step"))
save_model(model, run / "best16.safetensors", meta, dtype=torch.float16)
PY
split -b 15M -d "$RUN/best16.safetensors" "$OUT/best16.safetensors.part-"
if [ "$SNAPSHOTS" -gt 0 ] && [ -d "$RUN/snapshots" ]; then
  python3 - "$RUN" "$OUT" "$SNAPSHOTS" <<'PY'
import sys
from pathlib import Path
import torch
from colorize.checkpoint import load_model, save_model
run, out, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
for snap in sorted((run / "snapshots").glob("step_*.safetensors"))[-n:]:
    model, meta = load_model(snap)
    save_model(model, out / f"snapshot_{snap.stem[5:]}.safetensors", meta, dtype=torch.float16)
    (out / f"snapshot_{snap.stem[5:]}.json").unlink()  # the metadata is inside the file; $OUT takes 8 files
PY
fi
ls -l "$OUT"
tar -C "$RUN" -czf "$OUT/logs.tar.gz" --exclude='*.pt' --exclude='*.safetensors' .
if [ "$GPU_BENCH" != 0 ]; then
  timeout 100 python3 -m benchmarks.gpu --checkpoint "$RUN/best16.safetensors" --out "$OUT" --runs 20
  echo "benchmarks.gpu exit status $?"
fi
ls -l "$OUT"
