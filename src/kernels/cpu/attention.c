/* attention.c — causal grouped-query attention with O(T) memory per head.
 *
 * Forward: for one sequence b, one head h and one block of up to ATT_BLOCK
 * queries of one document, score the block against the keys it may see (S = q·kᵀ/sqrt(HS)),
 * take the softmax row by row, keep only each row's log-sum-exp, and multiply
 * by v. The probabilities are never stored: the backward pass recomputes them
 * from q, k and the log-sum-exp (as FlashAttention does), so training memory
 * grows with T, not T².
 *
 * Backward, per block, with P the recomputed probabilities and O the output:
 *   dV += Pᵀ·dO,  dP = dO·Vᵀ,  dS = P ∘ (dP − rowsum(dO ∘ O)),
 *   dQ = dS·K/sqrt(HS),  dK += dSᵀ·Q/sqrt(HS)
 * Grouped-query attention: NH/NKV query heads share one key/value head, so a
 * backward work unit is one (sequence, kv head) pair, which owns its dK and dV
 * outright: no two threads ever add into the same gradient.
 *
 * Block products are small sgemm calls; inside an OpenMP parallel region
 * OpenBLAS runs them single-threaded, one per thread. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../base/util.h"
#include "../fastmath.h"
#include "../kernels.h"
#include "reduce.h"

#define ATT_BLOCK 64

/* A block of queries [t0, t0 + nq) of sequence b, all of one document, whose
 * first key is kmin (the document's first token). */
typedef struct {
    int b, t0, nq, kmin;
} QueryBlock;

/* Cuts every sequence into query blocks of at most ATT_BLOCK rows that never
 * cross a document boundary: a block starts at its document's first token or
 * ATT_BLOCK tokens after the previous block. A document's blocks, and so every
 * product and sum computed for it, are then the same wherever packing put it
 * in a row. The blocks of sequence b are blocks[first[b] .. first[b+1]); the
 * caller frees the array. Documents are contiguous runs of equal doc_start. */
static QueryBlock *query_blocks(const int *doc_start, int B, int T, int *first /* (B+1) */) {
    QueryBlock *blocks = xmalloc(sizeof(QueryBlock) * (size_t)B * T);
    int n = 0;
    for (int b = 0; b < B; b++) {
        first[b] = n;
        const int *ds = doc_start ? doc_start + (size_t)b * T : NULL;
        for (int t0 = 0; t0 < T;) {
            int start = ds ? ds[t0] : 0, end = t0 + 1;
            while (end < T && end - t0 < ATT_BLOCK && (!ds || ds[end] == start)) end++;
            blocks[n++] = (QueryBlock){b, t0, end - t0, start};
            t0 = end;
        }
    }
    first[B] = n;
    return blocks;
}

/* Turns the raw scores of row i (query t) into probabilities in place, zeroing
 * masked keys. Keys are numbered from kmin; visible ones are [start, t]. */
static void mask_and_exp_row(float *s, int nk, int kmin, int start, int t, float subtract) {
    int lo = start - kmin, hi = t - kmin + 1; /* visible: [lo, hi) */
    for (int j = 0; j < lo; j++) s[j] = 0;
#pragma omp simd
    for (int j = lo; j < hi; j++) s[j] = fast_expf(s[j] - subtract);
    for (int j = hi; j < nk; j++) s[j] = 0;
}

void attention_forward(float *out, float *lse, const float *qkv, const int *doc_start, int B, int T, int NH, int NKV,
                       int HS) {
    const int Q = NH * HS, KV = NKV * HS, QKV = Q + 2 * KV, group = NH / NKV;
    const float scale = 1.0f / sqrtf((float)HS);
    int *first = xmalloc(sizeof(int) * (size_t)(B + 1));
    QueryBlock *blocks = query_blocks(doc_start, B, T, first);
    const int n_blocks = first[B];
#pragma omp parallel
    {
        float *S = xalloc_floats((size_t)ATT_BLOCK * T); /* (nq, nk) scores, then probabilities */
#pragma omp for schedule(dynamic)
        for (int unit = 0; unit < n_blocks * NH; unit++) {
            const QueryBlock *blk = &blocks[unit / NH];
            int b = blk->b, h = unit % NH, t0 = blk->t0, nq = blk->nq, kmin = blk->kmin, nk = t0 + nq - kmin;
            const float *q = qkv + ((size_t)b * T + t0) * QKV + (size_t)h * HS;
            const float *k = qkv + ((size_t)b * T + kmin) * QKV + Q + (size_t)(h / group) * HS;
            const float *v = k + KV;
            /* S (nq, nk) = scale · q (nq, HS) · kᵀ (HS, nk) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, nk, HS, scale, q, QKV, k, QKV, 0.0f, S, nk);
            for (int i = 0; i < nq; i++) {
                int t = t0 + i, start = doc_start ? doc_start[(size_t)b * T + t] : 0;
                float *s = S + (size_t)i * nk, max = -INFINITY;
                for (int j = start - kmin; j <= t - kmin; j++) max = max_f(max, s[j]);
                mask_and_exp_row(s, nk, kmin, start, t, max);
                /* only the visible keys, counted from the document's first: the same sum wherever the
                 * document was packed (the masked ones are zero) */
                float sum = sum_fixed(s + (start - kmin), t - start + 1);
                float inv = 1.0f / sum;
#pragma omp simd
                for (int j = 0; j < nk; j++) s[j] *= inv;
                lse[((size_t)b * NH + h) * T + t] = max + logf(sum);
            }
            /* out (nq, HS) = P (nq, nk) · v (nk, HS) */
            float *o = out + ((size_t)b * T + t0) * Q + (size_t)h * HS;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, HS, nk, 1.0f, S, nk, v, QKV, 0.0f, o, Q);
        }
        free(S);
    }
    free(blocks);
    free(first);
}

void attention_backward(float *dqkv, const float *dout, const float *out, const float *qkv, const float *lse,
                        const int *doc_start, int B, int T, int NH, int NKV, int HS) {
    const int Q = NH * HS, KV = NKV * HS, QKV = Q + 2 * KV, group = NH / NKV;
    const float scale = 1.0f / sqrtf((float)HS);
    int *first = xmalloc(sizeof(int) * (size_t)(B + 1));
    QueryBlock *blocks = query_blocks(doc_start, B, T, first);
#pragma omp parallel
    {
        float *P = xalloc_floats((size_t)ATT_BLOCK * T);  /* (nq, nk) recomputed probabilities */
        float *dS = xalloc_floats((size_t)ATT_BLOCK * T); /* (nq, nk) dP, then dS */
        float *D = xalloc_floats(ATT_BLOCK);              /* (nq) rowsum(dO ∘ O) */
#pragma omp for schedule(dynamic)
        for (int unit = 0; unit < B * NKV; unit++) {
            int b = unit / NKV, kvh = unit % NKV;
            const float *k_seq = qkv + (size_t)b * T * QKV + Q + (size_t)kvh * HS, *v_seq = k_seq + KV;
            float *dk_seq = dqkv + (size_t)b * T * QKV + Q + (size_t)kvh * HS, *dv_seq = dk_seq + KV;
            for (int t = 0; t < T; t++) {
                memset(dk_seq + (size_t)t * QKV, 0, sizeof(float) * HS);
                memset(dv_seq + (size_t)t * QKV, 0, sizeof(float) * HS);
            }
            for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                for (int i_blk = first[b]; i_blk < first[b + 1]; i_blk++) {
                    int t0 = blocks[i_blk].t0, nq = blocks[i_blk].nq, kmin = blocks[i_blk].kmin, nk = t0 + nq - kmin;
                    const float *q = qkv + ((size_t)b * T + t0) * QKV + (size_t)h * HS;
                    const float *k = k_seq + (size_t)kmin * QKV, *v = v_seq + (size_t)kmin * QKV;
                    const float *o = out + ((size_t)b * T + t0) * Q + (size_t)h * HS;
                    const float *dO = dout + ((size_t)b * T + t0) * Q + (size_t)h * HS;
                    float *dq = dqkv + ((size_t)b * T + t0) * QKV + (size_t)h * HS;
                    float *dk = dk_seq + (size_t)kmin * QKV, *dv = dv_seq + (size_t)kmin * QKV;
                    const float *row_lse = lse + ((size_t)b * NH + h) * T + t0;

                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, nk, HS, scale, q, QKV, k, QKV, 0.0f, P,
                                nk);
                    for (int i = 0; i < nq; i++) {
                        int t = t0 + i, start = doc_start ? doc_start[(size_t)b * T + t] : 0;
                        mask_and_exp_row(P + (size_t)i * nk, nk, kmin, start, t, row_lse[i]);
                        D[i] = dot_fixed(dO + (size_t)i * Q, o + (size_t)i * Q, HS);
                    }
                    /* dV (nk, HS) += Pᵀ (nk, nq) · dO (nq, HS) */
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, HS, nq, 1.0f, P, nk, dO, Q, 1.0f, dv, QKV);
                    /* dP (nq, nk) = dO (nq, HS) · vᵀ (HS, nk) */
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, nk, HS, 1.0f, dO, Q, v, QKV, 0.0f, dS, nk);
                    for (int i = 0; i < nq; i++) {
                        float *ds = dS + (size_t)i * nk;
                        const float *p = P + (size_t)i * nk;
#pragma omp simd
                        for (int j = 0; j < nk; j++) ds[j] = p[j] * (ds[j] - D[i]);
                    }
                    /* dQ (nq, HS) = scale · dS (nq, nk) · k (nk, HS) */
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, HS, nk, scale, dS, nk, k, QKV, 0.0f, dq,
                                QKV);
                    /* dK (nk, HS) += scale · dSᵀ (nk, nq) · q (nq, HS) */
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, HS, nq, scale, dS, nk, q, QKV, 1.0f, dk,
                                QKV);
                }
            }
        }
        free(P);
        free(dS);
        free(D);
    }
    free(blocks);
    free(first);
}

/* One work unit is one (row, head) pair: its scores against keys 0..pos live
 * in a per-thread buffer, become unnormalised probabilities, and weight the
 * values. Sums are reduce.h's fixed trees, so a unit's result depends on its
 * own row alone. */
void attention_decode(float *out, const float *q, int q_stride, const float *k, const float *v, const int *seq,
                      size_t seq_stride, const int *pos, int N, int NH, int NKV, int HS) {
    const int KV = NKV * HS, Q = NH * HS, group = NH / NKV;
    const float scale = 1.0f / sqrtf((float)HS);
    double work = 0; /* multiply-adds, to leave small calls on one thread */
    int max_keys = 0;
    for (int i = 0; i < N; i++) {
        work += 2.0 * (pos[i] + 1) * NH * HS;
        if (pos[i] + 1 > max_keys) max_keys = pos[i] + 1;
    }
#pragma omp parallel if (work > 32768)
    {
        float *p = xalloc_floats((size_t)max_keys); /* scores, then unnormalised probabilities */
#pragma omp for schedule(dynamic)
        for (int unit = 0; unit < N * NH; unit++) {
            int i = unit / NH, h = unit % NH, n_keys = pos[i] + 1;
            const float *qh = q + (size_t)i * q_stride + (size_t)h * HS;
            const float *kh = k + (size_t)seq[i] * seq_stride + (size_t)(h / group) * HS; /* key 0 of its kv head */
            const float *vh = v + (size_t)seq[i] * seq_stride + (size_t)(h / group) * HS;
            float max = -INFINITY;
            for (int j = 0; j < n_keys; j++) {
                p[j] = dot_fixed(qh, kh + (size_t)j * KV, HS) * scale;
                max = max_f(max, p[j]);
            }
#pragma omp simd
            for (int j = 0; j < n_keys; j++) p[j] = fast_expf(p[j] - max);
            float sum = sum_fixed(p, n_keys);
            float *o = out + (size_t)i * Q + (size_t)h * HS, inv = 1.0f / sum;
            for (int e = 0; e < HS; e++) o[e] = 0;
            for (int j = 0; j < n_keys; j++) {
                const float *vj = vh + (size_t)j * KV;
                float pj = p[j] * inv;
#pragma omp simd
                for (int e = 0; e < HS; e++) o[e] += pj * vj[e];
            }
        }
        free(p);
    }
}
