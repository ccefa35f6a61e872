#!/usr/bin/env bash
# Set up a virtual environment and run the main job: a real PPO sweep on CartPole-v1
# (examples/ppo_cartpole.py), about 5-10 minutes on 2 CPU cores.
# Usage: bash scripts/sweep.sh [--trials N --steps S ...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first, pinned to the CPU build: an unpinned torch may pull a multi-GB CUDA build.
pip install -q torch==2.13.0
pip install -q -e '.[rl,plot]'
python examples/ppo_cartpole.py "$@"
