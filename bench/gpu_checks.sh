#!/usr/bin/env bash
# The GPU measurements of the models issue in one run, for a lent GPU machine (the device
# tool runs it in a copy of this checkout; its steps' time limits add up to 9.5 minutes):
#
#     bash bench/gpu_checks.sh        # results in $OUT (else var/gpu-checks/), one file a step
#
# 1. bench/cuda_check.py: the GPU's letterbox and answers against the CPU's;
# 2. bench/gpu_parts.py: where the GPU path's time goes at batch 512;
# 3. bench/models.py: the full path against the bare passes at batches 8 to 512 (bf16).
# Each step has its own time limit, so a step that hangs leaves the others' results.
# A dry run on a CPU: DEVICE=cpu BATCHES=8 PARTS_BATCH=8 CHECK_IMAGES=8 bash bench/gpu_checks.sh
set -u
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
out="${OUT:-var/gpu-checks}"
python="${PYTHON:-python3}"
device="${DEVICE:-cuda}"
mkdir -p "$out"

step() {
    local name=$1 limit=$2
    shift 2
    echo "== $name: $*"
    timeout "$limit" "$python" "$@" >"$out/$name.txt" 2>&1
    echo "exit status $?" >>"$out/$name.txt"
    tail -n 30 "$out/$name.txt"
}

{ nvidia-smi || true; "$python" -c "import torch; print(torch.__version__, torch.cuda.is_available())"; } \
    >"$out/machine.txt" 2>&1
step cuda_check 150 bench/cuda_check.py --device "$device" --images "${CHECK_IMAGES:-48}"
step gpu_parts 150 bench/gpu_parts.py --device "$device" --batch "${PARTS_BATCH:-512}"
step models 270 bench/models.py --device "$device" --batches "${BATCHES:-8,32,512}" --seconds 2 --rounds 3
