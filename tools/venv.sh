#!/usr/bin/env bash
# Makes ./venv (ignored by git) with the tools' Python packages: PyTorch (the
# index's build: a CUDA wheel of 5-6 GB that also runs on the CPU), diffusers,
# transformers, sentencepiece, ... as pinned in tools/requirements.txt.
# The engine and the test suite never need it.
#   tools/venv.sh            then   venv/bin/python tools/wan/make_tiny.py ...
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -m venv --help > /dev/null 2>&1 || ! python3 -c 'import ensurepip' 2> /dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
        apt-get install -y --no-install-recommends python3-venv
    else
        echo "tools/venv.sh: python3 -m venv is missing: install python3-venv" >&2
        exit 1
    fi
fi
[ -x venv/bin/python ] || python3 -m venv venv
venv/bin/pip install --upgrade pip > /dev/null
venv/bin/pip install -r tools/requirements.txt
venv/bin/python -c 'import torch, diffusers, transformers, sentencepiece; print("venv ready: torch", torch.__version__, "diffusers", diffusers.__version__, "transformers", transformers.__version__)'
