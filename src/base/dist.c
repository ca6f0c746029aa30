/* dist.c — see dist.h. The helpers built on the primitives come first; then
 * the primitives twice: with MPI (LMF_MPI, `make mpi`) and for one process. */
#include "dist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

DistRange dist_split_range(size_t n, int rank, int size) {
    size_t base = n / (size_t)size, extra = n % (size_t)size, r = (size_t)rank;
    size_t begin = r * base + LMF_MIN(r, extra);
    return (DistRange){begin, begin + base + (r < extra)};
}

void dist_split_bounds(size_t n, size_t *bounds) {
    int size = dist_size();
    for (int r = 0; r < size; r++) bounds[r] = dist_split_range(n, r, size).begin;
    bounds[size] = n;
}

/* Both are one barrier: the other ranks wait at the first, rank 0 joins them at the second. */
void dist_root_first_begin(void) {
    if (!dist_is_root()) dist_barrier();
}

void dist_root_first_end(void) {
    if (dist_is_root()) dist_barrier();
}

void dist_mean_std(const float *x, size_t n, double *mean, double *std) {
    double sum_count[2] = {0, (double)n};
    for (size_t i = 0; i < n; i++) sum_count[0] += x[i];
    dist_sum_doubles(sum_count, 2);
    double count = sum_count[1], mu = count > 0 ? sum_count[0] / count : 0;
    double squares = 0;
    for (size_t i = 0; i < n; i++) squares += ((double)x[i] - mu) * ((double)x[i] - mu);
    dist_sum_doubles(&squares, 1);
    *mean = mu;
    *std = count > 0 ? sqrt(squares / count) : 0;
}

#ifdef LMF_MPI

#include <limits.h>
#include <mpi.h>

/* MPI counts are ints: larger transfers go in chunks of this many values. */
#define CHUNK ((size_t)1 << 24)

static int world_rank = 0, world_size = 1;
static MPI_Comm ring_comm; /* the sums' point-to-point messages, apart from the collectives' */

static void abort_job(void) { MPI_Abort(MPI_COMM_WORLD, 1); }

/* At exit (also exit(0) after --help): a rank that leaves without
 * MPI_Finalize makes mpirun report the job as failed. */
static void leave_job(void) { MPI_Finalize(); }

void dist_init(int *argc, char ***argv) {
    /* OpenMP threads compute, but only the main thread calls MPI */
    int provided;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (provided < MPI_THREAD_FUNNELED) warn("this MPI library does not promise to work beside OpenMP threads");
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    MPI_Comm_dup(MPI_COMM_WORLD, &ring_comm);
    atexit(leave_job);
    lmf_on_die = abort_job;
    if (world_rank != 0) lmf_quiet = 1;
}

int dist_rank(void) { return world_rank; }
int dist_size(void) { return world_size; }
int dist_is_root(void) { return world_rank == 0; }

static int as_count(size_t n, const char *what) {
    if (n > INT_MAX) die("%s: %zu values are more than one MPI call can carry", what, n);
    return (int)n;
}

void dist_barrier(void) { MPI_Barrier(MPI_COMM_WORLD); }

void dist_broadcast(void *data, size_t bytes) {
    for (size_t i = 0; i < bytes; i += CHUNK)
        MPI_Bcast((char *)data + i, (int)LMF_MIN(CHUNK, bytes - i), MPI_BYTE, 0, MPI_COMM_WORLD);
}

void dist_sum_doubles(double *x, size_t n) {
    for (size_t i = 0; i < n; i += CHUNK)
        MPI_Allreduce(MPI_IN_PLACE, x + i, (int)LMF_MIN(CHUNK, n - i), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

void dist_sum_floats(float *x, size_t n) {
    for (size_t i = 0; i < n; i += CHUNK)
        MPI_Allreduce(MPI_IN_PLACE, x + i, (int)LMF_MIN(CHUNK, n - i), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}

/* The non-blocking sums are rings of point-to-point messages, advanced step
 * by step by dist_progress and dist_wait. (Open MPI's own non-blocking
 * collectives reduce through rank 0 for these shapes, and allocate a
 * temporary buffer as large as the data.) On a ring of N ranks, in each of
 * N−1 reduce-scatter steps rank r sends one piece to rank r+1, receives one
 * from rank r−1 and adds it to its own; after them rank r holds the sum of
 * piece r. An all-reduce then passes the summed pieces on for N−1 more
 * steps. Each rank sends 2(N−1)/N of the buffer for an all-reduce, the
 * least possible. A piece travels in parts of at most RING_PART values, so
 * that a sum in flight holds one part of temporary memory, not one piece. */
#define RING_PART ((size_t)1 << 20)

struct DistRequest {
    float *x;
    size_t *bounds;       /* (size + 1) the pieces */
    int steps, step;      /* N−1 (reduce-scatter) or 2(N−1) (all-reduce); the step in flight */
    size_t part;          /* the step's part in flight */
    int posted;           /* its messages are under way */
    int tag;              /* its own, so that requests in flight at once never mix */
    MPI_Request sent_and_received[2];
    float *incoming;      /* (RING_PART) the part being received, during the reduce-scatter steps */
};

static DistRequest *ring_start(float *x, const size_t *bounds, int all_reduce) {
    static int next_tag = 0;
    DistRequest *r = xcalloc(1, sizeof *r);
    r->x = x;
    r->bounds = xmalloc(sizeof(size_t) * ((size_t)world_size + 1));
    memcpy(r->bounds, bounds, sizeof(size_t) * ((size_t)world_size + 1));
    r->incoming = xalloc_floats(LMF_MIN(RING_PART, bounds[world_size]));
    r->steps = (all_reduce ? 2 : 1) * (world_size - 1);
    r->tag = next_tag;
    next_tag = (next_tag + 1) % 30000; /* MPI guarantees tags up to 32767 */
    dist_progress(&r, 1);
    return r;
}

/* The piece rank `rank` sends in `step`; it receives what rank − 1 sends. */
static int ring_piece(int rank, int step) {
    int reduce_steps = world_size - 1;
    int shift = step < reduce_steps ? step + 1 : step - reduce_steps;
    return ((rank - shift) % world_size + world_size) % world_size;
}

/* Where part `part` of piece i lies in x, and its length (0 past the piece's end). */
static size_t part_of_piece(const DistRequest *r, int i, size_t part, size_t *len) {
    size_t begin = r->bounds[i] + part * RING_PART;
    *len = begin < r->bounds[i + 1] ? LMF_MIN(RING_PART, r->bounds[i + 1] - begin) : 0;
    return begin;
}

/* This step's pieces out (to rank + 1) and in (from rank − 1). */
static void step_pieces(const DistRequest *r, int *out, int *in) {
    *out = ring_piece(world_rank, r->step);
    *in = ring_piece((world_rank + world_size - 1) % world_size, r->step);
}

/* Posts the current part's messages; returns 0 when the step has no such part. */
static int ring_post_part(DistRequest *r) {
    int out, in;
    step_pieces(r, &out, &in);
    size_t out_n, in_n, out_at = part_of_piece(r, out, r->part, &out_n), in_at = part_of_piece(r, in, r->part, &in_n);
    if (out_n == 0 && in_n == 0) return 0;
    int next = (world_rank + 1) % world_size, prev = (world_rank + world_size - 1) % world_size;
    float *into = r->step < world_size - 1 ? r->incoming : r->x + in_at;
    r->sent_and_received[0] = r->sent_and_received[1] = MPI_REQUEST_NULL;
    if (out_n) MPI_Isend(r->x + out_at, (int)out_n, MPI_FLOAT, next, r->tag, ring_comm, &r->sent_and_received[0]);
    if (in_n) MPI_Irecv(into, (int)in_n, MPI_FLOAT, prev, r->tag, ring_comm, &r->sent_and_received[1]);
    r->posted = 1;
    return 1;
}

static void ring_finish_part(DistRequest *r) {
    if (r->step < world_size - 1) { /* reduce-scatter: add the part that came in */
        int out, in;
        step_pieces(r, &out, &in);
        size_t n, at = part_of_piece(r, in, r->part, &n);
        for (size_t i = 0; i < n; i++) r->x[at + i] += r->incoming[i];
    }
    r->part++;
    r->posted = 0;
}

/* Runs r's parts while their messages have arrived (all of them when wait). */
static void ring_advance(DistRequest *r, int wait) {
    while (r->step < r->steps) {
        if (!r->posted && !ring_post_part(r)) { /* the step is done */
            r->step++;
            r->part = 0;
            continue;
        }
        if (wait) {
            MPI_Waitall(2, r->sent_and_received, MPI_STATUSES_IGNORE);
        } else {
            int done;
            MPI_Testall(2, r->sent_and_received, &done, MPI_STATUSES_IGNORE);
            if (!done) return;
        }
        ring_finish_part(r);
    }
}

DistRequest *dist_sum_floats_start(float *x, size_t n) {
    size_t *bounds = xmalloc(sizeof(size_t) * ((size_t)world_size + 1));
    dist_split_bounds(n, bounds);
    DistRequest *r = ring_start(x, bounds, 1);
    free(bounds);
    return r;
}

DistRequest *dist_reduce_scatter_floats_start(float *x, const size_t *bounds) { return ring_start(x, bounds, 0); }

void dist_progress(DistRequest **requests, int n) {
    for (int i = 0; i < n; i++)
        if (requests[i]) ring_advance(requests[i], 0);
}

void dist_wait(DistRequest *r) {
    if (!r) return;
    ring_advance(r, 1);
    free(r->incoming);
    free(r->bounds);
    free(r);
}

void dist_reduce_scatter_floats(float *x, const size_t *bounds) { dist_wait(dist_reduce_scatter_floats_start(x, bounds)); }

void dist_allgather_floats(float *x, const size_t *bounds) {
    int *counts = xmalloc(sizeof(int) * 2 * (size_t)world_size), *offsets = counts + world_size;
    as_count(bounds[world_size], "all-gather");
    for (int i = 0; i < world_size; i++) {
        counts[i] = (int)(bounds[i + 1] - bounds[i]);
        offsets[i] = (int)bounds[i];
    }
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, counts, offsets, MPI_FLOAT, MPI_COMM_WORLD);
    free(counts);
}

void *dist_allgather_bytes(const void *mine, size_t len, size_t *total, size_t *lens) {
    unsigned long long my_len = len, *all_lens = xmalloc(sizeof(unsigned long long) * (size_t)world_size);
    MPI_Allgather(&my_len, 1, MPI_UNSIGNED_LONG_LONG, all_lens, 1, MPI_UNSIGNED_LONG_LONG, MPI_COMM_WORLD);
    int *counts = xmalloc(sizeof(int) * 2 * (size_t)world_size), *offsets = counts + world_size;
    size_t sum = 0;
    for (int i = 0; i < world_size; i++) {
        counts[i] = (int)all_lens[i];
        offsets[i] = (int)sum;
        sum += all_lens[i];
        if (lens) lens[i] = all_lens[i];
    }
    as_count(sum, "gathering results");
    char *all = xmalloc(sum + 1);
    MPI_Allgatherv(mine, counts[world_rank], MPI_BYTE, all, counts, offsets, MPI_BYTE, MPI_COMM_WORLD);
    free(counts);
    free(all_lens);
    *total = sum;
    return all;
}

void dist_stream_to_root(const float *mine, size_t n, DistConsumeFn consume, void *ctx) {
    if (world_rank != 0) {
        DistRange own = dist_split_range(n, world_rank, world_size);
        size_t count = own.end - own.begin;
        for (size_t i = 0; i < count; i += CHUNK)
            MPI_Send(mine + i, (int)LMF_MIN(CHUNK, count - i), MPI_FLOAT, 0, 0, MPI_COMM_WORLD);
        return;
    }
    DistRange own = dist_split_range(n, 0, world_size);
    consume(ctx, mine, own.end - own.begin);
    float *buffer = xalloc_floats(LMF_MIN(CHUNK, n));
    for (int r = 1; r < world_size; r++) {
        DistRange piece = dist_split_range(n, r, world_size);
        for (size_t i = piece.begin; i < piece.end; i += CHUNK) {
            size_t count = LMF_MIN(CHUNK, piece.end - i);
            MPI_Recv(buffer, (int)count, MPI_FLOAT, r, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            consume(ctx, buffer, count);
        }
    }
    free(buffer);
}

#else /* one process: every collective is a no-op or a copy */

void dist_init(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
}

int dist_rank(void) { return 0; }
int dist_size(void) { return 1; }
int dist_is_root(void) { return 1; }

void dist_barrier(void) {}
void dist_broadcast(void *data, size_t bytes) {
    (void)data;
    (void)bytes;
}
void dist_sum_doubles(double *x, size_t n) {
    (void)x;
    (void)n;
}
void dist_sum_floats(float *x, size_t n) {
    (void)x;
    (void)n;
}
void dist_reduce_scatter_floats(float *x, const size_t *bounds) {
    (void)x;
    (void)bounds;
}
void dist_allgather_floats(float *x, const size_t *bounds) {
    (void)x;
    (void)bounds;
}

DistRequest *dist_sum_floats_start(float *x, size_t n) {
    (void)x;
    (void)n;
    return NULL;
}
DistRequest *dist_reduce_scatter_floats_start(float *x, const size_t *bounds) {
    (void)x;
    (void)bounds;
    return NULL;
}
void dist_progress(DistRequest **requests, int n) {
    (void)requests;
    (void)n;
}
void dist_wait(DistRequest *r) { (void)r; }

void *dist_allgather_bytes(const void *mine, size_t len, size_t *total, size_t *lens) {
    char *all = xmalloc(len + 1);
    if (len) memcpy(all, mine, len);
    *total = len;
    if (lens) lens[0] = len;
    return all;
}

void dist_stream_to_root(const float *mine, size_t n, DistConsumeFn consume, void *ctx) { consume(ctx, mine, n); }

#endif
