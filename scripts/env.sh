# Sourced by the demo and test scripts: the offline environment every run must have, set
# before anything imports Ray, huggingface_hub or ultralytics.
export RAY_USAGE_STATS_ENABLED=0
export RAY_AUTH_MODE=disabled
export HF_HUB_OFFLINE=1
export TRANSFORMERS_OFFLINE=1
export HF_HUB_DISABLE_TELEMETRY=1
export YOLO_OFFLINE=true
export DO_NOT_TRACK=1
export YOLO_CONFIG_DIR="${TMPDIR:-/tmp}/lipforge-runtime/ultralytics"
export TORCH_HOME="${TMPDIR:-/tmp}/lipforge-runtime/torch"
export MPLCONFIGDIR="${TMPDIR:-/tmp}/lipforge-runtime/mpl"
mkdir -p "$YOLO_CONFIG_DIR" "$TORCH_HOME" "$MPLCONFIGDIR"
