#!/bin/sh
# test.sh — the first command after ./demo.sh on a fresh Debian 12 machine:
# installs what is missing (make and a compiler included), builds, and runs
# the whole test suite (`make test`).
set -e
cd "$(dirname "$0")"
sh scripts/deps.sh
exec make test
