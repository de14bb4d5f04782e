#!/usr/bin/env bash
# The README's first command: `pulse demo` in a virtual environment of the checkout
# (.venv, created here with the system's python3), with the demo extra (the local broker).
# Arguments go to `pulse demo` (see `bash scripts/demo.sh --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
pulse_venv demo
exec .venv/bin/pulse demo "$@"
