/* kv_cache.c — the cached (incremental) forward pass; see kv_cache.h.
 *
 * Per layer, for the N new rows (x is the residual stream):
 *   xn = rmsnorm(x)                 qkv = xn·Wqkvᵀ (+ b), RoPE at each row's position
 *   k, v of each row → its sequence's cache at its position
 *   att = each query against its own sequence's cached keys 0..pos (attention_decode)
 *   x += att·Woᵀ                    x += swiglu(rmsnorm(x)·Wguᵀ)·Wdownᵀ
 * then the head on the rows whose output is wanted. The keys and values of all
 * new rows are stored before attention, so rows of one sequence fed together
 * (a prompt) see each other causally, exactly as if fed one at a time. */
#include "kv_cache.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../base/util.h"
#include "../kernels/kernels.h"

size_t kv_cache_bytes(const ModelConfig *c, int n_seqs, int max_len) {
    return 2 * sizeof(float) * (size_t)c->n_layers * (size_t)n_seqs * (size_t)max_len * (size_t)config_kv_width(c);
}

KvCache *kv_cache_new(const ModelConfig *c, int n_seqs, int max_len) {
    if (n_seqs < 1 || max_len < 1) die("KV cache of %d sequences x %d tokens is empty", n_seqs, max_len);
    if (max_len > c->max_seq_len)
        die("KV cache of %d tokens is longer than the model's context (%d)", max_len, c->max_seq_len);
    KvCache *kv = xcalloc(1, sizeof(KvCache));
    kv->n_layers = c->n_layers;
    kv->n_seqs = n_seqs;
    kv->max_len = max_len;
    kv->kv_width = config_kv_width(c);
    size_t n = (size_t)c->n_layers * n_seqs * max_len * kv->kv_width;
    kv->k = xalloc_floats(n);
    kv->v = xalloc_floats(n);
    kv->len = xcalloc((size_t)n_seqs, sizeof(int));
    return kv;
}

void kv_cache_free(KvCache *kv) {
    if (!kv) return;
    free(kv->k);
    free(kv->v);
    free(kv->len);
    free(kv->work);
    free(kv->pos);
    free(kv);
}

void kv_cache_clear(KvCache *kv) { memset(kv->len, 0, sizeof(int) * (size_t)kv->n_seqs); }

/* Row t of sequence s in layer l of a (L, S, max_len, KV) buffer. */
static float *cache_row(const KvCache *kv, float *base, int l, int s, int t) {
    return base + (((size_t)l * kv->n_seqs + s) * kv->max_len + t) * kv->kv_width;
}

void kv_cache_copy_seq(KvCache *kv, int dst, int src) {
    size_t bytes = sizeof(float) * (size_t)kv->len[src] * kv->kv_width;
    for (int l = 0; l < kv->n_layers; l++) {
        memcpy(cache_row(kv, kv->k, l, dst, 0), cache_row(kv, kv->k, l, src, 0), bytes);
        memcpy(cache_row(kv, kv->v, l, dst, 0), cache_row(kv, kv->v, l, src, 0), bytes);
    }
    kv->len[dst] = kv->len[src];
}

/* Makes the working buffers hold at least `rows` rows. */
static void ensure_work(KvCache *kv, const ModelConfig *c, size_t rows) {
    if (kv->work && rows <= kv->rows) return;
    size_t C = (size_t)c->dim, F = (size_t)c->ffn_hidden, QKV = (size_t)config_qkv_width(c);
    size_t Q = (size_t)config_q_width(c);
    free(kv->work);
    free(kv->pos);
    kv->work = xalloc_floats(rows * (3 * C + 1 + QKV + Q + 3 * F));
    kv->pos = xmalloc(sizeof(int) * rows);
    float *p = kv->work;
#define TAKE(count) (p += (count), p - (count))
    kv->x = TAKE(rows * C);
    kv->xn = TAKE(rows * C);
    kv->rstd = TAKE(rows);
    kv->qkv = TAKE(rows * QKV);
    kv->att = TAKE(rows * Q);
    kv->gu = TAKE(rows * 2 * F);
    kv->h = TAKE(rows * F);
    kv->xout = TAKE(rows * C);
#undef TAKE
    kv->rows = rows;
}

/* Rows [lo, hi) of the call through every layer, leaving their residual
 * stream in kv->x. Their sequences must not appear in the other rows when
 * several threads run this at once (a row attends to its sequence's keys,
 * written in the same layer). */
static void layers_forward(Model *m, KvCache *kv, const int *seq, int lo, int hi) {
    const ModelConfig *c = &m->cfg;
    const int C = c->dim, F = c->ffn_hidden, NH = c->n_heads, NKV = c->n_kv_heads, HS = config_head_size(c);
    const int Q = config_q_width(c), QKV = config_qkv_width(c), KV = kv->kv_width, N = hi - lo;
    float *x = kv->x + (size_t)lo * C, *xn = kv->xn + (size_t)lo * C, *rstd = kv->rstd + lo;
    float *qkv = kv->qkv + (size_t)lo * QKV, *att = kv->att + (size_t)lo * Q, *gu = kv->gu + (size_t)lo * 2 * F;
    float *h = kv->h + (size_t)lo * F;
    const int *pos = kv->pos + lo;
    seq += lo;
    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights *w = &m->w.layers[l];
        rmsnorm_forward(xn, rstd, x, w->attn_norm, N, C, c->norm_eps);
        linear_forward_invariant(qkv, xn, w->wqkv, w->bqkv, N, C, QKV, 0);
        rope_apply(qkv, N, QKV, NH + NKV, HS, pos, m->rope_cos, m->rope_sin, 0);
        for (int i = 0; i < N; i++) {
            const float *k = qkv + (size_t)i * QKV + Q;
            memcpy(cache_row(kv, kv->k, l, seq[i], pos[i]), k, sizeof(float) * KV);
            memcpy(cache_row(kv, kv->v, l, seq[i], pos[i]), k + KV, sizeof(float) * KV);
        }
        attention_decode(att, qkv, QKV, cache_row(kv, kv->k, l, 0, 0), cache_row(kv, kv->v, l, 0, 0), seq,
                         (size_t)kv->max_len * KV, pos, N, NH, NKV, HS);
        linear_forward_invariant(x, att, w->wo, NULL, N, Q, C, 1);

        rmsnorm_forward(xn, rstd, x, w->mlp_norm, N, C, c->norm_eps);
        linear_forward_invariant(gu, xn, w->wgu, NULL, N, C, 2 * F, 0);
        swiglu_forward(h, gu, N, F);
        linear_forward_invariant(x, h, w->wdown, NULL, N, F, C, 1);
    }
}

/* Whether no sequence has two rows in the call (a decoding step). */
static int one_row_per_sequence(const KvCache *kv, const int *seq, int N) {
    char *seen = xcalloc((size_t)kv->n_seqs, 1);
    int distinct = 1;
    for (int i = 0; i < N && distinct; i++) distinct = !seen[seq[i]]++;
    free(seen);
    return distinct;
}

/* Rows per thread below which splitting a decoding step by sequences does not pay. */
#define MIN_ROWS_PER_THREAD 4

void model_forward_cached(Model *m, KvCache *kv, const int *tokens, const int *seq, int N, const int *out_rows,
                          int n_out, float *out) {
    const ModelConfig *c = &m->cfg;
    const int C = c->dim;
    if (N < 1) return;
    ensure_work(kv, c, (size_t)LMF_MAX(N, n_out));
    for (int i = 0; i < N; i++) {
        if (seq[i] < 0 || seq[i] >= kv->n_seqs) die("cached forward: sequence %d is not in the cache", seq[i]);
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            die("token id %d is outside the vocabulary (size %d)", tokens[i], c->vocab_size);
        if (kv->len[seq[i]] >= kv->max_len)
            die("sequence %d is longer than its KV cache (%d tokens)", seq[i], kv->max_len);
        kv->pos[i] = kv->len[seq[i]]++;
    }
    for (int r = 0; r < n_out; r++)
        if (out_rows[r] < 0 || out_rows[r] >= N) die("cached forward: output row %d is not among %d rows", out_rows[r], N);

    embedding_forward(kv->x, tokens, m->w.embed, N, C);
    /* Decoding many sequences, each thread takes its share of them through
     * all the layers: one fork and join per step rather than one per
     * operation, and no thread waits for another between layers (which costs
     * dearly on a busy machine). Each row's arithmetic is the same either way.
     * Otherwise (a prompt, or few sequences) the kernels share out each
     * operation. */
    int threads = omp_get_max_threads();
    if (threads > 1 && N >= threads * MIN_ROWS_PER_THREAD && one_row_per_sequence(kv, seq, N)) {
#pragma omp parallel
        {
            int nt = omp_get_num_threads(), id = omp_get_thread_num();
            layers_forward(m, kv, seq, (int)((long)N * id / nt), (int)((long)N * (id + 1) / nt));
        }
    } else {
        layers_forward(m, kv, seq, 0, N);
    }
    if (n_out < 1) return;
    /* The head only for the rows asked for: a prompt needs logits at its last token alone. */
    for (int r = 0; r < n_out; r++) memcpy(kv->xout + (size_t)r * C, kv->x + (size_t)out_rows[r] * C, sizeof(float) * C);
    rmsnorm_forward(kv->xn, kv->rstd, kv->xout, m->w.final_norm, n_out, C, c->norm_eps);
    linear_forward_invariant(out, kv->xn, m->w.head, NULL, n_out, C, config_out_width(c), 0);
}
