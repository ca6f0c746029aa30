/* shards.c — see shards.h. */
#include "shards.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../base/util.h"

#define SHARD_MAGIC "LMFTOKEN"
#define SHARD_VERSION 1
/* The most ids 16-bit tokens can hold: 0..65535. */
#define U16_VOCAB_MAX 65536

typedef struct {
    char magic[8];
    uint32_t version;
    uint32_t dtype_bytes;
    uint64_t n_tokens;
    uint32_t vocab_size;
    uint32_t reserved;
} ShardHeader;
_Static_assert(sizeof(ShardHeader) == 32, "the header is 32 bytes on disk");

void shard_write(const char *path, const int *tokens, size_t n, int vocab_size) {
    if (vocab_size <= 0) die("shard_write %s: vocabulary size %d", path, vocab_size);
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= vocab_size)
            die("shard_write %s: token %d at position %zu is outside the vocabulary (%d)", path, tokens[i], i,
                vocab_size);
    ShardHeader h = {.version = SHARD_VERSION,
                     .dtype_bytes = vocab_size <= U16_VOCAB_MAX ? 2 : 4,
                     .n_tokens = n,
                     .vocab_size = (uint32_t)vocab_size};
    memcpy(h.magic, SHARD_MAGIC, 8);

    AtomicFile af = atomic_open(path);
    fwrite(&h, sizeof h, 1, af.f);
    /* Narrow the ids a chunk at a time rather than copying the whole corpus. */
    union {
        uint16_t u16[8192];
        uint32_t u32[8192];
    } chunk;
    for (size_t i = 0; i < n; i += 8192) {
        size_t m = LMF_MIN((size_t)8192, n - i);
        for (size_t j = 0; j < m; j++) {
            if (h.dtype_bytes == 2) chunk.u16[j] = (uint16_t)tokens[i + j];
            else chunk.u32[j] = (uint32_t)tokens[i + j];
        }
        fwrite(&chunk, h.dtype_bytes, m, af.f);
    }
    atomic_commit(&af); /* dies if any write above failed */
}

/* Every id below the vocabulary size, or the embedding lookup would read
 * out of bounds. One pass over the tokens is cheap next to training on them. */
static void check_token_ids(const TokenShard *s) {
    for (size_t i = 0; i < s->n_tokens; i++) {
        int t = shard_token(s, i);
        if (t >= s->vocab_size)
            die("%s: token %d at position %zu is outside the vocabulary (%d)", s->path, t, i, s->vocab_size);
    }
}

TokenShard shard_open(const char *path) {
    TokenShard s = {.path = xstrdup(path)};
    int fd = open(path, O_RDONLY);
    if (fd < 0) die_errno("cannot open %s", path);
    struct stat sb;
    if (fstat(fd, &sb) != 0) die_errno("cannot stat %s", path);
    if (!S_ISREG(sb.st_mode)) die("%s: not a regular file", path);
    s.map_len = (size_t)sb.st_size;
    if (s.map_len < sizeof(ShardHeader))
        die("%s: %zu bytes, too short for a token shard header (%zu bytes)", path, s.map_len, sizeof(ShardHeader));
    s.map = mmap(NULL, s.map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (s.map == MAP_FAILED) die_errno("cannot map %s", path);
    close(fd);

    ShardHeader h;
    memcpy(&h, s.map, sizeof h);
    if (memcmp(h.magic, SHARD_MAGIC, 8) != 0) die("%s: not an lmforge token shard (bad magic)", path);
    if (h.version != SHARD_VERSION)
        die("%s: token shard version %u, this lmforge reads version %d", path, h.version, SHARD_VERSION);
    if (h.dtype_bytes != 2 && h.dtype_bytes != 4) die("%s: token size %u bytes, expected 2 or 4", path, h.dtype_bytes);
    if (h.vocab_size == 0 || h.vocab_size > INT32_MAX || (h.dtype_bytes == 2 && h.vocab_size > U16_VOCAB_MAX))
        die("%s: vocabulary size %u does not suit %u-byte tokens", path, h.vocab_size, h.dtype_bytes);
    size_t data_len = s.map_len - sizeof h;
    if (h.n_tokens > data_len / h.dtype_bytes || h.n_tokens * h.dtype_bytes != data_len)
        die("%s: header says %llu tokens but the file holds %zu bytes of tokens (%u bytes each)", path,
            (unsigned long long)h.n_tokens, data_len, h.dtype_bytes);

    s.dtype_bytes = (int)h.dtype_bytes;
    s.n_tokens = (size_t)h.n_tokens;
    s.vocab_size = (int)h.vocab_size;
    s.tokens = (const char *)s.map + sizeof h;
    check_token_ids(&s);
    return s;
}

void shard_close(TokenShard *s) {
    if (s->map) munmap(s->map, s->map_len);
    free(s->path);
    *s = (TokenShard){0};
}
