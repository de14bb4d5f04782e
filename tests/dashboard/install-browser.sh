#!/usr/bin/env bash
# What the wall-board's browser tests need from Debian: headless Chromium, its driver,
# and CJK fonts (without them the Chinese board renders as boxes in screenshots).
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
fc-list :lang=zh 2>/dev/null | grep -q . || need+=(fonts-noto-cjk)
if ((${#need[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
