#!/usr/bin/env bash
# Set up a virtual environment and run the main job: a real PPO sweep on CartPole-v1
# (examples/ppo_freeze_thaw.yaml: freeze-thaw BO on the learning-curve GP, two worker
# processes, SQLite under examples/sweeps/ppo-freeze-thaw/), then its plots; a few minutes on 2
# CPU cores. Run it again after Ctrl-C and the sweep resumes.
# Usage: bash scripts/sweep.sh [hpo sweep options, e.g. --trials 10]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh rl,plot
hpo sweep examples/ppo_freeze_thaw.yaml "$@"
hpo plot examples/ppo_freeze_thaw.yaml
