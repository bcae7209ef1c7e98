#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine (as root): pnpm and the
# workspace's packages, Chromium for the browser test, and, when Dawn finds no WebGPU adapter,
# Mesa's lavapipe Vulkan driver from bookworm-backports (a real WebGPU adapter on the CPU).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=10.34.9
# vite/vitest need Node ^20.19 or >= 22.12.
NODE_MIN_MAJOR=20
NODE_MIN_MINOR=19

source tooling/debian-mirror.sh

log() { printf '[setup] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() { DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >&2; }
apt_updated=0
apt_update() { if [ $apt_updated = 0 ]; then as_root apt-get update -qq >&2; apt_updated=1; fi; }

if ! command -v node >/dev/null 2>&1; then
  log "installing Node.js"
  apt_update
  apt_install nodejs npm
fi
node_version=$(node -p 'process.versions.node')
IFS=. read -r node_major node_minor _ <<<"$node_version"
if [ "$node_major" -lt "$NODE_MIN_MAJOR" ] || { [ "$node_major" = "$NODE_MIN_MAJOR" ] && [ "$node_minor" -lt "$NODE_MIN_MINOR" ]; }; then
  log "Node $node_version is too old: this project needs Node >= $NODE_MIN_MAJOR.$NODE_MIN_MINOR"
  exit 1
fi

if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version)" != "$PNPM_VERSION" ]; then
  log "installing pnpm $PNPM_VERSION"
  npm install -g "pnpm@$PNPM_VERSION" >&2
fi

log "installing workspace packages"
pnpm install --frozen-lockfile --reporter=default >&2

export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
# Dawn prints two notices about dynamic-offset limits whenever it opens an adapter; they say nothing
# about this machine, so the probe's stderr goes without them (the llm command hides them too).
probe_adapter() {
  node tooling/probe-adapter.mjs 2> >(grep -Ev '^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced' >&2)
}
if ! probe_adapter; then
  log "installing the lavapipe Vulkan driver (Mesa 25, bookworm-backports)"
  # bookworm-backports from the mirror apt already uses: a machine may reach only that one.
  backports=$(printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
    "$(debian_mirror /etc/apt)" /usr/share/keyrings/debian-archive-keyring.gpg)
  if [ "$(cat /etc/apt/sources.list.d/backports.sources 2>/dev/null)" != "$backports" ]; then
    printf '%s\n' "$backports" | as_root tee /etc/apt/sources.list.d/backports.sources >/dev/null
  fi
  apt_updated=0
  apt_update
  apt_install libvulkan1
  apt_install -t bookworm-backports mesa-vulkan-drivers
  probe_adapter || { log "still no WebGPU adapter after installing lavapipe"; exit 1; }
fi

# The README's example request to `llm serve` (and its test) uses curl.
if ! command -v curl >/dev/null 2>&1; then
  log "installing curl"
  apt_update
  apt_install curl
fi

if [ "${LLM_SKIP_CHROMIUM:-0}" != 1 ] && ! command -v chromium >/dev/null 2>&1; then
  log "installing chromium (browser test)"
  apt_update
  apt_install chromium
fi
log "done"
