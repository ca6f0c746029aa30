/* maps.h — the two hash tables the tokenizer lives on.
 *
 * BytesMap: byte string -> int (a token's bytes -> its id; a word -> its index
 * while training; a piece -> its cached tokens while encoding). Keys are
 * copied into one arena; the caller passes the key's hash so that a lookup
 * followed by an insert hashes once.
 *
 * PairMap: pair of token ids -> two ints (a merge -> its rank and the id it
 * produces; a pair -> its index while training).
 *
 * Both use open addressing with linear probing and grow at half full. */
#ifndef LMF_MAPS_H
#define LMF_MAPS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t hash_mix(uint64_t h) {
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return h;
}

static inline uint64_t load64(const uint8_t *p) {
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

static inline uint64_t load32(const uint8_t *p) {
    uint32_t w;
    memcpy(&w, p, 4);
    return w;
}

/* A fast hash of a short byte string (tokens and words are short). Reads
 * only inside the string, in whole words where it can: the last word may
 * overlap the one before. */
static inline uint64_t hash_bytes(const void *key, size_t len) {
    const uint8_t *p = key;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (len * 0xbf58476d1ce4e5b9ull), w;
    if (len >= 8) {
        for (; len > 8; p += 8, len -= 8) {
            h = (h ^ load64(p)) * 0x94d049bb133111ebull;
            h ^= h >> 29;
        }
        w = load64(p + len - 8);
    } else if (len >= 4) {
        w = load32(p) | load32(p + len - 4) << 32;
    } else {
        w = len ? (uint64_t)p[0] | (uint64_t)p[len / 2] << 8 | (uint64_t)p[len - 1] << 16 : 0;
    }
    return hash_mix((h ^ w) * 0x94d049bb133111ebull);
}

typedef struct {
    uint64_t hash;
    uint32_t key_off, key_len;
    int value; /* -1 marks an empty slot */
} BytesMapSlot;

typedef struct {
    BytesMapSlot *slots;
    size_t cap, count; /* cap is a power of two */
    char *arena;
    size_t arena_len, arena_cap;
} BytesMap;

void bytesmap_init(BytesMap *m, size_t expected);
void bytesmap_free(BytesMap *m);

/* The value stored for key, or -1. */
static inline int bytesmap_get(const BytesMap *m, const void *key, size_t len, uint64_t hash) {
    size_t mask = m->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        const BytesMapSlot *s = &m->slots[i];
        if (s->value < 0) return -1;
        if (s->hash == hash && s->key_len == len && memcmp(m->arena + s->key_off, key, len) == 0) return s->value;
    }
}

/* Inserts key with `value` (>= 0) unless it is present. Returns the value now
 * stored: `value` if it was inserted, the old one if not. */
int bytesmap_put(BytesMap *m, const void *key, size_t len, uint64_t hash, int value);

/* The key bytes of a slot. */
static inline const char *bytesmap_key(const BytesMap *m, const BytesMapSlot *s) { return m->arena + s->key_off; }

typedef struct {
    uint64_t key; /* left << 32 | right; UINT64_MAX marks an empty slot */
    int a, b;
} PairSlot;

typedef struct {
    PairSlot *slots;
    size_t cap, count;
} PairMap;

static inline uint64_t pair_key(int left, int right) { return (uint64_t)(uint32_t)left << 32 | (uint32_t)right; }

void pairmap_init(PairMap *m, size_t expected);
void pairmap_free(PairMap *m);

/* The slot holding (left, right), or NULL. */
static inline const PairSlot *pairmap_get(const PairMap *m, int left, int right) {
    uint64_t key = pair_key(left, right);
    size_t mask = m->cap - 1;
    for (size_t i = hash_mix(key) & mask;; i = (i + 1) & mask) {
        const PairSlot *s = &m->slots[i];
        if (s->key == key) return s;
        if (s->key == UINT64_MAX) return NULL;
    }
}

/* The slot for (left, right), inserted with a = b = -1 if absent (*inserted
 * tells which). The pointer is valid until the next insertion. */
PairSlot *pairmap_put(PairMap *m, int left, int right, int *inserted);

#endif
