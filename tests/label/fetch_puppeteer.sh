#!/bin/sh
# fetch_puppeteer.sh — installs puppeteer-core (the DevTools-protocol client
# the label page's browser test drives Debian's chromium with) into a cache
# directory, not the repo:
#   sh tests/label/fetch_puppeteer.sh [DIR]
# DIR defaults to $LMF_NPM_CACHE/label-browser, else
# $HOME/.cache/lmforge-npm/label-browser (scripts/npm_install.sh).
exec sh "$(dirname "$0")/../../scripts/npm_install.sh" \
    "${1:-${LMF_NPM_CACHE:-$HOME/.cache/lmforge-npm}/label-browser}" puppeteer-core@24.40.0
