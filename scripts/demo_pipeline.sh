#!/bin/sh
# demo_pipeline.sh — what `make demo` runs: recipes/demo.recipe with the
# pipeline runner, in runs/demo (DEMO_RUN_DIR overrides it). Run it again
# after an interruption and it continues where it stopped; delete the run
# directory to start over. Extra arguments go to `lmforge pipeline`
# (for example --set rounds=3).
set -e
cd "$(dirname "$0")/.."
run_dir=${DEMO_RUN_DIR:-runs/demo}
# The sentiment family's gold is VADER from the npm package vader-sentiment,
# installed once into the npm cache (~/.cache/lmforge-npm).
if [ -z "${LMF_SENTIMENT_CMD:-}" ]; then
    sh scripts/npm_cache.sh || {
        echo "demo: could not install the npm package vader-sentiment (needs npm and the registry);" \
            "run again with --set families=... without sentiment to skip that family" >&2
        exit 1
    }
fi
# Waiting threads sleep instead of spinning: the stages share 2 cores with
# the child processes they start (annotators), and spinning would steal them.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
./build/lmforge pipeline recipes/demo.recipe --run-dir "$run_dir" "$@"
echo
echo "The report: $run_dir/report.md (plots in $run_dir/plots/, figures in $run_dir/report.json)"
