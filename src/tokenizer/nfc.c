/* nfc.c — NFC normalization (Unicode Standard Annex #15); see unicode.h.
 *
 * Most text is already in NFC, so the work is finding the few places where
 * it might not be. An "NFC-stable starter" (combining class 0 and
 * NFC_Quick_Check=Yes) never combines with what comes before it, so the text
 * can be cut before one without changing the result. Only the stretch from
 * the last stable starter before an unstable code point to the next stable
 * starter goes through the full algorithm: decompose, put combining marks in
 * canonical order, recompose. */
#include <stdlib.h>
#include <string.h>

#include "../base/util.h"
#include "unicode.h"
#include "unicode_data.h"

/* Hangul syllables are composed and decomposed arithmetically (Unicode 3.12). */
enum {
    HANGUL_S = 0xAC00,
    HANGUL_L = 0x1100,
    HANGUL_V = 0x1161,
    HANGUL_T = 0x11A7,
    HANGUL_L_COUNT = 19,
    HANGUL_V_COUNT = 21,
    HANGUL_T_COUNT = 28,
    HANGUL_N_COUNT = HANGUL_V_COUNT * HANGUL_T_COUNT,
    HANGUL_S_COUNT = HANGUL_L_COUNT * HANGUL_N_COUNT,
};

static int combining_class(uint32_t cp) {
    int lo = 0, hi = unicode_n_ccc_ranges - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < unicode_ccc_ranges[mid][0])
            hi = mid - 1;
        else if (cp > unicode_ccc_ranges[mid][1])
            lo = mid + 1;
        else
            return (int)unicode_ccc_ranges[mid][2];
    }
    return 0;
}

/* The full canonical decomposition of cp, or NULL when it has none. */
static const uint32_t *decomposition(uint32_t cp, int *n) {
    int lo = 0, hi = unicode_n_decompositions - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < unicode_decomposition_index[mid][0])
            hi = mid - 1;
        else if (cp > unicode_decomposition_index[mid][0])
            lo = mid + 1;
        else {
            *n = (int)unicode_decomposition_index[mid][2];
            return unicode_decomposition_pool + unicode_decomposition_index[mid][1];
        }
    }
    return NULL;
}

/* The primary composite of a + b, or 0 when there is none. */
static uint32_t compose(uint32_t a, uint32_t b) {
    if (a >= HANGUL_L && a < HANGUL_L + HANGUL_L_COUNT && b >= HANGUL_V && b < HANGUL_V + HANGUL_V_COUNT)
        return HANGUL_S + ((a - HANGUL_L) * HANGUL_V_COUNT + (b - HANGUL_V)) * HANGUL_T_COUNT;
    if (a >= HANGUL_S && a < HANGUL_S + HANGUL_S_COUNT && (a - HANGUL_S) % HANGUL_T_COUNT == 0 && b > HANGUL_T &&
        b < HANGUL_T + HANGUL_T_COUNT)
        return a + (b - HANGUL_T);
    int lo = 0, hi = unicode_n_compositions - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const uint32_t *c = unicode_compositions[mid];
        if (a < c[0] || (a == c[0] && b < c[1]))
            hi = mid - 1;
        else if (a > c[0] || b > c[1])
            lo = mid + 1;
        else
            return c[2];
    }
    return 0;
}

static void reserve_output(NfcBuffer *buf, size_t extra, int track_offsets) {
    if (buf->len + extra > buf->cap) {
        buf->cap = LMF_MAX(buf->len + extra, buf->cap * 2);
        buf->data = xrealloc(buf->data, buf->cap);
    }
    if (track_offsets && buf->len + extra > buf->src_cap) {
        buf->src_cap = LMF_MAX(buf->len + extra, buf->src_cap * 2);
        buf->src = xrealloc(buf->src, buf->src_cap * sizeof(size_t));
    }
}

/* Appends s[0..len) unchanged; its bytes came from input offset src_off on. */
static void copy_verbatim(NfcBuffer *buf, const uint8_t *s, size_t len, size_t src_off, int track_offsets) {
    if (len == 0) return;
    reserve_output(buf, len, track_offsets);
    memcpy(buf->data + buf->len, s, len);
    if (track_offsets)
        for (size_t i = 0; i < len; i++) buf->src[buf->len + i] = src_off + i;
    buf->len += len;
}

/* Normalizes one region of valid UTF-8 that starts at input offset src_off. */
static void normalize_region(const uint8_t *s, size_t len, NfcBuffer *buf, size_t src_off, int track_offsets) {
    /* A region is short (a base letter and its marks), so plain arrays on the
     * stack do; a pathological run of marks takes the heap. */
    uint32_t stack_cps[64];
    int stack_ccc[64];
    size_t cap = len * 4 + 4; /* a code point decomposes into at most 4 in Unicode 14, each >= 1 byte */
    uint32_t *cps = cap <= 64 ? stack_cps : xmalloc(cap * sizeof(uint32_t));
    int *ccc = cap <= 64 ? stack_ccc : xmalloc(cap * sizeof(int));
    size_t n = 0;
    for (size_t pos = 0; pos < len;) {
        int k;
        uint32_t cp = utf8_decode(s + pos, len - pos, &k);
        pos += (size_t)k;
        int nd;
        const uint32_t *d;
        if (cp >= HANGUL_S && cp < HANGUL_S + HANGUL_S_COUNT) {
            uint32_t i = cp - HANGUL_S;
            cps[n++] = HANGUL_L + i / HANGUL_N_COUNT;
            cps[n++] = HANGUL_V + i % HANGUL_N_COUNT / HANGUL_T_COUNT;
            if (i % HANGUL_T_COUNT) cps[n++] = HANGUL_T + i % HANGUL_T_COUNT;
        } else if ((d = decomposition(cp, &nd)) != NULL) {
            for (int j = 0; j < nd; j++) cps[n++] = d[j];
        } else {
            cps[n++] = cp;
        }
    }
    /* Canonical ordering: a stable insertion sort of each run of marks by class. */
    for (size_t i = 0; i < n; i++) {
        ccc[i] = combining_class(cps[i]);
        for (size_t j = i; j > 0 && ccc[j] != 0 && ccc[j - 1] > ccc[j]; j--) {
            uint32_t c = cps[j];
            cps[j] = cps[j - 1];
            cps[j - 1] = c;
            int t = ccc[j];
            ccc[j] = ccc[j - 1];
            ccc[j - 1] = t;
        }
    }
    /* Recomposition: a mark joins the last starter unless something between
     * them blocks it (a mark of the same or a higher class). */
    size_t out = 0;
    long starter = -1;
    for (size_t i = 0; i < n; i++) {
        if (starter >= 0 && (out - 1 == (size_t)starter || ccc[out - 1] < ccc[i])) {
            uint32_t p = compose(cps[starter], cps[i]);
            if (p) {
                cps[starter] = p;
                continue;
            }
        }
        cps[out] = cps[i];
        ccc[out] = ccc[i];
        if (ccc[i] == 0) starter = (long)out;
        out++;
    }
    reserve_output(buf, out * 4, track_offsets);
    for (size_t i = 0; i < out; i++) {
        int k = utf8_encode(cps[i], buf->data + buf->len);
        if (track_offsets)
            for (int j = 0; j < k; j++) buf->src[buf->len + (size_t)j] = src_off;
        buf->len += (size_t)k;
    }
    if (cps != stack_cps) {
        free(cps);
        free(ccc);
    }
}

/* Whether the code point at s[pos] (its length goes to *n) is an NFC-stable starter. */
static int stable_at(const uint8_t *s, size_t len, size_t pos, int *n, uint32_t *cp) {
    if (s[pos] < 0x80) {
        *n = 1;
        *cp = s[pos];
        return 1;
    }
    return !(unicode_class_at(s + pos, len - pos, cp, n) & UCLASS_NFC_UNSTABLE);
}

int nfc_normalize(const uint8_t *s, size_t len, NfcBuffer *buf, int track_offsets) {
    unicode_init();
    size_t pos = 0, last_stable = 0, copied = 0;
    int started = 0;
    while (pos < len) {
        int n;
        uint32_t cp;
        if (stable_at(s, len, pos, &n, &cp)) {
            /* An invalid byte is a stable starter that composes with nothing:
             * regions begin after it, so they hold valid UTF-8 only. */
            last_stable = cp == UNICODE_INVALID ? pos + 1 : pos;
            pos += (size_t)n;
            continue;
        }
        if (!started) {
            buf->len = 0;
            started = 1;
        }
        size_t end = pos + (size_t)n;
        while (end < len && !stable_at(s, len, end, &n, &cp)) end += (size_t)n;
        size_t start = LMF_MAX(last_stable, copied);
        copy_verbatim(buf, s + copied, start - copied, copied, track_offsets);
        normalize_region(s + start, end - start, buf, start, track_offsets);
        copied = pos = last_stable = end;
    }
    if (!started) return 0;
    copy_verbatim(buf, s + copied, len - copied, copied, track_offsets);
    return 1;
}

void nfc_buffer_free(NfcBuffer *buf) {
    free(buf->data);
    free(buf->src);
    memset(buf, 0, sizeof *buf);
}
