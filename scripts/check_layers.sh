#!/bin/sh
# check_layers.sh — no arrow runs back up: a file in src/LAYER/ includes only
# headers of its own layer or of the layers below it, in this order:
#
#   base       utilities and container formats (JSON lines, UTF-8, GGUF)
#   tokenizer  text <-> token ids
#   kernels    the compute seam (kernels.h) and its CPU backend
#   model      the decoder: parameters, layer loop, KV cache, LoRA, sampling
#   io         model directories, safetensors, GGUF export, adapter files
#   data       datasets, batches, packing
#   train      objectives, the trainer, optimizer, rollouts
#   pipeline   recipes and annotator programs
#   stages     one subcommand per stage
#   demo       the demo's data, judges and report (its own link unit)
#
# And compute goes through the seam: no file outside src/kernels/ includes
# BLAS or calls it, and no stage (src/stages/, src/demo/) calls a kernel:
# a stage reads like its recipe, its arithmetic lives in src/train/.
#
# Prints each offending include and exits 1; silent and 0 when clean.
cd "$(dirname "$0")/.." || exit 1
LAYERS="base tokenizer kernels model io data train pipeline stages demo"
rank() { i=0; for l in $LAYERS; do [ "$l" = "$1" ] && { echo $i; return; }; i=$((i + 1)); done; echo 99; }
status=0
for f in src/*/*.c src/*/*.h src/*/*/*.c src/*/*/*.h; do
    [ -f "$f" ] || continue
    own=$(echo "$f" | cut -d/ -f2)
    own_rank=$(rank "$own")
    for dep in $(sed -n 's|^#include "\(\.\./\)*\([a-z_]*\)/.*|\2|p' "$f" | sort -u); do
        [ "$dep" = "$own" ] && continue
        case " $LAYERS " in *" $dep "*) ;; *) continue ;; esac
        if [ "$(rank "$dep")" -gt "$own_rank" ]; then
            echo "$f: includes $dep/, a layer above $own/ ($(grep -n "\"\(\.\./\)*$dep/" "$f" | head -1))"
            status=1
        fi
    done
done
for f in $(grep -l '<cblas.h>\|cblas_' src/*/*.[ch] src/*/*/*.[ch] | grep -v '^src/kernels/'); do
    echo "$f: uses BLAS outside src/kernels/ ($(grep -n '<cblas.h>\|cblas_' "$f" | head -1)); go through kernels.h"
    status=1
done
for f in $(grep -l '#include "\.\./kernels/' src/stages/*.[ch] src/demo/*.[ch]); do
    echo "$f: a stage includes the kernels ($(grep -n '#include "\.\./kernels/' "$f" | head -1)); its arithmetic goes in src/train/"
    status=1
done
[ $status -eq 0 ] ||
    echo "check_layers: each layer may include only those below it, and only src/kernels/ uses BLAS (scripts/check_layers.sh)"
exit $status
