#!/bin/sh
# check_arm64.sh — compiles every source file (library, tests, benchmarks)
# with Debian's arm64 cross compiler, warnings as errors, at -O2 and -O3: the
# hand-vectorised x86 kernels have portable C paths, and this shows that an
# arm64 machine builds them. It compiles only: linking would need arm64
# builds of OpenBLAS, PCRE2 and cJSON (the headers are the same).
# Skipped, with the reason, where the cross compiler is missing.
set -e
cd "$(dirname "$0")/.."
cc=aarch64-linux-gnu-gcc
if ! command -v $cc >/dev/null 2>&1; then
    echo "check_arm64: skip: $cc not found (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross)"
    exit 0
fi
for opt in -O2 -O3; do
    echo "check_arm64: compiling every source file for arm64 ($cc $opt)"
    make --no-print-directory -j2 CC=$cc ARCH=-march=armv8-a CFLAGS="$opt" B="build/cross-arm64$opt" WERROR=-Werror \
        objects >/dev/null
done
echo "check_arm64: every source file compiles for arm64"
