/* fuzz_one.h — one fuzz input through the tokenizer loaders, shared by the
 * libFuzzer target (fuzz_tokenizer_load.c) and the replay of the inputs it
 * found (test_tokenizer.c). A malformed input must give an error message; a
 * tokenizer that loads must encode and decode without crashing, and give
 * back the text when nothing (NFC, white-space stripping) may change it.
 * Failures abort, which the fuzzer and the sanitizers report. */
#ifndef LMF_FUZZ_ONE_H
#define LMF_FUZZ_ONE_H

#include <stdlib.h>
#include <string.h>

#include "../../src/tokenizer/tokenizer_internal.h"

static void tokenizer_fuzz_one(const uint8_t *data, size_t size) {
    if (size == 0) return;
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    char *error = NULL;
    Tokenizer *t;
    if (data[0] % 2 == 0) {
        t = tokenizer_from_json(rest, n, "fuzz/tokenizer.json", &error);
    } else {
        const char *nul = memchr(rest, 0, n);
        size_t first = nul ? (size_t)(nul - rest) : n;
        t = tokenizer_from_gpt2_files(rest, first, nul ? nul + 1 : "", nul ? n - first - 1 : 0, "fuzz", &error);
    }
    if (!t) {
        if (!error || !error[0]) abort();
        free(error);
        return;
    }
    /* Regular expressions of the file's own run through PCRE2, whose
     * backtracking limits are its own matter: encode only without them. */
    int hand_written = 1, keeps_text = !t->nfc;
    for (int i = 0; i < t->n_splits; i++) hand_written &= t->splits[i].kind != SPLIT_REGEX || t->splits[i].literal;
    for (int i = 0; i < t->n_added; i++) keeps_text &= !t->added[i].lstrip && !t->added[i].rstrip;
    if (hand_written) {
        static const char text[] = "Hello, world! It's 2024...\n<|endoftext|> \xE4\xB8\xAD\xE6\x96\x87 \xFF\xC3 ab";
        for (int special = 0; special < 2; special++) {
            IntVec ids = {0};
            tokenizer_encode(t, text, sizeof text - 1, special, &ids);
            size_t len;
            char *back = tokenizer_decode(t, ids.data, ids.len, &len);
            if (keeps_text && (len != sizeof text - 1 || memcmp(back, text, len) != 0)) abort();
            free(back);
            intvec_free(&ids);
        }
    }
    tokenizer_free(t);
}

#endif
