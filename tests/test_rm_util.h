/* test_rm_util.h — fixtures shared by the reward-model tests: a small ChatML
 * tokenizer, tiny score-head models, and files written in a temporary folder. */
#ifndef LMF_TEST_RM_UTIL_H
#define LMF_TEST_RM_UTIL_H

#include "../src/model/model.h"
#include "../src/tokenizer/tokenizer.h"

/* A byte-level BPE tokenizer with <|im_start|> and <|im_end|>, trained once
 * on a small English text (digits stay single bytes). Owned by the helper. */
const Tokenizer *rm_test_tokenizer(void);

/* A tiny model over rm_test_tokenizer's vocabulary (C 32, L 2, context 64),
 * randomly initialised from seed. */
Model *rm_test_model(HeadKind head, uint64_t seed);

/* Writes text to DIR/NAME; returns the path (caller frees). */
char *rm_test_write(const char *dir, const char *name, const char *text);

#endif
