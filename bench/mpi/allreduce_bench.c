/* allreduce_bench.c — all-reduce bandwidth on this MPI installation, for
 * bench/bench_mpi.c. Under mpirun it sums float buffers of growing size,
 * with Open MPI's MPI_Allreduce (dist_sum_floats) and with the ring that
 * training's overlapped gradient sums use (dist_sum_floats_start), and
 * prints one line per size:
 *   BYTES SECONDS_MPI BUS_BYTES_PER_S_MPI SECONDS_RING BUS_BYTES_PER_S_RING
 * The bus bandwidth is nccl-tests' figure for an all-reduce, bytes ·
 * 2(N−1)/N ÷ time: what each link carries per second, the number to set
 * against a network link's speed. */
#include <stdio.h>
#include <stdlib.h>

#include "../../src/base/dist.h"
#include "../../src/base/util.h"

static void sum_once(float *x, size_t n, int ring) {
    if (ring) dist_wait(dist_sum_floats_start(x, n));
    else dist_sum_floats(x, n);
}

/* Seconds per all-reduce of n floats, the mean over the ranks. */
static double time_sum(float *x, size_t n, int ring) {
    int reps = n < ((size_t)1 << 20) ? 50 : 5;
    sum_once(x, n, ring); /* warm-up: page faults, connections */
    dist_barrier();
    double t0 = now_seconds();
    for (int i = 0; i < reps; i++) sum_once(x, n, ring);
    double seconds = (now_seconds() - t0) / reps;
    dist_sum_doubles(&seconds, 1);
    return seconds / dist_size();
}

int main(int argc, char **argv) {
    dist_init(&argc, &argv);
    const int R = dist_size();
    size_t max_floats = argc > 1 ? (size_t)atol(argv[1]) : (size_t)1 << 25;
    float *x = xalloc_floats(max_floats);
    for (size_t n = 1024; n <= max_floats; n *= 8) {
        double bus_bytes = (double)n * sizeof(float) * 2 * (R - 1) / R;
        double mpi = time_sum(x, n, 0), ring = time_sum(x, n, 1);
        if (dist_is_root())
            printf("%.0f %.6g %.6g %.6g %.6g\n", (double)n * sizeof(float), mpi, bus_bytes / mpi, ring, bus_bytes / ring);
    }
    free(x);
    return 0;
}
