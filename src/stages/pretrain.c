/* pretrain.c — stage 1: next-token prediction on raw text.
 *
 * The corpus is tokenized once into shards (text_data.h). Each micro-batch
 * is B random windows of T+1 tokens: the first T are the input, the last T
 * the targets, every token counted. Evaluation is the mean loss (and its
 * perplexity) over consecutive windows of the validation shard. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/args.h"
#include "../base/dist.h"
#include "../base/json_util.h"
#include "../base/rng.h"
#include "../base/util.h"
#include "../data/text_data.h"
#include "../io/model_dir.h"
#include "../train/lm_loss.h"
#include "../train/train_options.h"
#include "../train/trainer.h"
#include "stages.h"

typedef struct {
    const char *name;
    int dim, n_layers, n_heads, n_kv_heads;
    const char *about;
} Preset;

static const Preset presets[] = {
    {"tiny", 128, 4, 4, 4, "about 1M parameters plus embeddings: learns in a minute on 2 cores"},
    {"small", 288, 6, 6, 6, "the stories15M shape of llama2.c"},
    {"medium", 512, 8, 8, 4, "about 30M parameters plus embeddings"},
    {"gpt2", 768, 12, 12, 12, "GPT-2 small size (85M plus embeddings)"},
};

typedef struct {
    const TokenShard *train, *val;
    int B, T;
    long eval_tokens;
    Rng rng;
} PretrainData;

/* B random windows of T+1 tokens. */
static int next_window_batch(void *ctx, Batch *b) {
    PretrainData *d = ctx;
    batch_reserve(b, d->B, d->T, 0);
    size_t max_start = d->train->n_tokens - (size_t)d->T - 1;
    for (int i = 0; i < d->B; i++) {
        size_t start = (size_t)rng_below(&d->rng, max_start + 1);
        for (int t = 0; t < d->T; t++) {
            b->tokens[i * d->T + t] = shard_token(d->train, start + (size_t)t);
            b->targets[i * d->T + t] = shard_token(d->train, start + (size_t)t + 1);
        }
    }
    b->weight = (double)d->B * d->T;
    b->n_tokens = (long)d->B * d->T;
    return 1;
}

/* Mean loss over consecutive windows of the validation shard (up to eval_tokens). */
static void evaluate_windows(void *ctx, Model *m, StepStats *stats) {
    PretrainData *d = ctx;
    if (d->val->n_tokens < (size_t)d->T + 1) return;
    size_t n_windows = (d->val->n_tokens - 1) / (size_t)d->T;
    n_windows = LMF_MIN(n_windows, (size_t)LMF_MAX(1, d->eval_tokens / d->T));
    int *tokens = xmalloc(sizeof(int) * (size_t)d->B * d->T), *targets = xmalloc(sizeof(int) * (size_t)d->B * d->T);
    double sum = 0;
    long count = 0;
    for (size_t w = 0; w < n_windows; w += (size_t)d->B) {
        int rows = (int)LMF_MIN((size_t)d->B, n_windows - w);
        for (int i = 0; i < rows; i++)
            for (int t = 0; t < d->T; t++) {
                size_t pos = (w + (size_t)i) * (size_t)d->T + (size_t)t;
                tokens[i * d->T + t] = shard_token(d->val, pos);
                targets[i * d->T + t] = shard_token(d->val, pos + 1);
            }
        long n;
        model_forward(m, tokens, NULL, rows, d->T, 0);
        sum += lm_loss_sum(m, targets, &n);
        count += n;
    }
    free(tokens);
    free(targets);
    stats_add(stats, "eval/loss", sum / count);
    stats_add(stats, "eval/ppl", exp(sum / count));
}

static cJSON *save_rng(void *ctx) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "rng", rng_to_json(&((PretrainData *)ctx)->rng));
    return j;
}

static void load_rng(void *ctx, const cJSON *state) {
    rng_from_json(&((PretrainData *)ctx)->rng, cJSON_GetObjectItemCaseSensitive(state, "rng"), "trainer_state.json data");
}

int cmd_pretrain(int argc, char **argv) {
    const char *tokenizer_path = NULL, *init = NULL, *preset = "tiny", *shards = NULL;
    int dim = 0, layers = 0, heads = 0, kv_heads = 0, ffn = 0, max_seq_len = 0, tie = 1, zero = 0;
    long eval_tokens = 65536;
    float rope_theta = 10000.0f;
    TrainOptions t = train_options_defaults();
    t.out = "runs/pretrain";
    t.seq_len = 256;
    t.batch = 16;
    t.steps = 1000;
    t.lr = 1e-3f;
    t.weight_decay = 0.1f;
    Option opts[] = {
        OPT_STR("tokenizer", &tokenizer_path, "tokenizer.json or a folder holding one (default: the --init model's)"),
        OPT_STR("init", &init, "start from this checkpoint instead of a new model"),
        OPT_STR("preset", &preset, "model size: tiny, small, medium or gpt2 (flags below override)"),
        OPT_INT("dim", &dim, "model width C (0: the preset's)"),
        OPT_INT("layers", &layers, "number of layers L (0: the preset's)"),
        OPT_INT("heads", &heads, "attention heads NH (0: the preset's)"),
        OPT_INT("kv-heads", &kv_heads, "key/value heads NKV, for grouped-query attention (0: the preset's, or --heads if given)"),
        OPT_INT("ffn", &ffn, "MLP hidden size F (0: 8/3 C rounded up to 32)"),
        OPT_INT("max-seq-len", &max_seq_len, "the model's context length (0: --seq-len)"),
        OPT_FLOAT("rope-theta", &rope_theta, "RoPE base frequency"),
        OPT_FLAG("tie", &tie, "tie the LM head to the token embedding"),
        OPT_INT("seq-len", &t.seq_len, "tokens per training window T"),
        OPT_LONG("steps", &t.steps, "optimizer steps"),
        OPT_LIST("eval", &t.eval, "validation text (files or folders) instead of a share of the training data"),
        OPT_FLOAT("eval-fraction", &t.eval_fraction, "share of documents held out for validation (without --eval)"),
        OPT_LONG("eval-tokens", &eval_tokens, "validation tokens per evaluation"),
        OPT_STR("shards", &shards, "where token shards are written (default OUT/shards)"),
        OPT_INT("zero", &zero, "under MPI: 1 shards the AdamW state over the ranks (ZeRO-1), 0 keeps a copy on each"),
        TRAIN_OPTIONS(&t, "windows", "peak learning rate"),
        OPT_ALIAS("val", "eval"),
        OPT_ALIAS("val-fraction", "eval-fraction"),
        OPT_END};
    char **inputs;
    int n_inputs = args_parse("pretrain", "DATA...",
                              "Pretrain a model on text: .txt files (a blank line ends a document), .jsonl files with "
                              "a \"text\" field (a document per record), folders of them, or a folder of token "
                              "shards. An end-of-text token follows each document.",
                              opts, argc, argv, &inputs);
    if (n_inputs < 1) die("pretrain: no training data given (see lmforge pretrain --help)");
    train_options_check(&t, "pretrain");
    if (t.seq_len < 1) die("pretrain: --seq-len must be positive");
    int seq_len = t.seq_len, batch = t.batch, grad_accum = t.grad_accum, seed = t.seed;
    long steps = t.steps;

    ModelDir start = {0};
    Model *m;
    Tokenizer *tok;
    if (init) {
        start = model_dir_load(init);
        m = start.model;
        if (m->cfg.head != HEAD_LM) die("pretrain: %s has no language-model head", init);
        tok = tokenizer_path ? tokenizer_load(tokenizer_path) : start.tokenizer;
        if (!tok) die("pretrain: %s has no tokenizer; pass --tokenizer", init);
        if (tokenizer_vocab_size(tok) > m->cfg.vocab_size)
            die("pretrain: the tokenizer %s has %d tokens, more than the vocab_size %d of the model in %s",
                tokenizer_path, tokenizer_vocab_size(tok), m->cfg.vocab_size, init);
    } else {
        if (!tokenizer_path) die("pretrain: --tokenizer is required for a new model (lmforge tokenizer train makes one)");
        tok = tokenizer_load(tokenizer_path);
        const Preset *p = NULL;
        for (size_t i = 0; i < LMF_ARRAY_LEN(presets); i++)
            if (strcmp(presets[i].name, preset) == 0) p = &presets[i];
        if (!p) die("pretrain: unknown --preset %s (tiny, small, medium, gpt2)", preset);
        ModelConfig c = config_default(tokenizer_vocab_size(tok), dim ? dim : p->dim, layers ? layers : p->n_layers,
                                       heads ? heads : p->n_heads);
        c.n_kv_heads = kv_heads ? kv_heads : heads ? c.n_heads : p->n_kv_heads;
        if (ffn) c.ffn_hidden = ffn;
        c.max_seq_len = max_seq_len ? max_seq_len : seq_len;
        c.rope_theta = rope_theta;
        c.tie_embeddings = tie;
        const char *why = config_check(&c);
        if (why) die("pretrain: %s", why);
        m = model_new(&c);
        model_init_random(m, (uint64_t)seed);
    }
    if (seq_len > m->cfg.max_seq_len) {
        if (init)
            die("pretrain: --seq-len %d is above the maximum %d of the model in %s (max_position_embeddings in its "
                "config.json)", seq_len, m->cfg.max_seq_len, init);
        die("pretrain: --seq-len %d is above --max-seq-len %d", seq_len, m->cfg.max_seq_len);
    }
    tokenizer_set_model_max_length(tok, m->cfg.max_seq_len);

    char *shard_dir = shards ? xstrdup(shards) : path_join(t.out, "shards");
    /* under MPI, rank 0 writes the shards; the other ranks then reuse them */
    dist_root_first_begin();
    TokenData data = token_data_prepare((const char *const *)inputs, n_inputs, t.eval.items, t.eval.n, tok, shard_dir,
                                        t.eval_fraction, (uint64_t)seed);
    dist_root_first_end();
    if (data.train.n_tokens < (size_t)seq_len + 1)
        die("pretrain: %zu training tokens, fewer than one window of %d", data.train.n_tokens, seq_len + 1);

    const ModelConfig *c = &m->cfg;
    long tokens_per_step = (long)batch * seq_len * grad_accum * dist_size();
    double gb = (16.0 * m->n_params + model_activation_bytes(c, (size_t)batch * seq_len, 1)) / 1e9;
    info("model: %.2fM parameters (C %d, L %d, NH %d, NKV %d, F %d, V %d), about %.2f GB to train", m->n_params / 1e6,
         c->dim, c->n_layers, c->n_heads, c->n_kv_heads, c->ffn_hidden, c->vocab_size, gb);
    info("data: %zu training tokens, %zu validation; %ld tokens per step (%d x %d x %d x %d ranks), %.2f epochs in "
         "%ld steps", data.train.n_tokens, data.val.n_tokens, tokens_per_step, batch, seq_len, grad_accum, dist_size(),
         (double)tokens_per_step * steps / data.train.n_tokens, steps);

    PretrainData pd = {&data.train, &data.val, batch, seq_len, eval_tokens, {{0}}};
    rng_seed(&pd.rng, (uint64_t)seed * 7919 + 17);
    Objective obj = {.ctx = &pd,
                     .next_batch = next_window_batch,
                     .loss_and_grad = lm_objective_loss_and_grad,
                     .evaluate = evaluate_windows,
                     .save_state = save_rng,
                     .load_state = load_rng};
    TrainConfig tc = train_options_config(&t, "pretrain", steps);
    tc.zero_stage = zero;
    tc.tokenizer = tok;
    TrainResult r = trainer_run(m, &obj, &tc);
    info("pretraining done: %ld steps, final training loss %.4f, validation loss %.4f (perplexity %.2f)", r.steps,
         r.last_loss, stats_mean(&r.last_eval, "eval/loss"), stats_mean(&r.last_eval, "eval/ppl"));

    token_data_close(&data);
    free(shard_dir);
    free(inputs);
    free(t.eval.items);
    if (tok != start.tokenizer) tokenizer_free(tok);
    if (init) model_dir_free(&start);
    else model_free(m);
    return 0;
}
