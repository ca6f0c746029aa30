/* matmul_invariant.c — a linear layer whose rows do not depend on the batch.
 *
 * Generation decodes many sequences at once, and a sequence's tokens should
 * not change with the batch it happens to share (PPO, rejection sampling and
 * `lmforge generate --batch-size` must give the same samples for a seed).
 * BLAS sgemm cannot promise that: it picks its blocking, and so the order of
 * its sums, from the matrix sizes. Here every output element out[n][o] is one
 * dot product of in[n] and W[o], always summed the same way: L lanes of
 * partial sums along IN (lane l takes the elements c ≡ l mod L, in order; the
 * last partial vector is masked, or zero-padded), then the L lanes added by a
 * fixed tree, then + bias, then + out when accumulating. Blocking only
 * decides which dot products run side by side, never how one is computed.
 *
 * A block is ROWS input rows × COLS weight rows (outputs): each loaded vector
 * of W is used ROWS times and each vector of the input COLS times, which keeps
 * the FMA units busy for the 32-row batches of decoding. For one row (batch 1)
 * the work is reading W once, which is as fast as memory allows.
 *
 * Three versions of the block (dot_block), one per build; the tiling and the
 * threads (linear_forward_invariant, at the end) are shared:
 *   AVX-512     16 lanes of FMA, 4 × 4 blocks
 *   AVX2 + FMA   8 lanes of FMA, 4 × 3 blocks (what fits in 16 ymm registers)
 *   portable     8 lanes of plain C multiply and add, 4 × 2 blocks
 * A build gives the same results at any batch size; two builds (two paths)
 * may differ in the last bits, as their lane counts and FMA differ. */
#include "../kernels.h"

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

#define ROWS 4  /* input rows per block (the dispatch below names 1 to 4) */
#define TILE 64 /* input rows per tile: a tile stays in L2 while every block of W passes over it */

#if defined(__AVX512F__)
/* ---- AVX-512: 16 lanes, 4 × 4 blocks ----
 * 16 zmm accumulators, 4 vectors of W and one of the input at a time: 21 of
 * the 32 registers. The 16 accumulators are reduced together by one shuffle
 * tree (store_block), which costs 15 adds for 16 sums. */
#define COLS 4 /* weight rows (outputs) per block; ROWS·COLS = 16 is what store_block adds up */

/* Adds up the 16 lanes of each of the ROWS×COLS = 16 accumulators at once:
 * four rounds of shuffles and adds (lanes l and l+8, then l+4, l+2, l+1)
 * that treat every accumulator alike, so each dot product is summed by the
 * same tree wherever it sits in the block (unused accumulators are zero and
 * never mix with the others). Then out[i][j] (+)= the sum (+ bias[j]) for
 * i < rows, j < cols. */
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
        /* zeroed too, though only w[0..cols) is read: GCC cannot see that when cols < COLS
         * is not a constant (-Wmaybe-uninitialized), and a dead zeroing costs nothing */
        __m512 w[COLS];
        _Pragma("GCC unroll 4") for (int j = 0; j < COLS; j++) w[j] = _mm512_setzero_ps();
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

#elif defined(__AVX2__) && defined(__FMA__)
/* ---- AVX2 + FMA: 8 lanes, 4 × 3 blocks ----
 * x86 before AVX-512 has 16 ymm registers: 12 accumulators (4 rows × 3
 * outputs), 3 vectors of W and 1 of the input fill them exactly, so one step
 * of 8 columns is 7 loads and 12 FMAs and the two FMA units set the pace for
 * full blocks (4 × 4 would need 21 registers and spill; 3 × 4 with the input
 * as a memory operand would need 16 loads for 12 FMAs). The main loop loads
 * whole vectors; the last IN % 8 columns go through _mm256_maskload_ps, which
 * reads zeros in the lanes past the end (a masked load on every step would
 * cost FMA-port µops on Intel). Each row's accumulators are reduced by one
 * hadd tree, the same for every accumulator (lane_sums). */
#define COLS 3 /* weight rows (outputs) per block */

/* The mask of the lanes l < n (n ≤ 8; all when n ≥ 8). */
static inline __m256i lanes_below(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* One step of 8 columns from column c: acc[i][j] += in[i][c..c+8) · W[j][c..c+8), lane by lane.
 * `full`, a constant once inlined, picks plain loads or masked ones (mask: the lanes to read). */
static inline __attribute__((always_inline)) void fma_step(__m256 acc[ROWS][COLS], const float *in,
                                                           const float *W, const float *next, int c, int IN,
                                                           int rows, int cols, int full, __m256i mask) {
    __m256 w[COLS]; /* zeroed although only w[0..cols) is read: see the AVX-512 version */
    _Pragma("GCC unroll 4") for (int j = 0; j < COLS; j++) w[j] = _mm256_setzero_ps();
    _Pragma("GCC unroll 4") for (int j = 0; j < cols; j++) {
        const float *p = W + (size_t)j * IN + c;
        w[j] = full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask);
        if (next) _mm_prefetch((const char *)(next + (size_t)j * IN + c), _MM_HINT_T0);
    }
    _Pragma("GCC unroll 4") for (int i = 0; i < rows; i++) {
        const float *p = in + (size_t)i * IN + c;
        __m256 x = full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask);
        _Pragma("GCC unroll 4") for (int j = 0; j < cols; j++) acc[i][j] = _mm256_fmadd_ps(x, w[j], acc[i][j]);
    }
}

/* The lane sums of four accumulators, as one vector (sum of a[k] in lane k). Every sum is
 * ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)) whichever k it has:
 *   hadd(a0, a1)        = a0:01 23  a1:01 23 | a0:45 67  a1:45 67   (per 128-bit half)
 *   hadd(that, a2 a3's) = a0:0123 a1:0123 a2:0123 a3:0123 | the same of 4567
 *   low half + high half = a0..a3 : 01234567 */
static inline __m128 lane_sums(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

/* out[i][j] (+)= in[i] · W[j] (+ bias[j]) for i < rows, j < cols. Inlined with constant
 * sizes, so that the accumulators stay in registers; `next`: see the AVX-512 version. */
static inline __attribute__((always_inline)) void dot_block(float *out, const float *in, const float *W,
                                                            const float *bias, int rows, int cols, int IN, int OUT,
                                                            int accumulate, const float *next) {
    __m256 acc[ROWS][COLS]; /* all of it zeroed: the compiler drops what a constant-size block never uses */
    _Pragma("GCC unroll 4") for (int i = 0; i < ROWS; i++)
        _Pragma("GCC unroll 4") for (int j = 0; j < COLS; j++) acc[i][j] = _mm256_setzero_ps();
    int c = 0;
    for (; c + 8 <= IN; c += 8) fma_step(acc, in, W, next, c, IN, rows, cols, 1, _mm256_setzero_si256());
    if (c < IN) fma_step(acc, in, W, next, c, IN, rows, cols, 0, lanes_below(IN - c));

    __m128i m = _mm_cmpgt_epi32(_mm_set1_epi32(cols), _mm_setr_epi32(0, 1, 2, 3)); /* the block's outputs */
    __m128 b = bias ? _mm_maskload_ps(bias, m) : _mm_setzero_ps();
    _Pragma("GCC unroll 4") for (int i = 0; i < rows; i++) {
        /* COLS = 3: the fourth sum is of zeros, and masked out below */
        __m128 sum = _mm_add_ps(lane_sums(acc[i][0], acc[i][1], acc[i][2], _mm256_setzero_ps()), b);
        float *o = out + (size_t)i * OUT;
        if (accumulate) sum = _mm_add_ps(sum, _mm_maskload_ps(o, m));
        _mm_maskstore_ps(o, m, sum);
    }
}

#else
/* ---- portable C (SSE2 x86-64, arm64, anything else): 8 lanes, 4 × 2 blocks ----
 * The same scheme in plain C: each dot product keeps 8 partial sums,
 * acc[l] += x[c + l] · w[c + l], which the compiler turns into vector code
 * without changing a result, since the lanes never mix (no reassociation is
 * needed, and -std=c11 keeps GCC from fusing the multiply and the add). Then
 * the lanes are added by the same tree as the AVX2 version's. A 4 × 2 block
 * is 64 partial sums: 16 of SSE2's 4-lane registers, as many as x86-64 has
 * (the compiler spills a few), 16 of arm64's 32. The edge blocks, whose
 * sizes are not constants, run as plain loops: slower, but the same sums. */
#define COLS 2  /* weight rows (outputs) per block */
#define LANES 8 /* partial sums per dot product */

/* ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)) */
static inline float lane_sum(const float a[LANES]) {
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* out[i][j] (+)= in[i] · W[j] (+ bias[j]) for i < rows, j < cols; inlined with constant sizes. */
static inline __attribute__((always_inline)) void dot_block(float *out, const float *in, const float *W,
                                                            const float *bias, int rows, int cols, int IN, int OUT,
                                                            int accumulate, const float *next) {
    (void)next; /* the hardware prefetcher follows W's plain stream well enough here */
    float acc[ROWS][COLS][LANES] = {{{0}}};
    int c = 0;
    for (; c + LANES <= IN; c += LANES)
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                for (int l = 0; l < LANES; l++)
                    acc[i][j][l] += in[(size_t)i * IN + c + l] * W[(size_t)j * IN + c + l];
    /* the last IN % 8 columns: the lanes past the end would add zeros, so they are left out */
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            for (int l = 0; l < IN - c; l++) acc[i][j][l] += in[(size_t)i * IN + c + l] * W[(size_t)j * IN + c + l];
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            float s = lane_sum(acc[i][j]) + (bias ? bias[j] : 0.0f), *o = out + (size_t)i * OUT + j;
            *o = accumulate ? *o + s : s;
        }
}
#endif

/* The shared part: tiles of TILE input rows × blocks of COLS outputs, spread over the threads.
 * Within a tile a block of W (COLS rows) stays in L1 while the tile's rows pass over it, ROWS
 * at a time. Which thread or block computes a dot product does not change how. */
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
