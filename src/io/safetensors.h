/* safetensors.h — the Hugging Face safetensors checkpoint format, read and
 * written.
 *
 * A file is: 8 bytes N (little-endian uint64), N bytes of JSON header, then
 * the data buffer. The header maps each tensor name to
 *   {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}
 * with offsets relative to the start of the data buffer, plus an optional
 * "__metadata__" object of string -> string.
 *
 * Reading maps the file and validates the whole header before anything is
 * used: a corrupt or truncated file ends the program with a message naming
 * the file, the tensor and the problem, never with a crash. A checkpoint
 * directory holds either model.safetensors or model.safetensors.index.json
 * ({"weight_map": {tensor: shard file}}) and its shards.
 *
 * Tensor data is raw little-endian, as on x86-64 and ARM; lmforge assumes a
 * little-endian host. */
#ifndef LMF_SAFETENSORS_H
#define LMF_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8

typedef enum { ST_F32, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL } StDtype;

typedef struct {
    const char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t nbytes;
    const void *data; /* points into the mapped file; valid until st_close */
    const char *file; /* the file it came from, for error messages */
} StTensor;

/* The header's name of a dtype ("F32") and its size in bytes. */
const char *st_dtype_name(StDtype dtype);
size_t st_dtype_size(StDtype dtype);
/* Number of elements: the product of the shape (1 for a scalar). */
size_t st_numel(const StTensor *t);

typedef struct SafeTensors SafeTensors;

/* Opens a .safetensors file, a model.safetensors.index.json, or a directory
 * holding either. Dies with a clear message on any problem. */
SafeTensors *st_open(const char *path);
int st_count(const SafeTensors *st);
const StTensor *st_tensor(const SafeTensors *st, int i);
/* NULL if absent. */
const StTensor *st_find(const SafeTensors *st, const char *name);
/* A "__metadata__" value (of any shard), or NULL if absent. */
const char *st_metadata(const SafeTensors *st, const char *key);
/* Copies a F32, F16 or BF16 tensor into dst as float32, checking that it has
 * exactly n elements; dies naming the file and tensor otherwise. */
void st_read_f32(const StTensor *t, float *dst, size_t n);
void st_close(SafeTensors *st);

typedef struct StWriter StWriter;
StWriter *st_writer_new(void);
/* Adds a "__metadata__" entry ("format": "pt" is always there, as
 * transformers expects it). A key given twice keeps the last value. */
void st_writer_metadata(StWriter *w, const char *key, const char *value);
/* Adds a tensor, written in the order added. The data is referenced, not
 * copied: it must stay valid until st_writer_save. dtype is ST_F32 or ST_BF16
 * (converted on write with round-to-nearest-even, as PyTorch does). */
void st_writer_add(StWriter *w, const char *name, StDtype dtype, int ndim, const int64_t *shape, const float *data);
/* Writes the file atomically (temp file, fsync, rename). */
void st_writer_save(StWriter *w, const char *path);
void st_writer_free(StWriter *w);

/* Writing a file piece by piece, for data never held whole in one place (the
 * AdamW moments of a ZeRO-1 run arrive rank by rank): add the tensors with
 * data = NULL (F32 only), open the stream (it writes the header), write
 * every tensor's values in order, in as many calls as convenient, and commit
 * (atomic, like st_writer_save; dies unless exactly all values came). */
typedef struct StStream StStream;
StStream *st_stream_open(const StWriter *w, const char *path);
void st_stream_write(StStream *s, const float *values, size_t count);
void st_stream_commit(StStream *s);

/* Conversions between float32 and the 16-bit formats, exposed for tests and
 * for kernels that store activations in them. */
float st_f16_to_f32(uint16_t h);
float st_bf16_to_f32(uint16_t b);
uint16_t st_f32_to_bf16(float f);

#endif
