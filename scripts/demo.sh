#!/usr/bin/env bash
# Set up (idempotent) and run the embedded demo: synthetic talking heads -> lipforge on a local Ray.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="$(bash "$repo/scripts/setup.sh")"
source "$repo/scripts/env.sh"
cd "$repo"
exec "$py" -m lipforge.cli demo "$@"
