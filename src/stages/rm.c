/* rm.c — the reward-model stage: learn human preferences from rankings and
 * chosen/rejected pairs, then score responses.
 *
 *   lmforge rm --init SFT_MODEL --data FILE [--eval FILE]   train (or continue training) a reward model
 *   lmforge rm score MODEL FILE [--out FILE] [--normalize]   score prompt/response records
 *   lmforge rm eval MODEL FILE...                            pairwise accuracy on preference records
 *
 * Training starts from the SFT model: the same transformer with its LM head
 * replaced by a scalar head (score.weight, as in Hugging Face's
 * LlamaForSequenceClassification), read at the response's last token. Each
 * comparison costs −log σ(r_better − r_worse − margin); all pairs of one
 * prompt are scored in the same step (reward_model.h). Afterwards the mean
 * and standard deviation of the rewards over a reference set go into the
 * checkpoint, so that PPO can centre the scores. Starting from an existing
 * reward model continues its training: that is how a reward model is
 * refreshed on new comparisons between rounds of PPO. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/args.h"
#include "../base/util.h"
#include "../data/rm_data.h"
#include "../io/model_dir.h"
#include "../train/reward_model.h"
#include "../train/trainer.h"
#include "stages.h"

/* ---- the model ---- */

/* The reward model to train: an existing one as it is, or a new one made
 * from a language model, which keeps every tensor but the head; the score
 * head starts small and random (seeded). */
static Model *reward_model_from(ModelDir *start, const char *init, int seed) {
    if (start->model->cfg.head == HEAD_SCORE) {
        info("continuing the training of the reward model %s", init);
        Model *m = start->model;
        start->model = NULL;
        return m;
    }
    ModelConfig c = start->model->cfg;
    c.head = HEAD_SCORE;
    c.tie_embeddings = 0;
    Model *m = model_new(&c);
    model_init_random(m, (uint64_t)seed);
    int copied = model_copy_matching(m, start->model);
    if (copied != m->n_tensors - 1)
        die("rm: %s: only %d of the %d tensors could be copied", init, copied, m->n_tensors - 1);
    info("reward model initialised from %s (every tensor but score.weight)", init);
    return m;
}

/* A reward model to score with; dies if the checkpoint is something else. */
static ModelDir load_reward_model(const char *dir, const char *command) {
    ModelDir ck = model_dir_load(dir);
    if (ck.model->cfg.head != HEAD_SCORE)
        die("%s: %s is a language model, not a reward model (train one with lmforge rm --init %s)", command, dir, dir);
    if (!ck.tokenizer) die("%s: %s has no tokenizer.json", command, dir);
    return ck;
}

/* Mean and standard deviation of the scores of (at most max_seqs, evenly
 * spaced) sequences: what PPO subtracts and divides by. */
static void reward_statistics(Model *m, const SeqSet *s, const int *which, int n, int max_seqs, double *mean,
                              double *std) {
    int take = max_seqs > 0 ? LMF_MIN(n, max_seqs) : n;
    SeqRef *seqs = xmalloc(sizeof(SeqRef) * (size_t)LMF_MAX(take, 1));
    float *scores = xmalloc(sizeof(float) * (size_t)LMF_MAX(take, 1));
    for (int i = 0; i < take; i++) {
        int k = (int)((long)i * n / take);
        seqs[i] = seq_set_get(s, which ? which[k] : k);
    }
    rm_score_sequences(m, seqs, take, scores);
    double sum = 0, sq = 0;
    for (int i = 0; i < take; i++) sum += scores[i];
    *mean = take ? sum / take : 0;
    for (int i = 0; i < take; i++) sq += (scores[i] - *mean) * (scores[i] - *mean);
    *std = take ? sqrt(sq / take) : 0;
    if (!(*std > 1e-6)) {
        warn("rm: the %d reference rewards are all equal; the stored standard deviation is 1", take);
        *std = 1;
    }
    info("reward over %d reference responses: mean %.4f, standard deviation %.4f", take, *mean, *std);
    free(seqs);
    free(scores);
}

/* The sequences of the given prompts' responses. */
static int *responses_of(const PreferenceSet *p, const int *groups, int n_groups, int *n) {
    *n = 0;
    for (int i = 0; i < n_groups; i++) *n += p->groups[groups[i]].n_seqs;
    int *seqs = xmalloc(sizeof(int) * (size_t)LMF_MAX(*n, 1)), k = 0;
    for (int i = 0; i < n_groups; i++)
        for (int j = 0; j < p->groups[groups[i]].n_seqs; j++) seqs[k++] = p->groups[groups[i]].first_seq + j;
    return seqs;
}

/* The indices of all the groups of p. */
static int *every_group(const PreferenceSet *p, int *n) {
    int *groups = xmalloc(sizeof(int) * (size_t)LMF_MAX(p->n_groups, 1));
    for (int g = 0; g < p->n_groups; g++) groups[g] = g;
    *n = p->n_groups;
    return groups;
}

/* ---- lmforge rm: training ---- */

RmTrainOptions rm_train_defaults(void) {
    return (RmTrainOptions){.out = "runs/rm",
                        .schedule = "cosine",
                        .batch = 8,
                        .grad_accum = 1,
                        .pack = 1,
                        .epochs = 1,
                        .keep = 2,
                        .seed = 1,
                        .norm_max = 4096,
                        .eval_every = 50,
                        .warmup = -1,
                        .lr = 1e-4f,
                        .min_lr_ratio = 0.1f,
                        .clip = 1.0f,
                        .eval_fraction = 0.05f};
}

static RmTrainOptions parse_train_options(int argc, char **argv) {
    RmTrainOptions o = rm_train_defaults();
    int resume_override = 0; /* read back by --resume through the settings (train/run_dir.h) */
    Option opts[] = {
        OPT_STR("init", &o.init, "the SFT model to start from, or a reward model to train further (required)"),
        OPT_STR("out", &o.out, "run directory: checkpoints, metrics.jsonl, loss.svg, model/"),
        OPT_STR("tokenizer", &o.tokenizer, "tokenizer.json or a folder holding one (default: the --init model's)"),
        OPT_LIST("data", &o.data_files, "preference data: pairs and rankings, JSONL (required)"),
        OPT_LIST("eval", &o.eval_files, "held-out preference data (default: --eval-fraction of the prompts)"),
        OPT_FLOAT("eval-fraction", &o.eval_fraction, "share of the prompts held out when no --eval is given"),
        OPT_FLOAT("margin", &o.margin, "margin m in -log sigmoid(r_w - r_l - m) for records without a \"margin\""),
        OPT_INT("batch", &o.batch, "prompts per micro-batch (each with all its responses)"),
        OPT_INT("grad-accum", &o.grad_accum, "micro-batches per optimizer step"),
        OPT_INT("max-len", &o.max_len,
                "tokens per sequence, prompt + response; longer ones lose the start of their "
                "prompt (0: the model's context)"),
        OPT_FLAG("pack", &o.pack, "pack several sequences into each row (--no-pack: one per row, padded)"),
        OPT_INT("epochs", &o.epochs, "passes over the training prompts"),
        OPT_LONG("steps", &o.steps, "stop after this many optimizer steps (0: when the epochs end)"),
        OPT_FLOAT("lr", &o.lr, "peak learning rate"),
        OPT_STR("schedule", &o.schedule, "learning-rate schedule: constant, cosine or linear"),
        OPT_LONG("warmup", &o.warmup, "warm-up steps (-1: 5% of the steps)"),
        OPT_FLOAT("min-lr-ratio", &o.min_lr_ratio, "the decay ends at lr * this"),
        OPT_FLOAT("weight-decay", &o.weight_decay, "AdamW weight decay (matrices only)"),
        OPT_FLOAT("clip", &o.clip, "clip the gradient norm to this (0: off)"),
        OPT_LONG("eval-every", &o.eval_every, "evaluate every N steps (and at the end)"),
        OPT_LONG("save-every", &o.save_every, "checkpoint every N steps (0: only at the end)"),
        OPT_INT("keep", &o.keep, "checkpoints kept"),
        OPT_LIST("norm-data", &o.norm_files,
                 "reference responses for the reward mean and deviation: {\"prompt\", "
                 "\"response\"|\"completion\"|\"responses\"} or {\"messages\"} "
                 "(default: the training responses)"),
        OPT_INT("norm-max", &o.norm_max, "reference responses scored at most (evenly spaced; 0: all)"),
        OPT_INT("seed", &o.seed, "seed of the score head's initialisation, the split and the data order"),
        OPT_FLAG("resume", &o.resume, "continue the run in --out from its newest checkpoint"),
        OPT_FLAG("resume-override", &resume_override, "--resume even with settings other than the run's"),
        OPT_END};
    char **positional;
    int n_positional =
        args_parse("rm", "",
                   "Train a reward model on preference data: {\"prompt\",\"chosen\",\"rejected\"} pairs and "
                   "{\"prompt\",\"responses\",\"ranking\"} rankings (best first; [0,[2,3],1] ties 2 and 3). "
                   "Also: lmforge rm score MODEL FILE, lmforge rm eval MODEL FILE (see their --help).",
                   opts, argc, argv, &positional);
    if (n_positional) die("rm: unexpected argument %s (data files go after --data)", positional[0]);
    free(positional);
    if (o.data_files.n < 1) die("rm: --data is required (see lmforge rm --help)");
    if (!o.init) die("rm: --init is required: the SFT model to start from, or a reward model to train further");
    if (o.eval_fraction < 0 || o.eval_fraction >= 1) die("rm: --eval-fraction must be in [0, 1)");
    return o;
}

static TrainConfig train_config(const RmTrainOptions *o, long steps, const Tokenizer *tok) {
    TrainConfig tc = train_config_defaults();
    tc.stage = "rm";
    tc.run_dir = o->out;
    tc.max_steps = steps;
    tc.grad_accum = o->grad_accum;
    tc.optim.lr = o->lr;
    tc.optim.weight_decay = o->weight_decay;
    tc.optim.grad_clip = o->clip;
    tc.schedule =
        (Schedule){schedule_parse(o->schedule), o->warmup >= 0 ? o->warmup : steps / 20, steps, o->min_lr_ratio};
    tc.eval_every = o->eval_every;
    tc.save_every = o->save_every;
    tc.keep_checkpoints = o->keep;
    tc.resume = o->resume;
    tc.tokenizer = tok;
    tc.nested = o->nested;
    return tc;
}

void rm_train(const RmTrainOptions *options) {
    const RmTrainOptions o = *options;
    ModelDir start = model_dir_load(o.init);
    Model *m = reward_model_from(&start, o.init, o.seed);
    Tokenizer *own_tok = o.tokenizer ? tokenizer_load(o.tokenizer) : NULL;
    const Tokenizer *tok = own_tok ? own_tok : start.tokenizer;
    if (!tok) die("rm: %s has no tokenizer; pass --tokenizer", o.init);
    int max_len = o.max_len ? o.max_len : m->cfg.max_seq_len;
    if (max_len < 2 || max_len > m->cfg.max_seq_len)
        die("rm: --max-len %d must be between 2 and the model's context %d", max_len, m->cfg.max_seq_len);

    /* the comparisons, and the prompts held out to measure accuracy on */
    PreferenceSet *data = preference_set_load(o.data_files.items, o.data_files.n, tok, max_len, o.margin);
    PreferenceSet *heldout = data;
    int *train_groups, *eval_groups, n_train, n_eval;
    if (o.eval_files.n) {
        heldout = preference_set_load(o.eval_files.items, o.eval_files.n, tok, max_len, o.margin);
        train_groups = every_group(data, &n_train);
        eval_groups = every_group(heldout, &n_eval);
    } else {
        preference_set_split(data, o.eval_fraction, (uint64_t)o.seed, &train_groups, &n_train, &eval_groups, &n_eval);
    }
    if (n_train == 0) die("rm: every prompt was held out; lower --eval-fraction");
    if (n_eval == 0) warn("rm: no held-out prompts: accuracy is not measured (pass --eval or raise --eval-fraction)");

    RmTrainData td = {data,    train_groups, n_train, heldout,  eval_groups,     n_eval,
                      o.batch, max_len,      o.pack,  o.epochs, (uint64_t)o.seed};
    RmObjective *objective = rm_objective_new(&td);
    long steps = rm_objective_steps(objective, o.grad_accum);
    if (o.steps > 0 && o.steps < steps) steps = o.steps;
    info("model: %.2fM parameters (C %d, L %d, V %d), score head read at the last token", m->n_params / 1e6, m->cfg.dim,
         m->cfg.n_layers, m->cfg.vocab_size);
    info("data: %d training prompts, %d held out; %d prompts per step; %ld steps", n_train, n_eval,
         o.batch * o.grad_accum, steps);

    Objective obj = rm_objective(objective);
    TrainConfig tc = train_config(&o, steps, tok);
    TrainResult r = trainer_run(m, &obj, &tc);
    if (n_eval)
        info("reward model: %ld steps, held-out pairwise accuracy %.4f, reward margin %.4f", r.steps,
             stats_mean(&r.last_eval, "eval/accuracy"), stats_mean(&r.last_eval, "eval/margin"));

    /* the reward scale PPO centres by: over --norm-data, or the training responses */
    double mean, std;
    if (o.norm_files.n) {
        SeqSet *ref = response_set_load(o.norm_files.items, o.norm_files.n, tok, max_len);
        reward_statistics(m, ref, NULL, ref->n, o.norm_max, &mean, &std);
        seq_set_free(ref);
        free(ref);
    } else {
        int n_seqs, *seqs = responses_of(data, train_groups, n_train, &n_seqs);
        reward_statistics(m, &data->seqs, seqs, n_seqs, o.norm_max, &mean, &std);
        free(seqs);
    }
    char *model_dir = path_join(o.out, "model");
    model_dir_save(model_dir, m, tok, mean, std);
    info("reward model with its reward statistics written to %s", model_dir);

    free(model_dir);
    rm_objective_free(objective);
    free(train_groups);
    free(eval_groups);
    if (heldout != data) preference_set_free(heldout);
    preference_set_free(data);
    if (own_tok) tokenizer_free(own_tok);
    model_free(m);
    model_dir_free(&start);
}

static int cmd_rm_train(int argc, char **argv) {
    RmTrainOptions o = parse_train_options(argc, argv);
    rm_train(&o);
    free(o.data_files.items);
    free(o.eval_files.items);
    free(o.norm_files.items);
    return 0;
}

/* ---- lmforge rm score ---- */

/* Scores one chunk of records and writes them out with their scores. */
static void score_records(Model *m, const Tokenizer *tok, cJSON **records, ResponseRecord *parsed, int n, int normalize,
                          double mean, double std, JsonlWriter *w, double *sum, long *count) {
    int n_prompts = n, n_seqs = 0;
    for (int i = 0; i < n; i++) n_seqs += parsed[i].n;
    Conversation *prompts = xmalloc(sizeof(Conversation) * (size_t)n_prompts);
    int *prompt_of = xmalloc(sizeof(int) * (size_t)n_seqs);
    const char **responses = xmalloc(sizeof(char *) * (size_t)n_seqs);
    for (int i = 0, s = 0; i < n; i++) {
        prompts[i] = parsed[i].prompt;
        for (int k = 0; k < parsed[i].n; k++, s++) {
            prompt_of[s] = i;
            responses[s] = parsed[i].responses[k];
        }
    }
    SeqSet seqs = {0};
    seq_set_add_exchanges(&seqs, tok, prompts, prompt_of, responses, n_seqs, m->cfg.max_seq_len);
    SeqRef *refs = xmalloc(sizeof(SeqRef) * (size_t)n_seqs);
    float *scores = xmalloc(sizeof(float) * (size_t)n_seqs);
    for (int s = 0; s < n_seqs; s++) refs[s] = seq_set_get(&seqs, s);
    rm_score_sequences(m, refs, n_seqs, scores);
    for (int i = 0, s = 0; i < n; i++) {
        cJSON *list = parsed[i].is_list ? cJSON_AddArrayToObject(records[i], "scores") : NULL;
        for (int k = 0; k < parsed[i].n; k++, s++) {
            double v = normalize ? (scores[s] - mean) / std : scores[s];
            *sum += v;
            (*count)++;
            if (list)
                cJSON_AddItemToArray(list, cJSON_CreateNumber(v));
            else
                cJSON_AddNumberToObject(records[i], "score", v);
        }
        if (w)
            jsonl_write(w, records[i]);
        else
            jsonl_print(stdout, records[i]);
    }
    free(prompts);
    free(prompt_of);
    free(responses);
    free(refs);
    free(scores);
    seq_set_free(&seqs);
}

static int cmd_rm_score(int argc, char **argv) {
    const char *out = NULL;
    int normalize = 0, chunk = 256;
    Option opts[] = {
        OPT_STR("out", &out, "write the scored records here (default: standard output)"),
        OPT_FLAG("normalize", &normalize, "subtract the checkpoint's reward mean and divide by its deviation"),
        OPT_INT("batch", &chunk, "records read and scored together"), OPT_END};
    char **pos;
    int n_pos = args_parse("rm score", "MODEL FILE",
                           "Score responses with a reward model. FILE holds {\"prompt\",\"response\"} (or "
                           "\"completion\"), {\"prompt\",\"responses\":[...]} or {\"messages\"} lines; each is "
                           "written back with \"score\" (or \"scores\").",
                           opts, argc, argv, &pos);
    if (n_pos != 2) die("rm score: expected MODEL FILE (see lmforge rm score --help)");
    if (chunk < 1) die("rm score: --batch must be at least 1");
    ModelDir ck = load_reward_model(pos[0], "rm score");
    JsonlReader *r = jsonl_open(pos[1]);
    JsonlWriter *w = out ? jsonl_writer_open(out) : NULL;
    cJSON **records = xmalloc(sizeof(cJSON *) * (size_t)chunk);
    ResponseRecord *parsed = xmalloc(sizeof(ResponseRecord) * (size_t)chunk);
    double sum = 0;
    long count = 0;
    JsonlRecord rec;
    for (int more = 1; more;) {
        int n = 0;
        while (n < chunk && (more = jsonl_next(r, &rec))) {
            /* a copy outlives the reader's next line, and gets the scores */
            records[n] = cJSON_Duplicate(rec.json, 1);
            JsonlRecord copy = {rec.path, rec.line, records[n]};
            response_record_parse(&copy, &parsed[n]);
            n++;
        }
        if (n)
            score_records(ck.model, ck.tokenizer, records, parsed, n, normalize, ck.reward_mean, ck.reward_std, w, &sum,
                          &count);
        for (int i = 0; i < n; i++) {
            response_record_free(&parsed[i]);
            cJSON_Delete(records[i]);
        }
    }
    jsonl_close(r);
    if (w) jsonl_writer_close(w);
    info("scored %ld responses; mean score %.4f%s", count, count ? sum / count : 0.0, normalize ? " (normalized)" : "");
    free(records);
    free(parsed);
    free(pos);
    model_dir_free(&ck);
    return 0;
}

/* ---- lmforge rm eval ---- */

static int cmd_rm_eval(int argc, char **argv) {
    int json = 0;
    Option opts[] = {OPT_FLAG("json", &json, "print one JSON object instead of a sentence"), OPT_END};
    char **pos;
    int n_pos = args_parse("rm eval", "MODEL FILE...",
                           "Pairwise accuracy and reward margin of a reward model on preference records "
                           "(pairs or rankings, as lmforge rm reads them).",
                           opts, argc, argv, &pos);
    if (n_pos < 2) die("rm eval: expected MODEL FILE... (see lmforge rm eval --help)");
    ModelDir ck = load_reward_model(pos[0], "rm eval");
    PreferenceSet *data =
        preference_set_load((const char *const *)pos + 1, n_pos - 1, ck.tokenizer, ck.model->cfg.max_seq_len, 0.0f);
    int n_all, *all = every_group(data, &n_all);
    RmEval e = rm_evaluate(ck.model, data, all, n_all);
    if (json)
        printf("{\"accuracy\": %.6f, \"margin\": %.6f, \"loss\": %.6f, \"pairs\": %ld, \"prompts\": %d}\n", e.accuracy,
               e.margin, e.loss, e.pairs, e.prompts);
    else
        printf("pairwise accuracy %.4f, reward margin %.4f, loss %.4f over %ld pairs of %d prompts\n", e.accuracy,
               e.margin, e.loss, e.pairs, e.prompts);
    free(all);
    preference_set_free(data);
    free(pos);
    model_dir_free(&ck);
    return 0;
}

int cmd_rm(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "score") == 0) return cmd_rm_score(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "eval") == 0) return cmd_rm_eval(argc - 1, argv + 1);
    return cmd_rm_train(argc, argv);
}
