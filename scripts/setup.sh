#!/usr/bin/env bash
# Set up swapcam in ./.venv for a CPU machine: the CPU torch wheel first (so nothing pulls a
# multi-GB CUDA build), then the project with the cpu, offline and dev extras, then mediapipe's
# landmark model into the user cache.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0" || .venv/bin/python -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
.venv/bin/python -m pip install -q -e ".[cpu,offline,dev]"
# mediapipe's landmark model, verified by its sha256 (offline: one line, and the dlib fallback is used)
if ! error=$(.venv/bin/python -m faces --download-model 2>&1 >/dev/null); then
  echo "could not fetch face_landmarker.task (${error##*: }); landmarks will use the dlib fallback until \`.venv/bin/python -m faces --download-model\` succeeds"
fi
echo "swapcam is set up in .venv"
