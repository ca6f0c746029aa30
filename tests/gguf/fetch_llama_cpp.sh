#!/bin/sh
# fetch_llama_cpp.sh — installs node-llama-cpp (prebuilt llama.cpp binaries
# for linux-x64, CPU) from the npm registry into a cache directory, for
# tests/test_export_gguf.c:
#   sh tests/gguf/fetch_llama_cpp.sh [DIR]
# DIR defaults to $LMF_NPM_CACHE/node-llama-cpp, else
# $HOME/.cache/lmforge-npm/node-llama-cpp (scripts/npm_install.sh).
# The prebuilt binaries come as optional dependencies; nothing is compiled.
NODE_LLAMA_CPP_SKIP_DOWNLOAD=true exec sh "$(dirname "$0")/../../scripts/npm_install.sh" \
    "${1:-${LMF_NPM_CACHE:-$HOME/.cache/lmforge-npm}/node-llama-cpp}" node-llama-cpp@3.21.1
