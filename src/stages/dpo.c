/* dpo.c — Direct Preference Optimization (Rafailov et al. 2023): `lmforge dpo`.
 *
 * For each prompt with a chosen and a rejected answer, the policy should
 * raise log π(chosen) − log π(rejected) by more than the frozen reference
 * does (the losses are in train/dpo_loss.h). The recipe:
 *   1. read the pairs; each becomes two ChatML sequences whose answer tokens
 *      are marked (data/preference_pairs.h);
 *   2. score the pairs the run will visit once with the reference, before
 *      training (a short --steps run scores only its share): by default the
 *      reference is the starting checkpoint itself, so no second model is
 *      ever held; a --ref checkpoint is loaded, used and freed. The scores
 *      are kept in RUN_DIR/ref_logps.safetensors for --resume;
 *   3. train: each micro-batch holds the chosen and rejected sequences of
 *      --batch pairs; the loss of a pair gives ∂loss/∂(summed log-prob) of
 *      each answer, which train/sequence_logps.h turns into the gradient on
 *      the logits that the shared trainer back-propagates.
 * Metrics: the implicit rewards of both answers, their margin and accuracy,
 * and both answers' log-probs (a falling chosen log-prob is DPO's classic
 * failure), in metrics.jsonl, on the progress line and in rewards.svg and
 * logps.svg. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/args.h"
#include "../base/plot.h"
#include "../base/progress.h"
#include "../base/rng.h"
#include "../base/util.h"
#include "../data/preference_pairs.h"
#include "../io/model_dir.h"
#include "../io/safetensors.h"
#include "../train/dpo_loss.h"
#include "../train/sequence_logps.h"
#include "../train/train_options.h"
#include "../train/trainer.h"
#include "stages.h"

/* How pairs are laid out in micro-batches. */
typedef struct {
    int pairs_per_batch, max_len, packed, pad_id;
} Layout;

/* One micro-batch's pairs (the Batch's aux): pair idx[i] has its chosen
 * answer at places[2i] and its rejected one at places[2i+1]. */
typedef struct {
    int n;
    int *idx;         /* (pairs_per_batch) */
    SeqPlace *places; /* (2 * pairs_per_batch) */
} PairBatch;

/* out (set->n, 2): the summed log-probs of the chosen and rejected answers
 * of pairs which[0..n) (all of them when which is NULL) under m, in batches
 * of consecutive entries; progress shown as "LABEL i/n" unless label is NULL. */
static void score_pairs(Model *m, const PrefPairs *set, const int *which, int n, const Layout *L, float *out,
                        const char *label) {
    int P = L->pairs_per_batch;
    PairBatch pb = {0, xmalloc(sizeof(int) * (size_t)P), xmalloc(sizeof(SeqPlace) * 2 * (size_t)P)};
    double *sums = xmalloc(sizeof(double) * 2 * (size_t)P);
    Batch b = {0};
    SequenceLogps s = {0};
    Progress progress;
    if (label) progress_init(&progress, label, 0, (n + P - 1) / P);
    for (int start = 0; start < n; start += P) {
        pb.n = LMF_MIN(P, n - start);
        for (int i = 0; i < pb.n; i++) pb.idx[i] = which ? which[start + i] : start + i;
        pref_pairs_pack(set, pb.idx, pb.n, L->max_len, L->packed, L->pad_id, &b, pb.places);
        model_forward(m, b.tokens, b.doc_start, b.B, b.T, 0);
        sequence_logps_forward(&s, m, &b, pb.places, 2 * pb.n, sums);
        for (int i = 0; i < pb.n; i++)
            for (int k = 0; k < 2; k++) out[2 * (size_t)pb.idx[i] + k] = (float)sums[2 * i + k];
        if (!label) continue;
        progress_add_tokens(&progress, (double)b.n_tokens);
        progress_update(&progress, start / P + 1, NULL);
    }
    if (label) progress_finish(&progress);
    batch_free(&b);
    sequence_logps_free(&s);
    free(sums);
    free(pb.idx);
    free(pb.places);
}

/* ---- the reference ---- */

/* Dies unless ref scores the same tokens the same way the policy would:
 * the same architecture and the same vocabulary. */
static void check_reference(const char *ref_dir, const ModelDir *ref, const Model *policy, const Tokenizer *tok,
                            int max_len) {
    const ModelConfig *a = &ref->model->cfg, *b = &policy->cfg;
    if (a->head != HEAD_LM) die("dpo: the reference %s has a score head, not a language-model head", ref_dir);
    struct {
        const char *name;
        double ref, policy;
    } fields[] = {{"vocab_size", a->vocab_size, b->vocab_size},
                  {"hidden_size", a->dim, b->dim},
                  {"num_hidden_layers", a->n_layers, b->n_layers},
                  {"num_attention_heads", a->n_heads, b->n_heads},
                  {"num_key_value_heads", a->n_kv_heads, b->n_kv_heads},
                  {"intermediate_size", a->ffn_hidden, b->ffn_hidden},
                  {"rope_theta", a->rope_theta, b->rope_theta},
                  {"rms_norm_eps", a->norm_eps, b->norm_eps},
                  {"tie_word_embeddings", a->tie_embeddings, b->tie_embeddings},
                  {"qkv_bias", a->qkv_bias, b->qkv_bias},
                  {"attention_bias (o_proj bias)", a->o_bias, b->o_bias},
                  {"q/k norms (Qwen3)", a->qk_norm, b->qk_norm},
                  {"head_dim", config_head_size(a), config_head_size(b)},
                  {"rope_scaling kind", a->rope_scaling.kind, b->rope_scaling.kind},
                  {"rope_scaling factor", a->rope_scaling.factor, b->rope_scaling.factor}};
    for (size_t i = 0; i < LMF_ARRAY_LEN(fields); i++)
        if (fields[i].ref != fields[i].policy)
            die("dpo: the reference %s has another architecture than the policy: %s %g, the policy's %g", ref_dir,
                fields[i].name, fields[i].ref, fields[i].policy);
    if (a->max_seq_len < max_len)
        die("dpo: the reference %s takes at most %d tokens, fewer than --seq-len %d", ref_dir, a->max_seq_len, max_len);
    if (!ref->tokenizer) die("dpo: the reference %s has no tokenizer.json to check against the policy's", ref_dir);
    int n = tokenizer_vocab_size(tok);
    if (tokenizer_vocab_size(ref->tokenizer) != n)
        die("dpo: the reference %s has another tokenizer than the policy: %d tokens, the policy's %d", ref_dir,
            tokenizer_vocab_size(ref->tokenizer), n);
    for (int id = 0; id < n; id++) {
        size_t la, lb;
        char *ta = tokenizer_decode(ref->tokenizer, &id, 1, &la), *tb = tokenizer_decode(tok, &id, 1, &lb);
        int same = la == lb && memcmp(ta, tb, la) == 0 && tokenizer_id_valid(ref->tokenizer, id) == tokenizer_id_valid(tok, id);
        free(ta);
        free(tb);
        if (!same) die("dpo: the reference %s has another tokenizer than the policy: token %d differs", ref_dir, id);
    }
}

static int same_path(const char *a, const char *b) {
    char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
    int same = ra && rb && strcmp(ra, rb) == 0;
    free(ra);
    free(rb);
    return same;
}

/* Reads saved reference log-probs if they belong to exactly these pairs;
 * returns 0 (leaving out untouched) otherwise. */
static int load_ref_logps(const char *path, const char *fingerprint, size_t n_pairs, float *out) {
    if (!file_exists(path)) return 0;
    SafeTensors *st = st_open(path);
    const char *saved = st_metadata(st, "pairs_fingerprint");
    const StTensor *t = st_find(st, "ref_logps");
    int ok = saved && strcmp(saved, fingerprint) == 0 && t && st_numel(t) == 2 * n_pairs;
    if (ok) st_read_f32(t, out, 2 * n_pairs);
    st_close(st);
    return ok;
}

/* The training pairs of epoch `epoch`, in its seeded order: a function of
 * the seed and the epoch alone, so that a resumed run sees the same pairs. */
static void epoch_order(int *order, int n, uint64_t seed, long epoch) {
    for (int i = 0; i < n; i++) order[i] = i;
    Rng rng;
    rng_seed(&rng, seed * 1000003 + (uint64_t)epoch);
    rng_shuffle_ints(&rng, order, n);
}

/* Appends to *list the pairs [0, n) whose reference log-probs are not known
 * yet (NaN) and that `used` marks (all when used is NULL), in index order. */
static int missing_pairs(const float *logps, int n, const char *used, int *list) {
    int k = 0;
    for (int i = 0; i < n; i++)
        if ((!used || used[i]) && isnan(logps[2 * (size_t)i])) list[k++] = i;
    return k;
}

/* The reference log-probs (n_train + n_eval, 2) of the training pairs, then
 * the held-out ones; NaN for a training pair the run never visits (its first
 * `total` pairs, when fewer than an epoch: a short run scores only those).
 * They are computed with the reference (the policy's starting weights unless
 * --ref names another checkpoint) and kept in the run directory, so that
 * --resume reads them back and scores only what is still missing. Which
 * pairs are scored does not change their values: batches are runs of
 * consecutive pairs in index order, as a full epoch scores them. */
static float *reference_logps(Model *policy, const Tokenizer *tok, const char *init, const char *ref_dir,
                              const PrefPairs *train, const PrefPairs *eval, const Layout *L, const char *out_dir,
                              int resume, uint64_t seed, long total) {
    size_t n = (size_t)train->n + (size_t)eval->n;
    float *logps = xmalloc(sizeof(float) * 2 * n);
    for (size_t i = 0; i < 2 * n; i++) logps[i] = NAN;
    char fingerprint[64];
    snprintf(fingerprint, sizeof fingerprint, "%016llx-%016llx", (unsigned long long)pref_pairs_fingerprint(train),
             (unsigned long long)pref_pairs_fingerprint(eval));
    char *path = path_join(out_dir, "ref_logps.safetensors");
    int read_back = resume && load_ref_logps(path, fingerprint, n, logps);
    char *used = NULL; /* NULL: every training pair */
    if (total < train->n) {
        int *order = xmalloc(sizeof(int) * (size_t)train->n);
        epoch_order(order, train->n, seed, 0);
        used = xcalloc((size_t)train->n, 1);
        for (long k = 0; k < total; k++) used[order[k]] = 1;
        free(order);
    }
    int *unscored_train = xmalloc(sizeof(int) * (size_t)LMF_MAX(train->n, 1));
    int *unscored_eval = xmalloc(sizeof(int) * (size_t)LMF_MAX(eval->n, 1));
    int n_train = missing_pairs(logps, train->n, used, unscored_train);
    int n_eval = missing_pairs(logps + 2 * (size_t)train->n, eval->n, NULL, unscored_eval);
    free(used);
    if (read_back) info("reference log-probs read from %s", path);
    if (n_train + n_eval > 0) {
        info("scoring %d of %d training pairs (the ones %ld pairs of training visit) and %d held-out pairs with the "
             "reference%s",
             n_train, train->n, total, n_eval, read_back ? " (not in the saved ones)" : "");
        /* Before training the policy still is the reference (resume loads
         * the checkpoint later); a --ref checkpoint is loaded, used and freed. */
        ModelDir ref = {0};
        Model *scorer = policy;
        if (ref_dir && !same_path(ref_dir, init)) {
            ref = model_dir_load(ref_dir);
            check_reference(ref_dir, &ref, policy, tok, L->max_len);
            scorer = ref.model;
        }
        info("the reference: %s", ref_dir ? ref_dir : init);
        score_pairs(scorer, train, unscored_train, n_train, L, logps, "reference batch");
        score_pairs(scorer, eval, unscored_eval, n_eval, L, logps + 2 * (size_t)train->n, "reference batch");
        if (ref.model) model_dir_free(&ref);
        make_dirs(out_dir);
        StWriter *w = st_writer_new();
        int64_t shape[2] = {(int64_t)n, 2};
        st_writer_metadata(w, "pairs_fingerprint", fingerprint);
        st_writer_metadata(w, "reference", ref_dir ? ref_dir : init);
        st_writer_add(w, "ref_logps", ST_F32, 2, shape, logps);
        st_writer_save(w, path);
        st_writer_free(w);
    }
    free(unscored_train);
    free(unscored_eval);
    free(path);
    return logps;
}

/* ---- the objective ---- */

typedef struct {
    const PrefPairs *train, *eval;
    const float *ref_train, *ref_eval; /* (n, 2) reference log-probs of chosen, rejected */
    DpoLossConfig loss;
    Layout layout;
    uint64_t seed;
    long cursor, total; /* pairs handed out so far; in the whole run */
    int *order;         /* (train->n) the training pairs in the order of epoch order_epoch */
    long order_epoch;
    PairBatch **slots; /* the PairBatch of each micro-batch slot the trainer uses */
    int n_slots;
    SequenceLogps logps;
    double *sums, *dsums; /* (2 * pairs_per_batch) each */
} DpoRun;

/* Training pair number k of the whole run: epochs follow each other, each
 * in its own seeded order, so the order is a function of k alone (resume). */
static int pair_at(DpoRun *r, long k) {
    long epoch = k / r->train->n;
    if (epoch != r->order_epoch) {
        epoch_order(r->order, r->train->n, r->seed, epoch);
        r->order_epoch = epoch;
    }
    return r->order[k % r->train->n];
}

static PairBatch *pair_batch_of(DpoRun *r, Batch *b) {
    if (b->aux) return b->aux;
    int P = r->layout.pairs_per_batch;
    PairBatch *pb = xcalloc(1, sizeof(PairBatch));
    pb->idx = xmalloc(sizeof(int) * (size_t)P);
    pb->places = xmalloc(sizeof(SeqPlace) * 2 * (size_t)P);
    r->slots = xrealloc(r->slots, sizeof(PairBatch *) * (size_t)(r->n_slots + 1));
    r->slots[r->n_slots++] = pb;
    b->aux = pb;
    return pb;
}

static int next_pair_batch(void *ctx, Batch *b) {
    DpoRun *r = ctx;
    if (r->cursor >= r->total) return 0;
    PairBatch *pb = pair_batch_of(r, b);
    pb->n = (int)LMF_MIN((long)r->layout.pairs_per_batch, r->total - r->cursor);
    for (int i = 0; i < pb->n; i++) pb->idx[i] = pair_at(r, r->cursor + i);
    r->cursor += pb->n;
    const Layout *L = &r->layout;
    pref_pairs_pack(r->train, pb->idx, pb->n, L->max_len, L->packed, L->pad_id, b, pb->places);
    return 1;
}

/* One pair's loss, with its statistics added under prefix ("dpo/", "eval/"). */
static DpoPairLoss pair_loss(const DpoRun *r, const PrefPair *pair, const float *ref, double chosen, double rejected,
                             const char *prefix, StepStats *stats) {
    DpoPairLogps lp = {chosen, rejected, ref[CHOSEN], ref[REJECTED], pair->answer_tokens[CHOSEN]};
    DpoPairLoss pl = dpo_pair_loss(&r->loss, &lp);
    char key[48];
#define ADD(name, value)                                        \
    do {                                                        \
        snprintf(key, sizeof key, "%s%s", prefix, name);        \
        stats_add(stats, key, value);                           \
    } while (0)
    ADD("reward_chosen", pl.reward_chosen);
    ADD("reward_rejected", pl.reward_rejected);
    ADD("margin", pl.reward_chosen - pl.reward_rejected);
    ADD("accuracy", pl.reward_chosen > pl.reward_rejected ? 1.0 : 0.0);
    ADD("logp_chosen", chosen);
    ADD("logp_rejected", rejected);
    if (r->loss.nll_weight > 0) ADD("nll", -chosen / pair->answer_tokens[CHOSEN]);
#undef ADD
    return pl;
}

static double dpo_loss_and_grad(void *ctx, Model *m, const Batch *b, double norm, StepStats *stats) {
    DpoRun *r = ctx;
    const PairBatch *pb = b->aux;
    sequence_logps_forward(&r->logps, m, b, pb->places, 2 * pb->n, r->sums);
    double loss_sum = 0;
    for (int i = 0; i < pb->n; i++) {
        int p = pb->idx[i];
        DpoPairLoss pl = pair_loss(r, &r->train->pairs[p], r->ref_train + 2 * (size_t)p, r->sums[2 * i],
                                   r->sums[2 * i + 1], "dpo/", stats);
        loss_sum += pl.loss;
        r->dsums[2 * i + CHOSEN] = pl.dchosen / norm;
        r->dsums[2 * i + REJECTED] = pl.drejected / norm;
    }
    sequence_logps_backward(&r->logps, m, b, pb->places, 2 * pb->n, r->dsums);
    return loss_sum;
}

static void evaluate_pairs(void *ctx, Model *m, StepStats *stats) {
    DpoRun *r = ctx;
    if (r->eval->n == 0) return;
    float *logps = xmalloc(sizeof(float) * 2 * (size_t)r->eval->n);
    score_pairs(m, r->eval, NULL, r->eval->n, &r->layout, logps, NULL);
    for (int i = 0; i < r->eval->n; i++) {
        DpoPairLoss pl = pair_loss(r, &r->eval->pairs[i], r->ref_eval + 2 * (size_t)i, logps[2 * i],
                                   logps[2 * i + 1], "eval/", stats);
        stats_add(stats, "eval/loss", pl.loss);
    }
    free(logps);
}

static cJSON *save_cursor(void *ctx) {
    DpoRun *r = ctx;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "pairs_done", (double)r->cursor);
    return j;
}

static void load_cursor(void *ctx, const cJSON *state) {
    DpoRun *r = ctx;
    const cJSON *done = cJSON_GetObjectItemCaseSensitive(state, "pairs_done");
    if (!cJSON_IsNumber(done) || done->valuedouble < 0 || done->valuedouble > (double)r->total)
        die("trainer_state.json: field \"data.pairs_done\" must be a number of pairs within the run");
    r->cursor = (long)done->valuedouble;
}

/* ---- the command ---- */

static double mean_of(const float *logps, int n, int which) {
    double sum = 0;
    for (int i = 0; i < n; i++) sum += logps[2 * i + which];
    return n ? sum / n : NAN;
}

/* DPO often lowers the chosen answers' likelihood along with the rejected
 * ones; say so when it happened. */
static void report_chosen_logp(const TrainResult *res, const DpoRun *r) {
    double before = mean_of(r->ref_eval, r->eval->n, CHOSEN), after = stats_mean(&res->last_eval, "eval/logp_chosen");
    if (isnan(after)) return;
    info("held out: accuracy %.3f, margin %.4f; chosen answers' log-prob %.3f -> %.3f, rejected %.3f -> %.3f",
         stats_mean(&res->last_eval, "eval/accuracy"), stats_mean(&res->last_eval, "eval/margin"), before, after,
         mean_of(r->ref_eval, r->eval->n, REJECTED), stats_mean(&res->last_eval, "eval/logp_rejected"));
    if (after < before)
        warn("the held-out chosen answers became less likely than under the reference (%.3f -> %.3f): the policy "
             "pushes both answers down; %s",
             before, after,
             r->loss.nll_weight > 0 ? "a larger --nll-weight keeps the chosen ones up"
                                    : "--nll-weight 0.2 keeps the chosen ones up");
}

int cmd_dpo(int argc, char **argv) {
    const char *init = NULL, *ref = NULL, *loss_name = "sigmoid";
    float beta = 0.1f, label_smoothing = 0, nll_weight = 0;
    int truncate_prompt = 0; /* accepted and ignored: the length policy always cuts the prompt first */
    TrainOptions t = train_options_defaults();
    t.out = "runs/dpo";
    t.lr = 1e-5f;
    t.eval_every = -1;
    t.save_every = -1;
    Option opts[] = {
        OPT_STR("init", &init, "the policy's starting checkpoint (required)"),
        OPT_STR("ref", &ref, "the frozen reference checkpoint (default: --init)"),
        TRAIN_DATA_OPTIONS(&t, "{\"prompt\",\"chosen\",\"rejected\"} JSONL file (required)"),
        OPT_STR("loss", &loss_name, "sigmoid (DPO) or ipo"),
        OPT_FLOAT("beta", &beta, "beta: strength of the pull towards the reference"),
        OPT_FLOAT("label-smoothing", &label_smoothing, "conservative DPO: probability that a label is wrong (0: off)"),
        OPT_FLOAT("nll-weight", &nll_weight, "weight of a per-token NLL term on the chosen answer (Llama 3.1: 0.2)"),
        OPT_FLAG("truncate-prompt", &truncate_prompt, "deprecated, no effect: prompts are always cut to fit --seq-len"),
        TRAIN_OPTIONS(&t, "pairs", "peak learning rate"),
        OPT_END};
    char **positional;
    int npos = args_parse("dpo", "",
                          "Direct Preference Optimization: teach a model to prefer the chosen answer of each "
                          "{\"prompt\",\"chosen\",\"rejected\"} pair more than a frozen reference does.",
                          opts, argc, argv, &positional);
    free(positional);
    if (npos) die("dpo: unexpected argument (data goes in --data; see lmforge dpo --help)");
    if (truncate_prompt) warn("dpo: --truncate-prompt is deprecated and does nothing: long prompts are always cut");
    if (!init) die("dpo: --init MODEL is required (the policy's starting checkpoint)");
    if (t.data.n == 0) die("dpo: --data FILE is required ({\"prompt\",\"chosen\",\"rejected\"} JSONL)");
    train_options_check(&t, "dpo");
    const char *out = t.out;
    int max_len = t.seq_len, batch = t.batch, grad_accum = t.grad_accum, seed = t.seed;
    long steps = t.steps;
    DpoLossConfig loss = {dpo_loss_parse(loss_name), beta, label_smoothing, nll_weight};
    const char *why = dpo_loss_check(&loss);
    if (why) die("dpo: %s", why);

    ModelDir start = model_dir_load(init);
    Model *m = start.model;
    if (m->cfg.head != HEAD_LM) die("dpo: %s has a score head, not a language-model head", init);
    if (!start.tokenizer) die("dpo: %s has no tokenizer.json", init);
    if (max_len == 0) max_len = m->cfg.max_seq_len;
    if (max_len < 2 || max_len > m->cfg.max_seq_len)
        die("dpo: --seq-len %d must be between 2 and the model's context length %d", max_len, m->cfg.max_seq_len);

    PrefPairs train = pref_pairs_load(t.data.items, t.data.n, start.tokenizer, max_len);
    PrefPairs eval = t.eval.n ? pref_pairs_load(t.eval.items, t.eval.n, start.tokenizer, max_len)
                              : pref_pairs_split(&train, t.eval_fraction, (uint64_t)seed);
    if (train.n == 0) die("dpo: no training pairs are left after holding out %d for evaluation", eval.n);
    int pad_id = tokenizer_eos_id(start.tokenizer);
    Layout layout = {batch, max_len, t.packing, pad_id >= 0 ? pad_id : 0};
    long pairs_per_step = (long)batch * grad_accum;
    long total = steps ? steps * pairs_per_step : (long)train.n * t.epochs;
    long max_steps = steps ? steps : (total + pairs_per_step - 1) / pairs_per_step;
    info("data: %d training pairs, %d held out; %ld pairs per step (%d x %d), %ld steps", train.n, eval.n,
         pairs_per_step, batch, grad_accum, max_steps);

    float *ref_logps = reference_logps(m, start.tokenizer, init, ref, &train, &eval, &layout, out, t.resume,
                                      (uint64_t)seed, total);
    DpoRun run = {.train = &train,
                  .eval = &eval,
                  .ref_train = ref_logps,
                  .ref_eval = ref_logps + 2 * (size_t)train.n,
                  .loss = loss,
                  .layout = layout,
                  .seed = (uint64_t)seed,
                  .total = total,
                  .order = xmalloc(sizeof(int) * (size_t)train.n),
                  .order_epoch = -1,
                  .sums = xmalloc(sizeof(double) * 2 * (size_t)batch),
                  .dsums = xmalloc(sizeof(double) * 2 * (size_t)batch)};
    Objective obj = {.ctx = &run,
                     .next_batch = next_pair_batch,
                     .loss_and_grad = dpo_loss_and_grad,
                     .evaluate = evaluate_pairs,
                     .save_state = save_cursor,
                     .load_state = load_cursor,
                     .progress_keys = "dpo/accuracy,dpo/margin,dpo/logp_chosen,dpo/logp_rejected"};
    TrainConfig tc = train_options_config(&t, "dpo", max_steps);
    tc.plot_keys = "loss,eval/loss,dpo/accuracy,eval/accuracy";
    tc.tokenizer = start.tokenizer;
    TrainResult res = trainer_run(m, &obj, &tc);

    char *svg = path_join(out, "rewards.svg");
    plot_metrics(out, "dpo/reward_chosen,dpo/reward_rejected,dpo/margin,eval/margin", svg, PLOT_LINEAR_Y);
    free(svg);
    svg = path_join(out, "logps.svg");
    plot_metrics(out, "dpo/logp_chosen,dpo/logp_rejected,eval/logp_chosen,eval/logp_rejected", svg, PLOT_LINEAR_Y);
    free(svg);
    info("dpo done: %ld steps; metrics in %s/metrics.jsonl, plots in loss.svg, rewards.svg and logps.svg", res.steps, out);
    report_chosen_logp(&res, &run);

    for (int i = 0; i < run.n_slots; i++) {
        free(run.slots[i]->idx);
        free(run.slots[i]->places);
        free(run.slots[i]);
    }
    free(run.slots);
    sequence_logps_free(&run.logps);
    free(run.sums);
    free(run.dsums);
    free(run.order);
    free(ref_logps);
    pref_pairs_free(&train);
    pref_pairs_free(&eval);
    free(t.data.items);
    free(t.eval.items);
    model_dir_free(&start);
    return 0;
}
