/* test_io_shards.c — token shards: round trips at both token sizes, and a
 * clear error for each kind of damaged file. */
#include <stdlib.h>
#include <string.h>

#include "../src/base/util.h"
#include "../src/data/shards.h"
#include "test.h"

static void round_trip(const char *path, int vocab_size, int expected_bytes) {
    enum { N = 20000 }; /* more than one write chunk */
    int *tokens = xmalloc(N * sizeof(int));
    for (int i = 0; i < N; i++) tokens[i] = (int)((i * 2654435761u) % (unsigned)vocab_size);
    tokens[0] = 0;
    tokens[N - 1] = vocab_size - 1;
    shard_write(path, tokens, N, vocab_size);

    TokenShard s = shard_open(path);
    CHECK_EQ_INT(s.dtype_bytes, expected_bytes);
    CHECK_EQ_INT(s.n_tokens, N);
    CHECK_EQ_INT(s.vocab_size, vocab_size);
    CHECK_EQ_INT(s.map_len, 32 + (size_t)N * expected_bytes);
    int mismatches = 0;
    for (int i = 0; i < N; i++) mismatches += shard_token(&s, (size_t)i) != tokens[i];
    CHECK_EQ_INT(mismatches, 0);
    shard_close(&s);
    free(tokens);
}

TEST(shards_round_trip_u16_u32) {
    char *dir = test_tmpdir("shards");
    char *path = path_join(dir, "train.bin");
    round_trip(path, 50257, 2);
    round_trip(path, 65536, 2); /* id 65535 is the largest a uint16 holds */
    round_trip(path, 65537, 4);
    round_trip(path, 151936, 4);

    shard_write(path, NULL, 0, 100);
    TokenShard empty = shard_open(path);
    CHECK_EQ_INT(empty.n_tokens, 0);
    shard_close(&empty);
    test_system("rm -rf %s", dir);
    free(path);
    free(dir);
}

static void open_and_close(void *path) {
    TokenShard s = shard_open(path);
    shard_close(&s);
}

static void write_bad_token(void *path) { shard_write(path, (int[]){1, 2, 7}, 3, 5); }

/* Overwrites 4 bytes of the file at offset with v. */
static void patch_u32(const char *path, size_t offset, uint32_t v) {
    size_t len;
    char *bytes = read_file(path, &len);
    memcpy(bytes + offset, &v, 4);
    write_bytes(path, bytes, len);
    free(bytes);
}

TEST(shards_corrupt_files_die_clearly) {
    char *dir = test_tmpdir("shards-bad");
    char *path = path_join(dir, "train.bin");
    const int tokens[5] = {1, 2, 3, 999, 4};

    shard_write(path, tokens, 5, 1000);
    patch_u32(path, 0, 0x4b4f5447); /* "GTOK" over the start of the magic */
    CHECK_DIES(open_and_close, path, "train.bin: not an lmforge token shard (bad magic)");

    shard_write(path, tokens, 5, 1000);
    patch_u32(path, 8, 2);
    CHECK_DIES(open_and_close, path, "train.bin: token shard version 2, this lmforge reads version 1");

    shard_write(path, tokens, 5, 1000);
    patch_u32(path, 12, 3);
    CHECK_DIES(open_and_close, path, "token size 3 bytes, expected 2 or 4");

    shard_write(path, tokens, 5, 1000);
    patch_u32(path, 24, 100000);
    CHECK_DIES(open_and_close, path, "vocabulary size 100000 does not suit 2-byte tokens");

    shard_write(path, tokens, 5, 1000);
    patch_u32(path, 24, 500);
    CHECK_DIES(open_and_close, path, "train.bin: token 999 at position 3 is outside the vocabulary (500)");

    shard_write(path, tokens, 5, 1000);
    size_t len;
    char *bytes = read_file(path, &len);
    write_bytes(path, bytes, len - 1);
    CHECK_DIES(open_and_close, path, "header says 5 tokens but the file holds 9 bytes of tokens (2 bytes each)");
    write_bytes(path, bytes, 20);
    CHECK_DIES(open_and_close, path, "20 bytes, too short for a token shard header");
    free(bytes);

    CHECK_DIES(open_and_close, "/nonexistent/train.bin", "cannot open /nonexistent/train.bin");
    CHECK_DIES(write_bad_token, path, "token 7 at position 2 is outside the vocabulary (5)");
    test_system("rm -rf %s", dir);
    free(path);
    free(dir);
}
