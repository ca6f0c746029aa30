/* test_kernels.c — every kernel's backward pass against finite differences.
 *
 * Each test builds a scalar loss L = Σ out · R (R random), gets ∂L/∂input from
 * the backward kernel with dout = R, and compares with central differences
 * (L(x+h) − L(x−h)) / 2h on a sample of inputs, the loss summed in double.
 * The tolerance (a few percent of the gradient's scale) is far below what a
 * wrong sign, a missing term or a wrong index would produce. */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "../src/kernels/kernels.h"
#include "test.h"

typedef double (*LossFn)(void *ctx);

static void fill_normal(float *x, size_t n, Rng *r, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = scale * rng_normal(r);
}

static double dot_double(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* Compares analytic[i] with the central difference of loss() in x[i] for up to
 * 48 indices spread over the array. */
static void check_grad(const char *what, float *x, size_t n, const float *analytic, LossFn loss, void *ctx) {
    double scale = 1e-3;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(analytic[i]));
    size_t stride = n > 48 ? n / 48 : 1;
    for (size_t i = 0; i < n; i += stride) {
        float saved = x[i], h = 1e-3f * fmaxf(1.0f, fabsf(saved));
        x[i] = saved + h;
        double up = loss(ctx);
        x[i] = saved - h;
        double down = loss(ctx);
        x[i] = saved;
        double fd = (up - down) / (2.0 * h);
        if (fabs(fd - analytic[i]) > 1e-2 * scale + 1e-4) {
            test_fail(__FILE__, __LINE__, "%s[%zu]: analytic %.6g, finite difference %.6g (scale %.3g)", what, i,
                      (double)analytic[i], fd, scale);
            return;
        }
    }
}

/* ---- linear ---- */
typedef struct { int N, IN, OUT; float *in, *W, *b, *out, *R; } LinearCtx;
static double linear_loss(void *p) {
    LinearCtx *c = p;
    linear_forward(c->out, c->in, c->W, c->b, c->N, c->IN, c->OUT, 0);
    return dot_double(c->out, c->R, (size_t)c->N * c->OUT);
}
TEST(linear_gradients) {
    Rng r;
    rng_seed(&r, 1);
    LinearCtx c = {.N = 7, .IN = 13, .OUT = 5};
    c.in = xalloc_floats(7 * 13); c.W = xalloc_floats(5 * 13); c.b = xalloc_floats(5);
    c.out = xalloc_floats(7 * 5); c.R = xalloc_floats(7 * 5);
    fill_normal(c.in, 7 * 13, &r, 1); fill_normal(c.W, 5 * 13, &r, 1); fill_normal(c.b, 5, &r, 1); fill_normal(c.R, 35, &r, 1);
    float *din = xalloc_floats(7 * 13), *dW = xalloc_floats(5 * 13), *db = xalloc_floats(5);
    linear_backward(din, dW, db, c.R, c.in, c.W, 7, 13, 5);
    check_grad("linear din", c.in, 7 * 13, din, linear_loss, &c);
    check_grad("linear dW", c.W, 5 * 13, dW, linear_loss, &c);
    check_grad("linear dbias", c.b, 5, db, linear_loss, &c);
    /* accumulate = 1 adds to what out holds */
    float *acc = xalloc_floats(35);
    for (int i = 0; i < 35; i++) acc[i] = 1.0f;
    linear_forward(acc, c.in, c.W, c.b, 7, 13, 5, 1);
    linear_forward(c.out, c.in, c.W, c.b, 7, 13, 5, 0);
    for (int i = 0; i < 35; i++) CHECK_NEAR(acc[i], c.out[i] + 1.0f, 1e-5);
    free(c.in); free(c.W); free(c.b); free(c.out); free(c.R); free(din); free(dW); free(db); free(acc);
}

/* ---- rmsnorm ---- */
typedef struct { int N, C; float *x, *w, *out, *rstd, *R; } NormCtx;
static double norm_loss(void *p) {
    NormCtx *c = p;
    rmsnorm_forward(c->out, c->rstd, c->x, c->w, c->N, c->C, 1e-5f);
    return dot_double(c->out, c->R, (size_t)c->N * c->C);
}
TEST(rmsnorm_gradients) {
    Rng r;
    rng_seed(&r, 2);
    NormCtx c = {.N = 6, .C = 9};
    c.x = xalloc_floats(54); c.w = xalloc_floats(9); c.out = xalloc_floats(54); c.rstd = xalloc_floats(6); c.R = xalloc_floats(54);
    fill_normal(c.x, 54, &r, 1); fill_normal(c.w, 9, &r, 1); fill_normal(c.R, 54, &r, 1);
    norm_loss(&c);
    /* hand check of one row: out = x / sqrt(mean(x^2) + eps) * w */
    double ss = 0;
    for (int i = 0; i < 9; i++) ss += (double)c.x[i] * c.x[i];
    CHECK_NEAR(c.out[3], c.x[3] / sqrt(ss / 9 + 1e-5) * c.w[3], 1e-5);
    float *dx = xalloc_floats(54), *dw = xalloc_floats(9);
    rmsnorm_backward(dx, dw, c.R, c.x, c.w, c.rstd, 6, 9);
    check_grad("rmsnorm dx", c.x, 54, dx, norm_loss, &c);
    check_grad("rmsnorm dw", c.w, 9, dw, norm_loss, &c);
    free(c.x); free(c.w); free(c.out); free(c.rstd); free(c.R); free(dx); free(dw);
}

/* ---- rope ---- */
TEST(rope_rotation_and_inverse) {
    const int HS = 8, N = 3, heads = 2, stride = 20, maxT = 16;
    float cosT[16 * 4], sinT[16 * 4];
    rope_tables(cosT, sinT, maxT, HS, 10000.0f);
    Rng r;
    rng_seed(&r, 3);
    float x[3 * 20], orig[3 * 20];
    fill_normal(x, N * stride, &r, 1);
    memcpy(orig, x, sizeof x);
    int pos[3] = {0, 5, 11};
    rope_apply(x, N, stride, heads, HS, pos, cosT, sinT, 0);
    /* hand-computed rotate-half for row 1, head 1, pair i = 2 */
    double inv_freq = pow(10000.0, -2.0 * 2 / HS), a = 5 * inv_freq;
    const float *o = orig + 1 * stride + HS;
    CHECK_NEAR(x[1 * stride + HS + 2], o[2] * cos(a) - o[2 + 4] * sin(a), 1e-5);
    CHECK_NEAR(x[1 * stride + HS + 6], o[6] * cos(a) + o[2] * sin(a), 1e-5);
    /* position 0 is the identity; elements past the rotated heads are untouched */
    for (int i = 0; i < heads * HS; i++) CHECK_NEAR(x[i], orig[i], 1e-6);
    for (int i = heads * HS; i < stride; i++) CHECK(x[2 * stride + i] == orig[2 * stride + i]);
    /* the inverse rotation (the backward pass) undoes it: a rotation's gradient is its transpose */
    rope_apply(x, N, stride, heads, HS, pos, cosT, sinT, 1);
    for (int i = 0; i < N * stride; i++) CHECK_NEAR(x[i], orig[i], 1e-5);
}

/* ---- attention ---- */
typedef struct { int B, T, NH, NKV, HS; float *qkv, *out, *lse, *R; int *doc_start; } AttCtx;
static double att_loss(void *p) {
    AttCtx *c = p;
    attention_forward(c->out, c->lse, c->qkv, c->doc_start, c->B, c->T, c->NH, c->NKV, c->HS);
    return dot_double(c->out, c->R, (size_t)c->B * c->T * c->NH * c->HS);
}
static void attention_case(int B, int T, int NH, int NKV, int HS, int packed) {
    Rng r;
    rng_seed(&r, 4);
    AttCtx c = {B, T, NH, NKV, HS, 0, 0, 0, 0, 0};
    int QKV = (NH + 2 * NKV) * HS, Q = NH * HS;
    size_t N = (size_t)B * T;
    c.qkv = xalloc_floats(N * QKV); c.out = xalloc_floats(N * Q); c.lse = xalloc_floats(N * NH); c.R = xalloc_floats(N * Q);
    fill_normal(c.qkv, N * QKV, &r, 1); fill_normal(c.R, N * Q, &r, 1);
    if (packed) { /* documents of lengths 3, 1, rest in every sequence */
        c.doc_start = xcalloc(N, sizeof(int));
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) c.doc_start[b * T + t] = t < 3 ? 0 : t < 4 ? 3 : 4;
    }
    att_loss(&c);
    /* a direct O(T²) evaluation of one output element: sequence B-1, head NH-1, last query, element 1 */
    {
        int b = B - 1, h = NH - 1, t = T - 1, kvh = h / (NH / NKV);
        int start = packed ? c.doc_start[b * T + t] : 0;
        const float *q = c.qkv + ((size_t)b * T + t) * QKV + h * HS;
        double w[256], mx = -1e30, sum = 0, o = 0;
        for (int j = start; j <= t; j++) {
            const float *k = c.qkv + ((size_t)b * T + j) * QKV + Q + kvh * HS;
            w[j] = dot_double(q, k, HS) / sqrt(HS);
            mx = fmax(mx, w[j]);
        }
        for (int j = start; j <= t; j++) sum += exp(w[j] - mx);
        for (int j = start; j <= t; j++) o += exp(w[j] - mx) / sum * c.qkv[((size_t)b * T + j) * QKV + Q + NKV * HS + kvh * HS + 1];
        CHECK_NEAR(c.out[((size_t)b * T + t) * Q + h * HS + 1], o, 1e-5);
    }
    float *dqkv = xalloc_floats(N * QKV);
    attention_backward(dqkv, c.R, c.out, c.qkv, c.lse, c.doc_start, B, T, NH, NKV, HS);
    check_grad("attention dqkv", c.qkv, N * QKV, dqkv, att_loss, &c);
    free(c.qkv); free(c.out); free(c.lse); free(c.R); free(c.doc_start); free(dqkv);
}
TEST(attention_gradients_mha) { attention_case(2, 7, 2, 2, 4, 0); }
TEST(attention_gradients_gqa) { attention_case(2, 9, 4, 2, 6, 0); }
TEST(attention_gradients_mqa_long) { attention_case(1, 150, 3, 1, 4, 0); } /* several query blocks */
TEST(attention_gradients_packed) { attention_case(2, 8, 2, 1, 4, 1); }

/* A document packed after another in a row gets the same bits as alone at the
 * row's start: where a batch places a sequence must not change its scores
 * (the softmax's sum once ran over the masked keys too, and its vector lanes
 * then fell differently). The document spans two query blocks. */
TEST(attention_output_does_not_depend_on_where_a_document_is_packed) {
    const int NH = 2, NKV = 1, HS = 8, QKV = (NH + 2 * NKV) * HS, Q = NH * HS, LEN = 70;
    Rng r;
    rng_seed(&r, 9);
    float *doc = xalloc_floats((size_t)LEN * QKV);
    fill_normal(doc, (size_t)LEN * QKV, &r, 2);
    float *alone = xalloc_floats((size_t)LEN * Q), *lse = xalloc_floats((size_t)(LEN + 64) * NH);
    attention_forward(alone, lse, doc, NULL, 1, LEN, NH, NKV, HS);
    static const int offsets[] = {1, 5, 19, 64};
    for (int o = 0; o < 4; o++) {
        int offset = offsets[o], T = offset + LEN;
        float *qkv = xalloc_floats((size_t)T * QKV), *out = xalloc_floats((size_t)T * Q);
        int *doc_start = xcalloc((size_t)T, sizeof(int));
        fill_normal(qkv, (size_t)offset * QKV, &r, 2); /* another document first */
        memcpy(qkv + (size_t)offset * QKV, doc, sizeof(float) * (size_t)LEN * QKV);
        for (int t = offset; t < T; t++) doc_start[t] = offset;
        attention_forward(out, lse, qkv, doc_start, 1, T, NH, NKV, HS);
        CHECK_MSG(memcmp(out + (size_t)offset * Q, alone, sizeof(float) * (size_t)LEN * Q) == 0,
                  "packed after %d tokens, the document's attention output differs", offset);
        free(qkv);
        free(out);
        free(doc_start);
    }
    free(doc);
    free(alone);
    free(lse);
}

/* Decoding's attention against attention_forward on the same keys: B
 * sequences of T tokens whose k and v sit in a cache of MAX rows per sequence
 * (cache slot s holds sequence S-1-s, so a row's slot is not its index), and
 * one query row per (sequence, position), in a scrambled order. Every output
 * must equal the full pass's to float rounding; then each row alone must give
 * the same bits as in the batch. */
static void attention_decode_case(int B, int T, int NH, int NKV, int HS) {
    const int QKV = (NH + 2 * NKV) * HS, Q = NH * HS, KV = NKV * HS, MAX = T + 3, N = B * T;
    Rng r;
    rng_seed(&r, 17);
    float *qkv = xalloc_floats((size_t)N * QKV), *full = xalloc_floats((size_t)N * Q);
    float *lse = xalloc_floats((size_t)N * NH);
    fill_normal(qkv, (size_t)N * QKV, &r, 1.5f);
    attention_forward(full, lse, qkv, NULL, B, T, NH, NKV, HS);

    float *k = xalloc_floats((size_t)B * MAX * KV), *v = xalloc_floats((size_t)B * MAX * KV);
    float *q = xalloc_floats((size_t)N * QKV), *out = xalloc_floats((size_t)N * Q), *one = xalloc_floats((size_t)Q);
    int *seq = xmalloc(sizeof(int) * N), *pos = xmalloc(sizeof(int) * N), *src = xmalloc(sizeof(int) * N);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *row = qkv + ((size_t)b * T + t) * QKV;
            memcpy(k + ((size_t)(B - 1 - b) * MAX + t) * KV, row + Q, sizeof(float) * KV);
            memcpy(v + ((size_t)(B - 1 - b) * MAX + t) * KV, row + Q + KV, sizeof(float) * KV);
        }
    for (int i = 0; i < N; i++) src[i] = i;
    rng_shuffle_ints(&r, src, N);
    for (int i = 0; i < N; i++) { /* row i asks for token src[i] */
        int b = src[i] / T, t = src[i] % T;
        memcpy(q + (size_t)i * QKV, qkv + (size_t)src[i] * QKV, sizeof(float) * QKV);
        seq[i] = B - 1 - b;
        pos[i] = t;
    }
    attention_decode(out, q, QKV, k, v, seq, (size_t)MAX * KV, pos, N, NH, NKV, HS);
    for (int i = 0; i < N; i++) {
        double e = rel_error(out + (size_t)i * Q, full + (size_t)src[i] * Q, (size_t)Q);
        CHECK_MSG(e < 1e-5, "NH %d NKV %d: decoded row %d (token %d) differs from attention_forward by %g", NH, NKV, i,
                  src[i], e);
        attention_decode(one, q + (size_t)i * QKV, QKV, k, v, seq + i, (size_t)MAX * KV, pos + i, 1, NH, NKV, HS);
        CHECK_MSG(memcmp(one, out + (size_t)i * Q, sizeof(float) * Q) == 0, "row %d alone differs from the batch", i);
        if (test_failed()) break; /* one row says enough */
    }
    free(qkv); free(full); free(lse); free(k); free(v); free(q); free(out); free(one); free(seq); free(pos); free(src);
}
TEST(attention_decode_matches_attention_forward) {
    attention_decode_case(3, 11, 4, 4, 8);  /* multi-head */
    attention_decode_case(2, 40, 6, 2, 16); /* grouped-query, enough work for two threads */
    attention_decode_case(2, 9, 3, 1, 4);   /* one key/value head */
}

/* ---- swiglu ---- */
typedef struct { int N, F; float *gu, *h, *R; } SwiCtx;
static double swi_loss(void *p) {
    SwiCtx *c = p;
    swiglu_forward(c->h, c->gu, c->N, c->F);
    return dot_double(c->h, c->R, (size_t)c->N * c->F);
}
TEST(swiglu_gradients) {
    Rng r;
    rng_seed(&r, 5);
    SwiCtx c = {.N = 4, .F = 11};
    c.gu = xalloc_floats(88); c.h = xalloc_floats(44); c.R = xalloc_floats(44);
    fill_normal(c.gu, 88, &r, 2); fill_normal(c.R, 44, &r, 1);
    swi_loss(&c);
    double g = c.gu[0], u = c.gu[11];
    CHECK_NEAR(c.h[0], g / (1 + exp(-g)) * u, 1e-5);
    float *dgu = xalloc_floats(88);
    swiglu_backward(dgu, c.R, c.gu, 4, 11);
    check_grad("swiglu dgu", c.gu, 88, dgu, swi_loss, &c);
    free(c.gu); free(c.h); free(c.R); free(dgu);
}

/* ---- log-probabilities ---- */
typedef struct { int N, V; float inv_temp; float *logits, *logp, *lse, *R; int *targets; } LogpCtx;
static double logp_loss(void *p) {
    LogpCtx *c = p;
    logprob_forward(c->logits, c->targets, c->N, c->V, c->inv_temp, c->logp, c->lse, NULL);
    return dot_double(c->logp, c->R, (size_t)c->N);
}
TEST(logprob_values_and_gradients) {
    Rng r;
    rng_seed(&r, 6);
    LogpCtx c = {.N = 5, .V = 37, .inv_temp = 1.0f / 0.7f};
    c.logits = xalloc_floats(5 * 37); c.logp = xalloc_floats(5); c.lse = xalloc_floats(5); c.R = xalloc_floats(5);
    int targets[5] = {3, -100, 36, 0, 17};
    c.targets = targets;
    fill_normal(c.logits, 5 * 37, &r, 3); fill_normal(c.R, 5, &r, 1);
    float entropy[5];
    logprob_forward(c.logits, targets, 5, 37, c.inv_temp, c.logp, c.lse, entropy);
    /* by hand for row 0 */
    double mx = -1e30, sum = 0, h = 0;
    for (int i = 0; i < 37; i++) mx = fmax(mx, c.logits[i] * c.inv_temp);
    for (int i = 0; i < 37; i++) sum += exp(c.logits[i] * c.inv_temp - mx);
    for (int i = 0; i < 37; i++) {
        double pi = exp(c.logits[i] * c.inv_temp - mx) / sum;
        h -= pi * log(pi);
    }
    CHECK_NEAR(c.logp[0], c.logits[3] * c.inv_temp - mx - log(sum), 1e-5);
    CHECK_NEAR(entropy[0], h, 1e-5);
    CHECK(c.logp[1] == 0.0f); /* not counted */
    float *grad = xalloc_floats(5 * 37);
    memcpy(grad, c.logits, sizeof(float) * 5 * 37);
    logprob_backward(grad, targets, c.R, c.lse, 5, 37, c.inv_temp);
    for (int i = 0; i < 37; i++) CHECK(grad[37 + i] == 0.0f);
    check_grad("logprob dlogits", c.logits, 5 * 37, grad, logp_loss, &c);
    free(c.logits); free(c.logp); free(c.lse); free(c.R); free(grad);
}

/* ---- embedding ---- */
TEST(embedding_gradient_adds_repeated_tokens) {
    float table[4 * 3] = {0}, dtable[4 * 3] = {0}, out[3 * 3];
    for (int i = 0; i < 12; i++) table[i] = (float)i;
    int tokens[3] = {2, 0, 2};
    embedding_forward(out, tokens, table, 3, 3);
    CHECK(out[0] == 6 && out[3] == 0 && out[8] == 8);
    float dout[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    embedding_backward(dtable, dout, tokens, 3, 3);
    CHECK(dtable[6] == 8 && dtable[7] == 10 && dtable[8] == 12); /* row 2 got rows 0 and 2 */
    CHECK(dtable[0] == 4 && dtable[3] == 0);
}

/* ---- AdamW ---- */
TEST(adamw_matches_hand_computation) {
    float p[2] = {1.0f, -2.0f}, g[2] = {0.5f, 0.1f}, m[2] = {0}, v[2] = {0};
    float lr = 0.1f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.01f;
    adamw_update(p, g, 1.0f, m, v, 2, lr, b1, b2, eps, wd, 1);
    /* step 1: m̂ = g, v̂ = g², so the update is lr · sign(g) (plus decay) */
    CHECK_NEAR(p[0], 1.0 * (1 - lr * wd) - lr * 0.5 / (0.5 + eps), 1e-6);
    CHECK_NEAR(p[1], -2.0 * (1 - lr * wd) - lr * 0.1 / (0.1 + eps), 1e-6);
    float g2[2] = {-0.5f, 0.3f};
    double m0 = 0.1 * 0.5 * 0.9 - 0.1 * 0.5, v0 = 0.001 * 0.25 * 0.999 + 0.001 * 0.25;
    double expected = p[0] * (1 - lr * wd) - lr * (m0 / (1 - 0.81)) / (sqrt(v0 / (1 - 0.999 * 0.999)) + eps);
    adamw_update(p, g2, 1.0f, m, v, 2, lr, b1, b2, eps, wd, 2);
    CHECK_NEAR(p[0], expected, 1e-5);
}

TEST(sum_squares_is_deterministic_and_right) {
    size_t n = 100003;
    float *x = xalloc_floats(n);
    double want = 0;
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)((int)(i % 17) - 8) * 0.1f;
        want += (double)x[i] * x[i];
    }
    double a = sum_squares(x, n), b = sum_squares(x, n);
    CHECK(a == b);
    CHECK_NEAR(a, want, want * 1e-5);
    free(x);
}

/* ---- batch-invariant linear layer ---- */
/* Sizes chosen to be awkward for every path's blocking: IN around and between multiples of the
 * 8 and 16 lanes, OUT leaving each column-block width (2, 3, 4) a remainder, N around the
 * 4-row blocks and the 64-row tiles, and both sides of the threshold for a second thread. */
static const int inv_ins[] = {1, 7, 8, 17, 45, 300}, inv_outs[] = {1, 2, 7, 38},
                 inv_ns[] = {1, 3, 5, 64, 65, 130};
#define INV_GUARD 16 /* floats after out that the kernel must leave alone */

/* ref = in · W^T (+ bias) (+ prev) in double; scale = the same sum of absolute values, which
 * float rounding errors are proportional to. */
static void linear_reference(double *ref, double *scale, const float *in, const float *W, const float *bias,
                             const float *prev, int N, int IN, int OUT) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) {
            double s = 0, a = 0;
            for (int c = 0; c < IN; c++) {
                double p = (double)in[(size_t)n * IN + c] * W[(size_t)o * IN + c];
                s += p;
                a += fabs(p);
            }
            if (bias) s += bias[o], a += fabs(bias[o]);
            if (prev) s += prev[(size_t)n * OUT + o], a += fabs(prev[(size_t)n * OUT + o]);
            ref[(size_t)n * OUT + o] = s;
            scale[(size_t)n * OUT + o] = a;
        }
}

TEST(linear_invariant_matches_double_reference) {
    Rng r;
    rng_seed(&r, 7);
    for (size_t a = 0; a < LMF_ARRAY_LEN(inv_ins); a++)
        for (size_t b = 0; b < LMF_ARRAY_LEN(inv_outs); b++)
            for (size_t d = 0; d < LMF_ARRAY_LEN(inv_ns); d++)
                for (int mode = 0; mode < 4; mode++) { /* bit 0: bias, bit 1: accumulate */
                    int IN = inv_ins[a], OUT = inv_outs[b], N = inv_ns[d], has_bias = mode & 1, acc = mode >> 1;
                    size_t n_out = (size_t)N * OUT;
                    float *in = xalloc_floats((size_t)N * IN), *W = xalloc_floats((size_t)OUT * IN);
                    float *bias = xalloc_floats((size_t)OUT), *prev = xalloc_floats(n_out);
                    float *out = xalloc_floats(n_out + INV_GUARD);
                    double *ref = xmalloc(sizeof(double) * n_out), *scale = xmalloc(sizeof(double) * n_out);
                    fill_normal(in, (size_t)N * IN, &r, 1.0f);
                    fill_normal(W, (size_t)OUT * IN, &r, 1.0f);
                    fill_normal(bias, (size_t)OUT, &r, 1.0f);
                    fill_normal(prev, n_out, &r, 1.0f);
                    /* when overwriting, out starts as NaN: a kernel that read it would show */
                    for (size_t i = 0; i < n_out; i++) out[i] = acc ? prev[i] : NAN;
                    for (int i = 0; i < INV_GUARD; i++) out[n_out + i] = -12345.0f;
                    linear_forward_invariant(out, in, W, has_bias ? bias : NULL, N, IN, OUT, acc);
                    linear_reference(ref, scale, in, W, has_bias ? bias : NULL, acc ? prev : NULL, N, IN, OUT);
                    /* one rounding per step of the longest chain: IN/8 lane steps, 3 tree levels, bias, prev */
                    double tol = (IN / 8.0 + 6) * FLT_EPSILON;
                    size_t bad = n_out;
                    for (size_t i = 0; i < n_out && bad == n_out; i++)
                        if (!(fabs(out[i] - ref[i]) <= tol * scale[i] + 1e-30)) bad = i;
                    CHECK_MSG(bad == n_out, "IN %d OUT %d N %d bias %d accumulate %d: out[%zu] = %.9g, want %.9g", IN,
                              OUT, N, has_bias, acc, bad, bad < n_out ? (double)out[bad] : 0.0,
                              bad < n_out ? ref[bad] : 0.0);
                    for (int i = 0; i < INV_GUARD; i++) CHECK(out[n_out + i] == -12345.0f);
                    free(in), free(W), free(bias), free(prev), free(out), free(ref), free(scale);
                }
}

/* A row computed alone, then inside batches of many sizes at many positions: the same bits. */
TEST(linear_invariant_rows_do_not_depend_on_the_batch) {
    const int IN = 300, OUT = 38, batches[] = {2, 3, 4, 5, 8, 31, 32, 63, 64, 65, 130};
    Rng r;
    rng_seed(&r, 11);
    float *W = xalloc_floats((size_t)OUT * IN), *bias = xalloc_floats(OUT);
    float *row = xalloc_floats(IN), *row_prev = xalloc_floats(OUT), *alone = xalloc_floats(OUT);
    float *in = xalloc_floats((size_t)130 * IN), *out = xalloc_floats((size_t)130 * OUT);
    fill_normal(W, (size_t)OUT * IN, &r, 1.0f);
    fill_normal(bias, OUT, &r, 1.0f);
    for (int acc = 0; acc < 2; acc++) { /* plain with bias, then accumulating without */
        const float *b = acc ? NULL : bias;
        fill_normal(row, IN, &r, 1.0f);
        fill_normal(row_prev, OUT, &r, 1.0f);
        memcpy(alone, row_prev, sizeof(float) * OUT);
        linear_forward_invariant(alone, row, W, b, 1, IN, OUT, acc);
        for (size_t k = 0; k < LMF_ARRAY_LEN(batches); k++) {
            int N = batches[k];
            const int positions[] = {0, 1, 2, 3, 5, N / 2, 63, 64, 65, N - 1};
            for (size_t p = 0; p < LMF_ARRAY_LEN(positions); p++) {
                int pos = positions[p];
                if (pos >= N) continue;
                fill_normal(in, (size_t)N * IN, &r, 1.0f); /* other rows: fresh each time */
                fill_normal(out, (size_t)N * OUT, &r, 1.0f);
                memcpy(in + (size_t)pos * IN, row, sizeof(float) * IN);
                memcpy(out + (size_t)pos * OUT, row_prev, sizeof(float) * OUT);
                linear_forward_invariant(out, in, W, b, N, IN, OUT, acc);
                CHECK_MSG(memcmp(out + (size_t)pos * OUT, alone, sizeof(float) * OUT) == 0,
                          "accumulate %d: the row at %d of a batch of %d differs from the row alone", acc, pos, N);
            }
        }
    }
    free(W), free(bias), free(row), free(row_prev), free(alone), free(in), free(out);
}

/* On a CPU with AVX2, BLAS never runs its pre-AVX2 kernels: Debian 12's
 * OpenBLAS takes a CPU newer than itself for a Prescott, and runs sgemm at
 * under half speed, unless the program starts again with the right ones
 * (blas_prefer_fast_kernels, which this runner's main calls as lmforge's does). */
TEST(blas_runs_kernels_that_fit_the_cpu) {
#if !defined(__x86_64__)
    SKIP("an x86-64 question");
#else
    __builtin_cpu_init();
    const char *d = blas_description();
    printf("  %s\n", d);
    if (!__builtin_cpu_supports("avx2") || !strstr(d, "OpenBLAS")) SKIP("no AVX2 here, or not OpenBLAS");
    static const char *const old[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Sandybridge", "Atom"};
    for (size_t i = 0; i < sizeof old / sizeof *old; i++) CHECK_MSG(!strstr(d, old[i]), "BLAS runs %s", d);
#endif
}
