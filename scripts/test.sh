#!/usr/bin/env bash
# Set up a virtual environment with the development extras and run ruff and the tests.
# Usage: bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first, pinned to the CPU build: an unpinned torch may pull a multi-GB CUDA build.
pip install -q torch==2.13.0
pip install -q -e '.[dev,rl,llm]'
ruff check hpo tests benchmarks examples
python -m pytest -q --doctest-modules hpo tests "$@"
