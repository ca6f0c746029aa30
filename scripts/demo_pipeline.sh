#!/bin/sh
# demo_pipeline.sh — what `make demo` runs.
set -e
./build/lmforge train-tiny
