#!/usr/bin/env bash
# GPU acceptance check: tiny training (bf16, fp16, NCCL world size 1, resume), one full-preset
# step with gradient checkpointing (peak memory beside the dry run's figure), inference on CUDA
# and the curation GPU stages; a table at the end, exit 1 on any failure. Needs one CUDA GPU;
# without one it says so and exits 0. Usage: scripts/gpu-check.sh [--only CHECK ...] [--work DIR] [--list]
# Python: the venv scripts/setup.sh made ($LIPFORGE_VENV, default ~/.cache/lipforge/venv), else python3.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
venv="${LIPFORGE_VENV:-$HOME/.cache/lipforge/venv}"
if [ -x "$venv/bin/python" ]; then py="$venv/bin/python"; else py=python3; fi
exec "$py" "$here/gpu_check.py" "$@"
