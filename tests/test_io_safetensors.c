/* test_io_safetensors.c — the safetensors reader and writer: round trips,
 * files written by PyTorch, BF16 rounding checked against PyTorch, sharded
 * checkpoints, and a clear error (not a crash) for each kind of corrupt file. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/base/util.h"
#include "../src/io/safetensors.h"
#include "test.h"

static void write_st_raw(const char *path, const char *header, size_t data_len) {
    uint64_t n = strlen(header);
    size_t total = 8 + n + data_len;
    char *bytes = xcalloc(total, 1);
    memcpy(bytes, &n, 8);
    memcpy(bytes + 8, header, n);
    write_bytes(path, bytes, total);
    free(bytes);
}

static int bits_equal(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof(float)) == 0; }

TEST(safetensors_round_trip) {
    char *dir = test_tmpdir("st");
    char *path = path_join(dir, "model.safetensors");
    float a[6] = {1.5f, -2.25f, 3e-8f, 1e30f, -0.0f, 42.0f};
    /* BF16 keeps 7 mantissa bits: 1 + 2^-8 is a tie that rounds down to the
     * even 1.0; 1 + 3*2^-8 a tie that rounds up to the even 1 + 2^-6. */
    float b[4] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, -3.0f, INFINITY};
    float b_expected[4] = {1.0f, 1.0f + 0x1p-6f, -3.0f, INFINITY};
    float scalar = 7.0f;
    StWriter *w = st_writer_new();
    st_writer_metadata(w, "step", "6");
    st_writer_metadata(w, "step", "7"); /* the last value wins */
    st_writer_add(w, "a", ST_F32, 2, (int64_t[]){2, 3}, a);
    st_writer_add(w, "b", ST_BF16, 1, (int64_t[]){4}, b);
    st_writer_add(w, "scalar", ST_F32, 0, NULL, &scalar);
    st_writer_add(w, "empty", ST_F32, 2, (int64_t[]){0, 5}, NULL);
    st_writer_save(w, path);
    st_writer_free(w);

    size_t file_len;
    char *file = read_file(path, &file_len);
    uint64_t header_len;
    memcpy(&header_len, file, 8);
    CHECK(header_len % 8 == 0);
    CHECK(file[8] == '{');
    CHECK_EQ_INT(file_len, 8 + header_len + sizeof a + 4 * 2 + sizeof scalar);
    free(file);

    SafeTensors *st = st_open(path);
    CHECK_EQ_INT(st_count(st), 4);
    CHECK(strcmp(st_tensor(st, 0)->name, "a") == 0 && strcmp(st_tensor(st, 3)->name, "empty") == 0);
    CHECK(strcmp(st_metadata(st, "format"), "pt") == 0);
    CHECK(strcmp(st_metadata(st, "step"), "7") == 0);
    CHECK(st_metadata(st, "absent") == NULL);
    CHECK(st_find(st, "absent") == NULL);

    const StTensor *ta = st_find(st, "a");
    CHECK(ta->dtype == ST_F32 && ta->ndim == 2 && ta->shape[0] == 2 && ta->shape[1] == 3 && ta->nbytes == 24);
    CHECK((uintptr_t)ta->data % 8 == 0); /* the header padding aligns the data */
    float got[6];
    st_read_f32(ta, got, 6);
    CHECK(bits_equal(got, a, 6));

    const StTensor *tb = st_find(st, "b");
    CHECK(tb->dtype == ST_BF16 && tb->nbytes == 8);
    st_read_f32(tb, got, 4);
    CHECK(bits_equal(got, b_expected, 4));

    const StTensor *ts = st_find(st, "scalar");
    CHECK(ts->ndim == 0 && st_numel(ts) == 1);
    st_read_f32(ts, got, 1);
    CHECK(got[0] == 7.0f);
    CHECK(st_numel(st_find(st, "empty")) == 0);
    st_close(st);
    test_system("rm -rf %s", dir);
    free(path);
    free(dir);
}

TEST(safetensors_f16_conversion_edge_cases) {
    CHECK(st_f16_to_f32(0x3c00) == 1.0f);
    CHECK(st_f16_to_f32(0xc000) == -2.0f);
    CHECK(st_f16_to_f32(0x7bff) == 65504.0f);  /* largest half */
    CHECK(st_f16_to_f32(0x0001) == 0x1p-24f);  /* smallest subnormal */
    CHECK(st_f16_to_f32(0x03ff) == 1023 * 0x1p-24f);
    CHECK(st_f16_to_f32(0x7c00) == INFINITY);
    CHECK(isnan(st_f16_to_f32(0x7e00)));
    CHECK(signbit(st_f16_to_f32(0x8000)) && st_f16_to_f32(0x8000) == 0.0f);
    CHECK(st_f32_to_bf16(3.4e38f) == 0x7f80);  /* rounds up past the largest BF16 to infinity */
    CHECK(isnan(st_bf16_to_f32(st_f32_to_bf16(NAN))));
}

TEST(safetensors_reads_pytorch_f16_bf16) {
    if (!have_torch()) SKIP("python3 with torch is not available");
    char *dir = test_tmpdir("st-torch");
    char *path = path_join(dir, "torch.safetensors");
    CHECK_EQ_INT(test_system("/usr/bin/python3 tests/ref/safetensors_ref.py write %s", path), 0);
    SafeTensors *st = st_open(path);
    CHECK(strcmp(st_metadata(st, "source"), "torch") == 0);
    const char *names[] = {"all_f16", "all_bf16", "randn_bf16"};
    for (size_t k = 0; k < LMF_ARRAY_LEN(names); k++) {
        const StTensor *t = st_find(st, names[k]);
        char *ref_name = xsprintf("%s.f32", names[k]);
        const StTensor *ref = st_find(st, ref_name);
        CHECK(t && ref);
        if (!t || !ref) continue;
        size_t n = st_numel(t);
        float *got = xalloc_floats(n), *want = xalloc_floats(n);
        st_read_f32(t, got, n);
        st_read_f32(ref, want, n);
        CHECK_MSG(bits_equal(got, want, n), "%s differs from PyTorch's float32 conversion", names[k]);
        free(got);
        free(want);
        free(ref_name);
    }
    const StTensor *f16 = st_find(st, "all_f16");
    CHECK(f16->dtype == ST_F16 && f16->ndim == 2 && f16->shape[0] == 256 && f16->shape[1] == 256);
    st_close(st);
    test_system("rm -rf %s", dir);
    free(path);
    free(dir);
}

TEST(safetensors_bf16_rounding_matches_pytorch) {
    if (!have_torch()) SKIP("python3 with torch is not available");
    char *dir = test_tmpdir("st-bf16");
    char *path = path_join(dir, "w.safetensors");
    /* Ties at both parities, subnormals, huge values, and ordinary numbers. */
    enum { N = 4096 };
    float *x = xalloc_floats(N);
    const float special[] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, -1.0f - 0x1p-8f, 0x1p-130f, 3.4e38f,
                             -3.4e38f,        INFINITY,           -INFINITY,       NAN,        -0.0f};
    for (size_t i = 0; i < N; i++) x[i] = (float)(sin(i * 0.37) * exp((double)(i % 23) - 11));
    memcpy(x, special, sizeof special);
    StWriter *w = st_writer_new();
    st_writer_add(w, "w_f32", ST_F32, 2, (int64_t[]){64, 64}, x);
    st_writer_add(w, "w_bf16", ST_BF16, 2, (int64_t[]){64, 64}, x);
    st_writer_save(w, path);
    st_writer_free(w);
    CHECK_EQ_INT(test_system("/usr/bin/python3 tests/ref/safetensors_ref.py check %s", path), 0);
    free(x);
    test_system("rm -rf %s", dir);
    free(path);
    free(dir);
}

static void write_f32_shard(const char *path, const char *const *names, int n, const float *values) {
    StWriter *w = st_writer_new();
    for (int i = 0; i < n; i++) st_writer_add(w, names[i], ST_F32, 1, (int64_t[]){2}, values + 2 * i);
    st_writer_save(w, path);
    st_writer_free(w);
}

TEST(safetensors_sharded_checkpoint) {
    char *dir = test_tmpdir("st-shards");
    const float values[6] = {1, 2, 3, 4, 5, 6};
    char *shard1 = path_join(dir, "model-00001-of-00002.safetensors");
    char *shard2 = path_join(dir, "model-00002-of-00002.safetensors");
    write_f32_shard(shard1, (const char *[]){"embed", "layer0"}, 2, values);
    write_f32_shard(shard2, (const char *[]){"layer1"}, 1, values + 4);
    char *index = path_join(dir, "model.safetensors.index.json");
    const char *index_json = "{\"metadata\": {\"total_size\": 24}, \"weight_map\": {"
                             "\"embed\": \"model-00001-of-00002.safetensors\","
                             "\"layer1\": \"model-00002-of-00002.safetensors\","
                             "\"layer0\": \"model-00001-of-00002.safetensors\"}}";
    write_bytes(index, index_json, strlen(index_json));

    const char *paths[] = {dir, index};
    for (int k = 0; k < 2; k++) {
        SafeTensors *st = st_open(paths[k]);
        CHECK_EQ_INT(st_count(st), 3);
        const StTensor *t = st_find(st, "layer1");
        CHECK(t && strcmp(t->file, shard2) == 0);
        float got[2];
        st_read_f32(t, got, 2);
        CHECK(got[0] == 5 && got[1] == 6);
        CHECK(strcmp(st_find(st, "layer0")->file, shard1) == 0);
        CHECK(strcmp(st_metadata(st, "format"), "pt") == 0);
        st_close(st);
    }
    test_system("rm -rf %s", dir);
    free(shard1);
    free(shard2);
    free(index);
    free(dir);
}

static void open_and_close(void *path) { st_close(st_open(path)); }

typedef struct {
    const char *path, *name;
    size_t n;
} ReadArgs;

static void read_tensor(void *arg) {
    const ReadArgs *a = arg;
    SafeTensors *st = st_open(a->path);
    float *dst = xalloc_floats(a->n);
    st_read_f32(st_find(st, a->name), dst, a->n);
    free(dst);
    st_close(st);
}

TEST(safetensors_corrupt_files_die_clearly) {
    char *dir = test_tmpdir("st-bad");
    char *path = path_join(dir, "bad.safetensors");
    const char *ok_entry = "\"x\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}";
    struct {
        const char *header; /* NULL: write the raw bytes below instead */
        size_t data_len;
        const char *expected;
    } cases[] = {
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,100]}}", 64,
         "bad.safetensors: tensor \"x\": data_offsets [0, 100] exceed the file's data (64 bytes)"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 64,
         "tensor \"x\": shape [2, 3] of F32 needs 24 bytes but data_offsets [0, 20] hold 20"},
        {"{\"x\":{\"dtype\":\"Q4\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24, "tensor \"x\": unknown dtype \"Q4\""},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[-2,3],\"data_offsets\":[0,24]}}", 24,
         "tensor \"x\": shape[0] is not a non-negative integer"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,10]}}", 24, "shape[0] is not a non-negative"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2,3]}}", 24, "tensor \"x\": field \"data_offsets\" must be"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[24,0]}}", 24, "end before they begin"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
         "9 dimensions, at most 8"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
         "shape [4294967296, 4294967296] is too large"},
        {"{\"x\":[1,2]}", 0, "tensor \"x\": expected an object"},
        {"{\"x\":{\"shape\":[],\"data_offsets\":[0,4]}}", 4, "field \"dtype\" is missing"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]", 24, "header is not valid JSON"},
        {"{} trailing", 0, "header is not valid JSON"},
        {"[1, 2]", 0, "header is not a JSON object"},
        {"{\"__metadata__\":{\"n\":3}}", 0, "\"__metadata__\" value \"n\" must be a string"},
        {"{\"__metadata__\":[]}", 0, "\"__metadata__\" must be an object"},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++) {
        write_st_raw(path, cases[i].header, cases[i].data_len);
        CHECK_DIES(open_and_close, path, cases[i].expected);
    }

    /* A valid header entry twice in one file. */
    char *dup = xsprintf("{%s,%s}", ok_entry, ok_entry);
    write_st_raw(path, dup, 24);
    CHECK_DIES(open_and_close, path, "bad.safetensors: tensor \"x\" appears twice");
    free(dup);

    write_bytes(path, "", 0);
    CHECK_DIES(open_and_close, path, "bad.safetensors: empty file");
    write_bytes(path, "\x10\0\0", 3);
    CHECK_DIES(open_and_close, path, "only 3 bytes, too short");
    uint64_t huge[2] = {1000, 0};
    write_bytes(path, huge, sizeof huge);
    CHECK_DIES(open_and_close, path, "header length 1000 exceeds the file size (16 bytes)");
    CHECK_DIES(open_and_close, "/nonexistent/model.safetensors", "cannot open /nonexistent/model.safetensors");
    CHECK_DIES(open_and_close, dir, "directory has neither model.safetensors nor model.safetensors.index.json");

    /* A real file cut short loses the end of its data. */
    float x[6] = {0};
    StWriter *w = st_writer_new();
    st_writer_add(w, "x", ST_F32, 2, (int64_t[]){2, 3}, x);
    st_writer_save(w, path);
    st_writer_free(w);
    size_t len;
    char *whole = read_file(path, &len);
    write_bytes(path, whole, len - 4);
    free(whole);
    CHECK_DIES(open_and_close, path, "tensor \"x\": data_offsets [0, 24] exceed the file's data (20 bytes)");

    /* Reading: wrong element count, or a dtype that is not floating point. */
    write_st_raw(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24);
    ReadArgs wrong_count = {path, "x", 5};
    CHECK_DIES(read_tensor, &wrong_count, "bad.safetensors: tensor \"x\" has 6 elements (shape [2, 3]), expected 5");
    write_st_raw(path, "{\"i\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]}}", 24);
    ReadArgs integers = {path, "i", 3};
    CHECK_DIES(read_tensor, &integers, "tensor \"i\" has dtype I64, which cannot be read as float32");

    test_system("rm -rf %s", dir);
    free(path);
    free(dir);
}

TEST(safetensors_broken_sharded_checkpoints_die_clearly) {
    char *dir = test_tmpdir("st-bad-shards");
    char *index = path_join(dir, "model.safetensors.index.json");
    char *shard_a = path_join(dir, "a.safetensors"), *shard_b = path_join(dir, "b.safetensors");
    const float values[4] = {1, 2, 3, 4};
    write_f32_shard(shard_a, (const char *[]){"p"}, 1, values);
    write_f32_shard(shard_b, (const char *[]){"p", "q"}, 2, values);
    struct {
        const char *json, *expected;
    } cases[] = {
        {"{\"weight_map\": {\"p\": \"a.safetensors\", \"r\": \"missing.safetensors\"}}",
         "model.safetensors.index.json: tensor \"r\" is in shard"},
        {"{\"weight_map\": {\"q\": \"a.safetensors\"}}", "tensor \"q\" should be in"},
        {"{\"weight_map\": {\"p\": \"a.safetensors\", \"q\": \"b.safetensors\"}}", "tensor \"p\" is in both"},
        {"{\"weight_map\": {\"p\": 1}}", "weight_map entry \"p\" must be a file name"},
        {"{\"metadata\": {}}", "field \"weight_map\" is missing"},
        {"{\"weight_map\": {", "model.safetensors.index.json:1:17: not valid JSON"},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++) {
        write_bytes(index, cases[i].json, strlen(cases[i].json));
        CHECK_DIES(open_and_close, dir, cases[i].expected);
    }
    test_system("rm -rf %s", dir);
    free(index);
    free(shard_a);
    free(shard_b);
    free(dir);
}
