/* test_gguf_util.c — the GGUF tests' reader and models (test_gguf_util.h). */
#include "test_gguf_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "../src/io/safetensors.h"
#include "test.h"

typedef struct {
    const uint8_t *p, *end;
    int bad;
} Cursor;

static const uint8_t *take(Cursor *c, size_t n) {
    if (c->bad || (size_t)(c->end - c->p) < n) {
        c->bad = 1;
        return NULL;
    }
    const uint8_t *at = c->p;
    c->p += n;
    return at;
}
static uint32_t take_u32(Cursor *c) {
    const uint8_t *p = take(c, 4);
    uint32_t v = 0;
    if (p) memcpy(&v, p, 4);
    return v;
}
static uint64_t take_u64(Cursor *c) {
    const uint8_t *p = take(c, 8);
    uint64_t v = 0;
    if (p) memcpy(&v, p, 8);
    return v;
}
static char *take_string(Cursor *c) {
    uint64_t n = take_u64(c);
    if (n > 1u << 30) c->bad = 1;
    const uint8_t *p = c->bad ? NULL : take(c, n);
    return p ? xstrndup((const char *)p, n) : xstrdup("");
}

static size_t scalar_size(uint32_t type) {
    static const size_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return type < 13 ? sizes[type] : 0;
}

/* Skips one value of a type (not an array). */
static void skip_value(Cursor *c, uint32_t type) {
    if (type == 8) free(take_string(c));
    else if (scalar_size(type)) take(c, scalar_size(type));
    else c->bad = 1;
}

GgufFile gguf_read(const char *path) {
    GgufFile f = {0};
    f.bytes = (uint8_t *)read_file(path, &f.len);
    Cursor c = {f.bytes, f.bytes + f.len, 0};
    const uint8_t *magic = take(&c, 4);
    if (!magic || memcmp(magic, "GGUF", 4) != 0) {
        f.error = "no GGUF magic";
        return f;
    }
    f.version = take_u32(&c);
    f.n_tensors = take_u64(&c);
    f.n_kv = take_u64(&c);
    if (f.n_kv > 1000 || f.n_tensors > 100000) {
        f.error = "absurd counts";
        return f;
    }
    f.kv = xcalloc(f.n_kv + 1, sizeof(GgufKv));
    for (uint64_t i = 0; i < f.n_kv && !c.bad; i++) {
        GgufKv *kv = &f.kv[i];
        kv->key = take_string(&c);
        kv->type = take_u32(&c);
        if (kv->type == 9) {
            kv->elem_type = take_u32(&c);
            kv->n = take_u64(&c);
            kv->value = c.p;
            for (uint64_t j = 0; j < kv->n && !c.bad; j++) skip_value(&c, kv->elem_type);
        } else {
            kv->value = c.p;
            skip_value(&c, kv->type);
        }
    }
    f.tensors = xcalloc(f.n_tensors + 1, sizeof(GgufTensorInfo));
    for (uint64_t i = 0; i < f.n_tensors && !c.bad; i++) {
        GgufTensorInfo *t = &f.tensors[i];
        t->name = take_string(&c);
        t->n_dims = take_u32(&c);
        if (t->n_dims < 1 || t->n_dims > 4) c.bad = 1;
        for (uint32_t d = 0; d < t->n_dims && !c.bad; d++) t->ne[d] = take_u64(&c);
        t->type = take_u32(&c);
        t->offset = take_u64(&c);
    }
    if (c.bad) {
        f.error = "truncated header";
        return f;
    }
    long long align = gguf_kv_u32(&f, "general.alignment");
    if (align <= 0) align = 32;
    size_t pos = (size_t)(c.p - f.bytes);
    f.data_start = (pos + (size_t)align - 1) / (size_t)align * (size_t)align;
    for (uint64_t i = 0; i < f.n_tensors; i++) {
        GgufTensorInfo *t = &f.tensors[i];
        size_t n = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) n *= t->ne[d];
        size_t bytes = t->type == 0 ? 4 * n : t->type == 1 ? 2 * n : t->type == 8 ? n / 32 * 34 : 0;
        if (!bytes || f.data_start + t->offset + bytes > f.len) {
            f.error = "a tensor's data lies outside the file, or its type is unknown";
            return f;
        }
        t->data = f.bytes + f.data_start + t->offset;
    }
    return f;
}

void gguf_file_free(GgufFile *f) {
    for (uint64_t i = 0; f->kv && i < f->n_kv; i++) free(f->kv[i].key);
    for (uint64_t i = 0; f->tensors && i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->kv);
    free(f->tensors);
    free(f->bytes);
}

const GgufKv *gguf_kv(const GgufFile *f, const char *key) {
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (f->kv[i].key && strcmp(f->kv[i].key, key) == 0) return &f->kv[i];
    return NULL;
}

long long gguf_kv_u32(const GgufFile *f, const char *key) {
    const GgufKv *kv = gguf_kv(f, key);
    uint32_t v;
    if (!kv || kv->type != 4) return -1;
    memcpy(&v, kv->value, 4);
    return v;
}

double gguf_kv_f32(const GgufFile *f, const char *key) {
    const GgufKv *kv = gguf_kv(f, key);
    float v;
    if (!kv || kv->type != 6) return NAN;
    memcpy(&v, kv->value, 4);
    return v;
}

int gguf_kv_bool(const GgufFile *f, const char *key) {
    const GgufKv *kv = gguf_kv(f, key);
    return kv && kv->type == 7 ? kv->value[0] : -1;
}

static char *string_at(const uint8_t *p) {
    uint64_t n;
    memcpy(&n, p, 8);
    return xstrndup((const char *)p + 8, n);
}

char *gguf_kv_str(const GgufFile *f, const char *key) {
    const GgufKv *kv = gguf_kv(f, key);
    return kv && kv->type == 8 ? string_at(kv->value) : NULL;
}

char *gguf_kv_str_at(const GgufFile *f, const char *key, uint64_t i) {
    const GgufKv *kv = gguf_kv(f, key);
    if (!kv || kv->type != 9 || kv->elem_type != 8 || i >= kv->n) return NULL;
    const uint8_t *p = kv->value;
    for (uint64_t j = 0; j < i; j++) {
        uint64_t n;
        memcpy(&n, p, 8);
        p += 8 + n;
    }
    return string_at(p);
}

const GgufTensorInfo *gguf_tensor(const GgufFile *f, const char *name) {
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

float gguf_tensor_value(const GgufTensorInfo *t, size_t i) {
    if (t->type == 0) {
        float v;
        memcpy(&v, t->data + 4 * i, 4);
        return v;
    }
    if (t->type == 1) {
        uint16_t h;
        memcpy(&h, t->data + 2 * i, 2);
        return st_f16_to_f32(h);
    }
    const uint8_t *block = t->data + i / 32 * 34;
    uint16_t d;
    memcpy(&d, block, 2);
    return st_f16_to_f32(d) * (float)(int8_t)block[2 + i % 32];
}

const Tokenizer *gguf_test_tokenizer(void) {
    static Tokenizer *tok;
    if (tok) return tok;
    char *dir = test_tmpdir("gguf-tok"), *text = path_join(dir, "text.txt");
    FILE *fp = xfopen(text, "w");
    for (int i = 0; i < 40; i++)
        fprintf(fp, "the cat sat on the mat; the dog ate the bone. It's a dog's life, isn't it? Café %d\n", i * 7);
    fclose(fp);
    BpeTrainOptions bo = {.vocab_size = 320};
    int quiet = lmf_quiet;
    lmf_quiet = 1;
    tok = tokenizer_train((const char **)&text, 1, &bo);
    lmf_quiet = quiet;
    test_system("rm -rf '%s'", dir);
    free(text);
    free(dir);
    return tok;
}

Model *gguf_test_model(GgufTestShape s, uint64_t seed) {
    const int V = tokenizer_vocab_size(gguf_test_tokenizer()) + s.extra_vocab;
    ModelConfig c = config_default(V, s.dim, s.n_layers, s.n_heads);
    c.n_kv_heads = s.n_kv_heads;
    c.max_seq_len = 96;
    c.tie_embeddings = s.tie;
    c.qkv_bias = s.qkv_bias;
    c.head_dim = s.head_dim;
    c.o_bias = s.o_bias;
    c.qk_norm = s.qk_norm;
    c.rope_scaling = s.rope_scaling;
    Model *m = model_new(&c);
    model_init_random(m, seed);
    Rng r;
    rng_seed(&r, seed + 1000);
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *t = &m->tensors[i];
        float *p = m->params + t->offset;
        size_t n = (size_t)t->rows * (size_t)(t->cols ? t->cols : 1);
        if (strstr(t->name, "norm"))
            for (size_t j = 0; j < n; j++) p[j] = 1.0f + 0.3f * (2.0f * rng_uniform(&r) - 1.0f);
        else if (strstr(t->name, "bias"))
            for (size_t j = 0; j < n; j++) p[j] = 0.5f * (2.0f * rng_uniform(&r) - 1.0f);
        else
            for (size_t j = 0; j < n; j++) p[j] *= 12.0f;
    }
    return m;
}
