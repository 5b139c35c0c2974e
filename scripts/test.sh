#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite, import-direction check included.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="$(bash "$repo/scripts/setup.sh")"
source "$repo/scripts/env.sh"
cd "$repo"
bash "$repo/scripts/lint_imports.sh" "$py"
exec "$py" -m pytest -q "$@"
