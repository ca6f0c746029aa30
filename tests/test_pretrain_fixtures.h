/* test_pretrain_fixtures.h — corpora, tokenizers and metrics readers shared
 * by the pretraining and checkpoint tests, and by any test that trains a
 * tokenizer. */
#ifndef LMF_TEST_PRETRAIN_FIXTURES_H
#define LMF_TEST_PRETRAIN_FIXTURES_H

#include <stdint.h>

#include "../src/tokenizer/tokenizer.h"

/* Writes DIR/NAME: n_sentences of made-up English (a small vocabulary with
 * regular grammar, so a model can learn something), one document. Returns
 * the path (caller frees). */
char *fixture_write_text(const char *dir, const char *name, int n_sentences, uint64_t seed);

/* tokenizer_train without its progress lines. */
Tokenizer *fixture_train_tokenizer(const char **files, int n_files, const BpeTrainOptions *o);

/* A byte-level BPE tokenizer of vocab_size tokens learnt from text_path. */
Tokenizer *fixture_tokenizer(const char *text_path, int vocab_size);

/* DIR/real.txt with a few hundred KB of real English: Genesis and Exodus
 * from Debian's bible-kjv, else fortunes. NULL when neither is installed. */
char *fixture_real_text(const char *dir);

/* A command prefix that keeps OpenMP from spinning while it waits: on a
 * machine shared with other work a spinning thread steals the core the
 * other one needs, and a 2-thread run becomes several times slower. The
 * numbers computed do not change. */
#define FIXTURE_ENV "OMP_WAIT_POLICY=PASSIVE"

#endif
