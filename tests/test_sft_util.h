/* test_sft_util.h — helpers shared by the SFT and LoRA tests: a tiny ChatML
 * tokenizer, small models, and the fixtures of the PyTorch references in
 * tests/ref/ (llama_ref.py's layout, which lora_ref.py extends). */
#ifndef LMF_TEST_SFT_UTIL_H
#define LMF_TEST_SFT_UTIL_H

#include "../src/model/lora.h"
#include "../src/tokenizer/tokenizer.h"

/* A byte-level BPE tokenizer of about 300 tokens with <|im_start|> and
 * <|im_end|>, trained on a few sentences written into dir. */
Tokenizer *test_chat_tokenizer(const char *dir);
/* A small random model: V tokens, width C, L layers, NH heads, NKV kv heads,
 * untied head, max_seq_len 128. Parameters scaled by `gain` (larger than the
 * default initialisation, so that attention and the norms matter). */
Model *test_small_model(int V, int C, int L, int NH, int NKV, uint64_t seed, float gain);
/* Writes text into dir/name; returns the path (caller frees). */
char *test_write_text(const char *dir, const char *name, const char *text);
/* Writes meta.json, params.bin, tokens.bin, targets.bin and (if doc_start
 * is not NULL) doc_start.bin for llama_ref.py / lora_ref.py, and with an
 * adapter lora_params.bin and its tensors in meta.json. */
void test_write_reference_fixture(const char *dir, const Model *m, const Lora *lora, int B, int T, const int *tokens,
                                  const int *targets, const int *doc_start);
/* n floats from dir/name, which must hold exactly that many (caller frees). */
float *test_read_floats(const char *dir, const char *name, size_t n);
double test_read_number(const char *dir, const char *name);

#endif
