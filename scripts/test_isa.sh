#!/bin/sh
# test_isa.sh — the test suite on the x86 ISA paths that the native build
# (`make test`'s first run) did not take, so that whatever CPU a developer has,
# every path is tested before it reaches a machine that runs it:
#   avx2    -march=x86-64-v3 (AVX2 + FMA: Zen 3, Haswell and later)
#   avx512  -march=x86-64-v4 (AVX-512: Zen 4, Skylake-X and later)
#   x86-64  -march=x86-64    (the portable C path, what arm64 also compiles)
# Each builds in build/isa-NAME with warnings as errors and runs the whole
# suite (the portable one the fast tests: its decoding is slow by design).
#
#   sh scripts/test_isa.sh          the paths the native build did not take
#   sh scripts/test_isa.sh NAME...  those paths (skipped, with the reason, when
#                                   this CPU cannot run them)
set -e
cd "$(dirname "$0")/.."

case "$(uname -m)" in
x86_64) ;;
*)
    echo "test_isa: the ISA builds are x86-64 paths; this machine is $(uname -m): nothing to add"
    exit 0
    ;;
esac

cc=${CC:-gcc}
native_has() { $cc -march=native -dM -E - </dev/null 2>/dev/null | grep -q "__$1__"; }
cpu_has() { grep -qw "$1" /proc/cpuinfo; }

if [ $# -eq 0 ]; then
    if native_has AVX512F; then
        set -- avx2 x86-64
        echo "test_isa: the native build took the AVX-512 path; testing the AVX2 and portable paths too"
    elif native_has AVX2; then
        echo "test_isa: skip the AVX-512 build: this CPU has no avx512f, so it cannot run that path"
        echo "test_isa: the native build took the AVX2 path; testing the portable path too"
        set -- x86-64
    else
        set -- x86-64
    fi
fi

failed=""
for isa in "$@"; do
    fast=""
    case "$isa" in
    avx2) arch=-march=x86-64-v3 need=avx2 ;;
    avx512) arch=-march=x86-64-v4 need=avx512f ;;
    x86-64) arch=-march=x86-64 need="" fast=1 ;;
    *)
        echo "test_isa: unknown ISA '$isa' (avx2, avx512 or x86-64)" >&2
        exit 2
        ;;
    esac
    if [ -n "$need" ] && ! cpu_has "$need"; then
        echo "test_isa: skip the $isa build: this CPU has no $need"
        continue
    fi
    b=build/isa-$isa
    echo "test_isa: the $isa path ($arch) in $b${fast:+, fast tests}"
    make --no-print-directory B="$b" ARCH="$arch" WERROR=-Werror "$b/lmforge" "$b/tests"
    if ! env OMP_WAIT_POLICY=passive OMP_NUM_THREADS=2 LMFORGE="$b/lmforge" LMFORGE_MPI="$b/lmforge-mpi" \
        ${fast:+LMF_TEST_FAST=1} "./$b/tests"; then
        failed="$failed $isa"
    fi
done
if [ -n "$failed" ]; then
    echo "test_isa: failed on:$failed" >&2
    exit 1
fi
