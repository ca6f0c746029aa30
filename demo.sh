#!/bin/sh
# demo.sh — the first command on a fresh Debian 12 machine: installs what is
# missing (make and a compiler included), builds, and runs the default
# pipeline on real data (`make demo`).
set -e
cd "$(dirname "$0")"
sh scripts/deps.sh
exec make demo
