#!/bin/sh
# npm_cache.sh — installs the npm package that scores the demo's sentiment
# family, vader-sentiment (a JavaScript port of VADER, Hutto & Gilbert 2014),
# pinned, into a cache directory (not the repo), for
# scripts/sentiment_judge.js:
#   sh scripts/npm_cache.sh [DIR]
# DIR defaults to $LMF_NPM_CACHE/vader-sentiment, else
# $HOME/.cache/lmforge-npm/vader-sentiment.
exec sh "$(dirname "$0")/npm_install.sh" "${1:-${LMF_NPM_CACHE:-$HOME/.cache/lmforge-npm}/vader-sentiment}" \
    vader-sentiment@1.1.3
