/* intvec.h — a growable array of ints: token ids, masks, offsets.
 *
 *   IntVec v = {0};
 *   intvec_push(&v, 42);
 *   ... v.data[0 .. v.len-1] ...
 *   intvec_free(&v);
 *
 * A zero-initialised IntVec is empty and ready to use. Growing past INT_MAX
 * elements dies with a clear message rather than overflowing. */
#ifndef LMF_INTVEC_H
#define LMF_INTVEC_H

typedef struct {
    int *data;
    int len, cap;
} IntVec;

/* Makes room for at least `extra` more elements without reallocating. */
void intvec_reserve(IntVec *v, int extra);

static inline void intvec_push(IntVec *v, int x) {
    if (v->len == v->cap) intvec_reserve(v, 1);
    v->data[v->len++] = x;
}

static inline void intvec_append(IntVec *v, const int *xs, int n) {
    if (n > v->cap - v->len) intvec_reserve(v, n);
    for (int i = 0; i < n; i++) v->data[v->len + i] = xs[i];
    v->len += n;
}

void intvec_free(IntVec *v);

#endif
