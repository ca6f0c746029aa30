/* trainer.c — see trainer.h.
 *
 * One optimizer step:
 *   1. gather grad_accum micro-batches and add up their weights (norm), so
 *      the loss is the mean over the counted units of the whole step;
 *   2. for each: forward, objective (loss and ∂loss/∂out), backward;
 *   3. clip, AdamW at the scheduled learning rate;
 *   4. metrics, progress, evaluation and checkpoint when due.
 * A checkpoint is written into checkpoint-STEP.tmp/ and renamed when
 * complete, so a run killed while saving keeps its previous checkpoint.
 *
 * Data parallelism (under mpirun, dist.h): the step's global batch is
 * grad_accum micro-batches per rank. Every rank walks the same stream of
 * micro-batches (same objective, same RNG) and computes forward and
 * backward only for its share, micro-batch i going to rank i % ranks; as
 * every rank sees every batch's weight, the norm is global without any
 * communication. The gradients are then summed over the ranks (grad_sync.h)
 * and so are the loss and the step statistics: the step is the one a single
 * process takes with grad_accum × ranks micro-batches. Only rank 0
 * evaluates, prints, and writes files.
 *
 * A take_step objective replaces steps 1–3 with its own: it runs in one
 * process (its rollouts are not split over ranks) and steps each part's
 * AdamW through trainer_update. */
#include "trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/dist.h"
#include "../base/json_util.h"
#include "../base/metrics.h"
#include "../base/plot.h"
#include "../base/progress.h"
#include "../base/util.h"
#include "../io/model_dir.h"
#include "grad_sync.h"
#include "run_dir.h"

TrainConfig train_config_defaults(void) {
    return (TrainConfig){
        .stage = "train",
        .grad_accum = 1,
        .optim = optim_defaults(),
        .schedule = {SCHEDULE_COSINE, 0, 0, 0.1f},
        .keep_checkpoints = 2,
        .plot_keys = "loss,eval/loss",
        .zero_stage = 0,
    };
}

/* A trained part with what the trainer keeps for it. */
typedef struct {
    TrainPart spec;
    ParamSet params; /* what its AdamW updates */
    AdamW *opt;
} Part;

struct Trainer {
    const TrainConfig *cfg;
    const Objective *obj;
    Part *parts;
    int n_parts;
    long step; /* steps done */
    /* a micro-batch objective's: this rank's micro-batches, one to walk past the other ranks', the all-reduce */
    Batch *batches, skipped;
    GradSync *sync;
};

/* ---- what is trained ---- */

/* A micro-batch objective trains m, the whole model unless the stage says
 * otherwise (LoRA: its adapter), as one part saved at the checkpoint's top
 * level; a take_step objective trains cfg->parts, all of each model. */
static void set_up_parts(Trainer *t, Model *m) {
    const TrainConfig *cfg = t->cfg;
    if (t->obj->take_step) {
        if (cfg->n_parts < 1) die("%s: an objective that takes its own steps needs the parts it trains", cfg->stage);
        t->n_parts = cfg->n_parts;
        t->parts = xcalloc((size_t)t->n_parts, sizeof(Part));
        for (int i = 0; i < t->n_parts; i++) {
            Part *p = &t->parts[i];
            p->spec = cfg->parts[i];
            if (p->spec.trainable) {
                p->params = p->spec.trainable(p->spec.ctx);
            } else {
                model_alloc_grads(p->spec.model);
                p->params = model_param_set(p->spec.model);
            }
            p->opt = adamw_new(p->params.n, &p->spec.optim);
        }
        return;
    }
    t->n_parts = 1;
    t->parts = xcalloc(1, sizeof(Part));
    Part *p = &t->parts[0];
    p->spec = (TrainPart){NULL, "model", m, cfg->optim, cfg->save_model, cfg->load_model, cfg->model_ctx, cfg->trainable};
    if (!cfg->trainable) model_alloc_grads(m);
    p->params = cfg->trainable ? cfg->trainable(cfg->model_ctx) : model_param_set(m);
    p->opt = cfg->zero_stage == 1 ? adamw_new_sharded(p->params.n, &cfg->optim) : adamw_new(p->params.n, &cfg->optim);
}

static void save_part(const Trainer *t, const Part *p, const char *dir) {
    if (p->spec.save) p->spec.save(p->spec.ctx, dir);
    else model_dir_save(dir, p->spec.model, t->cfg->tokenizer, 0.0, 1.0);
}

static void load_part(const Part *p, const char *dir) {
    if (p->spec.load) p->spec.load(p->spec.ctx, dir);
    else model_dir_load_params(dir, p->spec.model);
}

/* DIR/what, or DIR/NAME_what for a named part (malloc'ed). */
static char *part_file(const char *dir, const Part *p, const char *what) {
    return p->spec.name ? xsprintf("%s/%s_%s", dir, p->spec.name, what) : path_join(dir, what);
}

/* Where a part's model files go in checkpoint dir (malloc'ed). */
static char *part_dir(const char *dir, const Part *p) {
    return p->spec.name ? path_join(dir, p->spec.name) : xstrdup(dir);
}

/* ---- checkpoints ---- */

/* The state after t->step steps. Every rank calls it (a ZeRO-1 optimizer
 * sends its piece to rank 0); only rank 0 writes. */
static void save_checkpoint(const Trainer *t) {
    const TrainConfig *cfg = t->cfg;
    const Objective *obj = t->obj;
    const int root = dist_is_root();
    char *tmp = root ? checkpoint_begin(cfg->run_dir, t->step)
                     : xsprintf("%s/checkpoint-%ld.tmp", cfg->run_dir, t->step);
    for (int i = 0; i < t->n_parts; i++) {
        const Part *p = &t->parts[i];
        char *dir = part_dir(tmp, p), *opt_path = part_file(tmp, p, "optimizer.safetensors");
        if (root) save_part(t, p, dir);
        adamw_save(p->opt, opt_path);
        free(opt_path);
        free(dir);
    }
    if (!root) {
        free(tmp);
        return;
    }

    /* trainer_state.json last: its presence marks the checkpoint complete */
    cJSON *state = cJSON_CreateObject();
    cJSON_AddStringToObject(state, "stage", cfg->stage);
    cJSON_AddNumberToObject(state, "step", (double)t->step);
    for (int i = 0; i < t->n_parts; i++) {
        char *key = part_file("", &t->parts[i], "optimizer_step");
        cJSON_AddNumberToObject(state, key + 1, (double)t->parts[i].opt->step);
        free(key);
    }
    cJSON_AddNumberToObject(state, "max_steps", (double)cfg->max_steps);
    cJSON_AddNumberToObject(state, "grad_accum", cfg->grad_accum);
    cJSON_AddNumberToObject(state, "ranks", dist_size());
    cJSON_AddNumberToObject(state, "lr", t->parts[0].spec.optim.lr);
    cJSON *settings = cfg->nested ? NULL : run_settings_to_save();
    if (settings) cJSON_AddItemToObject(state, "settings", settings);
    if (obj->save_state) cJSON_AddItemToObject(state, "data", obj->save_state(obj->ctx));
    char *state_path = path_join(tmp, "trainer_state.json");
    json_write_file(state_path, state);
    cJSON_Delete(state);
    free(state_path);

    checkpoint_commit(cfg->run_dir, t->step, cfg->keep_checkpoints);
    free(tmp);
}

/* Restores the parts, their optimizers and the data position; returns the step to continue from. */
static long resume_from_checkpoint(const Trainer *t) {
    const TrainConfig *cfg = t->cfg;
    const Objective *obj = t->obj;
    long step = newest_checkpoint(cfg->run_dir, "trainer_state.json");
    if (step < 0) { /* killed before its first checkpoint: nothing is lost by starting over */
        info("--resume: no checkpoint in %s yet; starting the run from the beginning", cfg->run_dir);
        return 0;
    }
    char *dir = xsprintf("%s/checkpoint-%ld", cfg->run_dir, step);
    for (int i = 0; i < t->n_parts; i++) {
        char *sub = part_dir(dir, &t->parts[i]);
        load_part(&t->parts[i], sub);
        free(sub);
    }
    char *state_path = path_join(dir, "trainer_state.json");
    cJSON *state = json_read_file(state_path);
    const char *stage = json_get_string(state, "stage", state_path);
    if (strcmp(stage, cfg->stage) != 0) die("%s: a %s checkpoint cannot resume a %s run", state_path, stage, cfg->stage);
    if (!cfg->nested) run_settings_check(cJSON_GetObjectItemCaseSensitive(state, "settings"), state_path, cfg->stage);
    for (int i = 0; i < t->n_parts; i++) {
        char *key = part_file("", &t->parts[i], "optimizer_step");
        t->parts[i].opt->step = json_get_int64(state, key + 1, state_path);
        free(key);
    }
    /* the global batch must stay the same; the number of ranks may change */
    int saved_accum = json_get_int(state, "grad_accum", state_path);
    int saved_ranks = json_opt_int(state, "ranks", state_path, 1);
    if ((long)saved_accum * saved_ranks != (long)cfg->grad_accum * dist_size())
        die("%s: the run took %ld micro-batches per step (--grad-accum %d on %d rank(s)); resume it with --grad-accum "
            "times the number of ranks equal to %ld", state_path, (long)saved_accum * saved_ranks, saved_accum,
            saved_ranks, (long)saved_accum * saved_ranks);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(state, "data");
    if (obj->load_state) {
        if (!data) die("%s: field \"data\" is missing", state_path);
        obj->load_state(obj->ctx, data);
    }
    cJSON_Delete(state);
    for (int i = 0; i < t->n_parts; i++) {
        char *opt_path = part_file(dir, &t->parts[i], "optimizer.safetensors");
        adamw_load(t->parts[i].opt, opt_path);
        free(opt_path);
    }
    free(state_path);
    free(dir);
    return step;
}

void trainer_checkpoint(Trainer *t) { save_checkpoint(t); }

float trainer_update(Trainer *t, int part) {
    if (part < 0 || part >= t->n_parts) die("trainer_update: no part %d", part);
    Part *p = &t->parts[part];
    if (dist_size() > 1) dist_sum_floats(p->params.grads, p->params.n); /* the same step on every rank */
    return adamw_step(p->opt, &p->params, schedule_lr(&t->cfg->schedule, p->spec.optim.lr, t->step));
}

void trainer_zero_grads(Trainer *t, int part) {
    if (part < 0 || part >= t->n_parts) die("trainer_zero_grads: no part %d", part);
    memset(t->parts[part].params.grads, 0, sizeof(float) * t->parts[part].params.n);
}

/* ---- the loop ---- */

/* Appends " | name value" for each progress key with a value this step. */
static void format_progress_keys(char *buf, size_t cap, const char *keys, const StepStats *stats) {
    buf[0] = 0;
    if (!keys) return;
    char *copy = xstrdup(keys), *save = NULL;
    size_t used = 0;
    for (char *k = strtok_r(copy, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        double v = stats_mean(stats, k);
        if (isnan(v) || used >= cap) continue;
        const char *short_name = strchr(k, '/') ? strchr(k, '/') + 1 : k;
        used += (size_t)snprintf(buf + used, cap - used, " | %s %.4g", short_name, v);
    }
    free(copy);
}

static void write_stats(MetricsLog *log, const StepStats *s) {
    for (int i = 0; i < s->n; i++) metrics_add(log, s->names[i], s->sum[i] / (double)s->count[i]);
}

/* Rank 0 evaluates; the other ranks receive its figures. */
static void run_evaluation(const Objective *obj, Model *m, StepStats *eval, Progress *p, long step) {
    stats_clear(eval);
    if (!obj->evaluate) return;
    if (dist_is_root()) {
        obj->evaluate(obj->ctx, m, eval);
        char line[512] = "";
        size_t used = 0;
        for (int i = 0; i < eval->n && used < sizeof line; i++)
            used += (size_t)snprintf(line + used, sizeof line - used, "%s%s %.4f", i ? " | " : "", eval->names[i],
                                     eval->sum[i] / (double)eval->count[i]);
        progress_note(p, "eval at step %ld: %s", step, line);
    }
    dist_broadcast(eval, sizeof *eval);
}

/* Adds up the step statistics of all ranks, on every rank. */
static void sum_stats_over_ranks(StepStats *stats) {
    if (dist_size() == 1) return;
    size_t total;
    StepStats *all = dist_allgather_bytes(stats, sizeof *stats, &total, NULL);
    stats_clear(stats);
    for (int r = 0; r < dist_size(); r++) stats_merge(stats, &all[r]);
    free(all);
}

/* Rank 0 reports each rank's optimizer state and peak memory. */
static void report_memory_per_rank(const AdamW *opt) {
    if (dist_size() == 1) return;
    size_t mine[2] = {opt->n, peak_rss_bytes()}, total;
    size_t *all = dist_allgather_bytes(mine, sizeof mine, &total, NULL);
    for (int r = 0; r < dist_size(); r++)
        info("rank %d: AdamW moments of %zu of %zu parameters (%.2f MB), peak memory %.1f MB", r, all[2 * r],
             opt->n_params, 2.0 * sizeof(float) * (double)all[2 * r] / 1e6, (double)all[2 * r + 1] / 1e6);
    free(all);
}

/* The figures of one micro-batch step. */
typedef struct {
    double loss, comm_wait, seconds;
    float lr, gnorm;
    long tokens;
} StepReport;

/* One optimizer step of a micro-batch objective over m; returns 0 when the
 * data ended before it began (*data_ended says whether it ended during it). */
static int micro_batch_step(Trainer *t, Model *m, StepStats *stats, StepReport *r, int *data_ended) {
    const TrainConfig *cfg = t->cfg;
    const Objective *obj = t->obj;
    const int ranks = dist_size(), rank = dist_rank();
    Part *part = &t->parts[0];
    double t_step = now_seconds();
    int n_seen = 0, n_micro = 0;
    double norm = 0;
    long tokens = 0;
    for (; n_seen < cfg->grad_accum * ranks; n_seen++) {
        Batch *b = n_seen % ranks == rank ? &t->batches[n_micro] : &t->skipped;
        if (!obj->next_batch(obj->ctx, b)) {
            *data_ended = 1;
            break;
        }
        norm += b->weight;
        tokens += b->n_tokens;
        n_micro += b != &t->skipped;
    }
    if (n_seen == 0) return 0;
    if (norm <= 0) die("%s: a training step has nothing to learn from (every token is masked)", cfg->stage);

    memset(part->params.grads, 0, part->params.n * sizeof(float));
    double loss_sum = 0;
    for (int i = 0; i < n_micro; i++) {
        Batch *b = &t->batches[i];
        model_forward(m, b->tokens, b->doc_start, b->B, b->T, 1);
        loss_sum += obj->loss_and_grad(obj->ctx, m, b, norm, stats);
        if (i == n_micro - 1) grad_sync_arm(t->sync);
        model_backward(m);
    }
    r->comm_wait = grad_sync_finish(t->sync);
    dist_sum_doubles(&loss_sum, 1);
    sum_stats_over_ranks(stats);
    r->lr = schedule_lr(&cfg->schedule, part->spec.optim.lr, t->step);
    r->gnorm = adamw_step(part->opt, &part->params, r->lr);
    r->seconds = now_seconds() - t_step;
    r->loss = loss_sum / norm;
    r->tokens = tokens;
    return 1;
}

TrainResult trainer_run(Model *m, const Objective *obj, const TrainConfig *cfg) {
    if (cfg->grad_accum < 1) die("--grad-accum must be at least 1");
    if (cfg->max_steps < 1) die("--steps must be at least 1");
    if (cfg->zero_stage != 0 && cfg->zero_stage != 1) die("--zero must be 0 or 1, not %d", cfg->zero_stage);
    const int root = dist_is_root(), ranks = dist_size();
    if (obj->take_step && !obj->data_parallel && ranks > 1)
        die("%s runs in one process: start it without mpirun", cfg->stage);
    make_dirs(cfg->run_dir);
    if (root) run_dir_lock(cfg->run_dir, cfg->stage ? cfg->stage : "train");
    if (root && !cfg->nested) run_dir_hint_resume_on_interrupt(cfg->run_dir);
    Trainer t = {.cfg = cfg, .obj = obj};
    set_up_parts(&t, m);
    if (!obj->take_step) {
        t.sync = grad_sync_new(m, &t.parts[0].params, t.parts[0].opt);
        t.batches = xcalloc((size_t)cfg->grad_accum, sizeof(Batch));
    }
    if (ranks > 1)
        info("data parallel over %d ranks: %d micro-batches per step (%d per rank)%s", ranks, cfg->grad_accum * ranks,
             cfg->grad_accum, cfg->zero_stage == 1 ? ", AdamW state sharded (ZeRO-1)" : "");
    long step = 0;
    if (cfg->resume) {
        step = resume_from_checkpoint(&t);
        if (step > 0) info("resumed from %s/checkpoint-%ld", cfg->run_dir, step);
    } else if (newest_checkpoint(cfg->run_dir, "trainer_state.json") >= 0) {
        die("%s already holds checkpoints: pass --resume to continue that run, or choose another --out", cfg->run_dir);
    }
    MetricsLog *log = !root ? NULL : cfg->resume ? metrics_open_resume(cfg->run_dir, step) : metrics_open(cfg->run_dir);
    StepStats stats, eval;
    stats_clear(&eval);
    Progress progress;
    progress_init(&progress, "step", step, cfg->max_steps);
    TrainResult result = {0};
    int data_ended = 0;
    char extra[256];

    if (cfg->eval_at_start && step == 0 && obj->evaluate) { /* the starting model's figures, as step 0 */
        run_evaluation(obj, m, &eval, &progress, 0);
        if (root) {
            metrics_begin(log, 0);
            write_stats(log, &eval);
            metrics_end(log);
        }
    }
    const long resumed_at = step;
    while (step < cfg->max_steps && !data_ended) {
        t.step = step;
        stats_clear(&stats);
        StepReport r = {0};
        if (obj->take_step) {
            double t_step = now_seconds();
            r.tokens = obj->take_step(obj->ctx, &t, step, &stats);
            r.seconds = now_seconds() - t_step;
            if (r.tokens < 0) {
                data_ended = 1;
                break;
            }
        } else if (!micro_batch_step(&t, m, &stats, &r, &data_ended)) {
            break;
        }
        t.step = ++step;
        if (!obj->take_step && !isfinite(r.loss))
            die("%s: the loss became %f at step %ld; lower --lr", cfg->stage, r.loss, step);
        result.last_loss = r.loss;

        int last = step == cfg->max_steps;
        int evaluated = (cfg->eval_every > 0 && step % cfg->eval_every == 0) || last;
        if (evaluated) run_evaluation(obj, m, &eval, &progress, step);
        if (root) {
            metrics_begin(log, step);
            if (!obj->take_step) {
                metrics_add(log, "loss", r.loss);
                metrics_add(log, "lr", r.lr);
                metrics_add(log, "grad_norm", r.gnorm);
                metrics_add(log, "tokens", (double)r.tokens);
            }
            write_stats(log, &stats);
            if (evaluated) write_stats(log, &eval);
            if (ranks > 1) {
                metrics_add(log, "dist/comm_wait_seconds", r.comm_wait);
                metrics_add(log, "dist/step_seconds", r.seconds);
            }
            metrics_end(log);
            progress_add_tokens(&progress, (double)r.tokens);
            format_progress_keys(extra, sizeof extra, obj->progress_keys, &stats);
            if (obj->take_step) progress_update(&progress, step, "%s", extra[0] ? extra + 3 : "");
            else progress_update(&progress, step, "loss %.4f | lr %.2e | gnorm %.3f%s", r.loss, r.lr, r.gnorm, extra);
        }
        if ((cfg->save_every > 0 && step % cfg->save_every == 0) || last) save_checkpoint(&t);
    }
    if (root) progress_finish(&progress);
    if (data_ended && step < cfg->max_steps) {
        info("the data ended after %ld steps", step);
        run_evaluation(obj, m, &eval, &progress, step);
        save_checkpoint(&t);
    } else if (step == resumed_at) { /* resumed from the final checkpoint: the figures it reports still need one */
        run_evaluation(obj, m, &eval, &progress, step);
    }
    report_memory_per_rank(t.parts[0].opt);
    if (root) {
        for (int i = 0; i < t.n_parts; i++) {
            char *final_dir = path_join(cfg->run_dir, t.parts[i].spec.final_dir);
            save_part(&t, &t.parts[i], final_dir);
            info("%s written to %s", t.parts[i].spec.name ? t.parts[i].spec.name : "model", final_dir);
            free(final_dir);
        }
        if (cfg->plot_keys) {
            char *svg = path_join(cfg->run_dir, "loss.svg");
            plot_metrics(cfg->run_dir, cfg->plot_keys, svg, PLOT_LINEAR_Y);
            info("loss curve written to %s", svg);
            free(svg);
        }
        metrics_close(log);
    }
    if (t.batches)
        for (int i = 0; i < cfg->grad_accum; i++) batch_free(&t.batches[i]);
    batch_free(&t.skipped);
    free(t.batches);
    grad_sync_free(t.sync);
    for (int i = 0; i < t.n_parts; i++) adamw_free(t.parts[i].opt);
    free(t.parts);
    result.steps = step;
    result.last_eval = eval;
    return result;
}
