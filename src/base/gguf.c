/* gguf.c — the GGUF writer (gguf.h): metadata serialised as it is added,
 * tensors converted to f16 / Q8_0 while the file is written. */
#include "gguf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- number formats ---- */

uint16_t gguf_f32_to_f16(float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000);
    uint32_t exponent = (bits >> 23) & 0xff, mantissa = bits & 0x7fffff;
    if (exponent == 0xff) /* infinity, or NaN kept a NaN (quiet bit set) */
        return (uint16_t)(sign | 0x7c00 | (mantissa ? 0x200 | (mantissa >> 13) : 0));
    int e = (int)exponent - 127 + 15; /* the half's biased exponent */
    if (e >= 31) return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        /* a half subnormal h·2^-24: h = m·2^(e-14) with the implicit bit in m */
        int shift = 14 - e;
        if (shift > 24) return sign; /* below half the smallest subnormal */
        uint32_t m = mantissa | 0x800000;
        uint32_t h = m >> shift, rest = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rest > half || (rest == half && (h & 1))) h++; /* may carry into the smallest normal: right */
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (mantissa >> 13), rest = mantissa & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++; /* a carry into the exponent is right, up to infinity */
    return (uint16_t)(sign | h);
}

void gguf_quantize_q8_0(const float *x, size_t n, uint8_t *out) {
    for (size_t b = 0; b < n / Q8_0_BLOCK; b++, x += Q8_0_BLOCK, out += Q8_0_BLOCK_BYTES) {
        float amax = 0;
        for (int j = 0; j < Q8_0_BLOCK; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        uint16_t dh = gguf_f32_to_f16(d);
        memcpy(out, &dh, 2);
        for (int j = 0; j < Q8_0_BLOCK; j++) out[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
    }
}

size_t ggml_type_bytes(GgmlType type, size_t n) {
    switch (type) {
    case GGML_F32: return 4 * n;
    case GGML_F16: return 2 * n;
    case GGML_Q8_0: return n / Q8_0_BLOCK * Q8_0_BLOCK_BYTES;
    }
    die("unknown ggml type %d", (int)type);
}

const char *ggml_type_name(GgmlType type) {
    return type == GGML_F32 ? "f32" : type == GGML_F16 ? "f16" : type == GGML_Q8_0 ? "q8_0" : "?";
}

/* ---- the writer ---- */

typedef struct {
    char *name;
    GgmlType type;
    int n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    const float *data;
    int owned;
    size_t n, bytes, offset; /* elements, bytes in the file, offset in the data section */
} GgufTensor;

struct GgufWriter {
    uint8_t *kv; /* the serialised metadata pairs */
    size_t kv_len, kv_cap;
    uint64_t n_kv;
    char **keys; /* to refuse a key given twice */
    GgufTensor *tensors;
    int n_tensors;
};

GgufWriter *gguf_writer_new(void) { return xcalloc(1, sizeof(GgufWriter)); }

void gguf_writer_free(GgufWriter *w) {
    if (!w) return;
    for (uint64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    for (int i = 0; i < w->n_tensors; i++) {
        free(w->tensors[i].name);
        if (w->tensors[i].owned) free((void *)w->tensors[i].data);
    }
    free(w->keys);
    free(w->tensors);
    free(w->kv);
    free(w);
}

static void put(GgufWriter *w, const void *p, size_t n) {
    if (w->kv_len + n > w->kv_cap) {
        w->kv_cap = LMF_MAX(w->kv_cap * 2, w->kv_len + n + 1024);
        w->kv = xrealloc(w->kv, w->kv_cap);
    }
    memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
}
static void put_u32(GgufWriter *w, uint32_t v) { put(w, &v, 4); }
static void put_u64(GgufWriter *w, uint64_t v) { put(w, &v, 8); }
static void put_string(GgufWriter *w, const char *s, size_t len) {
    put_u64(w, len);
    put(w, s, len);
}

/* Starts a pair: its key and value type. */
static void put_key(GgufWriter *w, const char *key, GgufValueType type) {
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0) die("gguf: metadata key %s given twice", key);
    w->keys = xrealloc(w->keys, sizeof(char *) * (size_t)(w->n_kv + 1));
    w->keys[w->n_kv++] = xstrdup(key);
    put_string(w, key, strlen(key));
    put_u32(w, (uint32_t)type);
}

void gguf_set_u32(GgufWriter *w, const char *key, uint32_t value) {
    put_key(w, key, GGUF_UINT32);
    put_u32(w, value);
}

void gguf_set_i32(GgufWriter *w, const char *key, int32_t value) {
    put_key(w, key, GGUF_INT32);
    put(w, &value, 4);
}

void gguf_set_f32(GgufWriter *w, const char *key, float value) {
    put_key(w, key, GGUF_FLOAT32);
    put(w, &value, 4);
}

void gguf_set_bool(GgufWriter *w, const char *key, int value) {
    put_key(w, key, GGUF_BOOL);
    uint8_t b = value ? 1 : 0;
    put(w, &b, 1);
}

void gguf_set_str(GgufWriter *w, const char *key, const char *value) {
    put_key(w, key, GGUF_STRING);
    put_string(w, value, strlen(value));
}

void gguf_set_str_array(GgufWriter *w, const char *key, const char *const *items, const size_t *lens, size_t n) {
    put_key(w, key, GGUF_ARRAY);
    put_u32(w, GGUF_STRING);
    put_u64(w, n);
    for (size_t i = 0; i < n; i++) put_string(w, items[i], lens ? lens[i] : strlen(items[i]));
}

void gguf_set_i32_array(GgufWriter *w, const char *key, const int32_t *values, size_t n) {
    put_key(w, key, GGUF_ARRAY);
    put_u32(w, GGUF_INT32);
    put_u64(w, n);
    put(w, values, 4 * n);
}

void gguf_add_tensor(GgufWriter *w, const char *name, GgmlType type, int n_dims, const int64_t *ne,
                     const float *data, int owned) {
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS) die("gguf: tensor %s has %d dimensions", name, n_dims);
    GgufTensor t = {.name = xstrdup(name), .type = type, .n_dims = n_dims, .data = data, .owned = owned, .n = 1};
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] < 1) die("gguf: tensor %s has an empty dimension", name);
        t.ne[d] = ne[d];
        t.n *= (size_t)ne[d];
    }
    if (type == GGML_Q8_0 && ne[0] % Q8_0_BLOCK != 0)
        die("gguf: tensor %s: q8_0 needs rows of a multiple of 32 values, not %lld", name, (long long)ne[0]);
    t.bytes = ggml_type_bytes(type, t.n);
    w->tensors = xrealloc(w->tensors, sizeof(GgufTensor) * (size_t)(w->n_tensors + 1));
    w->tensors[w->n_tensors++] = t;
}

static size_t align_up(size_t x) { return (x + GGUF_ALIGNMENT - 1) / GGUF_ALIGNMENT * GGUF_ALIGNMENT; }

typedef struct {
    AtomicFile af;
    size_t written;
} Out;

static void out_write(Out *o, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, o->af.f) != n) die_errno("cannot write %s", o->af.tmp_path);
    o->written += n;
}

static void out_pad(Out *o) {
    static const uint8_t zeros[GGUF_ALIGNMENT];
    out_write(o, zeros, align_up(o->written) - o->written);
}

/* One tensor's values in its type, converted a slice at a time so that the
 * buffer stays small. */
static void write_tensor_data(Out *o, const GgufTensor *t) {
    enum { SLICE = 1 << 16 }; /* values per conversion, a multiple of the Q8_0 block */
    uint8_t *buf = xmalloc(ggml_type_bytes(t->type == GGML_Q8_0 ? GGML_Q8_0 : GGML_F32, SLICE));
    for (size_t start = 0; start < t->n; start += SLICE) {
        size_t n = LMF_MIN((size_t)SLICE, t->n - start);
        const float *x = t->data + start;
        if (t->type == GGML_F32) {
            out_write(o, x, 4 * n);
            continue;
        }
        if (t->type == GGML_F16) {
            uint16_t *h = (uint16_t *)buf;
            for (size_t i = 0; i < n; i++) h[i] = gguf_f32_to_f16(x[i]);
        } else {
            gguf_quantize_q8_0(x, n, buf);
        }
        out_write(o, buf, ggml_type_bytes(t->type, n));
    }
    free(buf);
}

void gguf_writer_save(GgufWriter *w, const char *path) {
    /* offsets first: each tensor starts aligned within the data section */
    size_t offset = 0;
    for (int i = 0; i < w->n_tensors; i++) {
        w->tensors[i].offset = offset;
        offset = align_up(offset + w->tensors[i].bytes);
    }
    Out o = {.af = atomic_open(path)};
    uint32_t version = GGUF_VERSION;
    uint64_t n_tensors = (uint64_t)w->n_tensors;
    out_write(&o, "GGUF", 4);
    out_write(&o, &version, 4);
    out_write(&o, &n_tensors, 8);
    out_write(&o, &w->n_kv, 8);
    out_write(&o, w->kv, w->kv_len);
    for (int i = 0; i < w->n_tensors; i++) {
        const GgufTensor *t = &w->tensors[i];
        uint64_t len = strlen(t->name), ne;
        uint32_t n_dims = (uint32_t)t->n_dims, type = (uint32_t)t->type;
        out_write(&o, &len, 8);
        out_write(&o, t->name, len);
        out_write(&o, &n_dims, 4);
        for (int d = 0; d < t->n_dims; d++) {
            ne = (uint64_t)t->ne[d];
            out_write(&o, &ne, 8);
        }
        out_write(&o, &type, 4);
        uint64_t off = t->offset;
        out_write(&o, &off, 8);
    }
    out_pad(&o);
    const size_t data_start = o.written;
    for (int i = 0; i < w->n_tensors; i++) {
        write_tensor_data(&o, &w->tensors[i]);
        out_pad(&o);
        if (i + 1 < w->n_tensors && o.written - data_start != w->tensors[i + 1].offset)
            die("gguf: internal error: tensor %s written at the wrong offset", w->tensors[i + 1].name);
    }
    atomic_commit(&o.af);
}
