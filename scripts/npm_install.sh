#!/bin/sh
# npm_install.sh — installs pinned npm packages into a cache directory (not
# the repo), for the tests, the benchmark and the demo that use a program
# from the npm registry:
#   sh scripts/npm_install.sh DIR PACKAGE@VERSION...
# Does nothing when DIR already holds exactly these packages (a stamp file
# records them); exits non-zero when npm or the registry cannot be reached,
# so that a test can skip. The callers name the packages:
# scripts/npm_cache.sh (the demo's sentiment gold), tests/*/fetch_*.sh.
set -e
[ $# -ge 2 ] || { echo "usage: npm_install.sh DIR PACKAGE@VERSION..." >&2; exit 2; }
DIR=$1
shift
PACKAGES="$*"
STAMP="$DIR/.lmforge-packages"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PACKAGES" ]; then
    exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "npm_install.sh: npm is not installed (make deps installs it)" >&2; exit 2; }
mkdir -p "$DIR"
cd "$DIR"
[ -f package.json ] || echo '{"name": "lmforge-npm-cache", "private": true}' > package.json
# shellcheck disable=SC2086
npm install -E --no-audit --no-fund --loglevel=error --fetch-retries=1 --fetch-timeout=30000 $PACKAGES
echo "$PACKAGES" > "$STAMP"
