/* kv_cache.c — the cached (incremental) forward pass; see kv_cache.h.
 *
 * Each layer is layer.h's, over the N new rows, with the batch-invariant
 * linear kernel, and attention that first writes each new row's k and v into
 * its sequence's cache at its position, then takes each query against its own
 * sequence's cached keys 0..pos (attention_decode). Then the head on the rows
 * whose output is wanted. The keys and values of all new rows are stored
 * before attention, so rows of one sequence fed together (a prompt) see each
 * other causally, exactly as if fed one at a time. */
#include "kv_cache.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../base/util.h"
#include "../kernels/kernels.h"
#include "layer.h"
#include "lora.h"

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

/* Makes the working buffers hold at least `rows` rows, with room for the
 * scratch of m's LoRA adapters if it has any. */
static void ensure_work(KvCache *kv, const Model *m, size_t rows) {
    const ModelConfig *c = &m->cfg;
    size_t rank = m->lora ? (size_t)m->lora->cfg.rank : 0;
    if (kv->work && rows <= kv->rows && rank <= kv->lora_rank) return;
    rows = LMF_MAX(rows, kv->rows);
    rank = LMF_MAX(rank, kv->lora_rank);
    size_t C = (size_t)c->dim, F = (size_t)c->ffn_hidden, QKV = (size_t)config_qkv_width(c);
    size_t Q = (size_t)config_q_width(c), lora_y = rank ? (size_t)config_widest_projection(c) : 0;
    free(kv->work);
    free(kv->pos);
    kv->work = xalloc_floats(rows * (3 * C + 1 + QKV + Q + 3 * F + rank + lora_y));
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
    kv->lora_u = TAKE(rows * rank);
    kv->lora_y = TAKE(rows * lora_y);
#undef TAKE
    kv->rows = rows;
    kv->lora_rank = rank;
}

/* What the layer's hooks need beyond the LayerPass: the cache, the sequence
 * of each row, and the rows' share of the adapters' scratch. */
typedef struct {
    const Model *m;
    KvCache *kv;
    const int *seq;        /* (N) */
    float *lora_u, *lora_y; /* (N, r), (N, max(C, F, Q)) */
} Decoding;

/* Stores the new rows' keys and values in their sequences' caches, then
 * attends each query to its sequence's keys 0..pos. */
static void cached_attention(const LayerPass *p, int layer, float *att, float *lse, const float *qkv) {
    (void)lse;
    const Decoding *d = p->ctx;
    const ModelConfig *c = &d->m->cfg;
    KvCache *kv = d->kv;
    const int Q = config_q_width(c), QKV = config_qkv_width(c), KV = kv->kv_width;
    for (int i = 0; i < p->N; i++) {
        const float *k = qkv + (size_t)i * QKV + Q;
        memcpy(cache_row(kv, kv->k, layer, d->seq[i], p->pos[i]), k, sizeof(float) * KV);
        memcpy(cache_row(kv, kv->v, layer, d->seq[i], p->pos[i]), k + KV, sizeof(float) * KV);
    }
    attention_decode(att, qkv, QKV, cache_row(kv, kv->k, layer, 0, 0), cache_row(kv, kv->v, layer, 0, 0), d->seq,
                     (size_t)kv->max_len * KV, p->pos, p->N, c->n_heads, c->n_kv_heads, config_head_size(c));
}

static void invariant_adapter(const LayerPass *p, int layer, LoraSite site, float *out, const float *in) {
    const Decoding *d = p->ctx;
    lora_forward_invariant(d->m->lora, layer, site, out, in, p->N, d->lora_u, d->lora_y);
}

/* Rows [lo, hi) of the call through every layer, leaving their residual
 * stream in kv->x. Their sequences must not appear in the other rows when
 * several threads run this at once (a row attends to its sequence's keys,
 * written in the same layer). The residual stream is updated in place and the
 * two norms share one buffer: nothing is kept for a backward pass. */
static void layers_forward(const Model *m, KvCache *kv, const int *seq, int lo, int hi) {
    const ModelConfig *c = &m->cfg;
    const int C = c->dim, F = c->ffn_hidden, Q = config_q_width(c), QKV = config_qkv_width(c);
    float *x = kv->x + (size_t)lo * C, *xn = kv->xn + (size_t)lo * C, *rstd = kv->rstd + lo;
    LayerActs a = {.x = x, .xn1 = xn, .rstd1 = rstd, .qkv = kv->qkv + (size_t)lo * QKV, .att = kv->att + (size_t)lo * Q,
                   .x2 = x, .xn2 = xn, .rstd2 = rstd, .gu = kv->gu + (size_t)lo * 2 * F, .h = kv->h + (size_t)lo * F};
    Decoding d = {m, kv, seq + lo, kv->lora_u + (size_t)lo * kv->lora_rank,
                  kv->lora_y + (size_t)lo * (kv->lora_rank ? (size_t)config_widest_projection(c) : 0)};
    LayerPass pass = {.N = hi - lo, .pos = kv->pos + lo, .linear = linear_forward_invariant,
                      .attention = cached_attention, .adapter = m->lora ? invariant_adapter : NULL, .ctx = &d};
    for (int l = 0; l < c->n_layers; l++) layer_forward(m, l, &pass, &a, x);
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
    ensure_work(kv, m, (size_t)LMF_MAX(N, n_out));
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
