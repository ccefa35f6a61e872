# Sourced by the scripts: create and activate .venv, then install torch and the project.
# Usage: . scripts/_venv.sh EXTRAS   (e.g. "dev,rl,dpo,llm")
PY=${PYTHON:-python3.11}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first, pinned to the CPU build: an unpinned torch may pull a multi-GB CUDA build.
pip install -q torch==2.13.0
pip install -q -e ".[$1]"
