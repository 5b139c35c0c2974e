#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine with Python 3.11: system tools, a venv with the
# pinned, tested versions, and lipforge installed editable. Prints the venv's python path last.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${LIPFORGE_VENV:-$HOME/.cache/lipforge/venv}"

need_apt=()
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)  # the report test renders the HTML as a person sees it
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "[setup] apt-get install ${need_apt[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >&2
fi

# One OpenCV: ultralytics and face-alignment declare opencv-python (GUI build), mediapipe
# opencv-contrib-python, pyiqa and lipforge the headless one; all install the same cv2 package.
# Keep only the headless build.
one_opencv() {
  local extra=()
  for p in opencv-python opencv-contrib-python; do
    if "$1/bin/pip" show -q "$p" >/dev/null 2>&1; then extra+=("$p"); fi
  done
  if [ ${#extra[@]} -gt 0 ]; then
    "$1/bin/pip" uninstall -q -y "${extra[@]}" >&2
    "$1/bin/pip" install -q --no-deps --force-reinstall -c "$repo/constraints.txt" opencv-python-headless >&2
  fi
}

if [ ! -x "$venv/bin/python" ]; then
  echo "[setup] creating venv $venv" >&2
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade "pip>=25" >&2
fi
stamp="$venv/.lipforge-deps"
want="$(cat "$repo/pyproject.toml" "$repo/constraints.txt" | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing the tested dependency set (first time: several minutes, ~8 GB)" >&2
  "$venv/bin/pip" install -q -c "$repo/constraints.txt" "setuptools<81" >&2
  "$venv/bin/pip" install -q -c "$repo/constraints.txt" -e "$repo[all,test]" >&2
  one_opencv "$venv"
  echo "$want" > "$stamp"
else
  # dependencies unchanged: only (re)point the editable install at this checkout, if needed
  here="$("$venv/bin/python" -c 'import lipforge.pipeline, os; print(os.path.dirname(os.path.dirname(lipforge.pipeline.__file__)))' 2>/dev/null || true)"
  if [ "$here" != "$repo" ]; then
    "$venv/bin/pip" install -q --no-deps --no-build-isolation -e "$repo" >&2
  fi
fi
# The default face detector's model files (BlazeFace, Apache-2.0): extracted from a pinned
# mediapipe 0.10.x wheel that `pip download --no-deps` fetches from the registry, every file
# checked against its sha256; kept outside the repository. Does nothing when they are in place.
"$venv/bin/python" -m lipforge.pipeline.faces.blazeface_files "${LIPFORGE_BLAZEFACE_DIR:-$HOME/.cache/lipforge/models/blazeface}" >&2
echo "$venv/bin/python"
