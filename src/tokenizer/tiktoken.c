/* tiktoken.c — OpenAI's tiktoken rank files (r50k_base, p50k_base,
 * cl100k_base, o200k_base .tiktoken) as byte-level BPE tokenizers.
 *
 * A rank file has one token a line: its bytes in base64, a space, its rank
 * (which is its id). tiktoken encodes a piece by repeatedly merging the
 * adjacent pair whose concatenation has the lowest rank, after taking a
 * piece that is a whole token as it is. That is BPE with, for every token,
 * a merge of each way to split it into two tokens, ranked by the token's
 * rank (then by the parts' ranks), and ignore_merges on. The file carries
 * neither the pre-tokenizer regex nor the special tokens: they come with
 * the encoding's name, which the file name gives. */
#include <stdlib.h>
#include <string.h>

#include "../base/util.h"
#include "tokenizer_internal.h"

typedef struct {
    const char *name, *pattern;
    struct {
        const char *text;
        int id;
    } special[8];
} Encoding;

/* tiktoken's published o200k expression (PCRE2 runs it). */
static const char PATTERN_O200K[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+"
    "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static const Encoding ENCODINGS[] = {
    {"r50k_base", PATTERN_GPT2, {{"<|endoftext|>", 50256}}},
    {"p50k_base", PATTERN_GPT2, {{"<|endoftext|>", 50256}}},
    /* cl100k's expression is the one Llama 3 took over */
    {"cl100k_base",
     PATTERN_LLAMA3,
     {{"<|endoftext|>", 100257},
      {"<|fim_prefix|>", 100258},
      {"<|fim_middle|>", 100259},
      {"<|fim_suffix|>", 100260},
      {"<|im_start|>", 100264},
      {"<|im_end|>", 100265},
      {"<|im_sep|>", 100266},
      {"<|endofprompt|>", 100276}}},
    {"o200k_base",
     PATTERN_O200K,
     {{"<|endoftext|>", 199999},
      {"<|fim_prefix|>", 200000},
      {"<|fim_middle|>", 200001},
      {"<|fim_suffix|>", 200002},
      {"<|im_start|>", 200003},
      {"<|im_end|>", 200004},
      {"<|im_sep|>", 200005},
      {"<|endofprompt|>", 200006}}},
};

static int base64_value(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Decodes n base64 characters (with '=' padding) into out; returns the byte count or -1. */
static long base64_decode(const char *s, size_t n, uint8_t *out) {
    if (n % 4 != 0) return -1;
    long len = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            if (s[i + j] == '=' && i + 4 == n && j >= 2) {
                v[j] = 0;
                pad++;
            } else if (pad || (v[j] = base64_value((unsigned char)s[i + j])) < 0) {
                return -1;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[len++] = (uint8_t)(w >> 16);
        if (pad < 2) out[len++] = (uint8_t)(w >> 8);
        if (pad < 1) out[len++] = (uint8_t)w;
    }
    return len;
}

typedef struct {
    int token, left, right; /* token = left + right, all ids (= ranks) */
} Merge;

static int merge_order(const void *a, const void *b) {
    const Merge *x = a, *y = b;
    if (x->token != y->token) return x->token < y->token ? -1 : 1;
    if (x->left != y->left) return x->left < y->left ? -1 : 1;
    return (x->right > y->right) - (x->right < y->right);
}

#define FAIL(...)                                          \
    do {                                                   \
        snprintf(err, TOKENIZER_ERROR_SIZE, __VA_ARGS__);  \
        goto fail;                                         \
    } while (0)

Tokenizer *tokenizer_from_tiktoken(const char *text, size_t len, const char *encoding, const char *name, char **error) {
    char err[TOKENIZER_ERROR_SIZE];
    const Encoding *enc = NULL;
    for (size_t i = 0; i < LMF_ARRAY_LEN(ENCODINGS); i++)
        if (strcmp(ENCODINGS[i].name, encoding) == 0) enc = &ENCODINGS[i];
    Tokenizer *t = tokenizer_alloc();
    Merge *merges = NULL;
    size_t n_merges = 0, cap = 0;
    uint8_t *bytes = NULL;
    if (!enc)
        FAIL("%.200s: unknown tiktoken encoding \"%.100s\" (r50k_base, p50k_base, cl100k_base, o200k_base)", name,
             encoding);
    const char *p = text, *end = text + len;
    int line = 0;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        line++;
        if (eol > p) {
            const char *sp = memchr(p, ' ', (size_t)(eol - p));
            if (!sp) FAIL("%.200s:%d: expected \"BASE64 RANK\"", name, line);
            bytes = xrealloc(bytes, (size_t)(sp - p) + 3);
            long n = base64_decode(p, (size_t)(sp - p), bytes);
            char *after;
            long rank = strtol(sp + 1, &after, 10);
            if (n <= 0 || after == sp + 1 || (after != eol && *after != '\r') || rank < 0 || rank >= TOKENIZER_MAX_IDS)
                FAIL("%.200s:%d: expected \"BASE64 RANK\"", name, line);
            if (tokenizer_add_vocab(t, (int)rank, bytes, (int)n, err) != 0) {
                char reason[200];
                snprintf(reason, sizeof reason, "%.190s", err);
                FAIL("%.200s:%d: %s", name, line, reason);
            }
        }
        p = eol + 1;
    }
    /* every split of every token into two tokens is a merge */
    for (int id = 0; id < t->n_ids; id++) {
        if (!(t->kind[id] & ID_IN_VOCAB) || t->token_len[id] < 2) continue;
        const char *s = t->token_bytes + t->token_off[id];
        for (int k = 1; k < t->token_len[id]; k++) {
            int l = tokenizer_vocab_id(t, s, (size_t)k),
                r = tokenizer_vocab_id(t, s + k, (size_t)(t->token_len[id] - k));
            if (l < 0 || r < 0) continue;
            if (n_merges == cap) merges = xrealloc(merges, sizeof(Merge) * (cap = cap * 2 + 1024));
            merges[n_merges++] = (Merge){id, l, r};
        }
    }
    qsort(merges, n_merges, sizeof(Merge), merge_order);
    for (size_t i = 0; i < n_merges; i++)
        if (tokenizer_add_merge(t, merges[i].left, merges[i].right, err) != 0) goto fail;
    t->ignore_merges = 1;
    for (int i = 0; i < 8 && enc->special[i].text; i++) {
        AddedToken a = {.content = (char *)enc->special[i].text, .len = (int)strlen(enc->special[i].text),
                        .id = enc->special[i].id, .special = 1};
        if (tokenizer_add_added(t, &a, err) != 0) goto fail;
    }
    if (tokenizer_add_split(t, enc->pattern, 0, err) != 0 || tokenizer_finish(t, err) != 0) goto fail;
    free(merges);
    free(bytes);
    return t;
fail:
    *error = xstrdup(err);
    free(merges);
    free(bytes);
    tokenizer_free(t);
    return NULL;
}

Tokenizer *tokenizer_load_tiktoken(const char *path) {
    /* the encoding is the file's name: .../cl100k_base.tiktoken */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char *encoding = xstrndup(base, strlen(base) - strlen(".tiktoken")), *error;
    size_t len;
    char *text = read_file(path, &len);
    Tokenizer *t = tokenizer_from_tiktoken(text, len, encoding, path, &error);
    free(text);
    free(encoding);
    if (!t) die("%s", error);
    return t;
}
