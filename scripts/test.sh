#!/usr/bin/env bash
# Set up a virtual environment with the development extras and run ruff, the import
# contract (imports only point down: pyproject.toml [tool.importlinter]) and the tests.
# Usage: bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh dev,rl,dpo,llm
ruff check hpo tests benchmarks examples
lint-imports --no-cache
python -m pytest -q --doctest-modules hpo tests "$@"
