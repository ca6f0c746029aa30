#!/bin/sh
# fetch_puppeteer.sh — installs puppeteer-core (the DevTools-protocol client
# the label page's browser test drives Debian's chromium with) into a cache
# directory, not the repo:
#   sh tests/label/fetch_puppeteer.sh [DIR]
# DIR defaults to $LMF_NPM_CACHE/label-browser, else
# $HOME/.cache/lmforge-npm/label-browser. Does nothing when the same version
# is there. Exits non-zero when npm or the registry cannot be reached (the
# test then skips).
set -e
DIR=${1:-${LMF_NPM_CACHE:-$HOME/.cache/lmforge-npm}/label-browser}
PACKAGES="puppeteer-core@24.40.0"
STAMP="$DIR/.lmforge-packages"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PACKAGES" ]; then
    exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "fetch_puppeteer.sh: npm is not installed" >&2; exit 2; }
mkdir -p "$DIR"
cd "$DIR"
[ -f package.json ] || echo '{"name": "lmforge-label-browser-test", "private": true}' > package.json
# shellcheck disable=SC2086
npm install --no-audit --no-fund --loglevel=error --fetch-retries=1 --fetch-timeout=30000 --save-exact $PACKAGES
echo "$PACKAGES" > "$STAMP"
