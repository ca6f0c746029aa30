/* kernels.h — the operations of the transformer, forward and backward: the
 * compute seam. The tensor work of the model's layers, LoRA's products,
 * cached attention and the objectives' log-probs goes through these, and
 * nothing outside src/kernels/ calls BLAS (scripts/check_layers.sh checks
 * it); what stays outside is per-element host work (sampling, LoRA's dropout
 * masks, the objectives' scalar arithmetic). One backend implements them,
 * chosen when building: src/kernels/$(BACKEND)/, BACKEND=cpu by default
 * (OpenMP, OpenBLAS, AVX-512 / AVX2 / portable C).
 *
 * Every kernel works on plain row-major fp32 arrays; shapes use the glossary
 * of model/config.h, with N = B*T rows. Backward kernels ACCUMULATE into
 * parameter gradients (so gradient accumulation over micro-batches is free)
 * and say explicitly whether they overwrite or accumulate input gradients.
 * Threading is OpenMP with static partitions and fixed-order reductions, so
 * a fixed thread count gives bit-identical results run after run. */
#ifndef LMF_KERNELS_H
#define LMF_KERNELS_H

#include <stddef.h>

/* Elements below which an element-wise kernel stays on one thread: waking a
 * second costs more than it saves (one token of decoding), and costs a lot on
 * a busy machine. Rows are computed the same way either way. */
#define SMALL_WORK 16384

/* ---- linear layers (matmul.c), through BLAS sgemm ---- */
/* out (N,OUT) = in (N,IN) · W^T (W is (OUT,IN)) + bias (OUT, may be NULL).
 * accumulate: add to out instead of overwriting it (the residual stream). */
void linear_forward(float *out, const float *in, const float *W, const float *bias, int N, int IN, int OUT,
                    int accumulate);
/* din (N,IN) = dout · W (overwritten; skipped when din is NULL);
 * dW (OUT,IN) += dout^T · in and dbias (OUT) += column sums of dout (each skipped when NULL). */
void linear_backward(float *din, float *dW, float *dbias, const float *dout, const float *in, const float *W, int N,
                     int IN, int OUT);

/* A general product, for the small matrices of LoRA adapters: C (M, Nc) = alpha · op(A) · op(B) + beta · C, all
 * row-major, with row strides lda, ldb, ldc (so A, B or C may be a column range of a wider array); op(A) is (M, K):
 * A itself, or Aᵀ of an A stored (K, M) when transA; likewise op(B) (K, Nc). One BLAS call, threaded by BLAS. */
void matmul(int transA, int transB, int M, int Nc, int K, float alpha, const float *A, int lda, const float *B, int ldb,
            float beta, float *C, int ldc);

/* Which BLAS library the linear layers run and on which of its kernels, e.g.
 * "OpenBLAS 0.3.21 SkylakeX" (a static string; for benchmark reports). */
const char *blas_description(void);
/* Called first thing in main(): when the BLAS library fell back to kernels far older than this CPU (Debian 12's
 * OpenBLAS on CPUs newer than itself), runs the program again with the right ones; returns otherwise. */
void blas_prefer_fast_kernels(char **argv);

/* ---- batch-invariant linear layer (matmul_invariant.c), for generation ---- */
/* The contract of linear_forward, but every output element is computed by the same sequence of operations
 * whatever N is and wherever its row sits: a row's result never depends on the other rows of the batch (BLAS
 * sgemm changes its summation order with N), so sampling gives the same tokens at any batch size. Fast for the
 * few rows of a decoding step, and fine for prefill. */
void linear_forward_invariant(float *out, const float *in, const float *W, const float *bias, int N, int IN, int OUT,
                              int accumulate);

/* ---- RMSNorm (rmsnorm.c) ---- */
/* out (N,C) = x / rms(x) * w; rstd (N) keeps 1/rms(x) for the backward pass. */
void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C, float eps);
/* dx (N,C) += ∂loss/∂x; dw (C) += ∂loss/∂w (skipped when dw is NULL: a frozen norm). */
void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd,
                      int N, int C);

/* ---- per-head RMSNorm (rmsnorm.c), Qwen3's q_norm and k_norm ---- */
/* Each of the n_heads heads of size HS in each of the N rows of x (row stride x_stride, the heads of a row
 * adjacent) is normalised on its own and scaled by w (HS), which the heads share; out likewise (row stride
 * out_stride), and may be x itself (in place). rstd (N, n_heads) keeps 1/rms of each head, or is NULL. */
void rmsnorm_heads_forward(float *out, int out_stride, float *rstd, const float *x, int x_stride, const float *w,
                           int N, int n_heads, int HS, float eps);
/* dx = ∂loss/∂x (OVERWRITTEN, row stride dx_stride) from dout (row stride dout_stride), which dx may be (in place);
 * dw (HS) += ∂loss/∂w (skipped when NULL: a frozen norm). */
void rmsnorm_heads_backward(float *dx, int dx_stride, float *dw, const float *dout, int dout_stride, const float *x,
                            int x_stride, const float *w, const float *rstd, int N, int n_heads, int HS);

/* ---- rotary position embedding (rope.c), Hugging Face's rotate-half convention ---- */
/* cos/sin tables (max_T, HS/2): angle = pos * theta^(-2i/HS). */
void rope_tables(float *cos_table, float *sin_table, int max_T, int HS, float theta);
/* The same tables from given inverse frequencies inv_freq (HS/2): angle = pos * inv_freq[i] (RoPE scaling,
 * config.h's config_rope_inv_freq). */
void rope_tables_freq(float *cos_table, float *sin_table, int max_T, int HS, const float *inv_freq);
/* Rotates the first n_heads heads of size HS of each row of x (N rows with stride row_stride), row n at
 * position pos[n]. inverse = 1 rotates by the negative angle: the backward pass of a rotation. */
void rope_apply(float *x, int N, int row_stride, int n_heads, int HS, const int *pos, const float *cos_table,
                const float *sin_table, int inverse);

/* ---- causal grouped-query attention (attention.c) ---- */
/* qkv (N=B*T, QKV): each row holds q (NH heads), k (NKV heads), v (NKV heads), q and k already rotated.
 * out (N, Q) = softmax(q·k^T/sqrt(HS)) · v over keys j with doc_start[t] <= j <= t (doc_start (N) gives, for each
 * token, the index within its sequence where its document starts: a block-diagonal causal mask for packed
 * sequences; NULL means 0, plain causal). lse (B,NH,T) keeps each row's log-sum-exp for the backward pass.
 * Memory: no (T,T) matrix is stored; each thread scores one block of queries at a time. */
void attention_forward(float *out, float *lse, const float *qkv, const int *doc_start, int B, int T, int NH, int NKV,
                       int HS);
/* dqkv (N, QKV) = gradients of q, k, v (overwritten), from dout (N, Q); probabilities are recomputed from lse. */
void attention_backward(float *dqkv, const float *dout, const float *out, const float *qkv, const float *lse,
                        const int *doc_start, int B, int T, int NH, int NKV, int HS);

/* Attention of new tokens against cached keys, for decoding. Row i of q (N rows, row stride q_stride) holds NH
 * query heads of size HS, already rotated; it belongs to sequence seq[i] and sits at position pos[i] in it. The
 * keys of sequence s are rows of KV = NKV·HS floats starting at k + s·seq_stride, key j at + j·KV (after RoPE), the
 * values the same rows of v. out (N, Q) = softmax(q·kᵀ/sqrt(HS)) · v over that sequence's keys 0..pos[i]. Every
 * (row, head) is computed by the same operations whatever the other rows are: a row's output does not depend on
 * the batch. Close to attention_forward's on the same keys, not equal (its sums run in another order). */
void attention_decode(float *out, const float *q, int q_stride, const float *k, const float *v, const int *seq,
                      size_t seq_stride, const int *pos, int N, int NH, int NKV, int HS);

/* ---- SwiGLU (swiglu.c) ---- */
/* gu (N, 2F) holds gate | up; h (N,F) = silu(gate) * up. */
void swiglu_forward(float *h, const float *gu, int N, int F);
/* dgu (N, 2F) = gradient of gate | up (overwritten) from dh (N, F). */
void swiglu_backward(float *dgu, const float *dh, const float *gu, int N, int F);

/* ---- log-probabilities of chosen tokens (logprob.c): the start of every objective ---- */
/* For each row n of logits (N, V) with targets[n] >= 0: logp[n] = log softmax(logits[n] * inv_temp)[targets[n]];
 * lse[n] keeps the log-sum-exp for the backward pass; entropy[n] (optional, may be NULL) the softmax's entropy.
 * Rows with targets[n] < 0 (e.g. -100) get logp = 0 and are not counted. */
void logprob_forward(const float *logits, const int *targets, int N, int V, float inv_temp, float *logp, float *lse,
                     float *entropy);
/* Overwrites logits (N, V) with ∂loss/∂logits given dlogp (N) = ∂loss/∂logp:
 * dlogits[n] = dlogp[n] * inv_temp * (onehot(targets[n]) - softmax(logits[n] * inv_temp)); rows with
 * targets[n] < 0 become zero. */
void logprob_backward(float *logits, const int *targets, const float *dlogp, const float *lse, int N, int V,
                      float inv_temp);

/* ---- embedding (embedding.c) ---- */
void embedding_forward(float *out, const int *tokens, const float *table, int N, int C);
/* dtable[tokens[n]] += dout[n]; deterministic. */
void embedding_backward(float *dtable, const float *dout, const int *tokens, int N, int C);

/* ---- optimizer (adamw.c) ---- */
/* One AdamW step (decoupled weight decay, bias-corrected moments) on n values, with the gradient multiplied by
 * grad_scale (gradient clipping); step counts from 1. */
void adamw_update(float *param, const float *grad, float grad_scale, float *m, float *v, size_t n, float lr,
                  float beta1, float beta2, float eps, float weight_decay, long step);
/* Sum of squares in double, reduced in a fixed order (deterministic). */
double sum_squares(const float *x, size_t n);

#endif
