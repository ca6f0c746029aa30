/* strutil.c — see strutil.h. */
#include "strutil.h"

#include <stdlib.h>
#include <string.h>

#include "../base/util.h"

void strlist_take(StrList *l, char *s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->items = xrealloc(l->items, (size_t)l->cap * sizeof(char *));
    }
    l->items[l->n++] = s;
}

void strlist_add(StrList *l, const char *s) { strlist_take(l, xstrdup(s)); }

int strlist_contains(const StrList *l, const char *s) {
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->items[i], s) == 0) return 1;
    return 0;
}

void strlist_free(StrList *l) {
    for (int i = 0; i < l->n; i++) free(l->items[i]);
    free(l->items);
    *l = (StrList){0};
}

void strbuf_append_n(StrBuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = LMF_MAX(2 * b->cap, b->len + n + 1);
        if (b->cap < 64) b->cap = 64;
        b->data = xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

void strbuf_append(StrBuf *b, const char *s) { strbuf_append_n(b, s, strlen(s)); }

void strbuf_append_char(StrBuf *b, char c) { strbuf_append_n(b, &c, 1); }

char *strbuf_take(StrBuf *b) {
    char *s = b->data ? b->data : xstrdup("");
    *b = (StrBuf){0};
    return s;
}

void strbuf_free(StrBuf *b) {
    free(b->data);
    *b = (StrBuf){0};
}

unsigned long long str_hash(const char *s) {
    unsigned long long h = 0xcbf29ce484222325ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

/* The slot holding key, or the empty slot where it would go. cap is a power of two. */
static size_t find_slot(char **keys, size_t cap, const char *key) {
    size_t i = (size_t)str_hash(key) & (cap - 1);
    while (keys[i] && strcmp(keys[i], key) != 0) i = (i + 1) & (cap - 1);
    return i;
}

static void grow(StrMap *m) {
    size_t cap = m->cap ? 2 * m->cap : 64;
    char **keys = xcalloc(cap, sizeof(char *));
    void **values = xcalloc(cap, sizeof(void *));
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = find_slot(keys, cap, m->keys[i]);
        keys[j] = m->keys[i];
        values[j] = m->values[i];
    }
    free(m->keys);
    free(m->values);
    m->keys = keys;
    m->values = values;
    m->cap = cap;
}

void *strmap_get(const StrMap *m, const char *key) {
    if (!m->cap) return NULL;
    size_t i = find_slot(m->keys, m->cap, key);
    return m->keys[i] ? m->values[i] : NULL;
}

void strmap_put(StrMap *m, const char *key, void *value) {
    if (2 * (m->len + 1) > m->cap) grow(m); /* keep the load factor under 1/2 */
    size_t i = find_slot(m->keys, m->cap, key);
    if (!m->keys[i]) {
        m->keys[i] = xstrdup(key);
        m->len++;
    }
    m->values[i] = value;
}

void strmap_free(StrMap *m) {
    for (size_t i = 0; i < m->cap; i++) free(m->keys[i]);
    free(m->keys);
    free(m->values);
    *m = (StrMap){0};
}
