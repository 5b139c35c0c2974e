#!/usr/bin/env bash
# The import-direction check, run on the installed layout: the repository's folders become
# lipforge.<folder> only when installed (package-dir mapping), which import-linter cannot see in
# an editable install. So build the package into a temporary folder and lint that.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="$1"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$repo" && git ls-files -co --exclude-standard -z | tar --null -T - -cf - 2>/dev/null) | tar -xf - -C "$tmp" --one-top-level=src
"$py" -m pip install -q --no-deps --no-build-isolation --target "$tmp/site" "$tmp/src" >&2
cd "$tmp" && PYTHONPATH="$tmp/site" "$py" -c "import sys; from importlinter.cli import lint_imports_command; sys.argv = ['lint-imports', '--config', sys.argv[1]]; lint_imports_command()" "$repo/pyproject.toml"
