/* embedding.c — token embedding lookup and its (sparse) gradient. */
#include <omp.h>
#include <string.h>

#include "../kernels.h"

void embedding_forward(float *out, const int *tokens, const float *table, int N, int C) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= SMALL_WORK)
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * C, table + (size_t)tokens[n] * C, sizeof(float) * C);
}

/* Rows are added in token order by each thread over its own slice of the
 * columns: repeated tokens never race, and the order never changes. */
void embedding_backward(float *dtable, const float *dout, const int *tokens, int N, int C) {
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        int lo = (int)((long)C * id / nt), hi = (int)((long)C * (id + 1) / nt);
        for (int n = 0; n < N; n++) {
            float *row = dtable + (size_t)tokens[n] * C;
            const float *d = dout + (size_t)n * C;
#pragma omp simd
            for (int c = lo; c < hi; c++) row[c] += d[c];
        }
    }
}
