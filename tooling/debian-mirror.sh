# Sourced by setup.sh. debian_mirror [APT_DIR] prints the Debian archive mirror this machine's apt
# already uses for bookworm (deb822 `URIs:` in sources.list.d/*.sources, else a `deb` line in
# sources.list or sources.list.d/*.list), so that added suites come from the same host; the
# Debian default only when nothing is configured. APT_DIR is /etc/apt unless given (for tests).

DEBIAN_DEFAULT_MIRROR=http://deb.debian.org/debian

debian_mirror() {
  local apt_dir=${1:-/etc/apt} mirror='' file
  # backports.sources is what setup.sh writes from this answer: reading it back would pin the
  # first answer forever.
  for file in "$apt_dir"/sources.list.d/*.sources; do
    [ -f "$file" ] && [ "$(basename "$file")" != backports.sources ] || continue
    mirror=$(awk '
      # One stanza per paragraph; keep the first URI of the first enabled stanza serving bookworm.
      function flush() {
        if (uri != "" && enabled && bookworm && found == "") found = uri
        uri = ""; enabled = 1; bookworm = 0
      }
      BEGIN { enabled = 1 }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "enabled:" { enabled = (tolower($2) != "no") }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == "bookworm") bookworm = 1 }
      END { flush(); print found }
    ' "$file")
    [ -n "$mirror" ] && break
  done
  if [ -z "$mirror" ]; then
    for file in "$apt_dir"/sources.list "$apt_dir"/sources.list.d/*.list; do
      [ -f "$file" ] || continue
      # deb [options] URI SUITE COMPONENTS...: the URI is the first field after the options.
      mirror=$(awk '
        $1 != "deb" { next }
        { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } }
        $(i + 1) == "bookworm" { print $i; exit }
      ' "$file")
      [ -n "$mirror" ] && break
    done
  fi
  printf '%s\n' "${mirror:-$DEBIAN_DEFAULT_MIRROR}"
}
