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

#define ROWS 4  /* input rows per block (the dispatch below names 1 to 4) */
#define COLS 4  /* weight rows (outputs) per block; ROWS·COLS = 16 is what store_block adds up */
#define TILE 64 /* input rows per tile: a tile stays in L2 while every block of W passes over it */

#ifdef __AVX512F__
/* Adds up the 16 lanes of each of the ROWS×COLS = 16 accumulators at once:
 * four rounds of shuffles and adds (lanes l and l+8, then l+4, l+2, l+1)
 * that treat every accumulator alike, so each dot product is summed by the
 * same tree wherever it sits in the block (unused accumulators are zero and
 * never mix with the others). Costs 15 adds for 16 sums instead of 16 full
 * reductions. Then out[i][j] (+)= the sum (+ bias[j]) for i < rows, j < cols. */
static inline __attribute__((always_inline)) void store_block(float *out, __m512 acc[ROWS][COLS], const float *bias,
                                                              int rows, int cols, int OUT, int accumulate) {
    __m512 *a = &acc[0][0], t[8], v[4], x[2];
    for (int i = 0; i < 8; i++)
        t[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0x44),
                             _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0xEE));
    for (int i = 0; i < 4; i++)
        v[i] = _mm512_add_ps(_mm512_shuffle_f32x4(t[2 * i], t[2 * i + 1], 0x88),
                             _mm512_shuffle_f32x4(t[2 * i], t[2 * i + 1], 0xDD));
    for (int i = 0; i < 2; i++)
        x[i] = _mm512_add_ps(_mm512_shuffle_ps(v[2 * i], v[2 * i + 1], 0x44),
                             _mm512_shuffle_ps(v[2 * i], v[2 * i + 1], 0xEE));
    __m512 z = _mm512_add_ps(_mm512_shuffle_ps(x[0], x[1], 0x88), _mm512_shuffle_ps(x[0], x[1], 0xDD));
    /* lane 4j+i holds accumulator [i][j]: transpose so that each row's COLS sums are adjacent */
    z = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), z);
    __mmask8 m = (__mmask8)((1u << cols) - 1);
    __m128 b = bias ? _mm_maskz_loadu_ps(m, bias) : _mm_setzero_ps();
    for (int i = 0; i < rows; i++) {
        __m128 sum = _mm_add_ps(_mm512_extractf32x4_ps(z, 0), b);
        if (accumulate) sum = _mm_add_ps(sum, _mm_maskz_loadu_ps(m, out + (size_t)i * OUT));
        _mm_mask_storeu_ps(out + (size_t)i * OUT, m, sum);
        z = _mm512_shuffle_f32x4(z, z, 0x39); /* the next row's four sums down to the bottom */
    }
}

/* out[i][j] (+)= in[i] · W[j] (+ bias[j]) for i < rows, j < cols. Inlined with constant
 * sizes and unrolled, so that the accumulators stay in registers. `next` (or NULL) is
 * the next block of W, fetched into cache while this one computes: W is streamed from
 * memory once per call, and the head's 32000 rows do not fit in any cache. */
static inline __attribute__((always_inline)) void dot_block(float *out, const float *in, const float *W,
                                                            const float *bias, int rows, int cols, int IN, int OUT,
                                                            int accumulate, const float *next) {
    __m512 acc[ROWS][COLS]; /* all of it zeroed: the compiler drops what a constant-size block never uses */
    _Pragma("GCC unroll 4") for (int i = 0; i < ROWS; i++)
        _Pragma("GCC unroll 4") for (int j = 0; j < COLS; j++) acc[i][j] = _mm512_setzero_ps();
    for (int c = 0; c < IN; c += 16) {
        __mmask16 m = IN - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (IN - c)) - 1);
        __m512 w[COLS];
        _Pragma("GCC unroll 4") for (int j = 0; j < cols; j++) {
            w[j] = _mm512_maskz_loadu_ps(m, W + (size_t)j * IN + c);
            if (next) _mm_prefetch((const char *)(next + (size_t)j * IN + c), _MM_HINT_T0);
        }
        _Pragma("GCC unroll 4") for (int i = 0; i < rows; i++) {
            __m512 x = _mm512_maskz_loadu_ps(m, in + (size_t)i * IN + c);
            _Pragma("GCC unroll 4") for (int j = 0; j < cols; j++) acc[i][j] = _mm512_fmadd_ps(x, w[j], acc[i][j]);
        }
    }
    store_block(out, acc, bias, rows, cols, OUT, accumulate);
}
#else
/* Portable version: one scalar sum per dot product, in order. */
static inline void dot_block(float *out, const float *in, const float *W, const float *bias, int rows, int cols,
                             int IN, int OUT, int accumulate, const float *next) {
    (void)next;
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
    /* below ~64k multiply-adds a second thread costs more than it saves */
#pragma omp parallel for collapse(2) schedule(static) if ((double)N * IN * OUT > 65536)
    for (int tile = 0; tile < n_tiles; tile++)
        for (int cb = 0; cb < n_col_blocks; cb++) {
            int o = cb * COLS, cols = OUT - o < COLS ? OUT - o : COLS;
            int end = (tile + 1) * TILE < N ? (tile + 1) * TILE : N;
            const float *w = W + (size_t)o * IN, *b = bias ? bias + o : NULL;
            for (int n = tile * TILE; n < end; n += ROWS) {
                int rows = end - n < ROWS ? end - n : ROWS;
                float *y = out + (size_t)n * OUT + o;
                const float *x = in + (size_t)n * IN;
                /* the tile's first row block brings the next block of W in */
                const float *next = n == tile * TILE && cb + 1 < n_col_blocks ? w + (size_t)COLS * IN : NULL;
                /* constant sizes for full column blocks: one decoding row is the common case too */
                if (cols < COLS) dot_block(y, x, w, b, rows, cols, IN, OUT, accumulate, next);
                else if (rows == 4) dot_block(y, x, w, b, 4, COLS, IN, OUT, accumulate, next);
                else if (rows == 3) dot_block(y, x, w, b, 3, COLS, IN, OUT, accumulate, next);
                else if (rows == 2) dot_block(y, x, w, b, 2, COLS, IN, OUT, accumulate, next);
                else dot_block(y, x, w, b, 1, COLS, IN, OUT, accumulate, next);
            }
        }
}
