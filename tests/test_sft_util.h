/* test_sft_util.h — helpers shared by the SFT and LoRA tests: a tiny ChatML
 * tokenizer and small models; and, through test_ref_util.h, the fixtures of
 * the PyTorch references in tests/ref/. */
#ifndef LMF_TEST_SFT_UTIL_H
#define LMF_TEST_SFT_UTIL_H

#include "../src/model/lora.h"
#include "../src/tokenizer/tokenizer.h"
#include "test_ref_util.h"

/* A byte-level BPE tokenizer of about 300 tokens with <|im_start|> and
 * <|im_end|>, trained on a few sentences written into dir. */
Tokenizer *test_chat_tokenizer(const char *dir);
/* A small random model: V tokens, width C, L layers, NH heads, NKV kv heads,
 * untied head, max_seq_len 128. Parameters scaled by `gain` (larger than the
 * default initialisation, so that attention and the norms matter). */
Model *test_small_model(int V, int C, int L, int NH, int NKV, uint64_t seed, float gain);
/* Writes text into dir/name; returns the path (caller frees). */
char *test_write_text(const char *dir, const char *name, const char *text);

#endif
