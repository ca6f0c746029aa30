/* safetensors.c — see safetensors.h.
 *
 * Reading: map_file() maps one file, parse_header() checks every entry of its
 * JSON header against the bytes actually present, open_index() follows a
 * sharded checkpoint's weight_map. Writing: st_writer_*, which lays tensors
 * out back to back in the order they were added. */
#include "safetensors.h"

#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../base/input_check.h"
#include "../base/json_util.h"
#include "../base/util.h"

static const struct {
    const char *name;
    size_t size;
} DTYPES[] = {
    [ST_F32] = {"F32", 4}, [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2}, [ST_F64] = {"F64", 8},
    [ST_I64] = {"I64", 8}, [ST_I32] = {"I32", 4}, [ST_I16] = {"I16", 2},   [ST_I8] = {"I8", 1},
    [ST_U8] = {"U8", 1},   [ST_BOOL] = {"BOOL", 1},
};

/* JSON numbers are doubles in cJSON; above 2^53 an offset would be inexact. */
#define MAX_EXACT_JSON_INT 9007199254740992.0

typedef struct {
    char *path;
    void *map;
    size_t map_len;
} MappedFile;

struct SafeTensors {
    MappedFile *files;
    int n_files;
    StTensor *tensors;
    int n_tensors, cap_tensors;
    char **meta_keys, **meta_values;
    int n_meta;
};

const char *st_dtype_name(StDtype dtype) { return DTYPES[dtype].name; }
size_t st_dtype_size(StDtype dtype) { return DTYPES[dtype].size; }

size_t st_numel(const StTensor *t) {
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
    return n;
}

/* "[2, 3]" — for error messages. */
static const char *shape_string(int ndim, const int64_t *shape, char *buf, size_t cap) {
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && len < cap; d++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (len < cap) snprintf(buf + len, cap - len, "]");
    return buf;
}

/* Dies with "FILE: tensor "NAME": <message>". */
__attribute__((format(printf, 3, 4))) _Noreturn static void tensor_die(const char *file, const char *name,
                                                                      const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    die("%s: tensor \"%s\": %s", file, name, msg);
}

/* ---- reading ---- */

static void map_file(const char *path, MappedFile *f) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) die_errno("cannot open %s", path);
    struct stat sb;
    if (fstat(fd, &sb) != 0) die_errno("cannot stat %s", path);
    if (!S_ISREG(sb.st_mode)) die("%s: not a regular file", path);
    if (sb.st_size == 0) die("%s: empty file, not a safetensors file", path);
    f->path = xstrdup(path);
    f->map_len = (size_t)sb.st_size;
    f->map = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (f->map == MAP_FAILED) die_errno("cannot map %s", path);
    close(fd);
}

/* 1 if v is a JSON integer in [0, 2^53], stored in *out. */
static int json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (d < 0 || d > MAX_EXACT_JSON_INT || d != floor(d)) return 0;
    *out = (uint64_t)d;
    return 1;
}

static StDtype parse_dtype(const cJSON *entry, const char *file, const char *name) {
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    if (!cJSON_IsString(dtype)) tensor_die(file, name, "field \"dtype\" is missing or not a string");
    for (size_t i = 0; i < LMF_ARRAY_LEN(DTYPES); i++)
        if (strcmp(dtype->valuestring, DTYPES[i].name) == 0) return (StDtype)i;
    tensor_die(file, name, "unknown dtype \"%s\"", dtype->valuestring);
}

static int parse_shape(const cJSON *entry, const char *file, const char *name, int64_t *shape) {
    const cJSON *dims = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    if (!cJSON_IsArray(dims)) tensor_die(file, name, "field \"shape\" is missing or not an array");
    int ndim = cJSON_GetArraySize(dims);
    if (ndim > ST_MAX_DIMS) tensor_die(file, name, "%d dimensions, at most %d are supported", ndim, ST_MAX_DIMS);
    for (int d = 0; d < ndim; d++) {
        uint64_t size;
        if (!json_uint(cJSON_GetArrayItem(dims, d), &size))
            tensor_die(file, name, "shape[%d] is not a non-negative integer", d);
        shape[d] = (int64_t)size;
    }
    return ndim;
}

/* Bytes a tensor of this shape takes, or UINT64_MAX if that overflows. */
static uint64_t shape_nbytes(StDtype dtype, int ndim, const int64_t *shape) {
    for (int d = 0; d < ndim; d++)
        if (shape[d] == 0) return 0;
    uint64_t nbytes = DTYPES[dtype].size;
    for (int d = 0; d < ndim; d++)
        if (__builtin_mul_overflow(nbytes, (uint64_t)shape[d], &nbytes)) return UINT64_MAX;
    return nbytes;
}

/* Checks one header entry against the data buffer (data_len bytes). */
static StTensor parse_tensor(const cJSON *entry, const char *file, const uint8_t *data, size_t data_len) {
    const char *name = entry->string;
    if (!cJSON_IsObject(entry)) tensor_die(file, name, "expected an object with dtype, shape and data_offsets");
    StTensor t = {.name = name, .file = file};
    t.dtype = parse_dtype(entry, file, name);
    t.ndim = parse_shape(entry, file, name, t.shape);

    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    uint64_t begin, end;
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        !json_uint(cJSON_GetArrayItem(offsets, 0), &begin) || !json_uint(cJSON_GetArrayItem(offsets, 1), &end))
        tensor_die(file, name, "field \"data_offsets\" must be [begin, end] with non-negative integers");
    if (begin > end) tensor_die(file, name, "data_offsets [%llu, %llu] end before they begin",
                                (unsigned long long)begin, (unsigned long long)end);
    if (end > data_len)
        tensor_die(file, name, "data_offsets [%llu, %llu] exceed the file's data (%zu bytes)",
                   (unsigned long long)begin, (unsigned long long)end, data_len);

    /* The shape must account for exactly the bytes between the offsets.
     * The dims come from the file, so their product may overflow. */
    char shape[256];
    shape_string(t.ndim, t.shape, shape, sizeof shape);
    uint64_t nbytes = shape_nbytes(t.dtype, t.ndim, t.shape);
    if (nbytes == UINT64_MAX) tensor_die(file, name, "shape %s is too large", shape);
    if (nbytes != end - begin)
        tensor_die(file, name, "shape %s of %s needs %llu bytes but data_offsets [%llu, %llu] hold %llu", shape,
                   DTYPES[t.dtype].name, (unsigned long long)nbytes, (unsigned long long)begin,
                   (unsigned long long)end, (unsigned long long)(end - begin));
    t.nbytes = (size_t)nbytes;
    t.data = data + begin;
    return t;
}

static void add_metadata(SafeTensors *st, const cJSON *meta, const char *file) {
    if (!cJSON_IsObject(meta)) die("%s: \"__metadata__\" must be an object of strings", file);
    const cJSON *item;
    cJSON_ArrayForEach(item, meta) {
        if (!cJSON_IsString(item)) die("%s: \"__metadata__\" value \"%s\" must be a string", file, item->string);
        if (st_metadata(st, item->string)) continue; /* the first shard's value wins */
        st->meta_keys = xrealloc(st->meta_keys, (size_t)(st->n_meta + 1) * sizeof(char *));
        st->meta_values = xrealloc(st->meta_values, (size_t)(st->n_meta + 1) * sizeof(char *));
        st->meta_keys[st->n_meta] = xstrdup(item->string);
        st->meta_values[st->n_meta] = xstrdup(item->valuestring);
        st->n_meta++;
    }
}

static void add_tensor(SafeTensors *st, StTensor t) {
    const StTensor *other = st_find(st, t.name);
    if (other && strcmp(other->file, t.file) == 0) die("%s: tensor \"%s\" appears twice", t.file, t.name);
    if (other) die("tensor \"%s\" is in both %s and %s", t.name, other->file, t.file);
    if (st->n_tensors == st->cap_tensors) {
        st->cap_tensors = st->cap_tensors ? 2 * st->cap_tensors : 64;
        st->tensors = xrealloc(st->tensors, (size_t)st->cap_tensors * sizeof(StTensor));
    }
    t.name = xstrdup(t.name); /* the parsed header is freed after loading */
    st->tensors[st->n_tensors++] = t;
}

static int compare_ranges(const void *pa, const void *pb) {
    const StTensor *a = *(const StTensor *const *)pa, *b = *(const StTensor *const *)pb;
    const uint8_t *ab = a->data, *bb = b->data;
    if (ab != bb) return ab < bb ? -1 : 1;
    return a->nbytes < b->nbytes ? -1 : a->nbytes > b->nbytes;
}

/* The tensors of one file (n of them) must tile its data section: ranges
 * disjoint, no gap between them, none left over at the end. A writer that
 * lets two tensors share bytes, or leaves bytes unaccounted for, wrote a
 * file that other readers refuse (the safetensors library does), and a
 * shared range would let a write through one tensor change another. */
static void check_layout(const StTensor *t, int n, const char *file, const uint8_t *data, size_t data_len) {
    const StTensor **order = xmalloc(sizeof(StTensor *) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) order[i] = &t[i];
    if (n > 1) qsort(order, (size_t)n, sizeof *order, compare_ranges);
    size_t at = 0; /* where the next tensor must begin */
    const StTensor *prev = NULL;
    for (int i = 0; i < n; i++) {
        size_t begin = (size_t)((const uint8_t *)order[i]->data - data), end = begin + order[i]->nbytes;
        if (begin < at)
            tensor_die(file, order[i]->name, "data_offsets [%zu, %zu] overlap those of tensor \"%s\" [%zu, %zu]", begin,
                       end, prev->name, (size_t)((const uint8_t *)prev->data - data),
                       (size_t)((const uint8_t *)prev->data - data) + prev->nbytes);
        if (begin > at) {
            if (prev)
                tensor_die(file, order[i]->name,
                           "data_offsets [%zu, %zu] leave a gap of %zu bytes after tensor \"%s\", which ends at %zu",
                           begin, end, begin - at, prev->name, at);
            tensor_die(file, order[i]->name,
                       "data_offsets [%zu, %zu]: the data section's first %zu bytes belong to no tensor", begin, end,
                       begin);
        }
        at = end;
        prev = order[i];
    }
    if (at != data_len) {
        if (prev)
            die("%s: %zu bytes after the end of the last tensor (\"%s\", at %zu) belong to no tensor", file,
                data_len - at, prev->name, at);
        die("%s: %zu bytes of data but no tensor", file, data_len);
    }
    free(order);
}

/* Maps one .safetensors file and adds its tensors and metadata. */
static void load_file(SafeTensors *st, const char *path) {
    st->files = xrealloc(st->files, (size_t)(st->n_files + 1) * sizeof(MappedFile));
    MappedFile *f = &st->files[st->n_files++];
    map_file(path, f);
    const char *file = f->path; /* outlives this call: tensors keep it */

    if (f->map_len < 8) die("%s: only %zu bytes, too short for a safetensors header", file, f->map_len);
    uint64_t header_len;
    memcpy(&header_len, f->map, 8);
    if (header_len > f->map_len - 8)
        die("%s: header length %llu exceeds the file size (%zu bytes)", file, (unsigned long long)header_len,
            f->map_len);
    const char *header = (const char *)f->map + 8;
    const uint8_t *data = (const uint8_t *)header + header_len;
    size_t data_len = f->map_len - 8 - (size_t)header_len;

    /* cJSON needs a NUL-terminated copy; requiring the terminator rejects
     * trailing garbage while allowing the spaces the header is padded with. */
    size_t offset;
    const char *why = json_text_problem(header, (size_t)header_len, &offset);
    if (why) die("%s: header: %s at byte offset %zu", file, why, (size_t)8 + offset);
    char *text = xstrndup(header, (size_t)header_len);
    cJSON *root = cJSON_ParseWithOpts(text, NULL, 1);
    if (!root) die("%s: header is %s", file, json_parse_failure(text));
    if (!cJSON_IsObject(root)) die("%s: header is not a JSON object", file);
    int first = st->n_tensors;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, root) {
        if (strcmp(entry->string, "__metadata__") == 0) add_metadata(st, entry, file);
        else add_tensor(st, parse_tensor(entry, file, data, data_len));
    }
    check_layout(st->tensors + first, st->n_tensors - first, file, data, data_len);
    cJSON_Delete(root);
    free(text);
}

static char *parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? xstrndup(path, (size_t)(slash - path + 1)) : xstrdup(".");
}

static int file_is_loaded(const SafeTensors *st, const char *path) {
    for (int i = 0; i < st->n_files; i++)
        if (strcmp(st->files[i].path, path) == 0) return 1;
    return 0;
}

/* A sharded checkpoint: loads every shard named in the index's weight_map,
 * in order of first mention, and checks each listed tensor is where the
 * index says it is. */
static void open_index(SafeTensors *st, const char *index_path) {
    cJSON *index = json_read_file(index_path);
    const cJSON *weight_map = json_get_object(index, "weight_map", index_path);
    char *dir = parent_dir(index_path);
    const cJSON *entry;
    cJSON_ArrayForEach(entry, weight_map) {
        if (!cJSON_IsString(entry))
            die("%s: weight_map entry \"%s\" must be a file name (a string)", index_path, entry->string);
        /* A shard lives beside its index: a path could reach any file on
         * the machine (../elsewhere/model.safetensors, /etc/...). */
        const char *name = entry->valuestring;
        if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            die("%s: tensor \"%s\" is in shard \"%s\": a shard must be a plain file name in the checkpoint's "
                "folder (no '/', no '..')",
                index_path, entry->string, name);
        char *shard = path_join(dir, entry->valuestring);
        if (!file_is_loaded(st, shard)) {
            if (!file_exists(shard))
                die("%s: tensor \"%s\" is in shard %s, which does not exist", index_path, entry->string, shard);
            load_file(st, shard);
        }
        free(shard);
    }
    cJSON_ArrayForEach(entry, weight_map) {
        char *shard = path_join(dir, entry->valuestring);
        const StTensor *t = st_find(st, entry->string);
        if (!t || strcmp(t->file, shard) != 0)
            die("%s: tensor \"%s\" should be in %s but is not there", index_path, entry->string, shard);
        free(shard);
    }
    free(dir);
    cJSON_Delete(index);
}

SafeTensors *st_open(const char *path) {
    SafeTensors *st = xcalloc(1, sizeof *st);
    if (dir_exists(path)) {
        char *single = path_join(path, "model.safetensors");
        char *index = path_join(path, "model.safetensors.index.json");
        if (file_exists(single)) load_file(st, single);
        else if (file_exists(index)) open_index(st, index);
        else die("%s: directory has neither model.safetensors nor model.safetensors.index.json", path);
        free(single);
        free(index);
    } else if (ends_with(path, ".index.json")) {
        open_index(st, path);
    } else {
        load_file(st, path);
    }
    return st;
}

int st_count(const SafeTensors *st) { return st->n_tensors; }

const StTensor *st_tensor(const SafeTensors *st, int i) {
    if (i < 0 || i >= st->n_tensors) die("st_tensor: index %d out of range (%d tensors)", i, st->n_tensors);
    return &st->tensors[i];
}

const StTensor *st_find(const SafeTensors *st, const char *name) {
    for (int i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

const char *st_metadata(const SafeTensors *st, const char *key) {
    for (int i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
    return NULL;
}

float st_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    uint32_t bits;
    if (exponent == 0x1f) {
        /* Infinity, or NaN made quiet, as the F16C instructions and PyTorch do. */
        bits = sign | 0x7f800000u | (mantissa << 13) | (mantissa ? 0x00400000u : 0);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    } else {
        float v = ldexpf((float)mantissa, -24); /* zero or subnormal: mantissa * 2^-24 */
        return sign ? -v : v;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float st_bf16_to_f32(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t st_f32_to_bf16(float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    if (isnan(f)) return (uint16_t)((bits >> 16) | 0x0040); /* keep it a (quiet) NaN */
    bits += 0x7fff + ((bits >> 16) & 1);                    /* round to nearest, ties to even */
    return (uint16_t)(bits >> 16);
}

void st_read_f32(const StTensor *t, float *dst, size_t n) {
    size_t numel = st_numel(t);
    if (numel != n) {
        char shape[256];
        die("%s: tensor \"%s\" has %zu elements (shape %s), expected %zu", t->file, t->name, numel,
            shape_string(t->ndim, t->shape, shape, sizeof shape), n);
    }
    /* Element by element with memcpy: the data need not be aligned. */
    const uint8_t *src = t->data;
    switch (t->dtype) {
    case ST_F32:
        memcpy(dst, src, n * sizeof(float));
        break;
    case ST_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = st_f16_to_f32(h);
        }
        break;
    case ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t b;
            memcpy(&b, src + 2 * i, 2);
            dst[i] = st_bf16_to_f32(b);
        }
        break;
    default:
        die("%s: tensor \"%s\" has dtype %s, which cannot be read as float32", t->file, t->name,
            DTYPES[t->dtype].name);
    }
}

void st_close(SafeTensors *st) {
    if (!st) return;
    for (int i = 0; i < st->n_files; i++) {
        munmap(st->files[i].map, st->files[i].map_len);
        free(st->files[i].path);
    }
    for (int i = 0; i < st->n_tensors; i++) free((char *)st->tensors[i].name);
    for (int i = 0; i < st->n_meta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->files);
    free(st->tensors);
    free(st->meta_keys);
    free(st->meta_values);
    free(st);
}

/* ---- writing ---- */

typedef struct {
    char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const float *data;
} PendingTensor;

struct StWriter {
    PendingTensor *tensors;
    int n_tensors;
    cJSON *metadata; /* an object of strings, "format": "pt" first */
};

StWriter *st_writer_new(void) {
    StWriter *w = xcalloc(1, sizeof *w);
    w->metadata = cJSON_CreateObject();
    cJSON_AddStringToObject(w->metadata, "format", "pt");
    return w;
}

void st_writer_metadata(StWriter *w, const char *key, const char *value) {
    cJSON *item = cJSON_CreateString(value);
    if (cJSON_GetObjectItemCaseSensitive(w->metadata, key))
        cJSON_ReplaceItemInObjectCaseSensitive(w->metadata, key, item);
    else
        cJSON_AddItemToObject(w->metadata, key, item);
}

void st_writer_add(StWriter *w, const char *name, StDtype dtype, int ndim, const int64_t *shape, const float *data) {
    if (dtype != ST_F32 && dtype != ST_BF16)
        die("st_writer_add: tensor \"%s\": only F32 and BF16 can be written, not %s", name, DTYPES[dtype].name);
    if (ndim < 0 || ndim > ST_MAX_DIMS) die("st_writer_add: tensor \"%s\": %d dimensions", name, ndim);
    if (strcmp(name, "__metadata__") == 0) die("st_writer_add: \"__metadata__\" is not a valid tensor name");
    for (int i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0) die("st_writer_add: tensor \"%s\" added twice", name);
    PendingTensor t = {.name = xstrdup(name), .dtype = dtype, .ndim = ndim, .data = data};
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) die("st_writer_add: tensor \"%s\": negative dimension %lld", name, (long long)shape[d]);
        t.shape[d] = shape[d];
    }
    w->tensors = xrealloc(w->tensors, (size_t)(w->n_tensors + 1) * sizeof(PendingTensor));
    w->tensors[w->n_tensors++] = t;
}

static size_t pending_numel(const PendingTensor *t) {
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
    return n;
}

/* The JSON header: metadata, then each tensor at consecutive offsets. */
static char *build_header(const StWriter *w) {
    cJSON *header = cJSON_CreateObject();
    cJSON_AddItemToObject(header, "__metadata__", cJSON_Duplicate(w->metadata, 1));
    uint64_t offset = 0;
    for (int i = 0; i < w->n_tensors; i++) {
        const PendingTensor *t = &w->tensors[i];
        uint64_t nbytes = pending_numel(t) * DTYPES[t->dtype].size;
        cJSON *entry = cJSON_AddObjectToObject(header, t->name);
        cJSON_AddStringToObject(entry, "dtype", DTYPES[t->dtype].name);
        cJSON *shape = cJSON_AddArrayToObject(entry, "shape");
        for (int d = 0; d < t->ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        cJSON *offsets = cJSON_AddArrayToObject(entry, "data_offsets");
        cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)offset));
        cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)(offset + nbytes)));
        offset += nbytes;
    }
    char *text = cJSON_PrintUnformatted(header);
    if (!text) die("out of memory building a safetensors header");
    cJSON_Delete(header);
    return text;
}

static void write_bf16(FILE *f, const float *data, size_t n) {
    uint16_t chunk[4096];
    for (size_t i = 0; i < n; i += LMF_ARRAY_LEN(chunk)) {
        size_t m = LMF_MIN(LMF_ARRAY_LEN(chunk), n - i);
        for (size_t j = 0; j < m; j++) chunk[j] = st_f32_to_bf16(data[i + j]);
        fwrite(chunk, sizeof(uint16_t), m, f);
    }
}

/* Opens path's temporary file and writes the length and the header. */
static AtomicFile write_header(const StWriter *w, const char *path) {
    char *header = build_header(w);
    /* Like Hugging Face, pad the header with spaces so the data starts at a
     * multiple of 8 bytes and every tensor can be used in place. */
    size_t header_len = strlen(header);
    uint64_t padded_len = (header_len + 7) / 8 * 8;

    AtomicFile af = atomic_open(path);
    fwrite(&padded_len, sizeof padded_len, 1, af.f);
    fwrite(header, 1, header_len, af.f);
    for (size_t i = header_len; i < padded_len; i++) fputc(' ', af.f);
    cJSON_free(header);
    return af;
}

void st_writer_save(StWriter *w, const char *path) {
    AtomicFile af = write_header(w, path);
    for (int i = 0; i < w->n_tensors; i++) {
        const PendingTensor *t = &w->tensors[i];
        if (pending_numel(t) == 0) continue; /* an empty tensor may come with data = NULL */
        if (t->dtype == ST_BF16) write_bf16(af.f, t->data, pending_numel(t));
        else fwrite(t->data, sizeof(float), pending_numel(t), af.f);
    }
    atomic_commit(&af); /* checks the stream's error flag: a failed write above dies here */
}

struct StStream {
    AtomicFile af;
    size_t expected, written; /* values */
};

StStream *st_stream_open(const StWriter *w, const char *path) {
    StStream *s = xcalloc(1, sizeof *s);
    for (int i = 0; i < w->n_tensors; i++) {
        if (w->tensors[i].dtype != ST_F32) die("st_stream_open: tensor \"%s\" is not F32", w->tensors[i].name);
        s->expected += pending_numel(&w->tensors[i]);
    }
    s->af = write_header(w, path);
    return s;
}

void st_stream_write(StStream *s, const float *values, size_t count) {
    if (s->written + count > s->expected)
        die("st_stream_write: %s: more values than its tensors hold (%zu)", s->af.path, s->expected);
    fwrite(values, sizeof(float), count, s->af.f);
    s->written += count;
}

void st_stream_commit(StStream *s) {
    if (s->written != s->expected)
        die("st_stream_commit: %s: %zu values written, its tensors hold %zu", s->af.path, s->written, s->expected);
    atomic_commit(&s->af);
    free(s);
}

void st_writer_free(StWriter *w) {
    if (!w) return;
    for (int i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->tensors);
    cJSON_Delete(w->metadata);
    free(w);
}
