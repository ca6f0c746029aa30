/* fuzz_tokenizer_load.c — a libFuzzer target for the tokenizer loaders;
 * scripts/fuzz_tokenizer.sh builds and runs it. The test build leaves it
 * out (it compiles the test_ files of tests/ only); test_tokenizer.c replays
 * the inputs it found, in tests/tokenizer/fuzz_regressions/, through
 * tokenizer_fuzz_one().
 *
 * The first byte of an input picks the loader: even for tokenizer.json,
 * odd for GPT-2's files (the rest is encoder.json, a NUL byte, vocab.bpe). */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_one.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tokenizer_fuzz_one(data, size);
    return 0;
}
