/* matmul_invariant.c — a linear layer whose rows do not depend on the batch.
 *
 * Generation decodes many sequences at once, and a sequence's tokens should
 * not change with the batch it happens to share (PPO, rejection sampling and
 * `lmforge generate --batch-size` must give the same samples for a seed).
 * BLAS sgemm cannot promise that: it picks its blocking, and so the order of
 * its sums, from the matrix sizes. Here every output element out[n][o] is one
 * dot product of in[n] and W[o], always summed the same way: 16 lanes of
 * fused multiply-adds along IN (the last partial vector masked), then the
 * lanes added in a fixed order. Blocking only decides which dot products run
 * side by side, never how one is computed.
 *
 * A block is ROWS input rows × COLS weight rows: each loaded vector of W is
 * used ROWS times and each vector of the input COLS times, which keeps the
 * FMA units busy for the 32-row batches of decoding. For one row (batch 1)
 * the work is reading W once, which is as fast as memory allows. */
#include "kernels.h"

#ifdef __AVX512F__
#include <immintrin.h>
#endif

#define ROWS 4  /* input rows per block */
#define COLS 4  /* weight rows (outputs) per block */
#define TILE 64 /* input rows per tile: a tile stays in L2 while every block of W passes over it */

#ifdef __AVX512F__
/* out[i][j] (+)= in[i] · W[j] (+ bias[j]) for i < rows, j < cols. Inlined with constant
 * sizes for full blocks, so that the accumulators live in registers. */
static inline __attribute__((always_inline)) void dot_block(float *out, const float *in, const float *W,
                                                            const float *bias, int rows, int cols, int IN, int OUT,
                                                            int accumulate) {
    __m512 acc[ROWS][COLS];
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) acc[i][j] = _mm512_setzero_ps();
    for (int c = 0; c < IN; c += 16) {
        __mmask16 m = IN - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (IN - c)) - 1);
        __m512 w[COLS];
        for (int j = 0; j < cols; j++) w[j] = _mm512_maskz_loadu_ps(m, W + (size_t)j * IN + c);
        for (int i = 0; i < rows; i++) {
            __m512 x = _mm512_maskz_loadu_ps(m, in + (size_t)i * IN + c);
            for (int j = 0; j < cols; j++) acc[i][j] = _mm512_fmadd_ps(x, w[j], acc[i][j]);
        }
    }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            float s = _mm512_reduce_add_ps(acc[i][j]) + (bias ? bias[j] : 0.0f);
            float *o = out + (size_t)i * OUT + j;
            *o = accumulate ? *o + s : s;
        }
}
#else
/* Portable version: one scalar sum per dot product, in order. */
static inline void dot_block(float *out, const float *in, const float *W, const float *bias, int rows, int cols,
                             int IN, int OUT, int accumulate) {
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            float s = 0;
            for (int c = 0; c < IN; c++) s += in[(size_t)i * IN + c] * W[(size_t)j * IN + c];
            s += bias ? bias[j] : 0.0f;
            float *o = out + (size_t)i * OUT + j;
            *o = accumulate ? *o + s : s;
        }
}
#endif

void linear_forward_invariant(float *out, const float *in, const float *W, const float *bias, int N, int IN, int OUT,
                              int accumulate) {
    const int n_tiles = (N + TILE - 1) / TILE, n_col_blocks = (OUT + COLS - 1) / COLS;
#pragma omp parallel for collapse(2) schedule(static)
    for (int tile = 0; tile < n_tiles; tile++)
        for (int cb = 0; cb < n_col_blocks; cb++) {
            int o = cb * COLS, cols = OUT - o < COLS ? OUT - o : COLS;
            int end = (tile + 1) * TILE < N ? (tile + 1) * TILE : N;
            const float *w = W + (size_t)o * IN, *b = bias ? bias + o : NULL;
            for (int n = tile * TILE; n < end; n += ROWS) {
                int rows = end - n < ROWS ? end - n : ROWS;
                float *y = out + (size_t)n * OUT + o;
                const float *x = in + (size_t)n * IN;
                if (rows == ROWS && cols == COLS) dot_block(y, x, w, b, ROWS, COLS, IN, OUT, accumulate);
                else dot_block(y, x, w, b, rows, cols, IN, OUT, accumulate);
            }
        }
}
