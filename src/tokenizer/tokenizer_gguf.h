/* tokenizer_gguf.h — a byte-level BPE tokenizer as llama.cpp's GGUF
 * metadata ("gpt2" tokenizer model): tokens, token types, merges, the
 * pre-tokenizer's name, special token ids and the chat template. */
#ifndef LMF_TOKENIZER_GGUF_H
#define LMF_TOKENIZER_GGUF_H

#include "../base/gguf.h"
#include "tokenizer.h"

/* llama.cpp's token types (llama_token_type). */
enum { GGUF_TOKEN_NORMAL = 1, GGUF_TOKEN_CONTROL = 3, GGUF_TOKEN_USER_DEFINED = 4, GGUF_TOKEN_UNUSED = 5 };

/* NULL when llama.cpp can tokenize exactly as t does with a vocabulary of
 * vocab_size ids (the model's V), else a one-line reason (static or valid
 * until the next call). */
const char *tokenizer_gguf_check(const Tokenizer *t, int vocab_size);

/* The name of t's pre-tokenizer in llama.cpp (tokenizer.ggml.pre); NULL
 * when it has none. */
const char *tokenizer_gguf_pre(const Tokenizer *t);

/* Adds the tokenizer.* keys to w (tokenizer_gguf_check must have passed).
 * Ids the tokenizer does not use, up to vocab_size, become "[PAD<id>]"
 * tokens of type UNUSED, as llama.cpp's converter writes them. */
void tokenizer_gguf_write(const Tokenizer *t, int vocab_size, GgufWriter *w);

#endif
