/* test_gguf_util.h — for the GGUF tests: a small GGUF reader, written from
 * the format's description independently of src/io/gguf.c, and the test
 * models (a trained ChatML tokenizer, llama / qwen2 shapes) saved as
 * checkpoints. */
#ifndef LMF_TEST_GGUF_UTIL_H
#define LMF_TEST_GGUF_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "../src/model/model.h"
#include "../src/tokenizer/tokenizer.h"

typedef struct {
    char *key;
    uint32_t type;       /* GGUF value type */
    uint32_t elem_type;  /* arrays: the elements' type */
    uint64_t n;          /* arrays: element count */
    const uint8_t *value; /* the value (arrays: the first element) in the file */
} GgufKv;

typedef struct {
    char *name;
    uint32_t n_dims, type;
    uint64_t ne[4];
    uint64_t offset;
    const uint8_t *data;
} GgufTensorInfo;

typedef struct {
    uint8_t *bytes;
    size_t len;
    uint32_t version;
    uint64_t n_kv, n_tensors;
    GgufKv *kv;
    GgufTensorInfo *tensors;
    size_t data_start; /* offset of the data section in the file */
    const char *error; /* NULL when the file parsed */
} GgufFile;

/* Reads and parses a file; on a malformed one, error says why. */
GgufFile gguf_read(const char *path);
void gguf_file_free(GgufFile *f);
const GgufKv *gguf_kv(const GgufFile *f, const char *key);
/* The value of a u32 / f32 / bool key (-1 / NAN when absent or of another type). */
long long gguf_kv_u32(const GgufFile *f, const char *key);
double gguf_kv_f32(const GgufFile *f, const char *key);
int gguf_kv_bool(const GgufFile *f, const char *key);
/* A string key (malloc'ed) or NULL; the i-th string of a string array likewise. */
char *gguf_kv_str(const GgufFile *f, const char *key);
char *gguf_kv_str_at(const GgufFile *f, const char *key, uint64_t i);
const GgufTensorInfo *gguf_tensor(const GgufFile *f, const char *name);
/* Element i of a tensor as a float (f32, f16 or q8_0 dequantised). */
float gguf_tensor_value(const GgufTensorInfo *t, size_t i);

/* The tokenizer of the GGUF tests: byte-level BPE (320 ids, ChatML special
 * tokens) trained once on a few English lines. Owned by the helper. */
const Tokenizer *gguf_test_tokenizer(void);

typedef struct {
    int dim, n_layers, n_heads, n_kv_heads;
    int tie, qkv_bias;
    int extra_vocab; /* ids beyond the tokenizer's (a vocabulary padded to a round size) */
    /* today's checkpoints (config.h): 0 / none unless given */
    int head_dim, o_bias, qk_norm;
    RopeScaling rope_scaling;
} GgufTestShape;

/* A model of that shape over the test tokenizer's vocabulary (context 96),
 * random from seed with weights large enough that its output depends on
 * the context, norms and biases away from 1 and 0. */
Model *gguf_test_model(GgufTestShape s, uint64_t seed);

#endif
