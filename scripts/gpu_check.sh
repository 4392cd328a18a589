#!/usr/bin/env bash
# One short check on a machine with a CUDA GPU (issue 17's "GPU check"); prints figures to record.
#   bash scripts/gpu_check.sh [OUT_DIR]        (default: a temp dir; ~5 min on one GPU)
# 1. S5 and DMixer training steps on CUDA, bf16 autocast off and on (ms/step, loss, max |diff|)
# 2. the chunked scan against the sequential one on the GPU (same weights, max |diff|)
# 3. epoch time of the default `model=s5 dataset=Wind` (train.py, 2 epochs, from run.json)
# 4. two trials in flight on one GPU (joblib, hydra.sweeper.gpus=auto, trainer.device=cuda:{gpu})
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
OUT=${1:-$(mktemp -d)}
mkdir -p "$OUT"
export WANDB_MODE=disabled HYDRA_FULL_ERROR=1
nvidia-smi -L || { echo "gpu_check: no GPU (nvidia-smi -L failed)"; exit 1; }

echo "== 1-2. training steps (bf16 autocast off/on) and chunked vs sequential scan"
"$PY" - <<'PYEOF'
import time, torch
from hydra import compose, initialize_config_dir
from pathlib import Path
from sweepkit.forecast.models import build_model
assert torch.cuda.is_available(), "CUDA not available to torch"
dev = torch.device("cuda")
print("torch", torch.__version__, "device", torch.cuda.get_device_name(0))
conf = str(Path("conf").resolve())
def model_cfg(name):
    with initialize_config_dir(config_dir=conf, version_base=None):
        return compose("config", overrides=[f"model={name}", "dataset=Wind"]).model
n_features, lookback, horizon, batch = 7, 96, 96, 64
x = torch.randn(batch, lookback, n_features, device=dev)
y = torch.randn(batch, horizon, n_features, device=dev)
for name in ("s5", "dmixer"):
    torch.manual_seed(0)
    model = build_model(model_cfg(name), n_features, lookback, horizon).to(dev)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    outs = {}
    for bf16 in (False, True):
        model.load_state_dict(state)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        model.train()
        times = []
        for step in range(25):
            torch.cuda.synchronize(); t0 = time.perf_counter()
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
                loss = torch.nn.functional.mse_loss(model(x).float(), y)
            opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
            torch.cuda.synchronize(); times.append(time.perf_counter() - t0)
        assert torch.isfinite(loss), f"{name} bf16={bf16}: loss {loss}"
        model.load_state_dict(state); model.eval()
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            outs[bf16] = model(x).float()
        med = sorted(times[5:])[len(times[5:]) // 2] * 1e3
        print(f"{name:6s} bf16={str(bf16):5s} train step {med:7.2f} ms (median of 20, batch {batch}) "
              f"last loss {loss.item():.4f} peak mem {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    print(f"{name:6s} eval output max |fp32 - bf16| = {(outs[True] - outs[False]).abs().max().item():.3e}")
cfg = model_cfg("s5")
torch.manual_seed(0)
chunked = build_model(cfg, n_features, lookback, horizon).to(dev).eval()
seq_cfg = dict(cfg); seq_cfg["scan_method"] = "sequential"
sequential = build_model(seq_cfg, n_features, lookback, horizon).to(dev).eval()
sequential.load_state_dict(chunked.state_dict())
with torch.no_grad():
    a, b = chunked(x), sequential(x)
    for m in (chunked, sequential):
        torch.cuda.synchronize(); t0 = time.perf_counter()
        for _ in range(20): m(x)
        torch.cuda.synchronize(); print(f"s5 {m is chunked and 'chunked' or 'sequential':10s} forward "
                                        f"{(time.perf_counter() - t0) / 20 * 1e3:.2f} ms")
diff = (a - b).abs().max().item()
print(f"s5 chunked vs sequential scan on GPU: max |diff| = {diff:.3e} (scale {b.abs().max().item():.3g})")
assert diff <= 1e-3 * max(1.0, b.abs().max().item()), "chunked and sequential scans disagree"
PYEOF

echo "== 3. epoch time, default model=s5 dataset=Wind (2 epochs)"
"$PY" train.py model=s5 dataset=Wind trainer.max_epochs=2 trainer.device=cuda \
    hydra.run.dir="$OUT/epoch_time" > "$OUT/epoch_time.log" 2>&1 || { tail -30 "$OUT/epoch_time.log"; exit 1; }
"$PY" - "$OUT/epoch_time/run.json" <<'PYEOF'
import json, sys
h = json.load(open(sys.argv[1]))["history"]
times = [e.get("time") for e in h]
print("epoch end times (s since start):", [round(t, 2) for t in times if t is not None],
      "-> epoch 2 alone:", round(times[-1] - times[-2], 2) if len(times) > 1 else "n/a")
PYEOF

echo "== 4. two trials in flight on one GPU"
start=$(date +%s)
"$PY" train.py -m model=s5 dataset=Wind trainer.max_epochs=2 hydra/launcher=parallel \
    hydra.launcher.n_jobs=2 hydra.sweeper.n_jobs=2 hydra.sweeper.n_trials=2 hydra.sweeper.gpus=auto \
    'hydra.sweeper.gpu_overrides=[trainer.device=cuda:{gpu}]' hydra.sweep.dir="$OUT/two_trials" \
    > "$OUT/two_trials.log" 2>&1 &
sweep=$!
peak=0
while kill -0 "$sweep" 2>/dev/null; do
    used=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 | head -1)
    n=$(nvidia-smi --query-compute-apps=pid --format=csv,noheader | wc -l)
    [ "$used" -gt "$peak" ] && peak=$used
    [ "$n" -ge 2 ] && echo "  $(date +%T) $n processes on the GPU, ${used} MiB used"
    sleep 2
done
wait "$sweep" || { tail -30 "$OUT/two_trials.log"; exit 1; }
echo "  wall $(( $(date +%s) - start )) s, peak GPU memory ${peak} MiB"
"$PY" - "$OUT/two_trials" <<'PYEOF'
import json, sys
from pathlib import Path
for p in sorted(Path(sys.argv[1]).glob("[0-9]*/run.json")):
    r = json.load(open(p))
    print(f"  trial {p.parent.name}: {r['status']} best {r['best_value']:.4f} "
          f"run {r['ended_at'] - r['started_at']:.1f} s ({r['started_at']:.0f}-{r['ended_at']:.0f})")
PYEOF
grep -E "GPU slots|Trials run" "$OUT/two_trials.log" || true
echo "gpu_check: done; logs in $OUT"
