/* intvec.c — see intvec.h. */
#include "intvec.h"

#include <limits.h>
#include <stdlib.h>

#include "util.h"

void intvec_reserve(IntVec *v, int extra) {
    if (extra < 0 || v->len > INT_MAX - extra) die("IntVec: more than %d elements", INT_MAX);
    int need = v->len + extra;
    if (need <= v->cap) return;
    long long cap = v->cap ? v->cap : 16;
    while (cap < need) cap *= 2;
    if (cap > INT_MAX) cap = INT_MAX;
    v->data = xrealloc(v->data, (size_t)cap * sizeof(int));
    v->cap = (int)cap;
}

void intvec_free(IntVec *v) {
    free(v->data);
    v->data = NULL;
    v->len = v->cap = 0;
}
