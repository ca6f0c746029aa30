/* test_model.c — the whole model against an independent PyTorch reference
 * (tests/ref/llama_ref.py, float64), against finite differences, and its
 * error handling and determinism. */
#include <stdlib.h>
#include <string.h>

#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "../src/model/model.h"
#include "../src/train/lm_loss.h"
#include "../src/train/optimizer.h"
#include "test.h"
#include "test_ref_util.h"

typedef struct {
    const char *label;
    ModelConfig cfg;
    int B, T;
    int packed; /* documents of several lengths in each sequence */
} ParityCase;

static void make_batch(const ParityCase *pc, Rng *r, int *tokens, int *targets, int *doc_start) {
    int N = pc->B * pc->T;
    for (int n = 0; n < N; n++) {
        tokens[n] = (int)rng_below(r, (uint64_t)pc->cfg.vocab_size);
        targets[n] = n % 7 == 3 ? -100 : (int)rng_below(r, (uint64_t)pc->cfg.vocab_size);
        int t = n % pc->T;
        /* documents [0,5), [5,6), [6,T) */
        doc_start[n] = !pc->packed ? 0 : t < 5 ? 0 : t < 6 ? 5 : 6;
    }
}

/* One forward + backward of the mean cross-entropy; returns the loss. */
static double loss_and_grads(Model *m, const ParityCase *pc, const int *tokens, const int *targets,
                             const int *doc_start) {
    long count;
    model_forward(m, tokens, pc->packed ? doc_start : NULL, pc->B, pc->T, 1);
    lm_loss_sum(m, targets, &count);
    model_zero_grads(m);
    double loss = lm_loss_sum_and_grad(m, targets, (double)count, &count) / (double)count;
    model_backward(m);
    return loss;
}

/* The largest relative gradient error parity_case has seen (reported by the newer architectures' tests). */
static double worst_grad_error;

static void parity_case(const ParityCase *pc) {
    if (!have_torch()) SKIP("python3-torch is not installed (apt-get install python3-torch)");
    Model *m = model_new(&pc->cfg);
    model_init_random(m, 1234);
    model_alloc_grads(m);
    /* larger than default init so that the attention pattern and the norms matter */
    for (size_t i = 0; i < m->n_params; i++) m->params[i] *= 3.0f;
    Rng r;
    rng_seed(&r, 99);
    size_t N = (size_t)pc->B * pc->T;
    int *tokens = xcalloc(N, sizeof(int)), *targets = xcalloc(N, sizeof(int)), *doc_start = xcalloc(N, sizeof(int));
    make_batch(pc, &r, tokens, targets, doc_start);
    OptimConfig oc = optim_defaults();
    oc.lr = 1e-3f;
    oc.grad_clip = 0.5f;
    const int steps = 10;
    char *dir = test_tmpdir("parity");
    test_write_reference_training_fixture(dir, m, pc->B, pc->T, tokens, targets, pc->packed ? doc_start : NULL, steps,
                                          &oc);
    if (test_system("/usr/bin/python3 tests/ref/llama_ref.py %s", dir) != 0) {
        test_fail(__FILE__, __LINE__, "%s: the PyTorch reference failed", pc->label);
        return;
    }
    size_t OUT = (size_t)config_out_width(&pc->cfg);
    float *ref_logits = test_read_floats(dir, "ref_logits.bin", N * OUT), *ref_grads = test_read_floats(dir, "ref_grads.bin", m->n_params);
    model_forward(m, tokens, pc->packed ? doc_start : NULL, pc->B, pc->T, 0);
    double e = rel_error(m->act.out, ref_logits, N * OUT);
    double loss = loss_and_grads(m, pc, tokens, targets, doc_start);
    CHECK_MSG(e < 1e-5, "%s: logits differ from PyTorch, relative error %.3g", pc->label, e);
    CHECK_MSG(fabs(loss - test_read_number(dir, "ref_loss.txt")) < 1e-5 * fabs(loss), "%s: loss %.8f vs PyTorch %.8f",
              pc->label, loss, test_read_number(dir, "ref_loss.txt"));
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *t = &m->tensors[i];
        size_t n = (size_t)t->rows * (t->cols ? (size_t)t->cols : 1);
        double te = rel_error(m->grads + t->offset, ref_grads + t->offset, n);
        CHECK_MSG(te < 1e-4, "%s: gradient of %s differs from PyTorch, relative error %.3g", pc->label, t->name, te);
        if (te > worst_grad_error) worst_grad_error = te;
    }
    /* ten AdamW steps with clipping, loss by loss */
    char *losses_path = path_join(dir, "ref_losses.txt");
    char *text = read_file(losses_path, NULL), *cursor = text;
    AdamW *opt = adamw_new(m->n_params, &oc);
    for (int s = 0; s < steps; s++) {
        double l = loss_and_grads(m, pc, tokens, targets, doc_start);
        double ref = strtod(cursor, &cursor);
        CHECK_MSG(fabs(l - ref) < 1e-4 * fabs(ref), "%s: AdamW step %d loss %.8f vs PyTorch %.8f", pc->label, s, l, ref);
        ParamSet ps = model_param_set(m);
        adamw_step(opt, &ps, oc.lr);
    }
    adamw_free(opt);
    free(text);
    free(losses_path);
    free(ref_logits);
    free(ref_grads);
    test_system("rm -rf %s", dir);
    free(dir);
    free(tokens);
    free(targets);
    free(doc_start);
    model_free(m);
}

static ModelConfig small_config(int V, int C, int L, int NH, int NKV, int F, int tied, int bias) {
    ModelConfig c = config_default(V, C, L, NH);
    c.n_kv_heads = NKV;
    c.ffn_hidden = F;
    c.tie_embeddings = tied;
    c.qkv_bias = bias;
    c.max_seq_len = 64;
    return c;
}

TEST(model_matches_pytorch_tied_mha) {
    ParityCase pc = {"tied, multi-head", small_config(64, 32, 2, 4, 4, 48, 1, 0), 2, 16, 0};
    parity_case(&pc);
}
TEST(model_matches_pytorch_untied_gqa) {
    ParityCase pc = {"untied, grouped-query", small_config(97, 48, 2, 6, 2, 80, 0, 0), 3, 20, 0};
    pc.cfg.rope_theta = 500000.0f;
    parity_case(&pc);
}
TEST(model_matches_pytorch_qkv_bias_mqa) {
    ParityCase pc = {"qkv bias, one kv head", small_config(50, 40, 3, 5, 1, 64, 0, 1), 2, 12, 0};
    pc.cfg.norm_eps = 1e-6f;
    parity_case(&pc);
}
TEST(model_matches_pytorch_odd_sizes) {
    ParityCase pc = {"odd sizes", small_config(1003, 72, 2, 6, 3, 100, 1, 1), 2, 33, 0};
    parity_case(&pc);
}
TEST(model_matches_pytorch_packed_documents) {
    ParityCase pc = {"packed documents", small_config(61, 24, 2, 3, 3, 40, 0, 0), 2, 11, 1};
    parity_case(&pc);
}

/* Today's checkpoints: an explicit head_dim, RoPE scaling, Llama's attention_bias, Qwen3. */
static void report_worst(const char *label) {
    if (getenv("LMF_TEST_VERBOSE")) fprintf(stderr, "  %s: largest gradient error %.3g\n", label, worst_grad_error);
    worst_grad_error = 0;
}
TEST(model_matches_pytorch_explicit_head_dim) {
    /* Q = 4·12 = 48 and KV = 2·12 = 24, wider than C = 32 */
    ParityCase pc = {"head_dim 12 over C 32", small_config(64, 32, 2, 4, 2, 48, 0, 0), 2, 14, 0};
    pc.cfg.head_dim = 12;
    parity_case(&pc);
    /* and narrower: C = 40 with 5 heads of 4 (not 40 / 5 = 8), so Q = 20 < C */
    ParityCase narrow = {"head_dim 4 under C 40", small_config(50, 40, 2, 5, 5, 64, 1, 1), 2, 12, 0};
    narrow.cfg.head_dim = 4;
    parity_case(&narrow);
    report_worst("explicit head_dim");
}
static RopeScaling llama3_scaling(void) {
    /* with HS 8 and theta 10000 the wavelengths are 6.3, 63, 628 and 6283 tokens: one pair kept (< 512/16),
     * one blended, two slowed down by the factor (> 512/1) */
    return (RopeScaling){.kind = ROPE_SCALING_LLAMA3, .factor = 8.0f, .low_freq_factor = 1.0f,
                         .high_freq_factor = 16.0f, .original_max_position = 512};
}
TEST(model_matches_pytorch_llama3_rope_scaling) {
    ParityCase pc = {"llama3 rope scaling", small_config(64, 32, 2, 4, 2, 48, 1, 0), 2, 30, 0};
    pc.cfg.rope_scaling = llama3_scaling();
    parity_case(&pc);
    ParityCase lin = {"linear rope scaling", small_config(64, 32, 2, 4, 4, 48, 0, 0), 2, 30, 1};
    lin.cfg.rope_scaling = (RopeScaling){.kind = ROPE_SCALING_LINEAR, .factor = 4.0f};
    parity_case(&lin);
    report_worst("rope scaling");
}
TEST(model_matches_pytorch_attention_bias_with_o_proj) {
    ParityCase pc = {"attention_bias (q, k, v and o)", small_config(70, 48, 2, 6, 2, 80, 0, 1), 2, 16, 1};
    pc.cfg.o_bias = 1;
    parity_case(&pc);
    report_worst("attention_bias");
}
TEST(model_matches_pytorch_qwen3) {
    ParityCase pc = {"qwen3: q/k norms, head_dim 16 over C 32", small_config(64, 32, 2, 4, 2, 48, 1, 0), 2, 15, 0};
    pc.cfg.qk_norm = 1;
    pc.cfg.head_dim = 16;
    parity_case(&pc);
    ParityCase all = {"qwen3 with attention_bias, llama3 scaling, packed", small_config(80, 24, 2, 3, 1, 40, 0, 1), 2,
                      20, 1};
    all.cfg.qk_norm = all.cfg.o_bias = 1;
    all.cfg.head_dim = 8;
    all.cfg.rope_scaling = llama3_scaling();
    parity_case(&all);
    report_worst("qwen3");
}

/* The scalar (reward/value) head: gradient of Σ out·dout against PyTorch. */
TEST(score_head_matches_pytorch) {
    if (!have_torch()) SKIP("python3-torch is not installed");
    ModelConfig c = small_config(40, 32, 2, 4, 2, 48, 0, 1);
    c.head = HEAD_SCORE;
    Model *m = model_new(&c);
    model_init_random(m, 7);
    model_alloc_grads(m);
    ParityCase pc = {"score head", c, 2, 9, 0};
    Rng r;
    rng_seed(&r, 5);
    int tokens[18], targets[18], doc_start[18];
    make_batch(&pc, &r, tokens, targets, doc_start);
    float dout[18];
    for (int i = 0; i < 18; i++) dout[i] = i % 9 == 8 ? rng_normal(&r) : 0.0f; /* read at the last token */
    char *dir = test_tmpdir("score");
    test_write_reference_fixture(dir, m, NULL, pc.B, pc.T, tokens, targets, NULL);
    test_write_reference_file(dir, "dout.bin", dout, sizeof dout);
    CHECK(test_system("/usr/bin/python3 tests/ref/llama_ref.py %s", dir) == 0);
    model_forward(m, tokens, NULL, 2, 9, 1);
    float *ref_out = test_read_floats(dir, "ref_logits.bin", 18), *ref_grads = test_read_floats(dir, "ref_grads.bin", m->n_params);
    CHECK(rel_error(m->act.out, ref_out, 18) < 1e-5);
    memcpy(m->act.out, dout, sizeof dout);
    model_zero_grads(m);
    model_backward(m);
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *t = &m->tensors[i];
        size_t n = (size_t)t->rows * (t->cols ? (size_t)t->cols : 1);
        double te = rel_error(m->grads + t->offset, ref_grads + t->offset, n);
        CHECK_MSG(te < 1e-4, "score head: gradient of %s, relative error %.3g", t->name, te);
    }
    CHECK(model_find_tensor(m, "score.weight") != NULL && model_find_tensor(m, "lm_head.weight") == NULL);
    free(ref_out);
    free(ref_grads);
    test_system("rm -rf %s", dir);
    free(dir);
    model_free(m);
}

/* Finite differences through the whole model, independent of PyTorch. */
typedef struct { Model *m; int *tokens, *targets; int B, T; } WholeCtx;
static double whole_loss(WholeCtx *c) {
    long count;
    model_forward(c->m, c->tokens, NULL, c->B, c->T, 1);
    return lm_loss_sum(c->m, c->targets, &count) / (double)count;
}
TEST(model_gradients_match_finite_differences) {
    ModelConfig c = small_config(11, 8, 2, 2, 1, 12, 0, 1);
    Model *m = model_new(&c);
    model_init_random(m, 3);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] *= 10.0f; /* far from the trivial regime */
    model_alloc_grads(m);
    int tokens[10] = {1, 5, 3, 9, 0, 2, 2, 7, 10, 4}, targets[10] = {5, 3, 9, 0, -100, 2, 7, 10, 4, 1};
    WholeCtx ctx = {m, tokens, targets, 2, 5};
    long count;
    model_forward(m, tokens, NULL, 2, 5, 1);
    lm_loss_sum_and_grad(m, targets, 9.0, &count);
    model_zero_grads(m);
    model_forward(m, tokens, NULL, 2, 5, 1);
    lm_loss_sum_and_grad(m, targets, 9.0, &count);
    model_backward(m);
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *t = &m->tensors[i];
        size_t n = (size_t)t->rows * (t->cols ? (size_t)t->cols : 1);
        double scale = 1e-3;
        for (size_t j = 0; j < n; j++) scale = fmax(scale, fabs(m->grads[t->offset + j]));
        for (size_t j = 0; j < n; j += (n > 6 ? n / 6 : 1)) {
            float *p = m->params + t->offset + j, saved = *p, h = 2e-3f;
            *p = saved + h;
            double up = whole_loss(&ctx);
            *p = saved - h;
            double down = whole_loss(&ctx);
            *p = saved;
            double fd = (up - down) / (2 * h), an = m->grads[t->offset + j];
            CHECK_MSG(fabs(fd - an) <= 2e-2 * scale + 1e-4, "%s[%zu]: analytic %.6g vs finite difference %.6g",
                      t->name, j, an, fd);
        }
    }
    model_free(m);
}

/* Two runs with the same seed and thread count give bit-identical losses. */
static void run_steps(double *losses, int steps) {
    ModelConfig c = small_config(300, 64, 2, 4, 2, 96, 0, 0);
    Model *m = model_new(&c);
    model_init_random(m, 11);
    model_alloc_grads(m);
    OptimConfig oc = optim_defaults();
    AdamW *opt = adamw_new(m->n_params, &oc);
    Rng r;
    rng_seed(&r, 4);
    int B = 4, T = 48, tokens[192], targets[192];
    for (int s = 0; s < steps; s++) {
        for (int n = 0; n < B * T; n++) tokens[n] = (int)rng_below(&r, 300), targets[n] = (tokens[n] * 7 + 1) % 300;
        long count;
        model_zero_grads(m);
        model_forward(m, tokens, NULL, B, T, 1);
        losses[s] = lm_loss_sum_and_grad(m, targets, B * T, &count) / count;
        model_backward(m);
        ParamSet ps = model_param_set(m);
        adamw_step(opt, &ps, 1e-3f);
    }
    adamw_free(opt);
    model_free(m);
}
TEST(training_is_bit_identical_across_runs) {
    double a[6], b[6];
    run_steps(a, 6);
    run_steps(b, 6);
    for (int s = 0; s < 6; s++) CHECK_MSG(a[s] == b[s], "step %d: %.17g vs %.17g", s, a[s], b[s]);
    CHECK(a[5] < a[0]); /* and it learns */
}

static void new_model_with(void *cfg) { model_new((ModelConfig *)cfg); }
TEST(bad_configurations_are_reported) {
    ModelConfig good = small_config(10, 12, 1, 2, 1, 16, 0, 0), c;
    CHECK(config_check(&good) == NULL);
    c = good; c.dim = 0;
    CHECK(strstr(config_check(&c), "dim") != NULL);
    c = good; c.vocab_size = -3;
    CHECK(strstr(config_check(&c), "vocab_size") != NULL);
    c = good; c.n_heads = 5;
    CHECK(strstr(config_check(&c), "not divisible by n_heads") != NULL);
    c = good; c.n_kv_heads = 4; c.n_heads = 6; c.dim = 24;
    CHECK(strstr(config_check(&c), "not divisible by n_kv_heads") != NULL);
    c = good; c.dim = 6; c.n_heads = 2; c.n_kv_heads = 1;
    CHECK(strstr(config_check(&c), "even") != NULL);
    c = good; c.ffn_hidden = 0;
    CHECK(strstr(config_check(&c), "ffn_hidden") != NULL);
    c = good; c.n_layers = 0;
    CHECK(strstr(config_check(&c), "n_layers") != NULL);
    c = good; c.norm_eps = 0;
    CHECK(strstr(config_check(&c), "norm_eps") != NULL);
    c = good; c.n_heads = 5;
    CHECK_DIES(new_model_with, &c, "invalid model configuration: dim 12 is not divisible by n_heads 5");
}

static void forward_too_long(void *unused) {
    (void)unused;
    ModelConfig c = small_config(10, 8, 1, 2, 1, 16, 0, 0);
    c.max_seq_len = 4;
    Model *m = model_new(&c);
    int tokens[5] = {0};
    model_forward(m, tokens, NULL, 1, 5, 0);
}
static void forward_bad_token(void *unused) {
    (void)unused;
    ModelConfig c = small_config(10, 8, 1, 2, 1, 16, 0, 0);
    Model *m = model_new(&c);
    int tokens[3] = {1, 10, 2};
    model_forward(m, tokens, NULL, 1, 3, 0);
}
TEST(bad_inputs_are_reported) {
    CHECK_DIES(forward_too_long, NULL, "sequence length 5 is above the model's maximum 4");
    CHECK_DIES(forward_bad_token, NULL, "token id 10");
}
