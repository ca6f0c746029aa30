/* tokenizer_internal.h — the Tokenizer structure and the functions that
 * build it, shared by the files of src/tokenizer/ (loading, training,
 * encoding). Users include tokenizer.h. */
#ifndef LMF_TOKENIZER_INTERNAL_H
#define LMF_TOKENIZER_INTERNAL_H

#include <stdint.h>

#include "maps.h"
#include "pretokenize.h"
#include "tokenizer.h"

/* Ids are below this, which bounds what a malformed file can make us allocate. */
#define TOKENIZER_MAX_IDS (1 << 24)
/* Length of the error messages of the builders below. */
#define TOKENIZER_ERROR_SIZE 512

typedef struct {
    char *content; /* raw bytes, NUL-terminated */
    int len, id;
    int special;        /* "special": true — recognised only when the caller allows special tokens */
    int lstrip, rstrip; /* swallow the white space on that side */
    int normalized;     /* kept for saving; matching always uses the raw text */
} AddedToken;

/* What an id is: a token of the BPE model's vocabulary, an added token, or both. */
enum { ID_IN_VOCAB = 1, ID_ADDED = 2 };

struct Tokenizer {
    /* Every id's bytes: token_bytes[token_off[id] .. + token_len[id]]; kind 0 = unused id. */
    int n_ids;
    uint8_t *kind;
    size_t *token_off;
    int *token_len;
    char *token_bytes;
    size_t token_bytes_len, token_bytes_cap;
    int ids_cap;

    /* The BPE model. */
    BytesMap vocab;        /* bytes -> id, model vocabulary only */
    int byte_token[256]; /* the id of each single byte */
    int (*merges)[2];    /* merges in rank order: left id, right id */
    int n_merges, merges_cap;
    PairMap merge_map; /* (left, right) -> a = rank, b = merged id */
    int ignore_merges; /* a piece that is a whole token skips merging (Llama 3) */

    /* Added tokens, and an index for finding them: sorted by first byte, then
     * longest first; added_first[b] is the first with first byte b, or -1. */
    AddedToken *added;
    int n_added;
    int *added_sorted;
    int added_first[256];

    /* Normalization and pre-tokenization. */
    int nfc;           /* normalizer: NFC */
    SplitRule *splits; /* applied in turn, each to the pieces of the one before */
    int n_splits;
    int parallel_safe; /* long texts may be cut at split_is_safe_cut() points */

    /* Kept verbatim for saving (JSON text), or NULL for the defaults. */
    char *post_processor_json, *decoder_json;
    char *config_json;          /* tokenizer_config.json as loaded */
    long long model_max_length; /* 0: not set */
};

/* ChatML as a Jinja template, written to tokenizer_config.json (tokenizer_json.c). */
extern const char CHATML_TEMPLATE[];

/* Building a tokenizer (the loaders and the trainer). Functions returning int
 * give 0, or -1 with a one-line reason in err (TOKENIZER_ERROR_SIZE bytes). */
Tokenizer *tokenizer_alloc(void);
/* Adds a model token; fails if the id or the bytes are taken. */
int tokenizer_add_vocab(Tokenizer *t, int id, const uint8_t *bytes, int len, char *err);
/* Adds the merge left + right with the next rank; both and their
 * concatenation must be model tokens. */
int tokenizer_add_merge(Tokenizer *t, int left, int right, char *err);
/* Adds an added token; if its id is a model token, the bytes must agree. */
int tokenizer_add_added(Tokenizer *t, const AddedToken *a, char *err);
/* Appends a split rule. */
int tokenizer_add_split(Tokenizer *t, const char *pattern, int literal, char *err);
/* Checks the whole (all 256 bytes are tokens) and builds the indexes. */
int tokenizer_finish(Tokenizer *t, char *err);

/* Calls on_piece for each piece that BPE would see in text, with added
 * tokens cut out as tokenizer_encode() does (training counts the pieces). */
void tokenizer_each_piece(const Tokenizer *t, const char *text, size_t len, int allow_special,
                          void (*on_piece)(void *ctx, const uint8_t *piece, size_t len), void *ctx);

/* The id of a model token given by its bytes, or -1. */
static inline int tokenizer_vocab_id(const Tokenizer *t, const void *bytes, size_t len) {
    return bytesmap_get(&t->vocab, bytes, len, hash_bytes(bytes, len));
}

#endif
