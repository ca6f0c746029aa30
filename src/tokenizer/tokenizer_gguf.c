/* tokenizer_gguf.c — the tokenizer as GGUF metadata (tokenizer_gguf.h).
 *
 * llama.cpp's "gpt2" tokenizer model is byte-level BPE: tokens are stored in
 * GPT-2's byte-to-character alphabet (as tokenizer.json stores them), merges
 * as "left right" in the same alphabet, and the pre-tokenizer is chosen by
 * name (tokenizer.ggml.pre) among the regular expressions llama.cpp knows. */
#include "tokenizer_gguf.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../base/util.h"
#include "byte_level.h"
#include "tokenizer_internal.h"

const char *tokenizer_gguf_pre(const Tokenizer *t) {
    if (t->n_splits != 1 || t->splits[0].literal) return NULL;
    switch (t->splits[0].kind) {
    case SPLIT_GPT2: return t->ignore_merges ? NULL : "gpt2";
    case SPLIT_QWEN2: return t->ignore_merges ? NULL : "qwen2";
    /* llama.cpp's "llama-bpe" takes a piece that is a whole token as it is
     * (Llama 3's ignore_merges); "smaug-bpe" has the same expression and
     * merges every piece, as our trained tokenizers do. */
    case SPLIT_LLAMA3: return t->ignore_merges ? "llama-bpe" : "smaug-bpe";
    case SPLIT_REGEX: return NULL;
    }
    return NULL;
}

const char *tokenizer_gguf_check(const Tokenizer *t, int vocab_size) {
    static char why[256];
    if (!tokenizer_gguf_pre(t)) {
        if (t->n_splits != 1)
            snprintf(why, sizeof why,
                     "the tokenizer splits text in %d steps; llama.cpp knows one-regex pre-tokenizers only", t->n_splits);
        else if (t->ignore_merges)
            snprintf(why, sizeof why, "the tokenizer ignores merges with a pre-tokenizer llama.cpp only knows without");
        else
            snprintf(why, sizeof why, "the tokenizer's pre-tokenizer regex is none of GPT-2's, Llama 3's or Qwen2's, "
                                      "which are the ones llama.cpp can name");
        return why;
    }
    if (t->n_ids > vocab_size) {
        snprintf(why, sizeof why, "the tokenizer has %d ids but the model's vocabulary only %d", t->n_ids, vocab_size);
        return why;
    }
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].lstrip || t->added[i].rstrip) {
            snprintf(why, sizeof why, "added token %s strips white space, which llama.cpp's gpt2 tokenizer does not do",
                     t->added[i].content);
            return why;
        }
    return NULL;
}

/* The chat template: tokenizer_config.json's when it has one as a string,
 * else ChatML when the tokenizer has its tokens, else none. */
static char *chat_template(const Tokenizer *t) {
    if (t->config_json) {
        cJSON *cfg = cJSON_Parse(t->config_json);
        const cJSON *tpl = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
        char *s = cJSON_IsString(tpl) ? xstrdup(tpl->valuestring) : NULL;
        cJSON_Delete(cfg);
        if (s) return s;
    }
    if (tokenizer_token_id(t, "<|im_start|>") >= 0 && tokenizer_token_id(t, "<|im_end|>") >= 0)
        return xstrdup(CHATML_TEMPLATE);
    return NULL;
}

/* The token text of a model token: its bytes in the byte-level alphabet. */
static char *vocab_text(const Tokenizer *t, int id, size_t *len) {
    char *s = xmalloc(2 * (size_t)t->token_len[id] + 1);
    *len = byte_level_encode((const uint8_t *)t->token_bytes + t->token_off[id], (size_t)t->token_len[id], s);
    s[*len] = 0;
    return s;
}

static const AddedToken *find_added(const Tokenizer *t, int id) {
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].id == id) return &t->added[i];
    return NULL;
}

void tokenizer_gguf_write(const Tokenizer *t, int vocab_size, GgufWriter *w) {
    const size_t V = (size_t)vocab_size;
    char **tokens = xcalloc(V, sizeof(char *));
    size_t *lens = xcalloc(V, sizeof(size_t));
    int32_t *types = xcalloc(V, sizeof(int32_t));
    for (int id = 0; id < vocab_size; id++) {
        const AddedToken *a = id < t->n_ids && (t->kind[id] & ID_ADDED) ? find_added(t, id) : NULL;
        if (a) {
            /* added tokens keep their text (tokenizer.json's "content"); llama.cpp
             * matches control tokens only when asked to parse special tokens,
             * user-defined ones always, as Hugging Face does */
            tokens[id] = xstrndup(a->content, (size_t)a->len);
            lens[id] = (size_t)a->len;
            types[id] = a->special ? GGUF_TOKEN_CONTROL : GGUF_TOKEN_USER_DEFINED;
        } else if (id < t->n_ids && (t->kind[id] & ID_IN_VOCAB)) {
            tokens[id] = vocab_text(t, id, &lens[id]);
            types[id] = GGUF_TOKEN_NORMAL;
        } else {
            tokens[id] = xsprintf("[PAD%d]", id);
            lens[id] = strlen(tokens[id]);
            types[id] = GGUF_TOKEN_UNUSED;
        }
    }
    char **merges = xmalloc(sizeof(char *) * (size_t)LMF_MAX(t->n_merges, 1));
    for (int i = 0; i < t->n_merges; i++) {
        size_t ll, rl;
        char *l = vocab_text(t, t->merges[i][0], &ll), *r = vocab_text(t, t->merges[i][1], &rl);
        merges[i] = xsprintf("%s %s", l, r);
        free(l);
        free(r);
    }

    gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_set_str(w, "tokenizer.ggml.pre", tokenizer_gguf_pre(t));
    gguf_set_str_array(w, "tokenizer.ggml.tokens", (const char *const *)tokens, lens, V);
    gguf_set_i32_array(w, "tokenizer.ggml.token_type", types, V);
    gguf_set_str_array(w, "tokenizer.ggml.merges", (const char *const *)merges, NULL, (size_t)t->n_merges);
    /* Ours, GPT-2's and Qwen's tokenizers have no BOS: <|endoftext|> stands in,
     * as in their Hugging Face configs, and is never added. Llama 3's
     * <|begin_of_text|> is added, as lmforge generate does. */
    const int eos = tokenizer_eos_id(t), bos = tokenizer_bos_id(t), im_end = tokenizer_token_id(t, "<|im_end|>");
    if (bos >= 0 || eos >= 0) gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)(bos >= 0 ? bos : eos));
    if (eos >= 0) gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eos);
    if (im_end >= 0) gguf_set_u32(w, "tokenizer.ggml.eot_token_id", (uint32_t)im_end);
    if (eos >= 0) gguf_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)eos);
    gguf_set_bool(w, "tokenizer.ggml.add_bos_token", bos >= 0);
    gguf_set_bool(w, "tokenizer.ggml.add_eos_token", 0);
    char *tpl = chat_template(t);
    if (tpl) gguf_set_str(w, "tokenizer.chat_template", tpl);
    free(tpl);

    for (size_t i = 0; i < V; i++) free(tokens[i]);
    for (int i = 0; i < t->n_merges; i++) free(merges[i]);
    free(tokens);
    free(lens);
    free(types);
    free(merges);
}
