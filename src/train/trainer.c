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
 * evaluates, prints, and writes files. */
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

/* ---- what is trained: the whole model unless the stage says otherwise ---- */

static ParamSet trainable_set(const TrainConfig *cfg, Model *m) {
    if (cfg->trainable) return cfg->trainable(cfg->model_ctx);
    return model_param_set(m);
}

static void save_model(const TrainConfig *cfg, Model *m, const char *dir) {
    if (cfg->save_model) cfg->save_model(cfg->model_ctx, dir);
    else model_dir_save(dir, m, cfg->tokenizer, 0.0, 1.0);
}

static void load_model(const TrainConfig *cfg, Model *m, const char *dir) {
    if (cfg->load_model) cfg->load_model(cfg->model_ctx, dir);
    else model_dir_load_params(dir, m);
}

/* ---- checkpoints ---- */

/* Every rank calls it (a ZeRO-1 optimizer sends its piece to rank 0); only
 * rank 0 writes. */
static void save_checkpoint(const TrainConfig *cfg, Model *m, const Objective *obj, const AdamW *opt, long step) {
    char *tmp = dist_is_root() ? checkpoint_begin(cfg->run_dir, step)
                               : xsprintf("%s/checkpoint-%ld.tmp", cfg->run_dir, step);
    if (dist_is_root()) save_model(cfg, m, tmp);
    char *opt_path = path_join(tmp, "optimizer.safetensors");
    adamw_save(opt, opt_path);
    free(opt_path);
    if (!dist_is_root()) {
        free(tmp);
        return;
    }

    /* trainer_state.json last: its presence marks the checkpoint complete */
    cJSON *state = cJSON_CreateObject();
    cJSON_AddStringToObject(state, "stage", cfg->stage);
    cJSON_AddNumberToObject(state, "step", (double)step);
    cJSON_AddNumberToObject(state, "optimizer_step", (double)opt->step);
    cJSON_AddNumberToObject(state, "max_steps", (double)cfg->max_steps);
    cJSON_AddNumberToObject(state, "grad_accum", cfg->grad_accum);
    cJSON_AddNumberToObject(state, "ranks", dist_size());
    cJSON_AddNumberToObject(state, "lr", cfg->optim.lr);
    cJSON *settings = run_settings_to_save();
    if (settings) cJSON_AddItemToObject(state, "settings", settings);
    if (obj->save_state) cJSON_AddItemToObject(state, "data", obj->save_state(obj->ctx));
    char *state_path = path_join(tmp, "trainer_state.json");
    json_write_file(state_path, state);
    cJSON_Delete(state);
    free(state_path);

    checkpoint_commit(cfg->run_dir, step, cfg->keep_checkpoints);
    free(tmp);
}

/* Restores model, optimizer and data position; returns the step to continue from. */
static long resume_from_checkpoint(const TrainConfig *cfg, Model *m, const Objective *obj, AdamW *opt) {
    long step = newest_checkpoint(cfg->run_dir, "trainer_state.json");
    if (step < 0) { /* killed before its first checkpoint: nothing is lost by starting over */
        info("--resume: no checkpoint in %s yet; starting the run from the beginning", cfg->run_dir);
        return 0;
    }
    char *dir = xsprintf("%s/checkpoint-%ld", cfg->run_dir, step);
    load_model(cfg, m, dir);
    char *state_path = path_join(dir, "trainer_state.json");
    cJSON *state = json_read_file(state_path);
    const char *stage = json_get_string(state, "stage", state_path);
    if (strcmp(stage, cfg->stage) != 0) die("%s: a %s checkpoint cannot resume a %s run", state_path, stage, cfg->stage);
    run_settings_check(cJSON_GetObjectItemCaseSensitive(state, "settings"), state_path, cfg->stage);
    opt->step = json_get_int64(state, "optimizer_step", state_path);
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
    char *opt_path = path_join(dir, "optimizer.safetensors");
    adamw_load(opt, opt_path);
    free(opt_path);
    free(state_path);
    free(dir);
    return step;
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

TrainResult trainer_run(Model *m, const Objective *obj, const TrainConfig *cfg) {
    if (cfg->grad_accum < 1) die("--grad-accum must be at least 1");
    if (cfg->max_steps < 1) die("--steps must be at least 1");
    if (cfg->zero_stage != 0 && cfg->zero_stage != 1) die("--zero must be 0 or 1, not %d", cfg->zero_stage);
    const int root = dist_is_root(), ranks = dist_size(), rank = dist_rank();
    make_dirs(cfg->run_dir);
    if (root) run_dir_lock(cfg->run_dir, cfg->stage ? cfg->stage : "train");
    if (root) run_dir_hint_resume_on_interrupt(cfg->run_dir);
    if (!cfg->trainable) model_alloc_grads(m);
    ParamSet ps = trainable_set(cfg, m);
    AdamW *opt = cfg->zero_stage == 1 ? adamw_new_sharded(ps.n, &cfg->optim) : adamw_new(ps.n, &cfg->optim);
    GradSync *sync = grad_sync_new(m, &ps, opt);
    if (ranks > 1)
        info("data parallel over %d ranks: %d micro-batches per step (%d per rank)%s", ranks, cfg->grad_accum * ranks,
             cfg->grad_accum, cfg->zero_stage == 1 ? ", AdamW state sharded (ZeRO-1)" : "");
    long step = 0;
    if (cfg->resume) {
        step = resume_from_checkpoint(cfg, m, obj, opt);
        if (step > 0) info("resumed from %s/checkpoint-%ld", cfg->run_dir, step);
    } else if (newest_checkpoint(cfg->run_dir, "trainer_state.json") >= 0) {
        die("%s already holds checkpoints: pass --resume to continue that run, or choose another --out", cfg->run_dir);
    }
    MetricsLog *log = !root ? NULL : cfg->resume ? metrics_open_resume(cfg->run_dir, step) : metrics_open(cfg->run_dir);
    /* this rank's micro-batches, and one to walk past the other ranks' */
    Batch *batches = xcalloc((size_t)cfg->grad_accum, sizeof(Batch)), skipped = {0};
    StepStats stats, eval;
    stats_clear(&eval);
    Progress progress;
    progress_init(&progress, "step", step, cfg->max_steps);
    TrainResult result = {0};
    int data_ended = 0;
    char extra[256];

    const long resumed_at = step;
    while (step < cfg->max_steps && !data_ended) {
        double t_step = now_seconds();
        int n_seen = 0, n_micro = 0;
        double norm = 0;
        long tokens = 0;
        for (; n_seen < cfg->grad_accum * ranks; n_seen++) {
            Batch *b = n_seen % ranks == rank ? &batches[n_micro] : &skipped;
            if (!obj->next_batch(obj->ctx, b)) {
                data_ended = 1;
                break;
            }
            norm += b->weight;
            tokens += b->n_tokens;
            n_micro += b != &skipped;
        }
        if (n_seen == 0) break;
        if (norm <= 0) die("%s: a training step has nothing to learn from (every token is masked)", cfg->stage);

        stats_clear(&stats);
        memset(ps.grads, 0, ps.n * sizeof(float));
        double loss_sum = 0;
        for (int i = 0; i < n_micro; i++) {
            Batch *b = &batches[i];
            model_forward(m, b->tokens, b->doc_start, b->B, b->T, 1);
            loss_sum += obj->loss_and_grad(obj->ctx, m, b, norm, &stats);
            if (i == n_micro - 1) grad_sync_arm(sync);
            model_backward(m);
        }
        double comm_wait = grad_sync_finish(sync);
        dist_sum_doubles(&loss_sum, 1);
        sum_stats_over_ranks(&stats);
        float lr = schedule_lr(&cfg->schedule, cfg->optim.lr, step);
        float gnorm = adamw_step(opt, &ps, lr);
        double step_seconds = now_seconds() - t_step;
        step++;
        double loss = loss_sum / norm;
        if (!isfinite(loss)) die("%s: the loss became %f at step %ld; lower --lr", cfg->stage, loss, step);
        result.last_loss = loss;

        int last = step == cfg->max_steps;
        int evaluated = (cfg->eval_every > 0 && step % cfg->eval_every == 0) || last;
        if (evaluated) run_evaluation(obj, m, &eval, &progress, step);
        if (root) {
            metrics_begin(log, step);
            metrics_add(log, "loss", loss);
            metrics_add(log, "lr", lr);
            metrics_add(log, "grad_norm", gnorm);
            metrics_add(log, "tokens", (double)tokens);
            write_stats(log, &stats);
            if (evaluated) write_stats(log, &eval);
            if (ranks > 1) {
                metrics_add(log, "dist/comm_wait_seconds", comm_wait);
                metrics_add(log, "dist/step_seconds", step_seconds);
            }
            metrics_end(log);
            progress_add_tokens(&progress, (double)tokens);
            format_progress_keys(extra, sizeof extra, obj->progress_keys, &stats);
            progress_update(&progress, step, "loss %.4f | lr %.2e | gnorm %.3f%s", loss, lr, gnorm, extra);
        }
        if ((cfg->save_every > 0 && step % cfg->save_every == 0) || last) {
            save_checkpoint(cfg, m, obj, opt, step);
        }
    }
    if (root) progress_finish(&progress);
    if (data_ended && step < cfg->max_steps) {
        info("the data ended after %ld steps", step);
        run_evaluation(obj, m, &eval, &progress, step);
        save_checkpoint(cfg, m, obj, opt, step);
    } else if (step == resumed_at) { /* resumed from the final checkpoint: the figures it reports still need one */
        run_evaluation(obj, m, &eval, &progress, step);
    }
    report_memory_per_rank(opt);
    if (root) {
        char *final_dir = path_join(cfg->run_dir, "model");
        save_model(cfg, m, final_dir);
        char *svg = path_join(cfg->run_dir, "loss.svg");
        plot_metrics(cfg->run_dir, cfg->plot_keys, svg, PLOT_LINEAR_Y);
        info("model written to %s, loss curve to %s", final_dir, svg);
        free(svg);
        free(final_dir);
        metrics_close(log);
    }
    for (int i = 0; i < cfg->grad_accum; i++) batch_free(&batches[i]);
    batch_free(&skipped);
    free(batches);
    grad_sync_free(sync);
    adamw_free(opt);
    result.steps = step;
    result.last_eval = eval;
    return result;
}
