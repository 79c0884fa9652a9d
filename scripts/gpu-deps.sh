#!/usr/bin/env bash
# Prepares .deps/gpu: the Debian 12 libraries the lent GPU machine lacks (Hyperscan, the
# xxHash header, utf8proc), unpacked from Debian's own packages (apt-get download + dpkg -x) so they
# travel with the working tree (`carry: [".deps/gpu"]`). Run on this machine, not there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deps="$root/.deps"
rm -rf "$deps/gpu" "$deps/debs"
mkdir -p "$deps/debs" "$deps/gpu"
cd "$deps/debs"
# zlib1g-dev and libzstd-dev for their headers only: the libraries themselves are that machine's
# (libz.so.1, libzstd.so.1), whose development links the unpacked packages would leave dangling.
debs=(libhyperscan5 libhyperscan-dev libxxhash-dev libxxhash0 libutf8proc2 libutf8proc-dev
  zlib1g-dev libzstd-dev)
apt-get download "${debs[@]}" >/dev/null 2>&1 ||
  { apt-get update -qq && apt-get download "${debs[@]}"; }
for deb in *.deb; do dpkg -x "$deb" "$deps/gpu"; done
# Shared libraries and headers are all a build needs: drop static archives and docs.
find "$deps/gpu" \( -name '*.a' -o -path '*/share/doc*' -o -path '*/share/man*' \) -prune -exec rm -rf {} +
# Links to libraries not carried (libz.so points at /lib/..., which is this machine's).
find "$deps/gpu" -type l \( -xtype l -o -lname '/*' \) -delete
du -sh "$deps/gpu"
