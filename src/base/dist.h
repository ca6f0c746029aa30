/* dist.h — the communication layer of data-parallel training.
 *
 * Under `mpirun -np N`, N copies of lmforge (ranks 0..N-1) train one model
 * together. They exchange data only through this header: sums over the
 * ranks (all-reduce, reduce-scatter), pieces put together (all-gather),
 * rank 0's buffer copied to all (broadcast), variable-length results
 * gathered, and a barrier. The MPI build (`make mpi`, -DLMF_MPI) implements
 * it with MPI; the plain build has one rank, needs no MPI, and every call
 * is a no-op or a copy, so the rest of lmforge calls it unconditionally.
 *
 * Every collective here must be called by all ranks, in the same order,
 * with matching sizes; a rank that skips one hangs the job.
 *
 * Conventions:
 *   - Rank 0 (dist_is_root) is the one that prints and writes files;
 *     dist_init silences info() on the others.
 *   - A split of n items gives rank r the contiguous range
 *     dist_split_range(n, r, size): the first n % size ranks get one more.
 *   - "bounds" (size + 1 offsets, bounds[0] = 0) cut a buffer into one
 *     contiguous piece per rank, [bounds[r], bounds[r+1]); pieces may be
 *     empty.
 *
 * A stage that splits work (PPO rollouts, rejection sampling) does:
 *   DistRange mine = dist_split_range(n_prompts, dist_rank(), dist_size());
 *   ... generate for prompts [mine.begin, mine.end) into a byte buffer ...
 *   all = dist_allgather_bytes(buf, len, &total, NULL);   // every rank's, in rank order
 *   dist_mean_std(scores, n_mine, &mean, &std);           // global statistics for whitening */
#ifndef LMF_DIST_H
#define LMF_DIST_H

#include <stddef.h>

/* Joins the job started by mpirun (a no-op in the plain build), and leaves
 * it when the process exits. After it, die() on any rank stops the whole
 * job (MPI_Abort) with its message, and only rank 0 prints info(). */
void dist_init(int *argc, char ***argv);

int dist_rank(void);
int dist_size(void);
int dist_is_root(void);

typedef struct {
    size_t begin, end;
} DistRange;
/* Rank `rank`'s share of n items out of `size` ranks: contiguous, nearly equal. */
DistRange dist_split_range(size_t n, int rank, int size);
/* bounds (size + 1 entries) of the split of [0, n) by dist_split_range. */
void dist_split_bounds(size_t n, size_t *bounds);

void dist_barrier(void);
/* Around work that writes files the other ranks then read (a cache of token
 * shards): rank 0 does it first, the others once rank 0 has finished.
 *   dist_root_first_begin();  ...the work...  dist_root_first_end(); */
void dist_root_first_begin(void);
void dist_root_first_end(void);
/* Copies rank 0's `bytes` bytes at data to every rank. */
void dist_broadcast(void *data, size_t bytes);
/* In place: each element becomes its sum over the ranks. */
void dist_sum_doubles(double *x, size_t n);
void dist_sum_floats(float *x, size_t n);
/* x holds bounds[size] floats on every rank. Afterwards this rank's piece,
 * x[bounds[rank], bounds[rank+1]), holds its sum over the ranks; the rest
 * of x is left as scratch. */
void dist_reduce_scatter_floats(float *x, const size_t *bounds);
/* In place: each rank contributes its piece x[bounds[rank], bounds[rank+1]);
 * afterwards every rank holds all of x. */
void dist_allgather_floats(float *x, const size_t *bounds);

/* Non-blocking versions, to overlap communication with computation: start
 * one, keep computing (calling dist_progress now and then moves it on), and
 * finish it with dist_wait. x must not be touched in between; bounds is
 * copied. They run as a ring of messages (see dist.c): each rank sends
 * 2(N−1)/N of x for a sum, (N−1)/N for a reduce-scatter, whatever N, and
 * needs one piece of extra memory. The plain build completes them at once. */
typedef struct DistRequest DistRequest;
DistRequest *dist_sum_floats_start(float *x, size_t n);
DistRequest *dist_reduce_scatter_floats_start(float *x, const size_t *bounds);
/* Lets the started requests advance without waiting for them. */
void dist_progress(DistRequest **requests, int n);
/* Completes and frees the request (NULL: nothing to do). */
void dist_wait(DistRequest *r);

/* Every rank contributes len bytes; returns all contributions concatenated in
 * rank order (malloc'ed; caller frees), their total in *total, and each
 * rank's length in lens[size] if lens is not NULL. */
void *dist_allgather_bytes(const void *mine, size_t len, size_t *total, size_t *lens);

/* Rank r holds piece r of the split of [0, n) (dist_split_range). Rank 0
 * receives the pieces one at a time, in rank order (its own included), and
 * passes each to consume(ctx, piece, count): a file written from all pieces
 * without rank 0 ever holding the whole. Other ranks only send. */
typedef void (*DistConsumeFn)(void *ctx, const float *piece, size_t count);
void dist_stream_to_root(const float *mine, size_t n, DistConsumeFn consume, void *ctx);

/* Mean and population standard deviation of values spread over the ranks
 * (n on this rank, possibly 0), computed in two passes for accuracy; the
 * same on every rank. Whitening PPO advantages over the global batch:
 * x = (x − mean) / (std + 1e-8). With no values at all: mean 0, std 0. */
void dist_mean_std(const float *x, size_t n, double *mean, double *std);

#endif
