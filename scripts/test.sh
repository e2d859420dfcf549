#!/usr/bin/env bash
# Installs everything (test tools too) and runs the whole suite: lint, format, types, the import
# layers (pyproject.toml's [tool.importlinter] contracts), tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff check";  ruff check pacata tests benchmarks
echo "== ruff format"; ruff format --check pacata tests benchmarks
echo "== mypy";        mypy
echo "== import layers"; lint-imports
echo "== pytest"
set +e
pytest "$@"
status=$?
set -e
# pytest exits 5 when it collected no test: for us that is a failure, never a pass.
if [ "$status" = 5 ]; then
    echo "test.sh: pytest collected no tests" >&2
    exit 1
fi
exit "$status"
