#!/bin/sh
# fetch_llama_cpp.sh — installs node-llama-cpp (prebuilt llama.cpp binaries
# for linux-x64, CPU) from the npm registry into a cache directory, for
# tests/test_export_gguf.c:
#   sh tests/gguf/fetch_llama_cpp.sh [DIR]
# DIR defaults to $LMF_NPM_CACHE/node-llama-cpp, else
# $HOME/.cache/lmforge-npm/node-llama-cpp. Does nothing when the pinned
# version is there; exits non-zero when npm or the registry cannot be reached
# (the test then skips).
set -e
DIR=${1:-${LMF_NPM_CACHE:-$HOME/.cache/lmforge-npm}/node-llama-cpp}
PACKAGE="node-llama-cpp@3.21.1"
STAMP="$DIR/.lmforge-packages"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PACKAGE" ]; then
    exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "fetch_llama_cpp.sh: npm is not installed" >&2; exit 2; }
mkdir -p "$DIR"
cd "$DIR"
[ -f package.json ] || echo '{"name": "lmforge-llama-cpp-check", "private": true}' > package.json
# the prebuilt binaries come as optional dependencies; nothing is compiled
NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install -E --no-audit --no-fund --loglevel=error --fetch-retries=1 \
    --fetch-timeout=30000 "$PACKAGE"
echo "$PACKAGE" > "$STAMP"
