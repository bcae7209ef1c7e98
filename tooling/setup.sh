#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine (as root):
# Mesa's lavapipe Vulkan driver from bookworm-backports (a real WebGPU adapter on the CPU),
# Chromium for the browser tests, pnpm, and the workspace's npm packages.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=10.34.9

log() { printf '[setup] %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if command -v apt-get >/dev/null 2>&1; then
  if ! dpkg -s mesa-vulkan-drivers 2>/dev/null | grep -q '^Version: 25'; then
    log "installing the lavapipe Vulkan driver (Mesa 25, bookworm-backports)"
    if [ ! -f /etc/apt/sources.list.d/backports.sources ]; then
      as_root tee /etc/apt/sources.list.d/backports.sources >/dev/null <<'X'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
X
    fi
    as_root apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq libvulkan1 >&2
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >&2
  fi
  if [ "${LLM_SKIP_CHROMIUM:-0}" != 1 ] && ! command -v chromium >/dev/null 2>&1; then
    log "installing chromium (browser tests)"
    as_root apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >&2
  fi
fi

if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version)" != "$PNPM_VERSION" ]; then
  log "installing pnpm $PNPM_VERSION"
  npm install -g "pnpm@$PNPM_VERSION" >&2
fi

log "installing workspace packages"
pnpm install --frozen-lockfile >&2 || pnpm install >&2
log "done"
