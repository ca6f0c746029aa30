#!/bin/sh
# npm_cache.sh — installs the npm package that scores the demo's sentiment
# family, vader-sentiment (a JavaScript port of VADER, Hutto & Gilbert 2014),
# pinned, into a cache directory (not the repo), for
# scripts/sentiment_judge.js:
#   sh scripts/npm_cache.sh [DIR]
# DIR defaults to $LMF_NPM_CACHE/vader-sentiment, else
# $HOME/.cache/lmforge-npm/vader-sentiment. Does nothing when the pinned
# version is there; exits non-zero when npm or the registry cannot be reached.
set -e
DIR=${1:-${LMF_NPM_CACHE:-$HOME/.cache/lmforge-npm}/vader-sentiment}
PACKAGE="vader-sentiment@1.1.3"
STAMP="$DIR/.lmforge-packages"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PACKAGE" ]; then
    exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "npm_cache.sh: npm is not installed (make deps installs it)" >&2; exit 2; }
mkdir -p "$DIR"
cd "$DIR"
[ -f package.json ] || echo '{"name": "lmforge-sentiment-judge", "private": true}' > package.json
npm install -E --no-audit --no-fund --loglevel=error --fetch-retries=1 --fetch-timeout=30000 "$PACKAGE"
echo "$PACKAGE" > "$STAMP"
