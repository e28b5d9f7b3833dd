#!/usr/bin/env bash
# Create .venv and install cloak-audit into it, pinned by constraints.txt (CPU torch 2.13).
#   bash install.sh          the tool
#   bash install.sh --test   the tool plus the test extras (pytest, dlib-bin reference, onnx, ray)
set -euo pipefail
cd "$(dirname "$0")"
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -c constraints.txt torch==2.13.0
.venv/bin/pip install -q -c constraints.txt -e ".${extras}"
# MTCNN's code and weights; its metadata pins torch<2.3, which we do not honour (it works).
.venv/bin/pip install -q -c constraints.txt --no-deps facenet-pytorch==2.6.0
echo "installed: $(.venv/bin/audit --version)"
