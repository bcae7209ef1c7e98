#!/usr/bin/env bash
# Checks debian_mirror against sources files in temporary folders (never this machine's apt).
# Run: bash tooling/debian-mirror.test.sh
set -euo pipefail
source "$(dirname "$0")/debian-mirror.sh"

failures=0
check() {
  local name=$1 expected=$2 dir=$3 actual
  actual=$(debian_mirror "$dir")
  if [ "$actual" = "$expected" ]; then
    printf 'ok   %s\n' "$name"
  else
    printf 'FAIL %s: expected %s, got %s\n' "$name" "$expected" "$actual"
    failures=$((failures + 1))
  fi
}
fresh() {
  local dir
  dir=$(mktemp -d)
  mkdir -p "$dir/sources.list.d"
  printf '%s\n' "$dir"
}
trap 'rm -rf "${dirs[@]}"' EXIT
dirs=()

d=$(fresh); dirs+=("$d")
cat >"$d/sources.list.d/debian.sources" <<'X'
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example.net/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example.net/debian-security
Suites: bookworm-security
Components: main
X
check 'deb822: the URI of the stanza serving bookworm' http://mirror.example.net/debian "$d"

d=$(fresh); dirs+=("$d")
cat >"$d/sources.list.d/debian.sources" <<'X'
Types: deb
URIs: http://security.example.net/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://old.example.net/debian
Suites: bookworm
Enabled: no

Types: deb
URIs: https://mirror.example.org/debian http://second.example.org/debian
Suites: bookworm
Components: main
X
check 'deb822: skips security and disabled stanzas, first of several URIs' https://mirror.example.org/debian "$d"

d=$(fresh); dirs+=("$d")
cat >"$d/sources.list.d/backports.sources" <<'X'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
X
cat >"$d/sources.list" <<'X'
# deb http://commented.example.com/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://ftp.example.com/debian bookworm main contrib
deb http://ftp.example.com/debian-security bookworm-security main
X
check 'sources.list: the bookworm line, options skipped; backports.sources ignored' http://ftp.example.com/debian "$d"

d=$(fresh); dirs+=("$d")
check 'nothing configured: the Debian default' http://deb.debian.org/debian "$d"

check 'a folder that does not exist: the Debian default' http://deb.debian.org/debian /nonexistent/apt

if [ "$failures" -gt 0 ]; then
  printf '%d failed\n' "$failures"
  exit 1
fi
printf 'all passed\n'
