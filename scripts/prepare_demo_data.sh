#!/bin/sh
# prepare_demo_data.sh — builds the demo's data directory from Debian
# packages (bible-kjv, fortunes, wordnet-base, bsdgames; `make deps` installs
# them): pretraining text, instruction tasks with their gold answers, SFT
# data and prompts. `lmforge demo-data` runs the `bible` command itself.
#
# usage: sh scripts/prepare_demo_data.sh [DIR [demo-data flags...]]
#        (DIR defaults to data/demo; see `build/lmforge demo-data --help`)
set -e
DIR=${1:-data/demo}
[ $# -gt 0 ] && shift
[ -x build/lmforge ] || make build/lmforge
build/lmforge demo-data --out "$DIR" "$@"
