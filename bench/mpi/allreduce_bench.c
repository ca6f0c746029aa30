/* allreduce_bench.c — all-reduce bandwidth of this MPI installation, for
 * bench/bench_mpi.c. Under mpirun it sums float buffers of growing size
 * and prints one line per size:
 *   BYTES SECONDS_PER_ALLREDUCE BUS_BANDWIDTH_BYTES_PER_S
 * The bus bandwidth is the ring all-reduce's (nccl-tests' definition):
 * bytes · 2(N−1)/N ÷ time, what each link carries per second; it is the
 * figure to compare with a network link's speed. */
#include <stdio.h>
#include <stdlib.h>

#include "../../src/base/dist.h"
#include "../../src/base/util.h"

int main(int argc, char **argv) {
    dist_init(&argc, &argv);
    const int R = dist_size();
    size_t max_floats = argc > 1 ? (size_t)atol(argv[1]) : (size_t)1 << 25;
    float *x = xalloc_floats(max_floats);
    for (size_t n = 1024; n <= max_floats; n *= 8) {
        int reps = n < ((size_t)1 << 20) ? 50 : 5;
        dist_sum_floats(x, n); /* warm-up: page faults, connections */
        dist_barrier();
        double t0 = now_seconds();
        for (int i = 0; i < reps; i++) dist_sum_floats(x, n);
        double seconds = (now_seconds() - t0) / reps;
        dist_sum_doubles(&seconds, 1); /* the mean over the ranks */
        seconds /= R;
        double bytes = (double)n * sizeof(float);
        if (dist_is_root()) printf("%.0f %.6g %.6g\n", bytes, seconds, bytes * 2 * (R - 1) / R / seconds);
    }
    free(x);
    return 0;
}
