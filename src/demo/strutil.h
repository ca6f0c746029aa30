/* strutil.h — the string containers the demo-data code is built from: a
 * growing list of strings, a growing text buffer, and a string-keyed hash map. */
#ifndef LMF_DEMO_STRUTIL_H
#define LMF_DEMO_STRUTIL_H

#include <stddef.h>

/* A list of owned strings. Zero-initialised is empty. */
typedef struct {
    char **items;
    int n, cap;
} StrList;

/* Appends a copy of s. */
void strlist_add(StrList *l, const char *s);
/* Appends s itself; the list frees it. */
void strlist_take(StrList *l, char *s);
/* 1 if s is in the list (linear scan: for the short lists of accepted answers). */
int strlist_contains(const StrList *l, const char *s);
void strlist_free(StrList *l);

/* A growing NUL-terminated buffer. Zero-initialised is empty. */
typedef struct {
    char *data;
    size_t len, cap;
} StrBuf;

void strbuf_append(StrBuf *b, const char *s);
void strbuf_append_n(StrBuf *b, const char *s, size_t n);
void strbuf_append_char(StrBuf *b, char c);
/* Returns the contents (an empty string if nothing was appended) and leaves b empty. */
char *strbuf_take(StrBuf *b);
void strbuf_free(StrBuf *b);

/* Open-addressing hash map from strings (copied) to pointers. Zero-initialised is empty. */
typedef struct {
    char **keys;
    void **values;
    size_t cap, len;
} StrMap;

/* The value stored under key, or NULL. */
void *strmap_get(const StrMap *m, const char *key);
/* Stores value under key, replacing any previous value (which is not freed). */
void strmap_put(StrMap *m, const char *key, void *value);
/* Frees the keys; the values belong to the caller. */
void strmap_free(StrMap *m);

/* FNV-1a hash of a string: stable across runs and machines. */
unsigned long long str_hash(const char *s);

#endif
