/* matmul.c — linear layers on top of BLAS sgemm.
 *
 * Weights are stored as PyTorch / Hugging Face store them: (OUT, IN), row-major.
 * Hence the forward pass multiplies by W^T, and the three products of a linear
 * layer (forward, input gradient, weight gradient) are three sgemm calls with
 * different transpositions; OpenBLAS reaches most of the machine's FMA peak on
 * transformer-sized shapes, which is why no hand-written matmul is used. */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "kernels.h"

#ifdef LMF_BLAS_BLIS
#include <blis.h>

/* "BLIS 0.9.0 haswell": the version and the sub-configuration (kernel set)
 * it chose for this CPU at run time. */
const char *blas_description(void) {
    static char text[128];
    if (!text[0])
        snprintf(text, sizeof text, "BLIS %s %s", bli_info_get_version_str(), bli_arch_string(bli_arch_query_id()));
    return text;
}

/* BLIS takes its thread count from BLIS_NUM_THREADS or OMP_NUM_THREADS once,
 * and runs single-threaded when neither is set; OpenBLAS's OpenMP flavour
 * follows omp_get_max_threads() at every call. Doing the same here keeps
 * an unset OMP_NUM_THREADS and omp_set_num_threads meaning the same for both.
 * Called outside parallel regions only; inside one (attention's per-block
 * products) BLIS's own nested region gets one thread, as OpenBLAS's does. */
static void blas_follow_omp_threads(void) {
    int nt = omp_get_max_threads();
    if (bli_thread_get_num_threads() != nt) bli_thread_set_num_threads(nt);
}
#else
/* "OpenBLAS 0.3.21" from the config string ("OpenBLAS 0.3.21 DYNAMIC_ARCH
 * NO_AFFINITY SkylakeX MAX_THREADS=64"), then the core it picked at run time
 * (which OPENBLAS_CORETYPE can force). */
const char *blas_description(void) {
    static char text[128];
    if (text[0]) return text;
    char name[32] = "OpenBLAS", version[32] = "?";
    sscanf(openblas_get_config(), "%31s %31s", name, version);
    snprintf(text, sizeof text, "%s %s %s", name, version, openblas_get_corename());
    return text;
}

static void blas_follow_omp_threads(void) {}
#endif

void linear_forward(float *out, const float *in, const float *W, const float *bias, int N, int IN, int OUT,
                    int accumulate) {
    blas_follow_omp_threads();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OUT, IN, 1.0f, in, IN, W, IN, accumulate ? 1.0f : 0.0f,
                out, OUT);
    if (!bias) return;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *row = out + (size_t)n * OUT;
#pragma omp simd
        for (int o = 0; o < OUT; o++) row[o] += bias[o];
    }
}

/* dbias (OUT) += Σ_n dout[n]: each thread owns a range of columns and sums its
 * rows in order, so the result does not depend on scheduling. */
static void column_sums_accumulate(float *dbias, const float *dout, int N, int OUT) {
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        int lo = (int)((long)OUT * id / nt), hi = (int)((long)OUT * (id + 1) / nt);
        for (int n = 0; n < N; n++) {
            const float *row = dout + (size_t)n * OUT;
#pragma omp simd
            for (int o = lo; o < hi; o++) dbias[o] += row[o];
        }
    }
}

void linear_backward(float *din, float *dW, float *dbias, const float *dout, const float *in, const float *W, int N,
                     int IN, int OUT) {
    blas_follow_omp_threads();
    if (din) /* din (N,IN) = dout (N,OUT) · W (OUT,IN) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IN, OUT, 1.0f, dout, OUT, W, IN, 0.0f, din, IN);
    if (dW) /* dW (OUT,IN) += dout^T (OUT,N) · in (N,IN) */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OUT, IN, N, 1.0f, dout, OUT, in, IN, 1.0f, dW, IN);
    if (dbias) column_sums_accumulate(dbias, dout, N, OUT);
}
