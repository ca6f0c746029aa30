/* demo_eval_cmd.c — `lmforge demo-eval`: the last step of the demo. It measures
 * every checkpoint of the pipeline against the gold standard and writes the
 * report: RUN_DIR/report.md with its plots in RUN_DIR/plots/, and
 * RUN_DIR/report.json.
 *
 * For each checkpoint (pretrained, SFT, PPO, the rounds of RS + DPO):
 *   greedy answers to the held-out prompts → gold score per family and overall,
 *   and the win rate against the baseline (SFT) prompt by prompt;
 *   answers sampled (--temperature) → KL to the baseline, their gold and
 *   reward-model scores;
 *   perplexity on held-out text.
 * Then the reward model against the gold judge (pairs of the baseline's
 * answers whose gold scores differ), best-of-n on those answers and the PPO
 * run's checkpoints (the over-optimisation curve of Gao et al. 2022), the
 * training curves of each stage and the pipeline's wall times. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../base/args.h"
#include "../base/util.h"
#include "../data/chat_data.h"
#include "../base/jsonl.h"
#include "../data/text_data.h"
#include "evaluate.h"
#include "gold.h"
#include "report.h"
#include "../io/model_dir.h"
#include "../train/lm_loss.h"
#include "../train/rollout.h"
#include "demo_commands.h"

/* The held-out prompts, their families and the gold judge. */
typedef struct {
    GoldSet *gold;
    int n;
    Conversation *prompts; /* (n) */
    const char **text;     /* (n) the user's question, as the gold judge knows it */
    int *family;           /* (n) index into the gold set's families */
    RenderedPrompts rendered; /* (n) for the model */
} HeldOut;

typedef struct {
    int max_new_tokens, kl_prompts, kl_samples, bon_prompts, bon_n, seq_len;
    float temperature; /* of the sampled answers (KL, best-of-n), as the pipeline sampled */
    long ppl_tokens;
    uint64_t seed;
} EvalSettings;

static int family_index(const GoldSet *g, const char *name) {
    for (int f = 0; f < gold_n_families(g); f++)
        if (strcmp(gold_family_name(g, f), name) == 0) return f;
    return -1;
}

/* Every `stride`-th held-out prompt, `count` of them: a subset spread over
 * the file (and so over the families), rendered for the model. */
static RenderedPrompts subset(const HeldOut *h, const Tokenizer *tok, int count, int **index_out) {
    count = LMF_MIN(count, h->n);
    int *index = xmalloc(sizeof(int) * (size_t)count);
    for (int i = 0; i < count; i++) index[i] = (int)((long)i * h->n / count);
    *index_out = index;
    return render_prompts(tok, h->prompts, index, count);
}

/* k answers per prompt, ended by the end of the turn or of the text, with
 * their log-probs; temperature 0 is greedy. Reproducible for a seed. */
static Generation *answer(Model *m, const Tokenizer *tok, const RenderedPrompts *p, int k, float temperature,
                          const EvalSettings *s, uint64_t seed) {
    SampleOptions o = sample_options_default();
    o.temperature = temperature;
    o.max_new_tokens = s->max_new_tokens;
    o.seed = seed;
    o.n_samples = k;
    o.batch_size = 64;
    o.logprobs = 1;
    return sample_answers(m, tok, p, o);
}

static HeldOut held_out_load(const char *tasks_path, const char *prompts_path, const Tokenizer *tok, int max_prompts) {
    HeldOut h = {0};
    h.gold = gold_load(&tasks_path, 1);
    int n_all;
    Conversation *all = load_prompts(prompts_path, &n_all);
    h.n = max_prompts > 0 ? LMF_MIN(max_prompts, n_all) : n_all;
    h.prompts = xmalloc(sizeof(Conversation) * (size_t)h.n);
    h.text = xmalloc(sizeof(char *) * (size_t)h.n);
    h.family = xmalloc(sizeof(int) * (size_t)h.n);
    for (int i = 0, taken = 0; i < n_all; i++) {
        /* an evenly spread subset when --prompts limits them, so that every family keeps its share */
        if (taken < h.n && (long)taken * n_all / h.n == i) {
            Conversation *c = &h.prompts[taken];
            *c = all[i];
            h.text[taken] = c->msgs[c->n - 1].content;
            const char *family = gold_family(h.gold, h.text[taken]);
            if (!family) die("%s: prompt \"%.80s\" is not in %s", prompts_path, h.text[taken], tasks_path);
            h.family[taken] = family_index(h.gold, family);
            taken++;
        } else {
            conversation_free(&all[i]);
        }
    }
    free(all);
    h.rendered = render_prompts(tok, h.prompts, NULL, h.n);
    return h;
}

static void held_out_free(HeldOut *h) {
    for (int i = 0; i < h->n; i++) conversation_free(&h->prompts[i]);
    rendered_prompts_free(&h->rendered);
    free(h->prompts);
    free(h->text);
    free(h->family);
    gold_free(h->gold);
}

static double mean_of(const double *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    return n ? s / n : NAN;
}

/* Greedy answers to every held-out prompt: gold scores into gold (n), the
 * answers into OUT/answers/NAME.jsonl for a look at what the model says. */
static void greedy_answers(Model *m, const Tokenizer *tok, const HeldOut *h, const EvalSettings *s,
                           const char *answers_path, double *gold) {
    Generation *g = answer(m, tok, &h->rendered, 1, 0.0f, s, s->seed);
    JsonlWriter *w = jsonl_writer_open(answers_path);
    for (int i = 0; i < h->n; i++) {
        gold[i] = gold_score(h->gold, h->text[i], g[i].text);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "prompt", h->text[i]);
        cJSON_AddStringToObject(o, "response", g[i].text);
        cJSON_AddStringToObject(o, "reference", gold_answer(h->gold, h->text[i]));
        cJSON_AddNumberToObject(o, "gold", gold[i]);
        jsonl_write(w, o);
        cJSON_Delete(o);
    }
    jsonl_writer_close(w);
    generations_free(g, h->n);
    free(g);
}

/* A policy's answers sampled at --temperature on a subset of prompts: their
 * KL from the baseline, mean gold and mean reward-model score. */
static PolicyPoint sampled_point(Model *m, Model *baseline, Model *rm, const Tokenizer *tok, const HeldOut *h,
                                 int n_prompts, int k, const EvalSettings *s) {
    int *index;
    RenderedPrompts p = subset(h, tok, n_prompts, &index);
    int n = p.n * k;
    Generation *g = answer(m, tok, &p, k, s->temperature, s, s->seed + 1);
    float *ref_logp = xmalloc(sizeof(float) * (size_t)n), *scores = xmalloc(sizeof(float) * (size_t)n);
    answer_logprobs(baseline, &p, g, k, s->temperature, ref_logp);
    answer_scores(rm, &p, g, k, scores);
    double kl = 0, gold = 0, score = 0;
    for (int j = 0; j < n; j++) {
        double logp = 0;
        for (int t = 0; t < g[j].n_tokens; t++) logp += g[j].logprobs[t];
        kl += logp - ref_logp[j];
        gold += gold_score(h->gold, h->text[index[j / k]], g[j].text);
        score += scores[j];
    }
    generations_free(g, n);
    free(g);
    free(ref_logp);
    free(scores);
    free(index);
    rendered_prompts_free(&p);
    return (PolicyPoint){0, kl / n, gold / n, score / n};
}

static double heldout_loss(Model *m, const IntVec *text, const EvalSettings *s) {
    long counted;
    int T = LMF_MIN(s->seq_len, m->cfg.max_seq_len);
    double sum = lm_loss_windows(m, text->data, text->len, T, 8, &counted, NULL, NULL);
    return sum / counted;
}

/* ---- best-of-n ---- */

/* The baseline's bon_n answers to each of bon_prompts prompts, scored by the
 * reward model and the gold judge: the reward model's agreement with gold,
 * and best-of-n for n = 1, 2, 4, ... bon_n. */
static void best_of_n(DemoReport *r, Model *baseline, Model *rm, const Tokenizer *tok, const HeldOut *h,
                      const EvalSettings *s) {
    int *index;
    RenderedPrompts p = subset(h, tok, s->bon_prompts, &index);
    const int K = s->bon_n, n = p.n * K;
    Generation *g = answer(baseline, tok, &p, K, s->temperature, s, s->seed + 2);
    float *scores = xmalloc(sizeof(float) * (size_t)n);
    answer_scores(rm, &p, g, K, scores);
    double *gold = xmalloc(sizeof(double) * (size_t)n);
    for (int j = 0; j < n; j++) gold[j] = gold_score(h->gold, h->text[index[j / K]], g[j].text);

    r->rm_agreement = (PairAgreement){0};
    r->rm_family_agreement = xcalloc((size_t)r->n_families, sizeof(PairAgreement));
    for (int i = 0; i < p.n; i++) {
        pair_agreement_add(&r->rm_agreement, gold + (size_t)i * K, scores + (size_t)i * K, K);
        pair_agreement_add(&r->rm_family_agreement[h->family[index[i]]], gold + (size_t)i * K, scores + (size_t)i * K, K);
    }
    r->rm_prompts = p.n;
    r->rm_answers = K;

    double gs = 0, gss = 0, rs = 0, rss = 0;
    for (int j = 0; j < n; j++) {
        gs += gold[j], gss += gold[j] * gold[j];
        rs += scores[j], rss += (double)scores[j] * scores[j];
    }
    r->gold_mean = gs / n, r->rm_mean = rs / n;
    r->gold_sd = sqrt(fmax(0, gss / n - r->gold_mean * r->gold_mean));
    r->rm_sd = sqrt(fmax(0, rss / n - r->rm_mean * r->rm_mean));

    r->n_best_of_n = 0;
    r->best_of_n = xcalloc(32, sizeof(PolicyPoint));
    for (int bn = 1; bn <= K; bn *= 2) {
        double g_sum = 0, r_sum = 0;
        for (int i = 0; i < p.n; i++) {
            int best = best_of_first(scores + (size_t)i * K, bn);
            g_sum += gold[(size_t)i * K + best];
            r_sum += scores[(size_t)i * K + best];
        }
        r->best_of_n[r->n_best_of_n++] = (PolicyPoint){bn, kl_best_of_n(bn), g_sum / p.n, r_sum / p.n};
    }
    free(gold);
    free(scores);
    generations_free(g, n);
    free(g);
    free(index);
    rendered_prompts_free(&p);
}

/* ---- the PPO run's checkpoints ---- */

static int compare_longs(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Iterations of the complete checkpoints in a PPO run directory, ascending. */
static long *ppo_checkpoints(const char *run, int *n) {
    *n = 0;
    DIR *d = opendir(run);
    if (!d) die_errno("demo-eval: cannot open the PPO run %s", run);
    long *its = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        long it;
        char rest;
        if (sscanf(e->d_name, "checkpoint-%ld%c", &it, &rest) != 1) continue;
        char *state = xsprintf("%s/%s/trainer_state.json", run, e->d_name);
        if (file_exists(state)) {
            its = xrealloc(its, sizeof(long) * (size_t)(*n + 1));
            its[(*n)++] = it;
        }
        free(state);
    }
    closedir(d);
    if (*n) qsort(its, (size_t)*n, sizeof(long), compare_longs);
    return its;
}

/* ---- the command ---- */

static ModelDir load_policy(const char *dir, const Tokenizer *tok) {
    ModelDir ck = model_dir_load(dir);
    if (ck.model->cfg.head != HEAD_LM || !ck.tokenizer) die("demo-eval: %s is not a language model with a tokenizer", dir);
    if (tokenizer_fingerprint(ck.tokenizer) != tokenizer_fingerprint(tok))
        die("demo-eval: %s uses another tokenizer than the baseline", dir);
    return ck;
}

/* "NAME=DIR" of --model. */
static void split_named(const char *arg, char **name, const char **dir) {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1]) die("demo-eval: --model %s: expected NAME=DIR", arg);
    *name = xstrndup(arg, (size_t)(eq - arg));
    *dir = eq + 1;
}

/* The training curves of the stages, as plots in OUT/plots; their names and captions go to the report. */
static void training_plots(DemoReport *r, const char *out, const char *pretrain, const char *sft, const char *rm,
                           const char *ppo, const OptList *dpo) {
    enum { MAX_PLOTS = 8, MAX_ROUNDS = 10 };
    r->plots = xcalloc(MAX_PLOTS, sizeof(char *));
    r->plot_captions = xcalloc(MAX_PLOTS, sizeof(char *));
    r->n_plots = 0;
    CurveSpec c[MAX_ROUNDS];
    char *labels[MAX_ROUNDS];
    int rounds = LMF_MIN(dpo->n, MAX_ROUNDS);
    for (int i = 0; i < rounds; i++) labels[i] = xsprintf("round %d", i + 1);
    struct {
        const char *file, *caption, *title, *ylabel;
        CurveSpec curves[3];
        int n;
        PlotScale scale;
    } fixed[] = {
        {"plots/pretrain_loss.svg", "Pretraining: next-token loss on the training text and on the held-out text.",
         "pretraining", "loss (nats)", {{pretrain, "loss", "train"}, {pretrain, "eval/loss", "held-out"}}, 2, PLOT_LOG_Y},
        {"plots/sft_loss.svg", "SFT: loss on the answers' tokens, training and held-out prompts.", "SFT", "loss (nats)",
         {{sft, "loss", "train"}, {sft, "eval/loss", "held-out"}}, 2, PLOT_LOG_Y},
        {"plots/rm.svg", "Reward model: Bradley–Terry loss and pairwise accuracy on the annotators' rankings.",
         "reward model", "loss / accuracy",
         {{rm, "loss", "loss"}, {rm, "rm/accuracy", "accuracy"}, {rm, "eval/accuracy", "held-out accuracy"}}, 3,
         PLOT_LINEAR_Y},
        {"plots/ppo_score.svg", "PPO: mean reward-model score of the rollouts (it jumps where the reward model is "
                                "refreshed on new annotations).",
         "PPO", "reward-model score", {{ppo, "score", "score"}}, 1, PLOT_LINEAR_Y},
        {"plots/ppo_kl.svg", "PPO: KL of the rollouts from the SFT model (nats per answer).", "PPO", "KL (nats)",
         {{ppo, "kl", "KL"}}, 1, PLOT_LINEAR_Y},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(fixed); i++) {
        int usable = 1;
        for (int k = 0; k < fixed[i].n; k++) usable &= fixed[i].curves[k].run_dir != NULL;
        char *path = path_join(out, fixed[i].file);
        if (usable && plot_curves(path, fixed[i].title, fixed[i].ylabel, fixed[i].curves, fixed[i].n, fixed[i].scale)) {
            r->plots[r->n_plots] = fixed[i].file;
            r->plot_captions[r->n_plots++] = fixed[i].caption;
        }
        free(path);
    }
    if (rounds) {
        const char *keys[2] = {"dpo/margin", "loss"}, *files[2] = {"plots/dpo_margin.svg", "plots/dpo_loss.svg"};
        const char *captions[2] = {"DPO: margin r(chosen) − r(rejected) of the implicit rewards, per round.",
                                   "DPO: loss per round (log 2 at the start of each)."};
        const char *ylabels[2] = {"margin (nats)", "loss"};
        for (int k = 0; k < 2; k++) {
            for (int i = 0; i < rounds; i++) c[i] = (CurveSpec){dpo->items[i], keys[k], labels[i]};
            char *path = path_join(out, files[k]);
            if (plot_curves(path, "DPO", ylabels[k], c, rounds, PLOT_LINEAR_Y)) {
                r->plots[r->n_plots] = files[k];
                r->plot_captions[r->n_plots++] = captions[k];
            }
            free(path);
        }
    }
    for (int i = 0; i < rounds; i++) free(labels[i]);
}

int cmd_demo_eval(int argc, char **argv) {
    const char *out = NULL, *data = NULL, *baseline_name = "sft", *reward = NULL, *ppo_run = NULL;
    const char *pretrain_run = NULL, *sft_run = NULL, *rm_run = NULL, *pipeline_file = NULL;
    OptList models = {0}, dpo_runs = {0}, win_targets = {0};
    int max_prompts = 0, seed = 1;
    float time_target = 20;
    EvalSettings s = {.max_new_tokens = 16, .kl_prompts = 200, .kl_samples = 1, .bon_prompts = 100, .bon_n = 32,
                      .seq_len = 128, .ppl_tokens = 32768, .temperature = 1};
    Option opts[] = {
        OPT_STR("out", &out, "where report.md, report.json, plots/ and answers/ go: the run directory (required)"),
        OPT_STR("data", &data, "the demo data (lmforge demo-data --out): tasks/, prompts/, pretrain/heldout.txt (required)"),
        OPT_LIST("model", &models, "NAME=DIR: a checkpoint to evaluate, in the table's order"),
        OPT_STR("baseline", &baseline_name, "the --model NAME that win rates and KL are measured against"),
        OPT_STR("reward", &reward, "the reward model: agreement with gold, best-of-n, scores (required)"),
        OPT_STR("ppo-run", &ppo_run, "PPO run directory: its checkpoints are points of the over-optimisation plot"),
        OPT_STR("pretrain-run", &pretrain_run, "pretraining run directory, for its loss curve"),
        OPT_STR("sft-run", &sft_run, "SFT run directory, for its loss curve"),
        OPT_STR("rm-run", &rm_run, "reward-model run directory, for its curves"),
        OPT_LIST("dpo-run", &dpo_runs, "DPO run directory of each round, for the margin and loss curves"),
        OPT_LIST("win-target", &win_targets, "NAME: a checkpoint held to the win-rate target (0.6) in the report"),
        OPT_STR("pipeline", &pipeline_file, "the pipeline's step times (default: OUT/pipeline.jsonl)"),
        OPT_FLOAT("time-target", &time_target, "the demo's wall-time target in minutes, for the report"),
        OPT_INT("prompts", &max_prompts, "held-out prompts answered, spread over the file (0: all)"),
        OPT_INT("max-new-tokens", &s.max_new_tokens, "longest answer"),
        OPT_FLOAT("temperature", &s.temperature, "sampling temperature of the answers for KL and best-of-n (the pipeline's)"),
        OPT_INT("kl-prompts", &s.kl_prompts, "held-out prompts answered at --temperature for the KL estimate"),
        OPT_INT("kl-samples", &s.kl_samples, "answers per prompt for the KL estimate"),
        OPT_INT("bon-prompts", &s.bon_prompts, "held-out prompts for best-of-n and the reward model's agreement"),
        OPT_INT("bon-n", &s.bon_n, "answers sampled per prompt for best-of-n (n = 1, 2, 4, ... up to it)"),
        OPT_LONG("ppl-tokens", &s.ppl_tokens, "held-out text tokens for the perplexity"),
        OPT_INT("seq-len", &s.seq_len, "window of the perplexity evaluation"),
        OPT_INT("seed", &seed, "sampling seed (the same for every checkpoint)"),
        OPT_END};
    char **pos;
    int npos = args_parse("demo-eval", "",
                          "Measure the demo's checkpoints against the gold standard and write RUN/report.md, "
                          "RUN/report.json and plots: gold scores per family, win rate and KL against the baseline, "
                          "perplexity, the reward model against gold, best-of-n and PPO over-optimisation, wall times.",
                          opts, argc, argv, &pos);
    if (npos != 0) die("demo-eval: unexpected argument %s (see lmforge demo-eval --help)", pos[0]);
    if (!out || !data || !reward) die("demo-eval: --out, --data and --reward are required");
    if (models.n == 0) die("demo-eval: no --model NAME=DIR to evaluate");
    if (s.max_new_tokens < 1 || s.kl_prompts < 1 || s.kl_samples < 1 || s.bon_prompts < 1 || s.bon_n < 1 ||
        s.ppl_tokens < 2 || s.seq_len < 1 || max_prompts < 0 || !(s.temperature > 0))
        die("demo-eval: the sizes (--max-new-tokens, --kl-*, --bon-*, --ppl-tokens, --seq-len, --prompts) and --temperature must be positive");
    s.seed = (uint64_t)seed;
    double t0 = now_seconds();

    DemoReport r = {.baseline = baseline_name, .kl_prompts = s.kl_prompts, .kl_samples = s.kl_samples,
                    .max_new_tokens = s.max_new_tokens, .temperature = s.temperature, .reward_model = reward,
                    .win_targets = win_targets.items, .n_win_targets = win_targets.n,
                    .time_target_minutes = time_target};
    char **names = xcalloc((size_t)models.n, sizeof(char *));
    const char **dirs = xcalloc((size_t)models.n, sizeof(char *));
    int base_index = -1;
    for (int i = 0; i < models.n; i++) {
        split_named(models.items[i], &names[i], &dirs[i]);
        if (strcmp(names[i], baseline_name) == 0) base_index = i;
    }
    if (base_index < 0) die("demo-eval: the baseline %s is not one of the --model names", baseline_name);

    ModelDir base = model_dir_load(dirs[base_index]);
    if (base.model->cfg.head != HEAD_LM || !base.tokenizer) die("demo-eval: %s is not a language model", dirs[base_index]);
    const Tokenizer *tok = base.tokenizer;
    ModelDir rm = model_dir_load(reward);
    if (rm.model->cfg.head != HEAD_SCORE) die("demo-eval: %s is not a reward model (it has no score head)", reward);
    if (!rm.tokenizer || tokenizer_fingerprint(rm.tokenizer) != tokenizer_fingerprint(tok))
        die("demo-eval: the reward model %s uses another tokenizer than %s", reward, dirs[base_index]);

    char *tasks_path = xsprintf("%s/tasks/heldout.jsonl", data), *prompts_path = xsprintf("%s/prompts/heldout.jsonl", data);
    char *text_path = xsprintf("%s/pretrain/heldout.txt", data);
    HeldOut h = held_out_load(tasks_path, prompts_path, tok, max_prompts);
    IntVec text = tokenize_inputs((const char *const *)&text_path, 1, tok);
    text.len = (int)LMF_MIN((long)text.len, s.ppl_tokens);
    if (text.len < 2) die("demo-eval: %s holds fewer than 2 tokens", text_path);
    r.ppl_tokens = text.len;
    r.n_prompts = h.n;
    r.n_families = gold_n_families(h.gold);
    r.families = xcalloc((size_t)r.n_families, sizeof(char *));
    r.family_prompts = xcalloc((size_t)r.n_families, sizeof(int));
    for (int f = 0; f < r.n_families; f++) r.families[f] = gold_family_name(h.gold, f);
    for (int i = 0; i < h.n; i++) r.family_prompts[h.family[i]]++;

    char *answers_dir = path_join(out, "answers"), *plots_dir = path_join(out, "plots");
    make_dirs(answers_dir);
    make_dirs(plots_dir);

    /* every checkpoint: greedy answers, samples, perplexity */
    r.n_checkpoints = models.n;
    r.checkpoints = xcalloc((size_t)models.n, sizeof(CheckpointFigures));
    double **gold = xcalloc((size_t)models.n, sizeof(double *));
    for (int i = 0; i < models.n; i++) {
        double t = now_seconds();
        ModelDir ck = i == base_index ? base : load_policy(dirs[i], tok);
        CheckpointFigures *c = &r.checkpoints[i];
        c->name = names[i];
        c->dir = dirs[i];
        gold[i] = xmalloc(sizeof(double) * (size_t)h.n);
        char *answers = xsprintf("%s/%s.jsonl", answers_dir, names[i]);
        greedy_answers(ck.model, tok, &h, &s, answers, gold[i]);
        c->gold = mean_of(gold[i], h.n);
        c->family_gold = xcalloc((size_t)r.n_families, sizeof(double));
        for (int k = 0; k < h.n; k++) c->family_gold[h.family[k]] += gold[i][k];
        for (int f = 0; f < r.n_families; f++)
            c->family_gold[f] = r.family_prompts[f] ? c->family_gold[f] / r.family_prompts[f] : NAN;
        PolicyPoint sp = sampled_point(ck.model, base.model, rm.model, tok, &h, s.kl_prompts, s.kl_samples, &s);
        c->kl = sp.kl;
        c->sample_gold = sp.gold;
        c->sample_rm = sp.rm;
        c->loss = heldout_loss(ck.model, &text, &s);
        c->perplexity = exp(c->loss);
        info("demo-eval: %-12s gold %.3f  KL %.2f  perplexity %.1f  (%.0fs; answers in %s)", names[i], c->gold, c->kl,
             c->perplexity, now_seconds() - t, answers);
        free(answers);
        if (i != base_index) model_dir_free(&ck);
    }
    for (int i = 0; i < models.n; i++) r.checkpoints[i].win = win_rate(gold[i], gold[base_index], h.n);

    double t = now_seconds();
    best_of_n(&r, base.model, rm.model, tok, &h, &s);
    info("demo-eval: reward model agrees with gold on %.3f of %ld pairs; best-of-%d gold %.3f (n = 1: %.3f) (%.0fs)",
         pair_agreement_rate(&r.rm_agreement), r.rm_agreement.pairs, s.bon_n, r.best_of_n[r.n_best_of_n - 1].gold,
         r.best_of_n[0].gold, now_seconds() - t);

    if (ppo_run) {
        int n_its;
        long *its = ppo_checkpoints(ppo_run, &n_its);
        r.ppo = xcalloc((size_t)n_its + 1, sizeof(PolicyPoint));
        /* iteration 0 is the baseline itself: its first sample of each prompt */
        r.ppo[r.n_ppo++] = (PolicyPoint){0, 0, r.best_of_n[0].gold, r.best_of_n[0].rm};
        for (int i = 0; i < n_its; i++) {
            char *dir = xsprintf("%s/checkpoint-%ld/policy", ppo_run, its[i]);
            ModelDir ck = load_policy(dir, tok);
            PolicyPoint p = sampled_point(ck.model, base.model, rm.model, tok, &h, s.bon_prompts, 1, &s);
            p.x = its[i];
            r.ppo[r.n_ppo++] = p;
            model_dir_free(&ck);
            free(dir);
        }
        free(its);
    }
    char *overopt = path_join(out, "plots/overoptimization.svg");
    plot_overoptimization(overopt, &r);
    training_plots(&r, out, pretrain_run, sft_run, rm_run, ppo_run, &dpo_runs);

    char *pipeline_path = pipeline_file ? xstrdup(pipeline_file) : path_join(out, "pipeline.jsonl");
    r.stages = stage_times_load(pipeline_path, &r.n_stages);
    r.eval_seconds = now_seconds() - t0;
    char *md = path_join(out, "report.md"), *js = path_join(out, "report.json");
    report_write_markdown(md, &r);
    report_write_json(js, &r);
    report_print_summary(stdout, &r);
    info("demo-eval: report in %s (plots in %s), figures in %s", md, plots_dir, js);

    free(md);
    free(js);
    free(pipeline_path);
    stage_times_free(r.stages, r.n_stages);
    free(overopt);
    free(r.plots);
    free(r.plot_captions);
    free(r.ppo);
    free(r.best_of_n);
    free(r.rm_family_agreement);
    for (int i = 0; i < models.n; i++) {
        free(gold[i]);
        free(r.checkpoints[i].family_gold);
        free(names[i]);
    }
    free(gold);
    free(r.checkpoints);
    free(r.families);
    free(r.family_prompts);
    free(answers_dir);
    free(plots_dir);
    intvec_free(&text);
    held_out_free(&h);
    free(tasks_path);
    free(prompts_path);
    free(text_path);
    free(names);
    free(dirs);
    free(models.items);
    free(dpo_runs.items);
    free(win_targets.items);
    free(pos);
    model_dir_free(&rm);
    model_dir_free(&base);
    return 0;
}
