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
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../kernels.h"

#ifdef LMF_BLAS_BLIS
#include <blis.h>

/* "BLIS 0.9.0 haswell": the version and the sub-configuration (kernel set)
 * it chose for this CPU at run time. */
void blas_prefer_fast_kernels(char **argv) { (void)argv; }

const char *blas_description(void) {
    static char text[128];
    if (!text[0])
        snprintf(text, sizeof text, "BLIS %s %s", bli_info_get_version_str(), bli_arch_string(bli_arch_query_id()));
    return text;
}

/* BLIS takes its thread count from BLIS_NUM_THREADS or OMP_NUM_THREADS once,
 * and runs single-threaded when neither is set; OpenBLAS's OpenMP flavour
 * follows omp_get_max_threads() at every call. Doing the same here keeps
 * --threads and an unset OMP_NUM_THREADS meaning what they mean elsewhere.
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

/* Debian 12's OpenBLAS (0.3.21) does not know the CPUs that came after it
 * (seen: an Intel Emerald Rapids) and falls back to its Prescott (SSE3)
 * kernels, which run sgemm at under half the speed of its AVX2 ones. The
 * kernels are chosen when the library loads, before main, so the only cure is
 * to start again with OPENBLAS_CORETYPE=Haswell: the AVX2 + FMA kernels, which
 * every such CPU runs, and the ones a Zen 2/3 gets. (SkylakeX's AVX-512
 * kernels are faster again, but PPO's toy test showed a KL spike of 11 nats
 * with them where every other kernel set stays under 4: until PPO stops an
 * update that moves the policy too far, the choice stays the tested one.)
 * A core set by the user, or one OpenBLAS recognised, is left alone. */
void blas_prefer_fast_kernels(char **argv) {
#if defined(__x86_64__)
    static const char *const pre_avx2_cores[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem",
                                                 "Sandybridge", "Atom", "Katmai", "Northwood", NULL};
    if (getenv("OPENBLAS_CORETYPE")) return;
    const char *core = openblas_get_corename();
    int old = 0;
    for (int i = 0; core && pre_avx2_cores[i]; i++) old |= strcasecmp(core, pre_avx2_cores[i]) == 0;
    if (!old) return;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return;
    setenv("OPENBLAS_CORETYPE", "Haswell", 1);
    execv("/proc/self/exe", argv); /* returns only if it failed: carry on with the slow kernels */
#else
    (void)argv;
#endif
}
#endif

/* Products below this many multiply-adds go to BLAS as they are: too small
 * for the slicing below to pay for the second thread's packing. */
#define SLICE_MIN_WORK (1L << 22)

/* C (M,Nc) = op(A) (M,K) · op(B) (K,Nc) + beta·C, row-major, with bias (Nc,
 * or NULL) added to every row. The threads split C into contiguous slices
 * (along its longer side, in multiples of 16) and each computes its own with a
 * single-threaded BLAS call (OpenBLAS and BLIS stay on one thread inside a
 * parallel region), then adds the bias to it: one parallel region and one
 * barrier per product, where BLAS's own threading synchronises its threads
 * many times inside a call and then needs another region for the bias. Each
 * element is still one dot product over all of K, in BLAS's order, and the
 * slices depend only on the thread count, so results stay reproducible. */
static void sgemm_sliced(int transA, int transB, int M, int Nc, int K, const float *A, int lda, const float *Bm,
                         int ldb, float beta, float *C, int ldc, const float *bias) {
    enum CBLAS_TRANSPOSE ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans;
    int nt = omp_get_max_threads();
    if (nt == 1 || omp_in_parallel() || (long)M * Nc * K < SLICE_MIN_WORK) {
        cblas_sgemm(CblasRowMajor, ta, tb, M, Nc, K, 1.0f, A, lda, Bm, ldb, beta, C, ldc);
        if (bias)
#pragma omp parallel for schedule(static) if ((size_t)M * Nc >= SMALL_WORK)
            for (int i = 0; i < M; i++) {
                float *row = C + (size_t)i * ldc;
#pragma omp simd
                for (int j = 0; j < Nc; j++) row[j] += bias[j];
            }
        return;
    }
    int by_rows = M >= Nc, len = by_rows ? M : Nc;
#pragma omp parallel
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        int lo = (int)((long)len * t / n) & ~15, hi = t + 1 == n ? len : (int)((long)len * (t + 1) / n) & ~15;
        if (hi > lo) {
            int m = by_rows ? hi - lo : M, nc = by_rows ? Nc : hi - lo;
            const float *a = by_rows ? (transA ? A + lo : A + (size_t)lo * lda) : A;
            const float *b = by_rows ? Bm : (transB ? Bm + (size_t)lo * ldb : Bm + lo);
            float *c = by_rows ? C + (size_t)lo * ldc : C + lo;
            cblas_sgemm(CblasRowMajor, ta, tb, m, nc, K, 1.0f, a, lda, b, ldb, beta, c, ldc);
            if (bias)
                for (int i = 0; i < m; i++) {
                    float *row = c + (size_t)i * ldc;
                    const float *bi = by_rows ? bias : bias + lo;
#pragma omp simd
                    for (int j = 0; j < nc; j++) row[j] += bi[j];
                }
        }
    }
}

void linear_forward(float *out, const float *in, const float *W, const float *bias, int N, int IN, int OUT,
                    int accumulate) {
    blas_follow_omp_threads();
    sgemm_sliced(0, 1, N, OUT, IN, in, IN, W, IN, accumulate ? 1.0f : 0.0f, out, OUT, bias);
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
        sgemm_sliced(0, 0, N, IN, OUT, dout, OUT, W, IN, 0.0f, din, IN, NULL);
    if (dW) /* dW (OUT,IN) += dout^T (OUT,N) · in (N,IN) */
        sgemm_sliced(1, 0, OUT, IN, N, dout, OUT, in, IN, 1.0f, dW, IN, NULL);
    if (dbias) column_sums_accumulate(dbias, dout, N, OUT);
}

void matmul(int transA, int transB, int M, int Nc, int K, float alpha, const float *A, int lda, const float *B, int ldb,
            float beta, float *C, int ldc) {
    blas_follow_omp_threads();
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, Nc, K, alpha,
                A, lda, B, ldb, beta, C, ldc);
}
