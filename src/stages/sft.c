/* sft.c — stage 2: supervised fine-tuning, so that a pretrained model
 * follows instructions.
 *
 *   lmforge sft --init PRETRAINED_MODEL --data FILE [--data FILE...] [--eval FILE] [--lora]
 *
 * The model learns to answer as the assistant of the data does: the loss is
 * the cross-entropy of the assistant's tokens and of its <|im_end|> (so it
 * learns to stop), with system and user turns as context only (sft_data.h).
 * Examples are seen in epochs, shuffled each epoch with the seed. A
 * micro-batch is --batch examples, packed into rows with a block-diagonal
 * causal mask, or padded one per row: the same examples and the same loss
 * either way, only the layout (and so the speed) differs.
 *
 * With --lora the model is frozen and only low-rank adapters are trained
 * (lora.h); they are saved in PEFT's layout and `lmforge merge` folds them
 * into a full checkpoint.
 *
 * Every --eval-every steps: the mean loss on the held-out split, and greedy
 * answers to held-out prompts (generate_batch, LoRA adapters unmerged),
 * written to RUN_DIR/generations/step-N.jsonl as {"prompt", "reference",
 * "response"} (which `lmforge gold score` reads). */
#include <stdlib.h>
#include <string.h>

#include "../base/args.h"
#include "../base/json_util.h"
#include "../base/rng.h"
#include "../base/util.h"
#include "../data/sft_data.h"
#include "../io/model_dir.h"
#include "../model/generate.h"
#include "../train/lm_loss.h"
#include "../train/adapter.h"
#include "../train/train_options.h"
#include "../train/trainer.h"
#include "stages.h"

typedef struct {
    const SftData *train, *eval;
    const Tokenizer *tok;
    int batch;      /* examples per micro-batch */
    int max_row;    /* tokens per packed row: the longest sequence */
    int packed, pad_id, grad_accum;
    uint64_t seed;
    /* where the data stands; exact resume restores these */
    long epoch;          /* 0-based */
    int pos;             /* the next example of this epoch's order */
    long micro_batches;  /* drawn so far: grad_accum per optimizer step */
    int *order;          /* (train->n) this epoch's shuffle */
    Lora *lora;          /* its dropout pass counter is part of the state; NULL without LoRA */
    /* evaluation */
    const char *run_dir;
    int eval_prompts, max_new_tokens;
} SftRun;

/* ---- training data, epoch by epoch ---- */

static void shuffle_epoch(SftRun *r) {
    for (int i = 0; i < r->train->n; i++) r->order[i] = i;
    Rng rng;
    rng_seed(&rng, r->seed * 0x9E3779B97F4A7C15ULL + (uint64_t)r->epoch);
    rng_shuffle_ints(&rng, r->order, r->train->n);
}

/* The next --batch examples of the epoch (fewer at its end); epochs follow
 * each other until the trainer has taken its steps. */
static int next_sft_batch(void *ctx, Batch *b) {
    SftRun *r = ctx;
    if (r->pos == r->train->n) {
        r->epoch++;
        r->pos = 0;
        shuffle_epoch(r);
    }
    int n = LMF_MIN(r->batch, r->train->n - r->pos);
    sft_make_batch(b, r->train, r->order + r->pos, n, r->max_row, r->packed, r->pad_id);
    r->pos += n;
    r->micro_batches++;
    return 1;
}

static cJSON *save_position(void *ctx) {
    SftRun *r = ctx;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "epoch", (double)r->epoch);
    cJSON_AddNumberToObject(j, "position", r->pos);
    cJSON_AddNumberToObject(j, "micro_batches", (double)r->micro_batches);
    if (r->lora) cJSON_AddNumberToObject(j, "lora_dropout_pass", (double)r->lora->pass);
    return j;
}

static void load_position(void *ctx, const cJSON *state) {
    SftRun *r = ctx;
    const char *where = "trainer_state.json: data";
    r->epoch = json_get_int64(state, "epoch", where);
    r->pos = json_get_int(state, "position", where);
    r->micro_batches = json_get_int64(state, "micro_batches", where);
    if (r->pos < 0 || r->pos > r->train->n)
        die("%s: field \"position\" is %d, but the training data has %d examples; resume with the same data", where,
            r->pos, r->train->n);
    if (r->lora) r->lora->pass = (uint64_t)json_get_int64(state, "lora_dropout_pass", where);
    shuffle_epoch(r);
}

/* ---- evaluation ---- */

/* Mean loss over the held-out examples, in micro-batches as in training. */
static double held_out_loss(SftRun *r, Model *m) {
    long count;
    double sum = lm_loss_examples(m, r->eval, NULL, r->eval->n, r->batch, r->max_row, r->packed, r->pad_id, &count);
    return sum / (double)LMF_MAX(count, 1);
}

/* Writes the answers to the first eval_prompts held-out prompts; returns
 * the share that equals the reference answer. */
static double write_generations(SftRun *r, Model *m, long step) {
    int n = LMF_MIN(r->eval_prompts, r->eval->n);
    Conversation *conversations = xmalloc(sizeof(Conversation) * (size_t)LMF_MAX(n, 1));
    for (int i = 0; i < n; i++) conversations[i] = r->eval->items[i].prompt;
    RenderedPrompts prompts = render_prompts(r->tok, conversations, NULL, n);
    int keep = m->cfg.max_seq_len - 1; /* room for one new token: a long prompt keeps its end */
    for (int i = 0; i < n; i++)
        if (prompts.lens[i] > keep) {
            prompts.tokens[i] += prompts.lens[i] - keep;
            prompts.lens[i] = keep;
        }
    /* greedy, with the LoRA adapters (if any) as they are, unmerged */
    SampleOptions o = sample_options_default();
    o.temperature = 0;
    o.max_new_tokens = r->max_new_tokens;
    int stop_ids[2];
    o.stop_ids = stop_ids;
    o.n_stop_ids = generation_stop_ids(r->tok, stop_ids);
    o.tokenizer = r->tok;
    Generation *answers = xcalloc((size_t)LMF_MAX(n, 1), sizeof(Generation));
    generate_batch(m, prompts.tokens, prompts.lens, n, &o, answers);
    char *dir = path_join(r->run_dir, "generations"), *path = xsprintf("%s/step-%ld.jsonl", dir, step);
    make_dirs(dir);
    JsonlWriter *w = jsonl_writer_open(path);
    int right = 0;
    for (int i = 0; i < n; i++) {
        const SftExample *e = &r->eval->items[i];
        cJSON *line = cJSON_CreateObject();
        cJSON_AddItemToObject(line, "prompt", conversation_to_json(&e->prompt));
        cJSON_AddStringToObject(line, "reference", e->reference);
        cJSON_AddStringToObject(line, "response", answers[i].text);
        jsonl_write(w, line);
        cJSON_Delete(line);
        right += same_trimmed_text(answers[i].text, e->reference);
    }
    jsonl_writer_close(w);
    free(dir);
    free(path);
    generations_free(answers, n);
    free(answers);
    rendered_prompts_free(&prompts);
    free(conversations);
    return n ? (double)right / n : 0;
}

static void evaluate_sft(void *ctx, Model *m, StepStats *stats) {
    SftRun *r = ctx;
    if (r->eval->n == 0) return;
    stats_add(stats, "eval/loss", held_out_loss(r, m));
    if (r->eval_prompts > 0)
        stats_add(stats, "eval/exact_match", write_generations(r, m, r->micro_batches / r->grad_accum));
}

/* ---- the command ---- */

static void report_data(const char *what, const SftData *d) {
    const SftDataStats *s = &d->stats;
    info("%s: %d examples from %d records", what, d->n, s->n_records);
    /* truncation: the loader warned (length_report) */
    if (s->n_skipped) warn("%s: %d records skipped: no trained token left after truncation", what, s->n_skipped);
}

int cmd_sft(int argc, char **argv) {
    const char *init = NULL, *tokenizer_path = NULL;
    int last_turn_only = 0, eval_prompts = 16, max_new_tokens = 64, eval_at_start = 0;
    LoraOptions lora = lora_options_defaults();
    TrainOptions t = train_options_defaults();
    t.out = "runs/sft";
    t.batch = 16;
    t.epochs = 3;
    t.lr = 0; /* chosen after parsing: it depends on --lora */
    Option opts[] = {
        OPT_STR("init", &init, "the checkpoint to fine-tune (lmforge's or a Hugging Face Llama/Qwen2 one) (required)"),
        OPT_STR("tokenizer", &tokenizer_path, "tokenizer.json or a folder holding one (default: the --init model's)"),
        TRAIN_DATA_OPTIONS(&t, "training data: {\"messages\"} or {\"prompt\",\"completion\"} JSONL (required)"),
        OPT_FLAG("last-turn-only", &last_turn_only, "train only the last assistant turn of a multi-turn chat"),
        TRAIN_OPTIONS(&t, "examples", "peak learning rate; 0: 1e-4, or 1e-3 with --lora"),
        LORA_OPTIONS(&lora),
        OPT_FLAG("eval-at-start", &eval_at_start, "evaluate the starting model too (generations/step-0.jsonl)"),
        OPT_INT("eval-prompts", &eval_prompts, "held-out prompts answered at each evaluation"),
        OPT_INT("max-new-tokens", &max_new_tokens, "longest answer generated at evaluation"),
        OPT_END};
    char **positional;
    int n_positional = args_parse("sft", "",
                                  "Fine-tune a model on chats ({\"messages\": [...]}) or prompt/completion pairs: "
                                  "cross-entropy on the assistant's tokens only.",
                                  opts, argc, argv, &positional);
    if (n_positional) die("sft: unexpected argument %s (data files go after --data)", positional[0]);
    free(positional);
    if (!init) die("sft: --init is required (the checkpoint to fine-tune)");
    if (t.data.n < 1) die("sft: --data is required (see lmforge sft --help)");
    train_options_check(&t, "sft");
    if (eval_prompts < 0 || max_new_tokens < 1) die("sft: --eval-prompts and --max-new-tokens must be positive");
    const char *out = t.out;
    int seq_len = t.seq_len, batch = t.batch, grad_accum = t.grad_accum, packing = t.packing, seed = t.seed;
    long steps = t.steps;

    ModelDir start = model_dir_load(init);
    Model *m = start.model;
    if (m->cfg.head != HEAD_LM) die("sft: %s has no language-model head", init);
    Tokenizer *tok = tokenizer_path ? tokenizer_load(tokenizer_path) : start.tokenizer;
    if (!tok) die("sft: %s has no tokenizer; pass --tokenizer", init);
    if (tokenizer_vocab_size(tok) > m->cfg.vocab_size)
        die("sft: the tokenizer has %d tokens, more than the model's vocab_size %d", tokenizer_vocab_size(tok),
            m->cfg.vocab_size);
    if (!seq_len) seq_len = m->cfg.max_seq_len;
    if (seq_len < 2 || seq_len > m->cfg.max_seq_len)
        die("sft: --seq-len %d must be between 2 and the model's maximum %d", seq_len, m->cfg.max_seq_len);
    tokenizer_set_model_max_length(tok, m->cfg.max_seq_len);

    SftOptions so = {seq_len, last_turn_only};
    SftData *train = sft_data_load(t.data.items, t.data.n, tok, &so), *eval;
    report_data("training data", train);
    if (t.eval.n) {
        eval = sft_data_load(t.eval.items, t.eval.n, tok, &so);
        report_data("held-out data", eval);
    } else {
        eval = sft_data_split(train, t.eval_fraction, (uint64_t)seed);
        if (eval->n) info("held out %d of the training examples for evaluation", eval->n);
    }
    if (train->n == 0) die("sft: no training example has a token to learn");

    long per_epoch = (train->n + batch - 1) / batch; /* micro-batches */
    if (!steps) steps = (per_epoch * t.epochs + grad_accum - 1) / grad_accum;
    if (!t.lr) t.lr = lora.use ? 1e-3f : 1e-4f;

    int pad_id = tokenizer_eos_id(tok) >= 0 ? tokenizer_eos_id(tok) : 0;
    SftRun run = {.train = train, .eval = eval, .tok = tok, .batch = batch, .max_row = seq_len, .packed = packing,
                  .pad_id = pad_id, .grad_accum = grad_accum, .seed = (uint64_t)seed, .run_dir = out,
                  .eval_prompts = eval_prompts, .max_new_tokens = max_new_tokens};
    run.order = xmalloc(sizeof(int) * (size_t)train->n);
    shuffle_epoch(&run);

    TrainConfig tc = train_options_config(&t, lora.use ? "sft-lora" : "sft", steps);
    char *base_path = realpath(init, NULL);
    Adapter adapter = {0};
    const ModelConfig *c = &m->cfg;
    double act_gb = model_activation_bytes(c, (size_t)batch * seq_len, 1) / 1e9;
    info("model: %.2fM parameters (C %d, L %d, NH %d, NKV %d, F %d, V %d)", m->n_params / 1e6, c->dim, c->n_layers,
         c->n_heads, c->n_kv_heads, c->ffn_hidden, c->vocab_size);
    if (lora.use) {
        adapter = adapter_attach(m, &lora, tok, base_path ? base_path : init, (uint64_t)seed);
        run.lora = adapter.lora;
        const LoraConfig lc = adapter.lora->cfg;
        tc.trainable = adapter_params;
        tc.save_model = adapter_save;
        tc.load_model = adapter_load;
        tc.model_ctx = &adapter;
        info("LoRA: rank %d, alpha %g, dropout %g on %s: %.3fM trainable parameters (%.2f%% of the model), "
             "at most %.2f GB to train",
             lc.rank, lc.alpha, lc.dropout, lora.targets, adapter.lora->n_params / 1e6,
             100.0 * adapter.lora->n_params / m->n_params,
             (4.0 * m->n_params + 16.0 * adapter.lora->n_params) / 1e9 + act_gb);
    } else {
        info("full fine-tuning: at most %.2f GB to train", 16.0 * m->n_params / 1e9 + act_gb);
    }
    info("%ld steps of %d x %d examples (%ld micro-batches an epoch), %s", steps, batch, grad_accum, per_epoch,
         packing ? "packed" : "padded");

    Objective obj = {.ctx = &run,
                     .next_batch = next_sft_batch,
                     .loss_and_grad = lm_objective_loss_and_grad,
                     .evaluate = evaluate_sft,
                     .save_state = save_position,
                     .load_state = load_position};
    tc.tokenizer = tok;

    if (eval_at_start && !t.resume && eval->n) {
        make_dirs(out);
        StepStats s;
        stats_clear(&s);
        evaluate_sft(&run, m, &s);
        info("eval at step 0: eval/loss %.4f | eval/exact_match %.4f", stats_mean(&s, "eval/loss"),
             stats_mean(&s, "eval/exact_match"));
    }
    TrainResult r = trainer_run(m, &obj, &tc);
    info("fine-tuning done: %ld steps, final training loss %.4f", r.steps, r.last_loss);
    if (eval->n)
        info("held-out loss %.4f, exact match %.3f (answers in %s/generations/)", stats_mean(&r.last_eval, "eval/loss"),
             stats_mean(&r.last_eval, "eval/exact_match"), out);
    if (lora.use) info("adapter in %s/model; lmforge merge --adapter %s/model --out DIR makes a full checkpoint", out, out);

    adapter_detach(&adapter, m);
    free(base_path);
    free(run.order);
    sft_data_free(train);
    sft_data_free(eval);
    free(t.data.items);
    free(t.eval.items);
    if (tok != start.tokenizer) tokenizer_free(tok);
    model_dir_free(&start);
    return 0;
}
