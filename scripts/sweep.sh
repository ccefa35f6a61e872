#!/usr/bin/env bash
# Set up a virtual environment and run the main job: a real PPO sweep on CartPole-v1
# (examples/ppo_cartpole.py), about 5-10 minutes on 2 CPU cores.
# Usage: bash scripts/sweep.sh [--trials N --steps S ...]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh rl,plot
python examples/ppo_cartpole.py "$@"
