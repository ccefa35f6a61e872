#!/usr/bin/env bash
# Set up a virtual environment with the development extras and run ruff and the tests.
# Usage: bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh dev,rl,llm
ruff check hpo tests benchmarks examples
python -m pytest -q --doctest-modules hpo tests "$@"
