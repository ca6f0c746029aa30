/* report.c — see report.h. The Markdown report explains each figure where
 * it appears: how it was measured, on how many prompts, against what. The
 * targets are computed once (target_rows) for the Markdown and the JSON. */
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

/* ---- the frontier ---- */

int frontier_peak_passed(const PolicyPoint *p, int n) {
    if (n < 3) return 0;
    int peak = 0;
    for (int i = 1; i < n; i++)
        if (p[i].gold > p[peak].gold) peak = i;
    /* an interior peak: the gold score rose above the baseline first, and has fallen since */
    return peak > 0 && p[n - 1].gold < p[peak].gold && isfinite(p[n - 1].rm) && isfinite(p[peak].rm) &&
           p[n - 1].rm > p[peak].rm;
}

/* Frees k plotted series whose x, y and labels were allocated for the plot. */
static void free_plotted(PlotSeries *s, char **labels, int k) {
    for (int i = 0; i < k; i++) {
        free((double *)s[i].x);
        free((double *)s[i].y);
        free(labels[i]);
    }
    free(labels);
    free(s);
}

void plot_frontier(const char *svg_path, const EvalReport *r) {
    enum { CURVE = 41 };
    int n = r->n_frontier;
    PlotSeries *s = xcalloc((size_t)2 * n + 1, sizeof(PlotSeries));
    char **labels = xcalloc((size_t)2 * n + 1, sizeof(char *));
    int k = 0;
    for (int i = 0; i < n; i++) {
        const FrontierSeries *f = &r->frontier[i];
        double *x = xmalloc(sizeof(double) * (size_t)f->n), *y = xmalloc(sizeof(double) * (size_t)f->n), max_kl = 0;
        for (int j = 0; j < f->n; j++) {
            x[j] = f->points[j].kl;
            y[j] = f->points[j].gold - f->points[0].gold;
            if (isfinite(x[j])) max_kl = fmax(max_kl, x[j]);
        }
        labels[k] = xsprintf("%s", f->label);
        s[k] = (PlotSeries){labels[k], x, y, f->n}, k++;
        if (!f->fit.ok) continue;
        double *cx = xmalloc(sizeof(double) * CURVE), *cy = xmalloc(sizeof(double) * CURVE);
        for (int j = 0; j < CURVE; j++) {
            cx[j] = max_kl * j / (CURVE - 1);
            cy[j] = frontier_eval(f->form, &f->fit, cx[j]);
        }
        labels[k] = xsprintf("%s fit: α %.3f, β %.3f (R² %.2f)", f->label, f->fit.alpha, f->fit.beta, f->fit.r2);
        s[k] = (PlotSeries){labels[k], cx, cy, CURVE}, k++;
    }
    plot_svg(svg_path, "Reward–KL frontier: gold gain over the baseline (fits of Gao et al. 2022)",
             "KL from the baseline (nats)", "gold score gain over the baseline", s, k, PLOT_LINEAR_Y);
    free_plotted(s, labels, k);
}

void plot_overoptimization(const char *svg_path, const EvalReport *r) {
    int n = r->n_frontier;
    PlotSeries *s = xcalloc((size_t)2 * n + 1, sizeof(PlotSeries));
    char **labels = xcalloc((size_t)2 * n + 1, sizeof(char *));
    int k = 0;
    for (int i = 0; i < n; i++)
        for (int rm = 0; rm < 2; rm++) {
            const FrontierSeries *f = &r->frontier[i];
            double *x = xmalloc(sizeof(double) * (size_t)f->n), *y = xmalloc(sizeof(double) * (size_t)f->n);
            double mean = rm ? r->rm_mean : r->gold_mean, sd = rm ? r->rm_sd : r->gold_sd;
            for (int j = 0; j < f->n; j++) {
                x[j] = f->points[j].kl;
                y[j] = ((rm ? f->points[j].rm : f->points[j].gold) - mean) / (sd > 0 ? sd : 1);
            }
            labels[k] = xsprintf("%s: %s score", f->label, rm ? "reward-model" : "gold");
            s[k] = (PlotSeries){labels[k], x, y, f->n}, k++;
        }
    plot_svg(svg_path, "Gold vs reward-model score as the policy moves away from the baseline",
             "KL from the baseline (nats)", "score, in SDs of the baseline's samples above their mean", s, k,
             PLOT_LINEAR_Y);
    free_plotted(s, labels, k);
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

static const CheckpointFigures *find_checkpoint(const EvalReport *r, const char *name) {
    for (int i = 0; i < r->n_checkpoints; i++)
        if (strcmp(r->checkpoints[i].name, name) == 0) return &r->checkpoints[i];
    return NULL;
}

/* Total wall time of the pipeline's steps that ran, plus this evaluation;
 * *complete 0 if some step has no time (it ran in an earlier invocation). */
static double total_seconds(const EvalReport *r, int *complete) {
    double total = r->eval_seconds;
    *complete = 1;
    for (int i = 0; i < r->n_stages; i++) {
        if (strcmp(r->stages[i].step, "evaluate") == 0) continue; /* this very step: eval_seconds */
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

/* ---- targets ---- */

/* One row of the targets table: met when value >= threshold (gap = value −
 * threshold); met -1 when it cannot be measured here. */
typedef struct {
    char *what, *measured;
    double value, threshold;
    int met;
    int no_gap; /* a yes/no target */
} TargetRow;

static int group_index(const EvalReport *r, const char *name) {
    for (int g = 0; g < r->n_groups; g++)
        if (strcmp(r->groups[g], name) == 0) return g;
    return -1;
}

/* "computation + sentiment", or "all prompts" when the targets take every group. */
static char *target_scope(const EvalReport *r) {
    int all = 1;
    for (int g = 0; g < r->n_groups; g++) all &= r->target_group[g];
    if (all) return xstrdup("all prompts");
    char *s = xstrdup("");
    for (int g = 0, k = 0; g < r->n_groups; g++)
        if (r->target_group[g]) {
            char *next = xsprintf("%s%s%s", s, k++ ? " + " : "", r->groups[g]);
            free(s);
            s = next;
        }
    return s;
}

static TargetRow *target_rows(const EvalReport *r, int *n) {
    TargetRow *t = xcalloc((size_t)r->n_win_targets + r->n_gain_targets + 4, sizeof(TargetRow));
    *n = 0;
    char buf[32], *scope = target_scope(r);
    if (r->time_target_minutes > 0) {
        int complete;
        double total = total_seconds(r, &complete);
        t[(*n)++] = (TargetRow){xsprintf("whole pipeline under %.0f minutes", r->time_target_minutes),
                                xsprintf("%s%s", duration(total, buf, sizeof buf),
                                         complete ? "" : " for the steps run last; others ran earlier"),
                                -total / 60, -r->time_target_minutes, complete ? total < 60 * r->time_target_minutes : -1, 0};
    }
    if (r->reward_model) {
        double acc = pair_agreement_rate(&r->rm_target_agreement);
        t[(*n)++] = (TargetRow){xsprintf("reward model agrees with the judge on %.0f %% of pairs (%s)",
                                         100 * r->agreement_min, scope),
                                xsprintf("%.3f (%ld pairs)", acc, r->rm_target_agreement.pairs), acc,
                                r->agreement_min, isfinite(acc) ? acc >= r->agreement_min : -1, 0};
    }
    const CheckpointFigures *base = find_checkpoint(r, r->baseline);
    for (int i = 0; i < r->n_win_targets; i++) {
        const CheckpointFigures *c = find_checkpoint(r, r->win_targets[i]);
        if (!c) continue;
        const WinRate *w = &c->target_win;
        int decided = w->wins + w->losses;
        t[(*n)++] = (TargetRow){xsprintf("%s beats %s: win rate at least %.2f (%s)", c->name, r->baseline, r->win_min, scope),
                                xsprintf("%.3f (%d / %d / %d; wins %.0f %% of the %d decided), KL %.2f", w->rate,
                                         w->wins, w->ties, w->losses, decided ? 100.0 * w->wins / decided : 0.0,
                                         decided, c->kl),
                                w->rate, r->win_min, isfinite(w->rate) ? w->rate >= r->win_min : -1, 0};
    }
    int g = r->gain_group ? group_index(r, r->gain_group) : -1;
    for (int i = 0; i < r->n_gain_targets && base; i++) {
        const CheckpointFigures *c = find_checkpoint(r, r->gain_targets[i]);
        if (!c) continue;
        /* a --gain-group without prompts: not measured here */
        double mine = g >= 0 ? c->group_gold[g] : r->gain_group ? NAN : c->gold;
        double theirs = g >= 0 ? base->group_gold[g] : r->gain_group ? NAN : base->gold;
        double gain = mine - theirs;
        t[(*n)++] = (TargetRow){xsprintf("%s at least %+.2f gold over %s (%s)", c->name, r->gain_min, r->baseline,
                                         r->gain_group ? r->gain_group : "all prompts"),
                                xsprintf("%+.3f (%.3f vs %.3f)", gain, mine, theirs), gain, r->gain_min,
                                isfinite(gain) ? gain >= r->gain_min : -1, 0};
    }
    if (r->reward_model && r->n_frontier) {
        char *which = xstrdup("");
        int passed = 0;
        for (int i = 0; i < r->n_frontier; i++)
            if (r->frontier[i].peak_passed) {
                char *next = xsprintf("%s%s%s", which, passed++ ? ", " : "", r->frontier[i].label);
                free(which);
                which = next;
            }
        t[(*n)++] = (TargetRow){xstrdup("over-optimisation visible: gold peaks while the reward-model score still rises"),
                                passed ? xsprintf("peak passed by %s", which) : xstrdup("no series passed a peak"),
                                passed, 1, passed > 0, 1};
        free(which);
    }
    free(scope);
    return t;
}

static void target_rows_free(TargetRow *t, int n) {
    for (int i = 0; i < n; i++) {
        free(t[i].what);
        free(t[i].measured);
    }
    free(t);
}

/* ---- Markdown ---- */

static void md_number(FILE *f, const char *fmt, double v) {
    if (isfinite(v)) fprintf(f, fmt, v);
    else fprintf(f, " - |");
}

/* The checkpoints against the baseline: gold per group (or per family when there is one group), overall, win rate, KL, perplexity. */
static void md_checkpoint_table(FILE *f, const EvalReport *r) {
    int by_group = r->n_groups > 1, cols = by_group ? r->n_groups : r->n_families;
    const char **names = by_group ? r->groups : r->families;
    fprintf(f, "| checkpoint |");
    for (int k = 0; k < cols; k++) fprintf(f, " %s |", names[k]);
    fprintf(f, " gold, all | win rate vs %s (W / T / L) | wins of decided | KL to %s | perplexity |%s\n|---|",
            r->baseline, r->baseline, r->references ? " ref. log-lik |" : "");
    for (int k = 0; k < cols; k++) fprintf(f, "---:|");
    fprintf(f, "---:|---:|---:|---:|---:|%s\n", r->references ? "---:|" : "");
    for (int i = 0; i < r->n_checkpoints; i++) {
        const CheckpointFigures *c = &r->checkpoints[i];
        fprintf(f, "| %s |", c->name);
        for (int k = 0; k < cols; k++) md_number(f, " %.3f |", by_group ? c->group_gold[k] : c->family_gold[k]);
        int decided = c->win.wins + c->win.losses;
        fprintf(f, " **%.3f** | %.3f (%d / %d / %d) |", c->gold, c->win.rate, c->win.wins, c->win.ties, c->win.losses);
        md_number(f, " %.3f |", decided ? (double)c->win.wins / decided : NAN);
        md_number(f, " %.2f |", c->kl);
        md_number(f, " %.1f |", c->perplexity);
        if (r->references) md_number(f, " %.4f |", c->reference_loglik);
        fprintf(f, "\n");
    }
}

/* The routes side by side: one block of rows per route, its checkpoints in order. */
static void md_routes(FILE *f, const EvalReport *r) {
    char *scope = target_scope(r);
    fprintf(f, "## Routes\n\n| route | checkpoint | gold (%s) | win rate vs %s (%s) | KL to %s |%s\n|---|---|---:|---:|---:|%s\n",
            scope, r->baseline, scope, r->baseline, r->references ? " ref. log-lik |" : "", r->references ? "---:|" : "");
    for (int i = 0; i < r->n_routes; i++)
        for (int k = 0; k < r->routes[i].n; k++) {
            const CheckpointFigures *c = &r->checkpoints[r->routes[i].members[k]];
            fprintf(f, "| %s | %s |", r->routes[i].name, c->name);
            md_number(f, " %.3f |", c->target_gold);
            md_number(f, " %.3f |", c->target_win.rate);
            md_number(f, " %.2f |", c->kl);
            if (r->references) md_number(f, " %.4f |", c->reference_loglik);
            fprintf(f, "\n");
        }
    fprintf(f, "\nEach route's checkpoints in the order given (--route), with the figures of the checkpoint table%s.\n\n",
            strcmp(scope, "all prompts") == 0 ? "" : ", gold and win rate on the target groups' prompts");
    free(scope);
}

/* One table per group: its families' gold scores and the group's mean. */
static void md_group_tables(FILE *f, const EvalReport *r) {
    for (int g = 0; g < r->n_groups; g++) {
        fprintf(f, "### %s (%d prompts)\n\n| checkpoint |", r->groups[g], r->group_prompts[g]);
        for (int k = 0; k < r->n_families; k++)
            if (r->family_group[k] == g) fprintf(f, " %s (%d) |", r->families[k], r->family_prompts[k]);
        fprintf(f, " %s, all |\n|---|", r->groups[g]);
        for (int k = 0; k < r->n_families; k++)
            if (r->family_group[k] == g) fprintf(f, "---:|");
        fprintf(f, "---:|\n");
        for (int i = 0; i < r->n_checkpoints; i++) {
            const CheckpointFigures *c = &r->checkpoints[i];
            fprintf(f, "| %s |", c->name);
            for (int k = 0; k < r->n_families; k++)
                if (r->family_group[k] == g) md_number(f, " %.3f |", c->family_gold[k]);
            fprintf(f, " **%.3f** |\n", c->group_gold[g]);
        }
        fprintf(f, "\n");
    }
    fprintf(f, "### overall (%d prompts)\n\n| checkpoint | gold, all |\n|---|---:|\n", r->n_prompts);
    for (int i = 0; i < r->n_checkpoints; i++)
        fprintf(f, "| %s | **%.3f** |\n", r->checkpoints[i].name, r->checkpoints[i].gold);
    fprintf(f, "\n");
}

static void md_targets(FILE *f, const EvalReport *r) {
    int n;
    TargetRow *t = target_rows(r, &n);
    if (n == 0) {
        fprintf(f, "No targets were set.\n");
        free(t);
        return;
    }
    fprintf(f, "| target | measured | gap | met |\n|---|---|---:|---|\n");
    for (int i = 0; i < n; i++) {
        fprintf(f, "| %s | %s |", t[i].what, t[i].measured);
        if (t[i].no_gap || t[i].met < 0) fprintf(f, " - |");
        else fprintf(f, " %+.3f |", t[i].value - t[i].threshold);
        fprintf(f, " %s |\n", t[i].met < 0 ? "-" : t[i].met ? "yes" : "**no**");
    }
    target_rows_free(t, n);
}

static void md_stage_times(FILE *f, const EvalReport *r) {
    fprintf(f, "| step | round | status | wall time |\n|---|---:|---|---:|\n");
    char buf[32];
    for (int i = 0; i < r->n_stages; i++) {
        const StageTime *s = &r->stages[i];
        if (strcmp(s->step, "evaluate") == 0) continue;
        char round[16] = "";
        if (s->round) snprintf(round, sizeof round, "%d", s->round);
        fprintf(f, "| %s | %s | %s | %s |\n", s->step, round, s->status, duration(s->seconds, buf, sizeof buf));
    }
    fprintf(f, "| evaluate (this report) | | done | %s |\n", duration(r->eval_seconds, buf, sizeof buf));
    int complete;
    double total = total_seconds(r, &complete);
    fprintf(f, "| **total** | | | **%s**%s |\n", duration(total, buf, sizeof buf),
            complete ? "" : " (steps run earlier not counted)");
}

static void md_frontier(FILE *f, const EvalReport *r) {
    fprintf(f, "## Reward–KL frontier and over-optimisation (Gao et al. 2022)\n\n");
    fprintf(f, "Each series is a way of moving away from %s, each point a policy: its answers sampled at temperature %g "
               "to the same %d held-out prompts, their mean gold score and reward-model score, and the KL of the policy "
               "from %s. Best-of-n: of the first n of %d answers of %s to each prompt, the one the reward model scores "
               "highest; its KL is log n − (n − 1)/n. PPO and GRPO: the checkpoints their runs kept; the other series: "
               "the models given; their KL is estimated as in the checkpoint table. Each series starts at %s itself "
               "(KL 0); its gold gain over that first point R is fitted against d = √KL by least squares with Gao et "
               "al.'s forms: best-of-n %s, RL (PPO, GRPO, DPO) %s.\n\n",
            r->baseline, r->temperature, r->frontier_prompts, r->baseline, r->rm_answers, r->baseline,
            r->baseline, frontier_form_formula(FRONTIER_BEST_OF_N), frontier_form_formula(FRONTIER_RL));
    fprintf(f, "| series | form | α | β | R² | points fitted | peak passed |\n|---|---|---:|---:|---:|---:|---|\n");
    for (int i = 0; i < r->n_frontier; i++) {
        const FrontierSeries *s = &r->frontier[i];
        fprintf(f, "| %s | %s |", s->label, frontier_form_formula(s->form));
        md_number(f, " %.4f |", s->fit.alpha);
        md_number(f, " %.4f |", s->fit.beta);
        md_number(f, " %.3f |", s->fit.r2);
        fprintf(f, " %d | %s |\n", s->fit.n, s->peak_passed ? "**yes**" : "no");
    }
    fprintf(f, "\nA peak is passed when a series' gold score is highest before its last point while the reward-model "
               "score at the last point is still above the one at that peak: the reward model is being "
               "over-optimised.\n\n");
    for (int i = 0; i < r->n_frontier; i++) {
        const FrontierSeries *s = &r->frontier[i];
        fprintf(f, "**%s**\n\n| %s | KL to %s (nats) | gold score | gold gain | reward-model score |\n|---|---:|---:|---:|---:|\n",
                s->label, s->form == FRONTIER_BEST_OF_N ? "n" : "point", r->baseline);
        for (int j = 0; j < s->n; j++) {
            const PolicyPoint *p = &s->points[j];
            if (p->name) fprintf(f, "| %s |", p->name);
            else if (j == 0 && s->form == FRONTIER_RL) fprintf(f, "| %s |", r->baseline);
            else fprintf(f, "| %ld |", p->x);
            fprintf(f, " %.3f | %.3f | %+.3f |", p->kl, p->gold, p->gold - s->points[0].gold);
            md_number(f, " %.3f |", p->rm);
            fprintf(f, "\n");
        }
        fprintf(f, "\n");
    }
    fprintf(f, "![reward–KL frontier](plots/frontier.svg)\n\n");
    if (r->reward_model)
        fprintf(f, "The same points with both scores, in standard deviations of %s's samples from their mean (gold: mean "
                   "%.3f, SD %.3f; reward model: mean %.3f, SD %.3f): a reward-model score that climbs while the gold "
                   "score stalls or falls is over-optimisation.\n\n![over-optimisation](plots/overoptimization.svg)\n\n",
                r->baseline, r->gold_mean, r->gold_sd, r->rm_mean, r->rm_sd);
}

void report_write_markdown(const char *path, const EvalReport *r) {
    AtomicFile af = atomic_open(path);
    FILE *f = af.f;
    fprintf(f, "# lmforge evaluation report\n\n");
    fprintf(f, "Every checkpoint answers the same %d held-out prompts of `%s` (", r->n_prompts, r->prompts_path);
    for (int k = 0; k < r->n_families; k++)
        fprintf(f, "%s%s %d", k ? ", " : "", r->families[k], r->family_prompts[k]);
    fprintf(f, "), and the judge program `%s` scores every answer: the gold standard. The reward model and the "
               "policies never see it.\n\n", r->judge);

    fprintf(f, "## Checkpoints\n\n");
    md_checkpoint_table(f, r);
    fprintf(f, "\n- **gold**: mean judge score of the greedy answers (at most %d new tokens), per %s and over all "
               "prompts.\n", r->max_new_tokens, r->n_groups > 1 ? "group" : "family");
    fprintf(f, "- **win rate vs %s**: per prompt, the checkpoint's greedy answer against %s's: 1 if its gold score is "
               "higher, ½ if equal, 0 if lower; the mean over the %d prompts. W / T / L count the wins, ties and "
               "losses: (W + T/2) / %d is the rate, so 0.5 is no change and a tie never counts as a win. **Wins of "
               "decided**: W / (W + L), the prompts where the judge tells the two answers apart.\n",
            r->baseline, r->baseline, r->n_prompts, r->n_prompts);
    fprintf(f, "- **KL to %s**: KL(π ‖ π_%s) in nats, estimated on %d held-out prompts × %d answers sampled from the "
               "checkpoint at temperature %g: the mean over answers of Σ_t log π(y_t) − log π_%s(y_t) (both at "
               "that temperature), the answer's tokens and its stop token included.\n",
            r->baseline, r->baseline, r->kl_prompts, r->kl_samples, r->temperature, r->baseline);
    if (r->heldout_text)
        fprintf(f, "- **perplexity**: exp of the mean next-token loss on the first %ld tokens of `%s`.\n", r->ppl_tokens,
                r->heldout_text);
    if (r->references)
        fprintf(f, "- **ref. log-lik**: the mean log-probability, in nats per answer token, of the reference answers of "
                   "`%s` (%d of its %d examples, %ld answer tokens), teacher forced after their prompts and masked "
                   "to the answers as SFT's loss is: minus SFT's held-out loss on that file. Higher is closer to the "
                   "data's own answers.\n", r->references, r->reference_examples, r->reference_total, r->reference_tokens);
    fprintf(f, "\n");
    if (r->n_routes) md_routes(f, r);
    fprintf(f, "## Gold score by group\n\n");
    md_group_tables(f, r);

    fprintf(f, "## Targets\n\n");
    md_targets(f, r);

    if (r->reward_model) {
        fprintf(f, "\n## Reward model against the judge\n\n");
        fprintf(f, "`%s` orders %.1f %% of %ld pairs as the judge does (a tie of the reward model counts ½). The pairs: "
                   "%d answers sampled from %s (temperature %g) for each of %d held-out prompts, every two answers to "
                   "one prompt whose judge scores differ by more than %g (--agreement-margin).\n\n",
                r->reward_model, 100 * pair_agreement_rate(&r->rm_agreement), r->rm_agreement.pairs, r->rm_answers,
                r->baseline, r->temperature, r->rm_prompts, r->agreement_margin);
        fprintf(f, "| group | pairs | agreement |\n|---|---:|---:|\n");
        for (int g = 0; g < r->n_groups; g++)
            if (r->rm_group_agreement[g].pairs)
                fprintf(f, "| %s | %ld | %.3f |\n", r->groups[g], r->rm_group_agreement[g].pairs,
                        pair_agreement_rate(&r->rm_group_agreement[g]));
            else /* every answer scored the same: nothing to order */
                fprintf(f, "| %s | 0 | - |\n", r->groups[g]);
    }
    fprintf(f, "\n");
    if (r->n_frontier) md_frontier(f, r);

    fprintf(f, "## Wall time\n\n");
    md_stage_times(f, r);

    if (r->n_plots) {
        fprintf(f, "\n## Training curves\n\n");
        for (int i = 0; i < r->n_plots; i++)
            fprintf(f, "%s\n\n![%s](%s)\n\n", r->plot_captions[i], r->plot_captions[i], r->plots[i]);
    }
    fprintf(f, "\nThe figures above are also in report.json.\n");
    atomic_commit(&af);
}

/* ---- JSON ---- */

static cJSON *number_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static cJSON *win_json(const WinRate *w) {
    cJSON *o = cJSON_CreateObject();
    int decided = w->wins + w->losses;
    cJSON_AddItemToObject(o, "rate", number_or_null(w->rate));
    cJSON_AddNumberToObject(o, "wins", w->wins);
    cJSON_AddNumberToObject(o, "ties", w->ties);
    cJSON_AddNumberToObject(o, "losses", w->losses);
    cJSON_AddItemToObject(o, "wins_of_decided", number_or_null(decided ? (double)w->wins / decided : NAN));
    return o;
}

static cJSON *agreement_json(const PairAgreement *a) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "pairs", (double)a->pairs);
    cJSON_AddItemToObject(o, "agreement", number_or_null(pair_agreement_rate(a)));
    return o;
}

static cJSON *points_json(const PolicyPoint *p, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "x", (double)p[i].x);
        if (p[i].name) cJSON_AddStringToObject(o, "name", p[i].name);
        cJSON_AddItemToObject(o, "kl", number_or_null(p[i].kl));
        cJSON_AddItemToObject(o, "gold", number_or_null(p[i].gold));
        cJSON_AddItemToObject(o, "gold_gain", number_or_null(p[i].gold - p[0].gold));
        cJSON_AddItemToObject(o, "rm", number_or_null(p[i].rm));
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

void report_write_json(const char *path, const EvalReport *r) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "judge", r->judge);
    cJSON_AddStringToObject(root, "prompts", r->prompts_path);
    cJSON_AddStringToObject(root, "baseline", r->baseline);
    cJSON_AddNumberToObject(root, "heldout_prompts", r->n_prompts);
    cJSON *groups = cJSON_AddObjectToObject(root, "groups");
    for (int g = 0; g < r->n_groups; g++) {
        cJSON *o = cJSON_AddObjectToObject(groups, r->groups[g]);
        cJSON_AddNumberToObject(o, "prompts", r->group_prompts[g]);
        cJSON_AddBoolToObject(o, "target", r->target_group[g]);
        cJSON *fam = cJSON_AddObjectToObject(o, "families");
        for (int k = 0; k < r->n_families; k++)
            if (r->family_group[k] == g) cJSON_AddNumberToObject(fam, r->families[k], r->family_prompts[k]);
    }
    cJSON *checkpoints = cJSON_AddArrayToObject(root, "checkpoints");
    for (int i = 0; i < r->n_checkpoints; i++) {
        const CheckpointFigures *c = &r->checkpoints[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", c->name);
        cJSON_AddStringToObject(o, "path", c->dir);
        cJSON *fam = cJSON_AddObjectToObject(o, "gold_by_family");
        for (int k = 0; k < r->n_families; k++) cJSON_AddItemToObject(fam, r->families[k], number_or_null(c->family_gold[k]));
        cJSON *grp = cJSON_AddObjectToObject(o, "gold_by_group");
        for (int g = 0; g < r->n_groups; g++) cJSON_AddItemToObject(grp, r->groups[g], number_or_null(c->group_gold[g]));
        cJSON_AddItemToObject(o, "gold", number_or_null(c->gold));
        cJSON_AddItemToObject(o, "win_rate", win_json(&c->win));
        cJSON_AddItemToObject(o, "target_win_rate", win_json(&c->target_win));
        cJSON_AddItemToObject(o, "kl", number_or_null(c->kl));
        cJSON_AddItemToObject(o, "sample_gold", number_or_null(c->sample_gold));
        cJSON_AddItemToObject(o, "sample_rm", number_or_null(c->sample_rm));
        cJSON_AddItemToObject(o, "heldout_loss", number_or_null(c->loss));
        cJSON_AddItemToObject(o, "perplexity", number_or_null(c->perplexity));
        cJSON_AddItemToObject(o, "target_gold", number_or_null(c->target_gold));
        if (r->references) cJSON_AddItemToObject(o, "reference_loglik", number_or_null(c->reference_loglik));
        cJSON_AddItemToArray(checkpoints, o);
    }
    if (r->references) {
        cJSON *refs = cJSON_AddObjectToObject(root, "references");
        cJSON_AddStringToObject(refs, "path", r->references);
        cJSON_AddNumberToObject(refs, "examples", r->reference_examples);
        cJSON_AddNumberToObject(refs, "examples_in_file", r->reference_total);
        cJSON_AddNumberToObject(refs, "answer_tokens", (double)r->reference_tokens);
    }
    if (r->n_routes) {
        cJSON *routes = cJSON_AddArrayToObject(root, "routes");
        for (int i = 0; i < r->n_routes; i++) {
            cJSON *o = cJSON_CreateObject(), *members = cJSON_AddArrayToObject(o, "checkpoints");
            cJSON_AddStringToObject(o, "route", r->routes[i].name);
            for (int k = 0; k < r->routes[i].n; k++)
                cJSON_AddItemToArray(members, cJSON_CreateString(r->checkpoints[r->routes[i].members[k]].name));
            cJSON_AddItemToArray(routes, o);
        }
    }
    if (r->reward_model) {
        cJSON *rm = cJSON_AddObjectToObject(root, "reward_model");
        cJSON_AddStringToObject(rm, "path", r->reward_model);
        cJSON_AddNumberToObject(rm, "margin", r->agreement_margin);
        cJSON_AddItemToObject(rm, "gold_pair_accuracy", number_or_null(pair_agreement_rate(&r->rm_agreement)));
        cJSON_AddNumberToObject(rm, "pairs", (double)r->rm_agreement.pairs);
        cJSON_AddItemToObject(rm, "target_groups", agreement_json(&r->rm_target_agreement));
        cJSON_AddNumberToObject(rm, "prompts", r->rm_prompts);
        cJSON_AddNumberToObject(rm, "answers_per_prompt", r->rm_answers);
        cJSON *by_group = cJSON_AddObjectToObject(rm, "by_group");
        for (int g = 0; g < r->n_groups; g++)
            cJSON_AddItemToObject(by_group, r->groups[g], agreement_json(&r->rm_group_agreement[g]));
    }
    cJSON *frontier = cJSON_AddArrayToObject(root, "frontier");
    for (int i = 0; i < r->n_frontier; i++) {
        const FrontierSeries *s = &r->frontier[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "series", s->label);
        cJSON_AddStringToObject(o, "form", frontier_form_name(s->form));
        cJSON *fit = cJSON_AddObjectToObject(o, "fit");
        cJSON_AddItemToObject(fit, "alpha", number_or_null(s->fit.alpha));
        cJSON_AddItemToObject(fit, "beta", number_or_null(s->fit.beta));
        cJSON_AddItemToObject(fit, "r2", number_or_null(s->fit.r2));
        cJSON_AddNumberToObject(fit, "points", s->fit.n);
        cJSON_AddBoolToObject(o, "peak_passed", s->peak_passed);
        cJSON_AddItemToObject(o, "points", points_json(s->points, s->n));
        cJSON_AddItemToArray(frontier, o);
    }
    int n_targets;
    TargetRow *t = target_rows(r, &n_targets);
    cJSON *targets = cJSON_AddArrayToObject(root, "targets");
    for (int i = 0; i < n_targets; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "target", t[i].what);
        cJSON_AddStringToObject(o, "measured", t[i].measured);
        cJSON_AddItemToObject(o, "value", number_or_null(t[i].value));
        cJSON_AddItemToObject(o, "threshold", number_or_null(t[i].threshold));
        cJSON_AddItemToObject(o, "gap", t[i].no_gap ? cJSON_CreateNull() : number_or_null(t[i].value - t[i].threshold));
        cJSON_AddItemToObject(o, "met", t[i].met < 0 ? cJSON_CreateNull() : cJSON_CreateBool(t[i].met));
        cJSON_AddItemToArray(targets, o);
    }
    target_rows_free(t, n_targets);
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

void report_print_summary(FILE *f, const EvalReport *r) {
    int width = 10, by_group = r->n_groups > 1, cols = by_group ? r->n_groups : r->n_families;
    const char **names = by_group ? r->groups : r->families;
    for (int i = 0; i < r->n_checkpoints; i++) width = LMF_MAX(width, (int)strlen(r->checkpoints[i].name));
    fprintf(f, "\n%-*s", width, "checkpoint");
    for (int k = 0; k < cols; k++) fprintf(f, " %11.11s", names[k]);
    fprintf(f, " %9s %9s %15s %8s %10s\n", "gold", "win rate", "W/T/L", "KL", "perplexity");
    for (int i = 0; i < r->n_checkpoints; i++) {
        const CheckpointFigures *c = &r->checkpoints[i];
        char wtl[48];
        snprintf(wtl, sizeof wtl, "%d/%d/%d", c->win.wins, c->win.ties, c->win.losses);
        fprintf(f, "%-*s", width, c->name);
        for (int k = 0; k < cols; k++) fprintf(f, " %11.3f", by_group ? c->group_gold[k] : c->family_gold[k]);
        fprintf(f, " %9.3f %9.3f %15s %8.2f %10.1f\n", c->gold, c->win.rate, wtl, c->kl, c->perplexity);
    }
    fprintf(f, "\nwin rate and KL against %s; gold = mean judge score of greedy answers to %d held-out prompts\n",
            r->baseline, r->n_prompts);
    if (r->reward_model)
        fprintf(f, "reward model vs the judge's ranking: %.3f of %ld pairs whose judge scores differ by more than %g\n",
                pair_agreement_rate(&r->rm_agreement), r->rm_agreement.pairs, r->agreement_margin);
    for (int i = 0; i < r->n_frontier; i++) {
        const FrontierSeries *s = &r->frontier[i];
        fprintf(f, "frontier %-10s %s: alpha %.4f beta %.4f R2 %.3f%s\n", s->label, frontier_form_formula(s->form),
                s->fit.alpha, s->fit.beta, s->fit.r2, s->peak_passed ? "; gold peak passed (over-optimisation)" : "");
    }
    int n;
    TargetRow *t = target_rows(r, &n);
    for (int i = 0; i < n; i++)
        fprintf(f, "target %s: %s — %s\n", t[i].met < 0 ? "-" : t[i].met ? "met" : "MISSED", t[i].what, t[i].measured);
    target_rows_free(t, n);
    int complete;
    double total = total_seconds(r, &complete);
    char buf[32];
    fprintf(f, "wall time: %s%s\n", duration(total, buf, sizeof buf),
            complete ? "" : " (steps run in an earlier invocation not counted)");
}
