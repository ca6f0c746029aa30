/* maps.c — see maps.h. */
#include "maps.h"

#include <stdlib.h>

#include "../base/util.h"

static size_t capacity_for(size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2) cap *= 2;
    return cap;
}

static BytesMapSlot *new_str_slots(size_t cap) {
    BytesMapSlot *slots = xmalloc(cap * sizeof(BytesMapSlot));
    for (size_t i = 0; i < cap; i++) slots[i].value = -1;
    return slots;
}

void bytesmap_init(BytesMap *m, size_t expected) {
    memset(m, 0, sizeof *m);
    m->cap = capacity_for(expected);
    m->slots = new_str_slots(m->cap);
}

void bytesmap_free(BytesMap *m) {
    free(m->slots);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

static void bytesmap_grow(BytesMap *m) {
    size_t cap = m->cap * 2;
    BytesMapSlot *slots = new_str_slots(cap);
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].value < 0) continue;
        size_t j = m->slots[i].hash & (cap - 1);
        while (slots[j].value >= 0) j = (j + 1) & (cap - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
}

int bytesmap_put(BytesMap *m, const void *key, size_t len, uint64_t hash, int value) {
    if ((m->count + 1) * 2 > m->cap) bytesmap_grow(m);
    size_t mask = m->cap - 1, i = hash & mask;
    for (;; i = (i + 1) & mask) {
        BytesMapSlot *s = &m->slots[i];
        if (s->value < 0) break;
        if (s->hash == hash && s->key_len == len && memcmp(m->arena + s->key_off, key, len) == 0) return s->value;
    }
    if (m->arena_len + len > UINT32_MAX) die("hash table keys exceed 4 GB");
    if (m->arena_len + len > m->arena_cap) {
        m->arena_cap = LMF_MAX(m->arena_len + len, m->arena_cap * 2 + 4096);
        m->arena = xrealloc(m->arena, m->arena_cap);
    }
    memcpy(m->arena + m->arena_len, key, len);
    m->slots[i] = (BytesMapSlot){hash, (uint32_t)m->arena_len, (uint32_t)len, value};
    m->arena_len += len;
    m->count++;
    return value;
}

static PairSlot *new_pair_slots(size_t cap) {
    PairSlot *slots = xmalloc(cap * sizeof(PairSlot));
    for (size_t i = 0; i < cap; i++) slots[i].key = UINT64_MAX;
    return slots;
}

void pairmap_init(PairMap *m, size_t expected) {
    m->cap = capacity_for(expected);
    m->count = 0;
    m->slots = new_pair_slots(m->cap);
}

void pairmap_free(PairMap *m) {
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static void pairmap_grow(PairMap *m) {
    size_t cap = m->cap * 2;
    PairSlot *slots = new_pair_slots(cap);
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key == UINT64_MAX) continue;
        size_t j = hash_mix(m->slots[i].key) & (cap - 1);
        while (slots[j].key != UINT64_MAX) j = (j + 1) & (cap - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
}

PairSlot *pairmap_put(PairMap *m, int left, int right, int *inserted) {
    if ((m->count + 1) * 2 > m->cap) pairmap_grow(m);
    uint64_t key = pair_key(left, right);
    size_t mask = m->cap - 1, i = hash_mix(key) & mask;
    for (;; i = (i + 1) & mask) {
        PairSlot *s = &m->slots[i];
        if (s->key == key) {
            *inserted = 0;
            return s;
        }
        if (s->key == UINT64_MAX) {
            *s = (PairSlot){key, -1, -1};
            m->count++;
            *inserted = 1;
            return s;
        }
    }
}
