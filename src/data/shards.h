/* shards.h — binary token shards: a pretraining corpus, tokenized once, in a
 * file the trainer maps instead of re-tokenizing text every run.
 *
 * Layout (little-endian): a 32-byte header
 *   "LMFTOKEN"  uint32 version (1)  uint32 token size in bytes (2 or 4)
 *   uint64 token count  uint32 vocabulary size  uint32 zero
 * followed by the tokens: uint16 when the vocabulary has at most 65536
 * entries (ids fit in 16 bits), uint32 otherwise. Written atomically;
 * opening checks the header, the size and every token id, so a truncated or
 * foreign file is reported instead of read as garbage. */
#ifndef LMF_SHARDS_H
#define LMF_SHARDS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *path;
    int dtype_bytes;    /* 2 or 4 */
    size_t n_tokens;
    const void *tokens; /* (n_tokens) uint16 or uint32, inside the mapping */
    int vocab_size;
    void *map;
    size_t map_len;
} TokenShard;

/* Every token must lie in [0, vocab_size). */
void shard_write(const char *path, const int *tokens, size_t n, int vocab_size);
TokenShard shard_open(const char *path);
void shard_close(TokenShard *s);

static inline int shard_token(const TokenShard *s, size_t i) {
    return s->dtype_bytes == 2 ? ((const uint16_t *)s->tokens)[i] : (int)((const uint32_t *)s->tokens)[i];
}

#endif
