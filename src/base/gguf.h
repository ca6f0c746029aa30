/* gguf.h — writing GGUF files, the single-file model format of llama.cpp
 * (and of ollama, LM Studio and others built on it).
 *
 * A GGUF v3 file, all integers little-endian:
 *   "GGUF"  u32 version (3)  u64 tensor_count  u64 kv_count
 *   kv_count metadata pairs:   string key, u32 value type, value
 *   tensor_count tensor infos: string name, u32 n_dims, u64 ne[n_dims],
 *                              u32 ggml type, u64 offset into the data section
 *   zero padding to the alignment (general.alignment, 32 by default)
 *   the data section: each tensor at its offset, each offset aligned
 * where a string is a u64 byte count and the bytes (no NUL), and an array a
 * u32 element type, a u64 count and the elements.
 *
 * Shapes are listed fastest dimension first (ggml's ne[0]): a row-major
 * (rows, cols) matrix is ne = {cols, rows}.
 *
 * The writer keeps the metadata serialised as it is added and the tensors
 * by reference; gguf_writer_save converts each tensor to its type while
 * writing, so a model is never held twice in the output type. */
#ifndef LMF_GGUF_H
#define LMF_GGUF_H

#include <stddef.h>
#include <stdint.h>

#define GGUF_VERSION 3
#define GGUF_ALIGNMENT 32
#define GGUF_MAX_DIMS 4

/* Metadata value types. */
typedef enum {
    GGUF_UINT8 = 0, GGUF_INT8 = 1, GGUF_UINT16 = 2, GGUF_INT16 = 3, GGUF_UINT32 = 4, GGUF_INT32 = 5,
    GGUF_FLOAT32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_UINT64 = 10, GGUF_INT64 = 11,
    GGUF_FLOAT64 = 12
} GgufValueType;

/* The ggml tensor types written here. */
typedef enum { GGML_F32 = 0, GGML_F16 = 1, GGML_Q8_0 = 8 } GgmlType;

/* Q8_0: blocks of 32 values, each an f16 scale d = max|x| / 127 and 32
 * int8 q = round(x / d), so x ≈ d·q. */
#define Q8_0_BLOCK 32
#define Q8_0_BLOCK_BYTES (2 + Q8_0_BLOCK)

/* Bytes of n values of a type (n a multiple of 32 for Q8_0). */
size_t ggml_type_bytes(GgmlType type, size_t n);
const char *ggml_type_name(GgmlType type);

/* float32 -> IEEE half, round to nearest even; overflow gives infinity,
 * NaN stays NaN. */
uint16_t gguf_f32_to_f16(float f);
/* x[0..n) -> n/32 Q8_0 blocks in out (n a multiple of 32), as llama.cpp's
 * reference quantizer: d = amax/127 in float32, q = roundf(x · (1/d)), d
 * stored as f16. */
void gguf_quantize_q8_0(const float *x, size_t n, uint8_t *out);

typedef struct GgufWriter GgufWriter;

GgufWriter *gguf_writer_new(void);
void gguf_writer_free(GgufWriter *w);

/* Metadata, written in the order added. A key given twice is a bug (dies). */
void gguf_set_u32(GgufWriter *w, const char *key, uint32_t value);
void gguf_set_i32(GgufWriter *w, const char *key, int32_t value);
void gguf_set_f32(GgufWriter *w, const char *key, float value);
void gguf_set_bool(GgufWriter *w, const char *key, int value);
void gguf_set_str(GgufWriter *w, const char *key, const char *value);
/* An array of n strings; lens[i] gives each one's bytes (NULL: strlen). */
void gguf_set_str_array(GgufWriter *w, const char *key, const char *const *items, const size_t *lens, size_t n);
void gguf_set_i32_array(GgufWriter *w, const char *key, const int32_t *values, size_t n);

/* A float32 tensor to be written as `type`; ne lists the shape fastest
 * dimension first. The data is referenced until gguf_writer_save, and freed
 * by the writer when owned. Q8_0 needs ne[0] % 32 == 0 (dies otherwise). */
void gguf_add_tensor(GgufWriter *w, const char *name, GgmlType type, int n_dims, const int64_t *ne,
                     const float *data, int owned);

/* Writes the file atomically (temp file, fsync, rename); any failed write
 * dies naming the file. */
void gguf_writer_save(GgufWriter *w, const char *path);

#endif
