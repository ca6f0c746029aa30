/* attention.c — causal grouped-query attention with O(T) memory per head.
 *
 * Forward: for one sequence b, one head h and one block of up to ATT_BLOCK
 * queries, score the block against the keys it may see (S = q·kᵀ/sqrt(HS)),
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

#include "../base/util.h"
#include "fastmath.h"
#include "kernels.h"

#define ATT_BLOCK 64

/* The first key position any query of [t0, t0+nq) may see. Documents are
 * contiguous, so doc_start is non-decreasing along a sequence. */
static int first_visible_key(const int *doc_start, int b, int T, int t0) {
    return doc_start ? doc_start[(size_t)b * T + t0] : 0;
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
    const int n_blocks = (T + ATT_BLOCK - 1) / ATT_BLOCK;
    const float scale = 1.0f / sqrtf((float)HS);
#pragma omp parallel
    {
        float *S = xalloc_floats((size_t)ATT_BLOCK * T); /* (nq, nk) scores, then probabilities */
#pragma omp for schedule(dynamic)
        for (int unit = 0; unit < B * NH * n_blocks; unit++) {
            int b = unit / (NH * n_blocks), h = unit / n_blocks % NH, blk = unit % n_blocks;
            int t0 = blk * ATT_BLOCK, nq = LMF_MIN(ATT_BLOCK, T - t0);
            int kmin = first_visible_key(doc_start, b, T, t0), nk = t0 + nq - kmin;
            const float *q = qkv + ((size_t)b * T + t0) * QKV + (size_t)h * HS;
            const float *k = qkv + ((size_t)b * T + kmin) * QKV + Q + (size_t)(h / group) * HS;
            const float *v = k + KV;
            /* S (nq, nk) = scale · q (nq, HS) · kᵀ (HS, nk) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, nk, HS, scale, q, QKV, k, QKV, 0.0f, S, nk);
            for (int i = 0; i < nq; i++) {
                int t = t0 + i, start = doc_start ? doc_start[(size_t)b * T + t] : 0;
                float *s = S + (size_t)i * nk, max = -INFINITY, sum = 0;
                for (int j = start - kmin; j <= t - kmin; j++) max = max_f(max, s[j]);
                mask_and_exp_row(s, nk, kmin, start, t, max);
#pragma omp simd reduction(+ : sum)
                for (int j = 0; j < nk; j++) sum += s[j];
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
}

void attention_backward(float *dqkv, const float *dout, const float *out, const float *qkv, const float *lse,
                        const int *doc_start, int B, int T, int NH, int NKV, int HS) {
    const int Q = NH * HS, KV = NKV * HS, QKV = Q + 2 * KV, group = NH / NKV;
    const int n_blocks = (T + ATT_BLOCK - 1) / ATT_BLOCK;
    const float scale = 1.0f / sqrtf((float)HS);
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
                for (int blk = 0; blk < n_blocks; blk++) {
                    int t0 = blk * ATT_BLOCK, nq = LMF_MIN(ATT_BLOCK, T - t0);
                    int kmin = first_visible_key(doc_start, b, T, t0), nk = t0 + nq - kmin;
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
                        float d = 0;
#pragma omp simd reduction(+ : d)
                        for (int c = 0; c < HS; c++) d += dO[(size_t)i * Q + c] * o[(size_t)i * Q + c];
                        D[i] = d;
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
}
