#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine with Python 3.11: system tools, a venv with the
# pinned, tested versions, and lipforge installed editable. Prints the venv's python path last.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${LIPFORGE_VENV:-$HOME/.cache/lipforge/venv}"

need_apt=()
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "[setup] apt-get install ${need_apt[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >&2
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "[setup] creating venv $venv" >&2
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade "pip>=25" >&2
fi
stamp="$venv/.lipforge-deps"
want="$(sha256sum "$repo/pyproject.toml" | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing pinned dependencies (first time: several minutes, ~8 GB)" >&2
  "$venv/bin/pip" install -q "setuptools==80.10.2" >&2
  "$venv/bin/pip" install -q -e "$repo[test]" >&2
  echo "$want" > "$stamp"
else
  # dependencies unchanged: only (re)point the editable install at this checkout
  "$venv/bin/pip" install -q --no-deps --no-build-isolation -e "$repo" >&2
fi
echo "$venv/bin/python"
