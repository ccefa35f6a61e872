#!/usr/bin/env bash
# Set up a virtual environment and run the quick-start sweep (examples/quickstart.py).
# Usage: bash scripts/quickstart.sh [--trials N --epochs E ...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
pip install -q torch==2.13.0
pip install -q -e '.[plot]'
python examples/quickstart.py "$@"
