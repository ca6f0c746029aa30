/* test_mpi_single.c — the data-parallel pieces in one process: the split of
 * work over ranks, the one-process communication layer, the sharded AdamW
 * (one shard = the whole) and its checkpoint file, and the streaming
 * safetensors writer it uses. The multi-rank behaviour is in test_mpi.c. */
#include <stdlib.h>
#include <string.h>

#include "../src/base/dist.h"
#include "../src/base/util.h"
#include "../src/io/safetensors.h"
#include "../src/train/optimizer.h"
#include "../src/train/step_stats.h"
#include "test.h"

TEST(dist_split_range_is_contiguous_and_balanced) {
    for (size_t n = 0; n < 40; n++)
        for (int size = 1; size <= 7; size++) {
            size_t next = 0, smallest = n, largest = 0;
            for (int r = 0; r < size; r++) {
                DistRange piece = dist_split_range(n, r, size);
                CHECK(piece.begin == next && piece.end >= piece.begin);
                smallest = LMF_MIN(smallest, piece.end - piece.begin);
                largest = LMF_MAX(largest, piece.end - piece.begin);
                next = piece.end;
            }
            CHECK(next == n);
            CHECK(largest - smallest <= 1);
        }
    /* the first n % size ranks take the extra item: 10 over 3 is 4, 3, 3 */
    CHECK(dist_split_range(10, 0, 3).end == 4 && dist_split_range(10, 1, 3).end == 7);
}

TEST(dist_one_process_is_the_identity) {
    CHECK_EQ_INT(dist_size(), 1);
    CHECK(dist_is_root());
    float x[3] = {1, 2, 3};
    size_t bounds[2];
    dist_split_bounds(3, bounds);
    CHECK(bounds[0] == 0 && bounds[1] == 3);
    dist_sum_floats(x, 3);
    dist_reduce_scatter_floats(x, bounds);
    dist_allgather_floats(x, bounds);
    dist_wait(dist_sum_floats_start(x, 3));
    CHECK(x[0] == 1 && x[1] == 2 && x[2] == 3);
    size_t total, lens[1];
    char *all = dist_allgather_bytes("abc", 3, &total, lens);
    CHECK(total == 3 && lens[0] == 3 && memcmp(all, "abc", 3) == 0);
    free(all);
    double mean, std;
    dist_mean_std(x, 3, &mean, &std);
    CHECK_NEAR(mean, 2.0, 1e-12);
    CHECK_NEAR(std, sqrt(2.0 / 3.0), 1e-12); /* population std, as PPO's whitening */
    dist_mean_std(NULL, 0, &mean, &std);
    CHECK(mean == 0 && std == 0);
}

TEST(step_stats_merge_adds_sums_and_counts) {
    StepStats a, b;
    stats_clear(&a);
    stats_clear(&b);
    stats_add(&a, "acc", 1);
    stats_add(&b, "margin", 4);
    stats_add(&b, "acc", 0);
    stats_add(&b, "acc", 0);
    stats_merge(&a, &b);
    CHECK_NEAR(stats_mean(&a, "acc"), 1.0 / 3.0, 1e-12);
    CHECK_NEAR(stats_mean(&a, "margin"), 4.0, 1e-12);
    CHECK_EQ_INT(a.n, 2);
}

static const ParamTensor tensors[2] = {{"w.weight", 0, 3, 4, 1}, {"n.weight", 12, 5, 0, 0}};

/* One shard of one rank is the whole optimizer: bit for bit the same steps. */
TEST(sharded_adamw_on_one_rank_is_adamw) {
    float p1[17], p2[17], g1[17], g2[17];
    for (int i = 0; i < 17; i++) p1[i] = p2[i] = 0.1f * (float)i - 0.7f;
    OptimConfig oc = optim_defaults();
    oc.grad_clip = 0.3f;
    AdamW *full = adamw_new(17, &oc), *shard = adamw_new_sharded(17, &oc);
    CHECK(shard->sharded && shard->begin == 0 && shard->n == 17);
    ParamSet a = {p1, g1, 17, tensors, 2}, b = {p2, g2, 17, tensors, 2};
    for (int step = 0; step < 3; step++) {
        for (int i = 0; i < 17; i++) g1[i] = g2[i] = 0.05f * (float)((i * 5 + step) % 7) - 0.1f;
        CHECK(adamw_step(full, &a, 1e-2f) == adamw_step(shard, &b, 1e-2f));
    }
    CHECK(memcmp(p1, p2, sizeof p1) == 0);
    adamw_free(full);
    adamw_free(shard);
}

TEST(adamw_save_and_load_round_trip) {
    char *dir = test_tmpdir("adamw-state");
    char *path = path_join(dir, "optimizer.safetensors");
    OptimConfig oc = optim_defaults();
    AdamW *saved = adamw_new_sharded(17, &oc), *loaded = adamw_new(17, &oc);
    for (int i = 0; i < 17; i++) saved->m[i] = (float)i, saved->v[i] = (float)(100 + i);
    adamw_save(saved, path);
    adamw_load(loaded, path);
    CHECK(memcmp(saved->m, loaded->m, 17 * sizeof(float)) == 0 && memcmp(saved->v, loaded->v, 17 * sizeof(float)) == 0);
    SafeTensors *st = st_open(path);
    CHECK(st_count(st) == 2 && st_numel(st_find(st, "adamw.exp_avg_sq")) == 17);
    st_close(st);
    adamw_free(saved);
    adamw_free(loaded);
    free(path);
    test_system("rm -rf %s", dir);
    free(dir);
}

static void load_into_wrong_size(void *path) {
    OptimConfig oc = optim_defaults();
    adamw_load(adamw_new(16, &oc), path);
}

TEST(adamw_load_names_a_mismatch) {
    char *dir = test_tmpdir("adamw-mismatch");
    char *path = path_join(dir, "optimizer.safetensors");
    OptimConfig oc = optim_defaults();
    AdamW *saved = adamw_new(17, &oc);
    adamw_save(saved, path);
    CHECK_DIES(load_into_wrong_size, path, "tensor adamw.exp_avg must be F32 with 16 values");
    adamw_free(saved);
    free(path);
    test_system("rm -rf %s", dir);
    free(dir);
}

/* Written in uneven pieces, read back whole: the same file st_writer_save makes. */
TEST(safetensors_stream_writes_in_pieces) {
    char *dir = test_tmpdir("st-stream");
    char *streamed = path_join(dir, "streamed.safetensors"), *whole = path_join(dir, "whole.safetensors");
    float values[10];
    for (int i = 0; i < 10; i++) values[i] = (float)i * 0.5f;
    int64_t shape_a[2] = {2, 3}, shape_b[1] = {4};
    StWriter *w = st_writer_new();
    st_writer_add(w, "a", ST_F32, 2, shape_a, NULL);
    st_writer_add(w, "b", ST_F32, 1, shape_b, NULL);
    StStream *s = st_stream_open(w, streamed);
    st_stream_write(s, values, 4);
    st_stream_write(s, values + 4, 0);
    st_stream_write(s, values + 4, 6);
    st_stream_commit(s);
    st_writer_free(w);
    w = st_writer_new();
    st_writer_add(w, "a", ST_F32, 2, shape_a, values);
    st_writer_add(w, "b", ST_F32, 1, shape_b, values + 6);
    st_writer_save(w, whole);
    st_writer_free(w);
    size_t len_a, len_b;
    char *a = read_file(streamed, &len_a), *b = read_file(whole, &len_b);
    CHECK(len_a == len_b && memcmp(a, b, len_a) == 0);
    free(a);
    free(b);
    free(streamed);
    free(whole);
    test_system("rm -rf %s", dir);
    free(dir);
}

static void commit_short_stream(void *dir) {
    char *path = path_join(dir, "short.safetensors");
    int64_t shape[1] = {4};
    StWriter *w = st_writer_new();
    st_writer_add(w, "x", ST_F32, 1, shape, NULL);
    StStream *s = st_stream_open(w, path);
    float v[3] = {0};
    st_stream_write(s, v, 3);
    st_stream_commit(s);
}

TEST(safetensors_stream_refuses_a_short_file) {
    char *dir = test_tmpdir("st-stream-short");
    CHECK_DIES(commit_short_stream, dir, "3 values written, its tensors hold 4");
    char *path = path_join(dir, "short.safetensors");
    CHECK(!file_exists(path)); /* nothing half-written took its place */
    free(path);
    test_system("rm -rf %s", dir);
    free(dir);
}
