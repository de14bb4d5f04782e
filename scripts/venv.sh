# Sourced by scripts/demo.sh and scripts/test.sh: a virtual environment in the checkout
# (.venv), made with the system's own Python, so that nothing is installed system-wide
# (Debian 12 / Ubuntu 24.04 refuse `pip install` outside one: PEP 668).
#
#   pulse_make_venv     create .venv (with a working pip) unless it is there
#   pulse_venv EXTRA    that, then `pip install -e .[EXTRA]` (again only if pyproject changed)
#
# PULSE_PYTHON=/path/to/python3 picks the interpreter; otherwise the first Python >= 3.11
# of /usr/bin/python3 (what a fresh Debian has) and python3 on PATH.

_pulse_sudo() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

_pulse_apt_install() {
  _pulse_sudo apt-get update -qq
  _pulse_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

_pulse_python() {
  local c
  for c in ${PULSE_PYTHON:-} /usr/bin/python3 "$(command -v python3 || true)"; do
    [ -n "$c" ] && [ -x "$c" ] || continue
    if "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$c"
      return 0
    fi
  done
  echo "pulse: error: Python >= 3.11 is needed (apt-get install python3, or set PULSE_PYTHON)" >&2
  return 1
}

pulse_make_venv() {
  local py
  .venv/bin/python -m pip --version >/dev/null 2>&1 && return 0
  if ! py="$(_pulse_python 2>/dev/null)" && command -v apt-get >/dev/null; then
    echo "installing python3 and python3-venv (apt)" >&2  # a minimal image has neither
    _pulse_apt_install python3 python3-venv
  fi
  py="$(_pulse_python)"
  rm -rf .venv
  if ! "$py" -m venv .venv >/dev/null 2>&1; then
    # Debian and Ubuntu ship venv's pip bootstrap (ensurepip) in python3-venv
    rm -rf .venv
    if command -v apt-get >/dev/null; then
      echo "installing python3-venv (apt) to create .venv" >&2
      _pulse_apt_install python3-venv
    fi
    "$py" -m venv .venv
  fi
}

pulse_venv() {
  local extra="$1" stamp
  pulse_make_venv
  # reinstall only when the dependencies may have changed
  stamp=".venv/.pulse-$extra-$(cksum < pyproject.toml | cut -d' ' -f1)"
  if [ ! -e "$stamp" ]; then
    .venv/bin/python -m pip install -q -e ".[$extra]"
    touch "$stamp"
  fi
}
