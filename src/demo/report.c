/* report.c — see report.h. The Markdown report explains each figure where
 * it appears: how it was measured, on how many prompts, against what. */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../base/json_util.h"
#include "../base/metrics.h"
#include "../base/progress.h"
#include "../base/util.h"
#include "../base/jsonl.h"

/* ---- plots ---- */

int plot_curves(const char *svg_path, const char *title, const char *ylabel, const CurveSpec *curves, int n,
                PlotScale scale) {
    PlotSeries *series = xcalloc((size_t)LMF_MAX(n, 1), sizeof(PlotSeries));
    int any = 0;
    for (int i = 0; i < n; i++) {
        char *path = path_join(curves[i].run_dir, "metrics.jsonl");
        double *steps = NULL, *values = NULL;
        int count = file_exists(path) ? metrics_read_series(path, curves[i].key, &steps, &values) : 0;
        series[i] = (PlotSeries){curves[i].label, steps, values, count};
        any |= count > 0;
        free(path);
    }
    if (any) plot_svg(svg_path, title, "step", ylabel, series, n, scale);
    for (int i = 0; i < n; i++) {
        free((double *)series[i].x);
        free((double *)series[i].y);
    }
    free(series);
    return any;
}

/* Points of a policy family as standardised (KL, score) series. */
static void standardised(const PolicyPoint *p, int n, int rm, double mean, double sd, double *x, double *y) {
    for (int i = 0; i < n; i++) {
        x[i] = p[i].kl;
        y[i] = ((rm ? p[i].rm : p[i].gold) - mean) / (sd > 0 ? sd : 1);
    }
}

void plot_overoptimization(const char *svg_path, const DemoReport *r) {
    int nb = r->n_best_of_n, np = r->n_ppo;
    double *buf = xcalloc((size_t)4 * (nb + np) + 1, sizeof(double));
    double *bx = buf, *bg = bx + nb, *br = bg + nb, *px = br + nb, *pg = px + np, *pr = pg + np;
    standardised(r->best_of_n, nb, 0, r->gold_mean, r->gold_sd, bx, bg);
    standardised(r->best_of_n, nb, 1, r->rm_mean, r->rm_sd, bx, br);
    standardised(r->ppo, np, 0, r->gold_mean, r->gold_sd, px, pg);
    standardised(r->ppo, np, 1, r->rm_mean, r->rm_sd, px, pr);
    PlotSeries s[] = {{"best-of-n: gold score", bx, bg, nb},
                      {"best-of-n: reward-model score", bx, br, nb},
                      {"PPO checkpoints: gold score", px, pg, np},
                      {"PPO checkpoints: reward-model score", px, pr, np}};
    plot_svg(svg_path, "Gold vs reward-model score as the policy moves away from SFT", "KL from the SFT model (nats)",
             "score, in SDs of the SFT samples above their mean", s, np ? 4 : 2, PLOT_LINEAR_Y);
    free(buf);
}

/* ---- pipeline.jsonl ---- */

StageTime *stage_times_load(const char *path, int *n) {
    *n = 0;
    if (!file_exists(path)) return NULL;
    JsonlReader *rd = jsonl_open(path);
    JsonlRecord rec;
    StageTime *t = NULL;
    while (jsonl_next(rd, &rec)) {
        t = xrealloc(t, sizeof(StageTime) * (size_t)(*n + 1));
        const cJSON *round = cJSON_GetObjectItemCaseSensitive(rec.json, "round");
        const cJSON *seconds = cJSON_GetObjectItemCaseSensitive(rec.json, "seconds");
        t[*n] = (StageTime){xstrdup(jsonl_get_string(&rec, "step")), cJSON_IsNumber(round) ? round->valueint : 0,
                            xstrdup(jsonl_get_string(&rec, "status")),
                            cJSON_IsNumber(seconds) ? seconds->valuedouble : NAN};
        (*n)++;
    }
    jsonl_close(rd);
    return t;
}

void stage_times_free(StageTime *t, int n) {
    for (int i = 0; i < n; i++) {
        free(t[i].step);
        free(t[i].status);
    }
    free(t);
}

/* ---- shared bits ---- */

static const CheckpointFigures *find_checkpoint(const DemoReport *r, const char *name) {
    for (int i = 0; i < r->n_checkpoints; i++)
        if (strcmp(r->checkpoints[i].name, name) == 0) return &r->checkpoints[i];
    return NULL;
}

/* Total wall time of the pipeline's steps that ran, plus this evaluation;
 * *complete 0 if some step has no time (it ran in an earlier invocation). */
static double total_seconds(const DemoReport *r, int *complete) {
    double total = r->eval_seconds;
    *complete = 1;
    for (int i = 0; i < r->n_stages; i++) {
        if (strcmp(r->stages[i].step, "demo-eval") == 0) continue; /* this very step: eval_seconds */
        if (isfinite(r->stages[i].seconds)) total += r->stages[i].seconds;
        else *complete = 0;
    }
    return total;
}

static const char *duration(double seconds, char *buf, size_t cap) {
    if (!isfinite(seconds)) snprintf(buf, cap, "-");
    else progress_format_duration(seconds, buf, cap);
    return buf;
}

/* ---- Markdown ---- */

static void md_checkpoint_table(FILE *f, const DemoReport *r) {
    fprintf(f, "| checkpoint |");
    for (int k = 0; k < r->n_families; k++) fprintf(f, " %s |", r->families[k]);
    fprintf(f, " gold, all | win rate vs %s (W / T / L) | KL to %s | perplexity |\n|---|", r->baseline, r->baseline);
    for (int k = 0; k < r->n_families; k++) fprintf(f, "---:|");
    fprintf(f, "---:|---:|---:|---:|\n");
    for (int i = 0; i < r->n_checkpoints; i++) {
        const CheckpointFigures *c = &r->checkpoints[i];
        fprintf(f, "| %s |", c->name);
        for (int k = 0; k < r->n_families; k++) fprintf(f, " %.3f |", c->family_gold[k]);
        fprintf(f, " **%.3f** | %.3f (%d / %d / %d) | %.2f | %.1f |\n", c->gold, c->win.rate, c->win.wins, c->win.ties,
                c->win.losses, c->kl, c->perplexity);
    }
}

static void md_policy_points(FILE *f, const PolicyPoint *p, int n, const char *x_name) {
    fprintf(f, "| %s | KL to SFT (nats) | gold score | reward-model score |\n|---:|---:|---:|---:|\n", x_name);
    for (int i = 0; i < n; i++) fprintf(f, "| %ld | %.3f | %.3f | %.3f |\n", p[i].x, p[i].kl, p[i].gold, p[i].rm);
}

static void md_targets(FILE *f, const DemoReport *r) {
    fprintf(f, "| target | measured | met |\n|---|---|---|\n");
    int complete;
    double total = total_seconds(r, &complete);
    char buf[32];
    if (complete)
        fprintf(f, "| whole demo under %.0f minutes (2 cores) | %s | %s |\n", r->time_target_minutes,
                duration(total, buf, sizeof buf), total < 60 * r->time_target_minutes ? "yes" : "**no**");
    else
        fprintf(f, "| whole demo under %.0f minutes (2 cores) | %s for the steps run last; others ran earlier | - |\n",
                r->time_target_minutes, duration(total, buf, sizeof buf));
    const CheckpointFigures *base = find_checkpoint(r, r->baseline), *first = &r->checkpoints[0];
    if (base && first != base)
        fprintf(f, "| %s far above %s on the gold score (by 0.2 or more) | %.3f vs %.3f | %s |\n", base->name,
                first->name, base->gold, first->gold, base->gold - first->gold >= 0.2 ? "yes" : "**no**");
    double acc = pair_agreement_rate(&r->rm_agreement);
    fprintf(f, "| reward model agrees with the gold ranking on 80 %% of pairs | %.3f (%ld pairs) | %s |\n", acc,
            r->rm_agreement.pairs, acc >= 0.8 ? "yes" : "**no**");
    for (int i = 0; i < r->n_win_targets; i++) {
        const CheckpointFigures *c = find_checkpoint(r, r->win_targets[i]);
        if (!c) continue;
        /* the share of wins where the gold judge tells the answers apart, beside the rate the target is on */
        int decisive = c->win.wins + c->win.losses;
        fprintf(f, "| %s beats %s: win rate at least 0.60 | %.3f (%d / %d / %d; %.0f %% of the %d prompts with a "
                   "winner), KL %.2f | %s |\n",
                c->name, r->baseline, c->win.rate, c->win.wins, c->win.ties, c->win.losses,
                decisive ? 100.0 * c->win.wins / decisive : 0.0, decisive, c->kl, c->win.rate >= 0.6 ? "yes" : "**no**");
    }
}

static void md_stage_times(FILE *f, const DemoReport *r) {
    fprintf(f, "| step | round | status | wall time |\n|---|---:|---|---:|\n");
    char buf[32];
    for (int i = 0; i < r->n_stages; i++) {
        const StageTime *s = &r->stages[i];
        if (strcmp(s->step, "demo-eval") == 0) continue;
        char round[16] = "";
        if (s->round) snprintf(round, sizeof round, "%d", s->round);
        fprintf(f, "| %s | %s | %s | %s |\n", s->step, round, s->status, duration(s->seconds, buf, sizeof buf));
    }
    fprintf(f, "| demo-eval (this report) | | done | %s |\n", duration(r->eval_seconds, buf, sizeof buf));
    int complete;
    double total = total_seconds(r, &complete);
    fprintf(f, "| **total** | | | **%s**%s |\n", duration(total, buf, sizeof buf),
            complete ? "" : " (steps run earlier not counted)");
}

void report_write_markdown(const char *path, const DemoReport *r) {
    AtomicFile af = atomic_open(path);
    FILE *f = af.f;
    fprintf(f, "# lmforge demo: from raw text to an aligned assistant\n\n");
    fprintf(f, "Every checkpoint of the pipeline answers the same %d held-out prompts (", r->n_prompts);
    for (int k = 0; k < r->n_families; k++)
        fprintf(f, "%s%s %d", k ? ", " : "", r->families[k], r->family_prompts[k]);
    fprintf(f, "): tasks about subjects no training prompt asks about, judged by the gold judges of "
               "`lmforge gold` (a score in [0, 1] per answer). The reward model and the policies never see these "
               "judges; the simulated annotator that ranked their training answers did, through Bradley–Terry "
               "noise.\n\n");

    fprintf(f, "## Checkpoints\n\n");
    md_checkpoint_table(f, r);
    fprintf(f, "\n- **gold**: mean gold score of the greedy answers (at most %d new tokens), per task family and over "
               "all prompts.\n", r->max_new_tokens);
    fprintf(f, "- **win rate vs %s**: per prompt, the checkpoint's greedy answer against %s's: 1 if its gold score is "
               "higher, ½ if equal, 0 if lower; the mean over the %d prompts. W / T / L count the wins, ties and "
               "losses: (W + T/2) / %d is the rate, so 0.5 is no change and a tie never counts as a win.\n",
            r->baseline, r->baseline, r->n_prompts, r->n_prompts);
    fprintf(f, "- **KL to %s**: KL(π ‖ π_%s) in nats, estimated on %d held-out prompts × %d answers sampled from the "
               "checkpoint at temperature %g: the mean over answers of Σ_t log π(y_t) − log π_%s(y_t) (both at "
               "that temperature), the answer's tokens and its stop token included.\n",
            r->baseline, r->baseline, r->kl_prompts, r->kl_samples, r->temperature, r->baseline);
    fprintf(f, "- **perplexity**: exp of the mean next-token loss on the first %ld tokens of the held-out text "
               "(pretrain/heldout.txt: Bible chapters, fortunes and WordNet glosses that no training step saw).\n\n",
            r->ppl_tokens);

    fprintf(f, "## Targets\n\n");
    md_targets(f, r);

    fprintf(f, "\n## Reward model against the gold judge\n\n");
    fprintf(f, "`%s` orders %.1f %% of %ld pairs as the gold judge does (a tie of the reward model counts ½). The pairs: "
               "%d answers sampled from %s (temperature %g) for each of %d held-out prompts, every two answers to one "
               "prompt whose gold scores differ.\n\n",
            r->reward_model, 100 * pair_agreement_rate(&r->rm_agreement), r->rm_agreement.pairs, r->rm_answers,
            r->baseline, r->temperature, r->rm_prompts);
    fprintf(f, "| family | pairs | agreement |\n|---|---:|---:|\n");
    for (int k = 0; k < r->n_families; k++)
        if (r->rm_family_agreement[k].pairs)
            fprintf(f, "| %s | %ld | %.3f |\n", r->families[k], r->rm_family_agreement[k].pairs,
                    pair_agreement_rate(&r->rm_family_agreement[k]));
        else /* every answer scored the same: nothing to order */
            fprintf(f, "| %s | 0 | - |\n", r->families[k]);
    fprintf(f, "\n");

    fprintf(f, "## Best-of-n and PPO: over-optimisation (Gao et al. 2022)\n\n");
    fprintf(f, "Best-of-n: of the first n of those %d answers to each prompt, the one the reward model scores highest; "
               "its KL from %s is log n − (n − 1)/n. PPO: the checkpoints the PPO run kept, each answering the same "
               "prompts once at the same temperature, with the KL estimated as above. The plot shows both scores in standard "
               "deviations of the %s samples from their mean (gold: mean %.3f, SD %.3f; reward model: mean %.3f, SD "
               "%.3f): a reward-model score that climbs while the gold score stalls or falls is over-optimisation.\n\n",
            r->rm_answers, r->baseline, r->baseline, r->gold_mean, r->gold_sd, r->rm_mean, r->rm_sd);
    md_policy_points(f, r->best_of_n, r->n_best_of_n, "n");
    if (r->n_ppo) {
        fprintf(f, "\n");
        md_policy_points(f, r->ppo, r->n_ppo, "PPO iteration");
    }
    fprintf(f, "\n![over-optimisation](plots/overoptimization.svg)\n\n");

    fprintf(f, "## Wall time\n\n");
    md_stage_times(f, r);

    fprintf(f, "\n## Training curves\n\n");
    for (int i = 0; i < r->n_plots; i++)
        fprintf(f, "%s\n\n![%s](%s)\n\n", r->plot_captions[i], r->plot_captions[i], r->plots[i]);
    fprintf(f, "The figures above are also in report.json.\n");
    atomic_commit(&af);
}

/* ---- JSON ---- */

static cJSON *number_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static cJSON *points_json(const PolicyPoint *p, int n, const char *x_name) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, x_name, (double)p[i].x);
        cJSON_AddItemToObject(o, "kl", number_or_null(p[i].kl));
        cJSON_AddItemToObject(o, "gold", number_or_null(p[i].gold));
        cJSON_AddItemToObject(o, "rm", number_or_null(p[i].rm));
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

void report_write_json(const char *path, const DemoReport *r) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "baseline", r->baseline);
    cJSON_AddNumberToObject(root, "heldout_prompts", r->n_prompts);
    cJSON *checkpoints = cJSON_AddArrayToObject(root, "checkpoints");
    for (int i = 0; i < r->n_checkpoints; i++) {
        const CheckpointFigures *c = &r->checkpoints[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", c->name);
        cJSON_AddStringToObject(o, "path", c->dir);
        cJSON *fam = cJSON_AddObjectToObject(o, "gold_by_family");
        for (int k = 0; k < r->n_families; k++) cJSON_AddItemToObject(fam, r->families[k], number_or_null(c->family_gold[k]));
        cJSON_AddItemToObject(o, "gold", number_or_null(c->gold));
        cJSON *win = cJSON_AddObjectToObject(o, "win_rate");
        cJSON_AddItemToObject(win, "rate", number_or_null(c->win.rate));
        cJSON_AddNumberToObject(win, "wins", c->win.wins);
        cJSON_AddNumberToObject(win, "ties", c->win.ties);
        cJSON_AddNumberToObject(win, "losses", c->win.losses);
        cJSON_AddItemToObject(o, "kl", number_or_null(c->kl));
        cJSON_AddItemToObject(o, "sample_gold", number_or_null(c->sample_gold));
        cJSON_AddItemToObject(o, "sample_rm", number_or_null(c->sample_rm));
        cJSON_AddItemToObject(o, "heldout_loss", number_or_null(c->loss));
        cJSON_AddItemToObject(o, "perplexity", number_or_null(c->perplexity));
        cJSON_AddItemToArray(checkpoints, o);
    }
    cJSON *rm = cJSON_AddObjectToObject(root, "reward_model");
    cJSON_AddStringToObject(rm, "path", r->reward_model);
    cJSON_AddItemToObject(rm, "gold_pair_accuracy", number_or_null(pair_agreement_rate(&r->rm_agreement)));
    cJSON_AddNumberToObject(rm, "pairs", (double)r->rm_agreement.pairs);
    cJSON_AddNumberToObject(rm, "prompts", r->rm_prompts);
    cJSON_AddNumberToObject(rm, "answers_per_prompt", r->rm_answers);
    cJSON *by_family = cJSON_AddObjectToObject(rm, "by_family");
    for (int k = 0; k < r->n_families; k++) {
        cJSON *o = cJSON_AddObjectToObject(by_family, r->families[k]);
        cJSON_AddNumberToObject(o, "pairs", (double)r->rm_family_agreement[k].pairs);
        cJSON_AddItemToObject(o, "gold_pair_accuracy", number_or_null(pair_agreement_rate(&r->rm_family_agreement[k])));
    }
    cJSON_AddItemToObject(root, "best_of_n", points_json(r->best_of_n, r->n_best_of_n, "n"));
    cJSON_AddItemToObject(root, "ppo_checkpoints", points_json(r->ppo, r->n_ppo, "iteration"));
    cJSON *stages = cJSON_AddArrayToObject(root, "stages");
    for (int i = 0; i < r->n_stages; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "step", r->stages[i].step);
        if (r->stages[i].round) cJSON_AddNumberToObject(o, "round", r->stages[i].round);
        cJSON_AddStringToObject(o, "status", r->stages[i].status);
        cJSON_AddItemToObject(o, "seconds", number_or_null(r->stages[i].seconds));
        cJSON_AddItemToArray(stages, o);
    }
    cJSON_AddNumberToObject(root, "eval_seconds", r->eval_seconds);
    int complete;
    double total = total_seconds(r, &complete);
    cJSON_AddItemToObject(root, "total_seconds", complete ? cJSON_CreateNumber(total) : cJSON_CreateNull());
    json_write_file(path, root);
    cJSON_Delete(root);
}

/* ---- terminal ---- */

void report_print_summary(FILE *f, const DemoReport *r) {
    int width = 10;
    for (int i = 0; i < r->n_checkpoints; i++) width = LMF_MAX(width, (int)strlen(r->checkpoints[i].name));
    fprintf(f, "\n%-*s", width, "checkpoint");
    for (int k = 0; k < r->n_families; k++) fprintf(f, " %10.10s", r->families[k]);
    fprintf(f, " %9s %9s %15s %8s %10s\n", "gold", "win rate", "W/T/L", "KL", "perplexity");
    for (int i = 0; i < r->n_checkpoints; i++) {
        const CheckpointFigures *c = &r->checkpoints[i];
        char wtl[48];
        snprintf(wtl, sizeof wtl, "%d/%d/%d", c->win.wins, c->win.ties, c->win.losses);
        fprintf(f, "%-*s", width, c->name);
        for (int k = 0; k < r->n_families; k++) fprintf(f, " %10.3f", c->family_gold[k]);
        fprintf(f, " %9.3f %9.3f %15s %8.2f %10.1f\n", c->gold, c->win.rate, wtl, c->kl, c->perplexity);
    }
    int complete;
    double total = total_seconds(r, &complete);
    char buf[32];
    fprintf(f, "\nwin rate and KL against %s; gold = mean gold score of greedy answers to %d held-out prompts\n",
            r->baseline, r->n_prompts);
    fprintf(f, "reward model vs gold ranking: %.3f of %ld pairs whose gold scores differ (", pair_agreement_rate(&r->rm_agreement),
            r->rm_agreement.pairs);
    for (int k = 0; k < r->n_families; k++)
        if (r->rm_family_agreement[k].pairs)
            fprintf(f, "%s%s %.3f", k ? ", " : "", r->families[k], pair_agreement_rate(&r->rm_family_agreement[k]));
        else
            fprintf(f, "%s%s -", k ? ", " : "", r->families[k]);
    fprintf(f, ")\n");
    fprintf(f, "wall time: %s%s\n", duration(total, buf, sizeof buf),
            complete ? "" : " (steps run in an earlier invocation not counted)");
}
