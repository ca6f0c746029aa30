/* evaluate_cmd.c — `lmforge evaluate`: checkpoints measured against a judge
 * program (the gold standard), written up as OUT/report.md with its plots in
 * OUT/plots/, and OUT/report.json. The demo's last step runs it with the
 * demo's gold judges behind --judge; any program speaking the JSON lines of
 * reward_program.h fits there.
 *
 * For each checkpoint (--model, in order):
 *   greedy answers to the held-out prompts → judge score per family, per
 *   group and overall, and the win rate against the baseline prompt by prompt;
 *   answers sampled (--temperature) → KL to the baseline, their judge and
 *   reward-model scores;
 *   perplexity on held-out text (--heldout-text);
 *   the log-likelihood of reference answers (--references, SFT data), per
 *   answer token: minus SFT's held-out loss on the same file.
 * --route groups checkpoints into routes (RLHF-PPO, RS+DPO, SPIN...) shown
 * side by side in one table.
 * Then the reward model against the judge (pairs of the baseline's answers
 * whose judge scores differ by more than --agreement-margin), and the
 * reward–KL frontier (Gao et al. 2022): best-of-n by the reward model, the
 * checkpoints of a PPO and a GRPO run, and --frontier models (DPO at several
 * β), each series fitted with frontier_fit.h; the training curves of each
 * stage and the pipeline's wall times. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../base/args.h"
#include "../base/jsonl.h"
#include "../base/util.h"
#include "../data/chat_data.h"
#include "../data/sft_data.h"
#include "../data/text_data.h"
#include "../io/model_dir.h"
#include "../pipeline/reward_program.h"
#include "../train/lm_loss.h"
#include "../train/rollout.h"
#include "demo_commands.h"
#include "evaluate.h"
#include "frontier_fit.h"
#include "gold.h"
#include "report.h"

/* The held-out prompts and the judge that scores answers to them. */
typedef struct {
    int n;
    Conversation *prompts;           /* (n) */
    cJSON **records;                 /* (n) each prompt's line, "prompt" set: a judge request less its "completion" */
    char **family, **group;          /* (n) from the line, else from the judge's first reply, else "all" */
    int *family_index, *group_index; /* (n) into the report's families and groups, once labelled */
    RenderedPrompts rendered;        /* (n) for the model */
    RewardProgram *judge;
} HeldOut;

typedef struct {
    int max_new_tokens, kl_prompts, kl_samples, bon_prompts, bon_n, seq_len;
    float temperature; /* of the sampled answers (KL, best-of-n, frontier) */
    long ppl_tokens;
    uint64_t seed;
} EvalSettings;

/* ---- the prompts and the judge ---- */

/* An optional label field ("family", "group") of a prompt line, or NULL. */
static char *label_field(const JsonlRecord *rec, const char *field) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec->json, field);
    if (!v || cJSON_IsNull(v)) return NULL;
    if (!cJSON_IsString(v) || !v->valuestring[0]) jsonl_die(rec, "field \"%s\" must be a non-empty string", field);
    return xstrdup(v->valuestring);
}

static HeldOut held_out_load(const char *path, const Tokenizer *tok, int max_prompts) {
    HeldOut all = {0};
    JsonlReader *rd = jsonl_open(path);
    JsonlRecord rec;
    while (jsonl_next(rd, &rec)) {
        int i = all.n++;
        all.prompts = xrealloc(all.prompts, sizeof(Conversation) * (size_t)all.n);
        all.records = xrealloc(all.records, sizeof(cJSON *) * (size_t)all.n);
        all.family = xrealloc(all.family, sizeof(char *) * (size_t)all.n);
        all.group = xrealloc(all.group, sizeof(char *) * (size_t)all.n);
        all.prompts[i] = jsonl_get_conversation(&rec, "prompt");
        all.family[i] = label_field(&rec, "family");
        all.group[i] = label_field(&rec, "group");
        all.records[i] = cJSON_Duplicate(rec.json, 1);
        cJSON_DeleteItemFromObjectCaseSensitive(all.records[i], "completion");
    }
    jsonl_close(rd);
    if (all.n == 0) die("evaluate: %s holds no prompts", path);
    /* an evenly spread subset when --max-prompts limits them, so that every family keeps its share */
    HeldOut h = {0};
    h.n = max_prompts > 0 ? LMF_MIN(max_prompts, all.n) : all.n;
    h.prompts = xmalloc(sizeof(Conversation) * (size_t)h.n);
    h.records = xmalloc(sizeof(cJSON *) * (size_t)h.n);
    h.family = xmalloc(sizeof(char *) * (size_t)h.n);
    h.group = xmalloc(sizeof(char *) * (size_t)h.n);
    for (int i = 0, taken = 0; i < all.n; i++) {
        if (taken < h.n && (long)taken * all.n / h.n == i) {
            h.prompts[taken] = all.prompts[i];
            h.records[taken] = all.records[i];
            h.family[taken] = all.family[i];
            h.group[taken] = all.group[i];
            taken++;
        } else {
            conversation_free(&all.prompts[i]);
            cJSON_Delete(all.records[i]);
            free(all.family[i]);
            free(all.group[i]);
        }
    }
    free(all.prompts);
    free(all.records);
    free(all.family);
    free(all.group);
    h.family_index = xcalloc((size_t)h.n, sizeof(int));
    h.group_index = xcalloc((size_t)h.n, sizeof(int));
    h.rendered = render_prompts(tok, h.prompts, NULL, h.n);
    return h;
}

static void held_out_free(HeldOut *h) {
    for (int i = 0; i < h->n; i++) {
        conversation_free(&h->prompts[i]);
        cJSON_Delete(h->records[i]);
        free(h->family[i]);
        free(h->group[i]);
    }
    rendered_prompts_free(&h->rendered);
    free(h->prompts);
    free(h->records);
    free(h->family);
    free(h->group);
    free(h->family_index);
    free(h->group_index);
}

/* A label of the judge's reply, when the prompt line did not give one. */
static void take_label(char **label, const cJSON *reply, const char *field) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(reply, field);
    if (!*label && cJSON_IsString(v) && v->valuestring[0]) *label = xstrdup(v->valuestring);
}

/* The judge's scores of n answers, in one batch: answer j is to prompt
 * index[j / k] (index NULL: to prompt j / k). Dies naming the judge when it
 * fails. */
static void judge_scores(HeldOut *h, const int *index, const Generation *g, int n, int k, double *gold) {
    cJSON **requests = xmalloc(sizeof(cJSON *) * (size_t)LMF_MAX(n, 1));
    cJSON **replies = xcalloc((size_t)LMF_MAX(n, 1), sizeof(cJSON *));
    float *rewards = xmalloc(sizeof(float) * (size_t)LMF_MAX(n, 1));
    for (int j = 0; j < n; j++) {
        int i = index ? index[j / k] : j / k;
        requests[j] = cJSON_Duplicate(h->records[i], 1);
        cJSON_AddStringToObject(requests[j], "completion", g[j].text);
    }
    char *error = reward_program_score_replies(h->judge, requests, n, rewards, replies);
    if (error) die("evaluate: the --judge program failed: %s", error);
    for (int j = 0; j < n; j++) {
        int i = index ? index[j / k] : j / k;
        gold[j] = rewards[j];
        take_label(&h->family[i], replies[j], "family");
        take_label(&h->group[i], replies[j], "group");
        cJSON_Delete(replies[j]);
        cJSON_Delete(requests[j]);
    }
    free(requests);
    free(replies);
    free(rewards);
}

/* Index of name in names[0..*n), appended when new. */
static int intern(const char **names, int *n, const char *name) {
    for (int i = 0; i < *n; i++)
        if (strcmp(names[i], name) == 0) return i;
    names[*n] = name;
    return (*n)++;
}

/* Families and groups of the report, in order of first appearance, once the
 * judge has answered for every prompt. A family stays in the group of its
 * first prompt. */
static void label_prompts(HeldOut *h, EvalReport *r) {
    r->families = xcalloc((size_t)h->n, sizeof(char *));
    r->groups = xcalloc((size_t)h->n, sizeof(char *));
    r->family_group = xcalloc((size_t)h->n, sizeof(int));
    r->family_prompts = xcalloc((size_t)h->n, sizeof(int));
    r->group_prompts = xcalloc((size_t)h->n, sizeof(int));
    r->target_group = xcalloc((size_t)h->n, sizeof(int));
    for (int i = 0; i < h->n; i++) {
        if (!h->family[i]) h->family[i] = xstrdup("all");
        if (!h->group[i]) h->group[i] = xstrdup("all");
        int before = r->n_families;
        int f = intern(r->families, &r->n_families, h->family[i]);
        if (f == before) r->family_group[f] = intern(r->groups, &r->n_groups, h->group[i]);
        h->family_index[i] = f;
        h->group_index[i] = r->family_group[f];
        r->family_prompts[f]++;
        r->group_prompts[h->group_index[i]]++;
    }
}

/* The index of the group, or -1 with a warning naming the flag when no prompt is in it. */
static int group_named(const EvalReport *r, const char *name, const char *flag) {
    for (int g = 0; g < r->n_groups; g++)
        if (strcmp(r->groups[g], name) == 0) return g;
    char *known = xstrdup("");
    for (int g = 0; g < r->n_groups; g++) {
        char *next = xsprintf("%s%s%s", known, g ? ", " : "", r->groups[g]);
        free(known);
        known = next;
    }
    warn("evaluate: %s %s: no prompt is in that group (groups: %s); left out", flag, name, known);
    free(known);
    return -1;
}

/* ---- models answering ---- */

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

static double mean_of(const double *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    return n ? s / n : NAN;
}

/* Mean of x[i] over the i with label[i] == l, for each l < n_labels. */
static double *means_by(const double *x, const int *label, int n, int n_labels) {
    double *sum = xcalloc((size_t)n_labels, sizeof(double));
    int *count = xcalloc((size_t)n_labels, sizeof(int));
    for (int i = 0; i < n; i++) sum[label[i]] += x[i], count[label[i]]++;
    for (int l = 0; l < n_labels; l++) sum[l] = count[l] ? sum[l] / count[l] : NAN;
    free(count);
    return sum;
}

/* Greedy answers to every held-out prompt: judge scores into gold (n), the
 * answers into answers_path for a look at what the model says. */
static void greedy_answers(Model *m, const Tokenizer *tok, HeldOut *h, const EvalSettings *s,
                           const char *answers_path, double *gold) {
    Generation *g = answer(m, tok, &h->rendered, 1, 0.0f, s, s->seed);
    judge_scores(h, NULL, g, h->n, 1, gold);
    JsonlWriter *w = jsonl_writer_open(answers_path);
    for (int i = 0; i < h->n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "prompt", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(h->records[i], "prompt"), 1));
        cJSON_AddStringToObject(o, "response", g[i].text);
        cJSON_AddNumberToObject(o, "gold", gold[i]);
        jsonl_write(w, o);
        cJSON_Delete(o);
    }
    jsonl_writer_close(w);
    generations_free(g, h->n);
    free(g);
}

/* A policy's answers sampled at --temperature on a subset of prompts: their
 * KL from the baseline, mean judge score and mean reward-model score (NaN
 * without one). */
static PolicyPoint sampled_point(Model *m, Model *baseline, Model *rm, const Tokenizer *tok, HeldOut *h,
                                 int n_prompts, int k, const EvalSettings *s) {
    int *index;
    RenderedPrompts p = subset(h, tok, n_prompts, &index);
    int n = p.n * k;
    Generation *g = answer(m, tok, &p, k, s->temperature, s, s->seed + 1);
    float *ref_logp = xmalloc(sizeof(float) * (size_t)n), *scores = xmalloc(sizeof(float) * (size_t)n);
    double *gold = xmalloc(sizeof(double) * (size_t)n);
    answer_logprobs(baseline, &p, g, k, s->temperature, ref_logp);
    if (rm) answer_scores(rm, &p, g, k, scores);
    judge_scores(h, index, g, n, k, gold);
    double kl = 0, score = 0;
    for (int j = 0; j < n; j++) {
        double logp = 0;
        for (int t = 0; t < g[j].n_tokens; t++) logp += g[j].logprobs[t];
        kl += logp - ref_logp[j];
        score += rm ? scores[j] : NAN;
    }
    PolicyPoint point = {0, NULL, kl / n, mean_of(gold, n), score / n};
    generations_free(g, n);
    free(g);
    free(gold);
    free(ref_logp);
    free(scores);
    free(index);
    rendered_prompts_free(&p);
    return point;
}

static double heldout_loss(Model *m, const IntVec *text, const EvalSettings *s) {
    long counted;
    int T = LMF_MIN(s->seq_len, m->cfg.max_seq_len);
    double sum = lm_loss_windows(m, text->data, text->len, T, 8, &counted, NULL, NULL);
    return sum / counted;
}

/* The reference answers (--references): SFT data rendered as SFT renders it,
 * with the baseline's context as the length limit, and the examples scored
 * (an evenly spread subset with --references-limit). */
typedef struct {
    SftData *data;
    int *which, n; /* (n) indices into data */
    int max_row, pad_id;
} References;

static References references_load(const char *path, const Tokenizer *tok, int max_len, int limit) {
    SftOptions so = {max_len, 0};
    References refs = {sft_data_load(&path, 1, tok, &so), NULL, 0, max_len,
                       tokenizer_eos_id(tok) >= 0 ? tokenizer_eos_id(tok) : 0}; /* SFT's padding */
    const SftDataStats *st = &refs.data->stats;
    if (st->n_response_cut)
        warn("evaluate: --references %s: %d answers are longer than the %d-token context and lose their end", path,
             st->n_response_cut, max_len);
    if (st->n_skipped) warn("evaluate: --references %s: %d records have no answer token; left out", path, st->n_skipped);
    if (refs.data->n == 0) die("evaluate: --references %s holds no example with an answer", path);
    refs.n = limit > 0 ? LMF_MIN(limit, refs.data->n) : refs.data->n;
    refs.which = xmalloc(sizeof(int) * (size_t)refs.n);
    for (int i = 0; i < refs.n; i++) refs.which[i] = (int)((long)i * refs.data->n / refs.n);
    return refs;
}

/* Mean log-probability per answer token of the reference answers: minus
 * SFT's held-out loss, computed by the same function with SFT's batch
 * layout (16 examples packed per forward pass). */
static double reference_loglik(Model *m, const References *refs, long *tokens) {
    double sum = lm_loss_examples(m, refs->data, refs->which, refs->n, 16, refs->max_row, 1, refs->pad_id, tokens);
    return -sum / (double)LMF_MAX(*tokens, 1);
}

/* ---- best-of-n and the reward model's agreement ---- */

/* The baseline's bon_n answers to each of bon_prompts prompts, scored by the
 * reward model and the judge: the reward model's agreement with the judge,
 * and best-of-n for n = 1, 2, 4, ... bon_n, as the first frontier series. */
static void best_of_n(EvalReport *r, Model *baseline, Model *rm, const Tokenizer *tok, HeldOut *h,
                      const EvalSettings *s, FrontierSeries *series) {
    int *index;
    RenderedPrompts p = subset(h, tok, s->bon_prompts, &index);
    const int K = s->bon_n, n = p.n * K;
    Generation *g = answer(baseline, tok, &p, K, s->temperature, s, s->seed + 2);
    float *scores = xmalloc(sizeof(float) * (size_t)n);
    answer_scores(rm, &p, g, K, scores);
    double *gold = xmalloc(sizeof(double) * (size_t)n);
    judge_scores(h, index, g, n, K, gold);

    r->rm_group_agreement = xcalloc((size_t)r->n_groups, sizeof(PairAgreement));
    for (int i = 0; i < p.n; i++) {
        const double *gi = gold + (size_t)i * K;
        const float *si = scores + (size_t)i * K;
        int grp = h->group_index[index[i]];
        pair_agreement_add(&r->rm_agreement, gi, si, K, r->agreement_margin);
        pair_agreement_add(&r->rm_group_agreement[grp], gi, si, K, r->agreement_margin);
        if (r->target_group[grp]) pair_agreement_add(&r->rm_target_agreement, gi, si, K, r->agreement_margin);
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

    *series = (FrontierSeries){.label = "best-of-n", .form = FRONTIER_BEST_OF_N, .points = xcalloc(32, sizeof(PolicyPoint))};
    for (int bn = 1; bn <= K; bn *= 2) {
        double g_sum = 0, r_sum = 0;
        for (int i = 0; i < p.n; i++) {
            int best = best_of_first(scores + (size_t)i * K, bn);
            g_sum += gold[(size_t)i * K + best];
            r_sum += scores[(size_t)i * K + best];
        }
        series->points[series->n++] = (PolicyPoint){bn, NULL, kl_best_of_n(bn), g_sum / p.n, r_sum / p.n};
    }
    free(gold);
    free(scores);
    generations_free(g, n);
    free(g);
    free(index);
    rendered_prompts_free(&p);
}

/* ---- the frontier's other series ---- */

static int compare_longs(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Steps of the complete checkpoints in a run directory, ascending. */
static long *run_checkpoints(const char *run, const char *flag, int *n) {
    *n = 0;
    DIR *d = opendir(run);
    if (!d) die_errno("evaluate: %s: cannot open the run %s", flag, run);
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
    if (*n == 0) die("evaluate: %s %s holds no complete checkpoint-N/", flag, run);
    qsort(its, (size_t)*n, sizeof(long), compare_longs);
    return its;
}

static ModelDir load_policy(const char *dir, const Tokenizer *tok) {
    ModelDir ck = model_dir_load(dir);
    if (ck.model->cfg.head != HEAD_LM || !ck.tokenizer) die("evaluate: %s is not a language model with a tokenizer", dir);
    if (tokenizer_fingerprint(ck.tokenizer) != tokenizer_fingerprint(tok))
        die("evaluate: %s uses another tokenizer than the baseline", dir);
    return ck;
}

/* A policy of the frontier: answers once per frontier prompt. */
static PolicyPoint frontier_point(const char *dir, long x, const char *name, Model *baseline, Model *rm,
                                  const Tokenizer *tok, HeldOut *h, const EvalSettings *s) {
    ModelDir ck = load_policy(dir, tok);
    PolicyPoint p = sampled_point(ck.model, baseline, rm, tok, h, s->bon_prompts, 1, s);
    p.x = x;
    p.name = name;
    model_dir_free(&ck);
    return p;
}

/* The checkpoints of a PPO or GRPO run (the policy is checkpoint-N/policy
 * in PPO's, checkpoint-N itself in GRPO's), after the baseline's own point. */
static FrontierSeries run_series(const char *label, const char *run, const char *flag, PolicyPoint origin,
                                 Model *baseline, Model *rm, const Tokenizer *tok, HeldOut *h, const EvalSettings *s) {
    int n;
    long *its = run_checkpoints(run, flag, &n);
    FrontierSeries f = {.label = label, .form = FRONTIER_RL, .points = xcalloc((size_t)n + 1, sizeof(PolicyPoint))};
    f.points[f.n++] = origin;
    for (int i = 0; i < n; i++) {
        char *dir = xsprintf("%s/checkpoint-%ld/policy", run, its[i]);
        if (!dir_exists(dir)) {
            free(dir);
            dir = xsprintf("%s/checkpoint-%ld", run, its[i]);
        }
        f.points[f.n++] = frontier_point(dir, its[i], NULL, baseline, rm, tok, h, s);
        free(dir);
    }
    free(its);
    return f;
}

/* "ROUTE=NAME1,NAME2,..." of --route: the named --model checkpoints, in order. */
static EvalRoute parse_route(const char *arg, char *const *names, int n_models) {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1]) die("evaluate: --route %s: expected ROUTE=NAME1,NAME2,...", arg);
    EvalRoute route = {xstrndup(arg, (size_t)(eq - arg)), NULL, 0};
    for (const char *p = eq + 1;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int found = -1;
        for (int i = 0; i < n_models; i++)
            if (strlen(names[i]) == len && strncmp(names[i], p, len) == 0) found = i;
        if (found < 0) die("evaluate: --route %s: \"%.*s\" is not one of the --model names", arg, (int)len, p);
        route.members = xrealloc(route.members, sizeof(int) * (size_t)(route.n + 1));
        route.members[route.n++] = found;
        if (!end) break;
        p = end + 1;
    }
    return route;
}

/* "NAME=DIR" of --model and --frontier. */
static void split_named(const char *flag, const char *arg, char **name, const char **dir) {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1]) die("evaluate: %s %s: expected NAME=DIR", flag, arg);
    *name = xstrndup(arg, (size_t)(eq - arg));
    *dir = eq + 1;
}

/* The fit of each series to its gold gain over its first point, and whether it passed a peak. */
static void fit_series(FrontierSeries *f) {
    double *kl = xmalloc(sizeof(double) * (size_t)f->n), *gain = xmalloc(sizeof(double) * (size_t)f->n);
    for (int i = 0; i < f->n; i++) kl[i] = f->points[i].kl, gain[i] = f->points[i].gold - f->points[0].gold;
    f->fit = frontier_fit(f->form, kl, gain, f->n);
    f->peak_passed = frontier_peak_passed(f->points, f->n);
    free(kl);
    free(gain);
}

/* The training curves of the stages, as plots in OUT/plots; their names and captions go to the report. */
static void training_plots(EvalReport *r, const char *out, const char *pretrain, const char *sft, const char *rm,
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

int cmd_evaluate(int argc, char **argv) {
    const char *out = NULL, *prompts_path = NULL, *judge_cmd = NULL, *baseline_name = NULL, *reward = NULL;
    const char *heldout_text = NULL, *ppo_run = NULL, *grpo_run = NULL, *frontier_label = "DPO";
    const char *pretrain_run = NULL, *sft_run = NULL, *rm_run = NULL, *pipeline_file = NULL, *gain_group = NULL;
    const char *references = NULL;
    OptList models = {0}, frontier = {0}, dpo_runs = {0}, win_targets = {0}, gain_targets = {0}, target_groups = {0};
    OptList routes = {0};
    int max_prompts = 0, seed = 1, references_limit = 0;
    float time_target = 0, judge_timeout = 0, margin = 0.01f, win_min = 0.6f, gain_min = 0.15f, agreement_min = 0.8f;
    EvalSettings s = {.max_new_tokens = 16, .kl_prompts = 200, .kl_samples = 1, .bon_prompts = 100, .bon_n = 64,
                      .seq_len = 128, .ppl_tokens = 32768, .temperature = 1};
    Option opts[] = {
        OPT_STR("out", &out, "where report.md, report.json, plots/ and answers/ go (required)"),
        OPT_STR("prompts", &prompts_path, "held-out prompts, JSONL: {\"prompt\": string or chat messages, optional "
                                          "\"family\" and \"group\", any other fields for the judge} (required)"),
        OPT_STR("judge", &judge_cmd, "the judge program (sh -c): reads {\"prompt\",\"completion\",...the prompt line's "
                                     "other fields} lines, answers {\"reward\": number} lines, optionally with "
                                     "\"family\" and \"group\" (required)"),
        OPT_FLOAT("judge-timeout", &judge_timeout, "seconds the judge may take per answer (0: no limit)"),
        OPT_LIST("model", &models, "NAME=DIR: a checkpoint to evaluate, in the table's order (at least one)"),
        OPT_STR("baseline", &baseline_name, "the --model NAME that win rates and KL are measured against (default: the first)"),
        OPT_STR("reward", &reward, "a reward model: its agreement with the judge, best-of-n, reward-model scores"),
        OPT_FLOAT("agreement-margin", &margin, "pairs count for the agreement only if their judge scores differ by more"),
        OPT_STR("heldout-text", &heldout_text, "plain text for the perplexity of every checkpoint"),
        OPT_STR("references", &references, "SFT data ({\"messages\"} or {\"prompt\",\"completion\"} JSONL) whose "
                                           "answers' mean log-prob per answer token each checkpoint gets (ref. log-lik: "
                                           "minus SFT's held-out loss on the file)"),
        OPT_INT("references-limit", &references_limit, "--references examples scored, spread over the file (0: all)"),
        OPT_LIST("route", &routes, "ROUTE=NAME1,NAME2,...: a route's --model checkpoints in order, for the Routes table"),
        OPT_STR("ppo-run", &ppo_run, "PPO run directory: its checkpoint-N/policy are a frontier series"),
        OPT_STR("grpo-run", &grpo_run, "GRPO run directory: its checkpoint-N are a frontier series"),
        OPT_LIST("frontier", &frontier, "NAME=DIR: a policy of the --frontier-label series (e.g. DPO at one beta)"),
        OPT_STR("frontier-label", &frontier_label, "name of the --frontier series"),
        OPT_STR("pretrain-run", &pretrain_run, "pretraining run directory, for its loss curve"),
        OPT_STR("sft-run", &sft_run, "SFT run directory, for its loss curve"),
        OPT_STR("rm-run", &rm_run, "reward-model run directory, for its curves"),
        OPT_LIST("dpo-run", &dpo_runs, "DPO run directory of each round, for the margin and loss curves"),
        OPT_LIST("target-group", &target_groups, "GROUP: the targets' win rates and agreement are on these groups (default: all)"),
        OPT_LIST("win-target", &win_targets, "NAME: a checkpoint held to win rate >= --win-min against the baseline"),
        OPT_FLOAT("win-min", &win_min, "the win-rate target"),
        OPT_LIST("gain-target", &gain_targets, "NAME: a checkpoint held to gold >= the baseline's + --gain-min on --gain-group"),
        OPT_STR("gain-group", &gain_group, "the group of the gold-gain target (default: all prompts)"),
        OPT_FLOAT("gain-min", &gain_min, "the gold-gain target"),
        OPT_FLOAT("agreement-min", &agreement_min, "the reward model's agreement target"),
        OPT_STR("pipeline", &pipeline_file, "the pipeline's step times (default: OUT/pipeline.jsonl)"),
        OPT_FLOAT("time-target", &time_target, "a wall-time target in minutes for the whole pipeline (0: none)"),
        OPT_INT("max-prompts", &max_prompts, "held-out prompts answered, spread over the file (0: all)"),
        OPT_INT("max-new-tokens", &s.max_new_tokens, "longest answer"),
        OPT_FLOAT("temperature", &s.temperature, "sampling temperature of the answers for KL, best-of-n and the frontier"),
        OPT_INT("kl-prompts", &s.kl_prompts, "held-out prompts answered at --temperature for each checkpoint's KL"),
        OPT_INT("kl-samples", &s.kl_samples, "answers per prompt for the KL estimate"),
        OPT_INT("bon-prompts", &s.bon_prompts, "held-out prompts for best-of-n, the agreement and the frontier"),
        OPT_INT("bon-n", &s.bon_n, "answers sampled per prompt for best-of-n (n = 1, 2, 4, ... up to it)"),
        OPT_LONG("ppl-tokens", &s.ppl_tokens, "held-out text tokens for the perplexity"),
        OPT_INT("seq-len", &s.seq_len, "window of the perplexity evaluation"),
        OPT_INT("seed", &seed, "sampling seed (the same for every checkpoint)"),
        OPT_END};
    char **pos;
    int npos = args_parse("evaluate", "",
                          "Measure checkpoints against a judge program and write OUT/report.md, OUT/report.json and "
                          "plots: judge scores per family and group, win rate and KL against the baseline, "
                          "perplexity, the reward model against the judge, the reward-KL frontier (best-of-n, PPO, "
                          "DPO, GRPO) with Gao et al.'s fits, over-optimisation, targets, wall times.",
                          opts, argc, argv, &pos);
    if (npos != 0) die("evaluate: unexpected argument %s (see lmforge evaluate --help)", pos[0]);
    if (!out || !prompts_path || !judge_cmd) die("evaluate: --out, --prompts and --judge are required");
    if (models.n == 0) die("evaluate: no --model NAME=DIR to evaluate");
    if (s.max_new_tokens < 1 || s.kl_prompts < 1 || s.kl_samples < 1 || s.bon_prompts < 1 || s.bon_n < 1 ||
        s.ppl_tokens < 2 || s.seq_len < 1 || max_prompts < 0 || references_limit < 0 || !(s.temperature > 0) || !(margin >= 0))
        die("evaluate: the sizes (--max-new-tokens, --kl-*, --bon-*, --ppl-tokens, --seq-len, --max-prompts, "
            "--references-limit) and "
            "--temperature must be positive, --agreement-margin >= 0");
    s.seed = (uint64_t)seed;
    double t0 = now_seconds();

    char **names = xcalloc((size_t)models.n, sizeof(char *));
    const char **dirs = xcalloc((size_t)models.n, sizeof(char *));
    int base_index = baseline_name ? -1 : 0;
    for (int i = 0; i < models.n; i++) {
        split_named("--model", models.items[i], &names[i], &dirs[i]);
        if (baseline_name && strcmp(names[i], baseline_name) == 0) base_index = i;
    }
    if (base_index < 0) die("evaluate: the baseline %s is not one of the --model names", baseline_name);
    baseline_name = names[base_index];
    const OptList *held[2] = {&win_targets, &gain_targets};
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < held[l]->n; k++) {
            int known = 0;
            for (int i = 0; i < models.n; i++) known |= strcmp(names[i], held[l]->items[k]) == 0;
            if (!known) die("evaluate: --%s %s is not one of the --model names", l ? "gain-target" : "win-target", held[l]->items[k]);
        }
    EvalRoute *route_list = xcalloc((size_t)LMF_MAX(routes.n, 1), sizeof(EvalRoute));
    for (int k = 0; k < routes.n; k++) route_list[k] = parse_route(routes.items[k], names, models.n);
    EvalReport r = {.routes = route_list, .n_routes = routes.n, .references = references, .judge = judge_cmd, .prompts_path = prompts_path, .baseline = baseline_name,
                    .kl_prompts = s.kl_prompts, .kl_samples = s.kl_samples, .max_new_tokens = s.max_new_tokens,
                    .temperature = s.temperature, .reward_model = reward, .agreement_margin = margin,
                    .heldout_text = heldout_text, .win_targets = win_targets.items, .n_win_targets = win_targets.n,
                    .win_min = win_min, .gain_targets = gain_targets.items, .n_gain_targets = gain_targets.n,
                    .gain_group = gain_group, .gain_min = gain_min, .agreement_min = agreement_min,
                    .time_target_minutes = time_target};

    ModelDir base = model_dir_load(dirs[base_index]);
    if (base.model->cfg.head != HEAD_LM || !base.tokenizer) die("evaluate: %s is not a language model", dirs[base_index]);
    const Tokenizer *tok = base.tokenizer;
    ModelDir rm = {0};
    if (reward) {
        rm = model_dir_load(reward);
        if (rm.model->cfg.head != HEAD_SCORE) die("evaluate: %s is not a reward model (it has no score head)", reward);
        if (!rm.tokenizer || tokenizer_fingerprint(rm.tokenizer) != tokenizer_fingerprint(tok))
            die("evaluate: the reward model %s uses another tokenizer than %s", reward, dirs[base_index]);
    }

    HeldOut h = held_out_load(prompts_path, tok, max_prompts);
    h.judge = reward_program_start(judge_cmd, judge_timeout);
    IntVec text = {0};
    if (heldout_text) {
        text = tokenize_inputs(&heldout_text, 1, tok);
        text.len = (int)LMF_MIN((long)text.len, s.ppl_tokens);
        if (text.len < 2) die("evaluate: %s holds fewer than 2 tokens", heldout_text);
        r.ppl_tokens = text.len;
    }
    References refs = {0};
    if (references) {
        refs = references_load(references, tok, base.model->cfg.max_seq_len, references_limit);
        r.reference_examples = refs.n;
        r.reference_total = refs.data->n;
    }
    r.n_prompts = h.n;
    r.frontier_prompts = LMF_MIN(s.bon_prompts, h.n);

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
        if (i == 0) { /* the judge has now answered for every prompt: families and groups are known */
            label_prompts(&h, &r);
            int targets = 0;
            for (int k = 0; k < target_groups.n; k++) {
                int g = group_named(&r, target_groups.items[k], "--target-group");
                if (g >= 0) r.target_group[g] = 1, targets++;
            }
            if (targets == 0)
                for (int g = 0; g < r.n_groups; g++) r.target_group[g] = 1;
            for (int k = 0; k < h.n; k++) r.target_prompts += r.target_group[h.group_index[k]];
            if (gain_group) group_named(&r, gain_group, "--gain-group"); /* a warning when it has no prompt */
        }
        c->gold = mean_of(gold[i], h.n);
        c->family_gold = means_by(gold[i], h.family_index, h.n, r.n_families);
        c->group_gold = means_by(gold[i], h.group_index, h.n, r.n_groups);
        PolicyPoint sp = sampled_point(ck.model, base.model, rm.model, tok, &h, s.kl_prompts, s.kl_samples, &s);
        c->kl = sp.kl;
        c->sample_gold = sp.gold;
        c->sample_rm = sp.rm;
        c->loss = heldout_text ? heldout_loss(ck.model, &text, &s) : NAN;
        c->perplexity = exp(c->loss);
        c->reference_loglik = NAN;
        if (references) {
            if (ck.model->cfg.max_seq_len < refs.max_row)
                die("evaluate: %s has a context of %d tokens, shorter than the baseline's %d that --references is "
                    "laid out for", dirs[i], ck.model->cfg.max_seq_len, refs.max_row);
            c->reference_loglik = reference_loglik(ck.model, &refs, &r.reference_tokens);
        }
        char ref[48] = "";
        if (references) snprintf(ref, sizeof ref, "  ref. log-lik %.4f", c->reference_loglik);
        info("evaluate: %-12s gold %.3f  KL %.2f  perplexity %.1f%s  (%.0fs; answers in %s)", names[i], c->gold, c->kl,
             c->perplexity, ref, now_seconds() - t, answers);
        free(answers);
        if (i != base_index) model_dir_free(&ck);
    }
    /* win rates, on all prompts and on the target groups' */
    double *a = xmalloc(sizeof(double) * (size_t)h.n), *b = xmalloc(sizeof(double) * (size_t)h.n);
    for (int i = 0; i < models.n; i++) {
        r.checkpoints[i].win = win_rate(gold[i], gold[base_index], h.n);
        int m = 0;
        for (int k = 0; k < h.n; k++)
            if (r.target_group[h.group_index[k]]) a[m] = gold[i][k], b[m++] = gold[base_index][k];
        r.checkpoints[i].target_win = win_rate(a, b, m);
        r.checkpoints[i].target_gold = mean_of(a, m);
    }
    free(a);
    free(b);

    /* the frontier: best-of-n (with a reward model), PPO, DPO (--frontier), GRPO */
    double t = now_seconds();
    FrontierSeries series[4];
    int n_series = 0;
    if (reward) {
        best_of_n(&r, base.model, rm.model, tok, &h, &s, &series[n_series++]);
        info("evaluate: reward model agrees with the judge on %.3f of %ld pairs; best-of-%ld gold %.3f (n = 1: %.3f) (%.0fs)",
             pair_agreement_rate(&r.rm_agreement), r.rm_agreement.pairs, series[0].points[series[0].n - 1].x,
             series[0].points[series[0].n - 1].gold, series[0].points[0].gold, now_seconds() - t);
    }
    char **frontier_names = xcalloc((size_t)LMF_MAX(frontier.n, 1), sizeof(char *));
    if (ppo_run || grpo_run || frontier.n) {
        /* the baseline answering once: the first point of these series */
        PolicyPoint origin = sampled_point(base.model, base.model, rm.model, tok, &h, s.bon_prompts, 1, &s);
        if (ppo_run) series[n_series++] = run_series("PPO", ppo_run, "--ppo-run", origin, base.model, rm.model, tok, &h, &s);
        if (frontier.n) {
            FrontierSeries f = {.label = frontier_label, .form = FRONTIER_RL,
                                .points = xcalloc((size_t)frontier.n + 1, sizeof(PolicyPoint))};
            f.points[f.n++] = origin;
            for (int i = 0; i < frontier.n; i++) {
                const char *dir;
                split_named("--frontier", frontier.items[i], &frontier_names[i], &dir);
                f.points[f.n++] = frontier_point(dir, i + 1, frontier_names[i], base.model, rm.model, tok, &h, &s);
            }
            series[n_series++] = f;
        }
        if (grpo_run)
            series[n_series++] = run_series("GRPO", grpo_run, "--grpo-run", origin, base.model, rm.model, tok, &h, &s);
    }
    for (int i = 0; i < n_series; i++) fit_series(&series[i]);
    r.frontier = series;
    r.n_frontier = n_series;
    char *frontier_svg = path_join(out, "plots/frontier.svg"), *overopt = path_join(out, "plots/overoptimization.svg");
    if (n_series) plot_frontier(frontier_svg, &r);
    if (reward && n_series) plot_overoptimization(overopt, &r);
    training_plots(&r, out, pretrain_run, sft_run, rm_run, ppo_run, &dpo_runs);
    reward_program_stop(h.judge);

    char *pipeline_path = pipeline_file ? xstrdup(pipeline_file) : path_join(out, "pipeline.jsonl");
    r.stages = stage_times_load(pipeline_path, &r.n_stages);
    r.eval_seconds = now_seconds() - t0;
    char *md = path_join(out, "report.md"), *js = path_join(out, "report.json");
    report_write_markdown(md, &r);
    report_write_json(js, &r);
    report_print_summary(stdout, &r);
    info("evaluate: report in %s (plots in %s), figures in %s", md, plots_dir, js);

    free(md);
    free(js);
    free(pipeline_path);
    stage_times_free(r.stages, r.n_stages);
    free(frontier_svg);
    free(overopt);
    for (int i = 0; i < n_series; i++) free(series[i].points);
    for (int i = 0; i < frontier.n; i++) free(frontier_names[i]);
    free(frontier_names);
    free(r.plots);
    free(r.plot_captions);
    free(r.rm_group_agreement);
    for (int i = 0; i < models.n; i++) {
        free(gold[i]);
        free(r.checkpoints[i].family_gold);
        free(r.checkpoints[i].group_gold);
        free(names[i]);
    }
    free(gold);
    free(r.checkpoints);
    free(r.families);
    free(r.groups);
    free(r.family_group);
    free(r.family_prompts);
    free(r.group_prompts);
    free(r.target_group);
    for (int k = 0; k < routes.n; k++) {
        free(route_list[k].name);
        free(route_list[k].members);
    }
    free(route_list);
    free(routes.items);
    if (references) {
        sft_data_free(refs.data);
        free(refs.which);
    }
    free(answers_dir);
    free(plots_dir);
    intvec_free(&text);
    held_out_free(&h);
    free(names);
    free(dirs);
    free(models.items);
    free(frontier.items);
    free(dpo_runs.items);
    free(win_targets.items);
    free(gain_targets.items);
    free(target_groups.items);
    free(pos);
    if (reward) model_dir_free(&rm);
    model_dir_free(&base);
    return 0;
}
