#!/bin/sh
# deps.sh — installs every Debian package that lmforge's build, tests,
# benchmarks and demo need. Does nothing when all are present. Works as root
# or through sudo. Set LMF_DEPS_SKIP=1 to skip (for machines you manage).
set -e
[ "${LMF_DEPS_SKIP:-0}" = 1 ] && exit 0

# clang: libFuzzer, for `make fuzz` (tests/fuzz/fuzz.c). libedit-dev: chat's
# line editor; tmux: the test that types into chat as a person would.
# libmicrohttpd-dev: the web server of `lmforge label`; chromium: the test
# that loads its page in a real (headless) browser.
PACKAGES="build-essential make gcc libc6-dev pkg-config
libopenblas-openmp-dev libpcre2-dev libcjson-dev libedit-dev tmux
libmicrohttpd-dev chromium
python3 python3-torch python3-numpy
libgoogle-perftools4
libopenmpi-dev openmpi-bin
bible-kjv fortunes fortunes-min fortunes-zh bsdgames wordnet-base
ca-certificates
clang"

# On x86-64, Debian's arm64 cross compiler: make test compiles every source
# file for arm64 too (scripts/check_arm64.sh), the portable C paths included.
if [ "$(uname -m)" = x86_64 ]; then PACKAGES="$PACKAGES gcc-aarch64-linux-gnu libc6-dev-arm64-cross"; fi

missing=""
for p in $PACKAGES; do
    # dpkg-query prints "install ok installed" for a package that is present.
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
# Node.js and npm run the independent reference tokenizers in the tests;
# any installed node (Debian's or NodeSource's) will do.
if ! command -v node >/dev/null 2>&1; then missing="$missing nodejs"; fi
if ! command -v npm >/dev/null 2>&1; then missing="$missing npm"; fi

[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "deps.sh: need root or sudo to install:$missing" >&2
    exit 1
fi

echo "deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps.sh: done"
