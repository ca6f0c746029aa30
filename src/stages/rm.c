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
#include "../train/train_options.h"
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
    RmTrainOptions o = {.norm_max = 4096, .train = train_options_defaults()};
    o.train.out = "runs/rm";
    o.train.eval_every = 50;
    o.train.save_every = 0;
    return o;
}

static RmTrainOptions parse_train_options(int argc, char **argv) {
    RmTrainOptions o = rm_train_defaults();
    TrainOptions *t = &o.train;
    Option opts[] = {
        OPT_STR("init", &o.init, "the SFT model to start from, or a reward model to train further (required)"),
        OPT_STR("tokenizer", &o.tokenizer, "tokenizer.json or a folder holding one (default: the --init model's)"),
        TRAIN_DATA_OPTIONS(t, "preference data: pairs and rankings, JSONL (required)"),
        OPT_FLOAT("margin", &o.margin, "margin m in -log sigmoid(r_w - r_l - m) for records without a \"margin\""),
        TRAIN_OPTIONS(t, "prompts (each with all its responses)", "peak learning rate"),
        OPT_LIST("norm-data", &o.norm_files,
                 "reference responses for the reward mean and deviation: {\"prompt\", "
                 "\"response\"|\"completion\"|\"responses\"} or {\"messages\"} "
                 "(default: the training responses)"),
        OPT_INT("norm-max", &o.norm_max, "reference responses scored at most (evenly spaced; 0: all)"),
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
    if (t->data.n < 1) die("rm: --data is required (see lmforge rm --help)");
    if (!o.init) die("rm: --init is required: the SFT model to start from, or a reward model to train further");
    train_options_check(t, "rm");
    return o;
}

void rm_train(const RmTrainOptions *options) {
    const RmTrainOptions o = *options;
    const TrainOptions *t = &o.train;
    ModelDir start = model_dir_load(o.init);
    Model *m = reward_model_from(&start, o.init, t->seed);
    Tokenizer *own_tok = o.tokenizer ? tokenizer_load(o.tokenizer) : NULL;
    const Tokenizer *tok = own_tok ? own_tok : start.tokenizer;
    if (!tok) die("rm: %s has no tokenizer; pass --tokenizer", o.init);
    int max_len = t->seq_len ? t->seq_len : m->cfg.max_seq_len;
    if (max_len < 2 || max_len > m->cfg.max_seq_len)
        die("rm: --seq-len %d must be between 2 and the model's context %d", max_len, m->cfg.max_seq_len);

    /* the comparisons, and the prompts held out to measure accuracy on */
    PreferenceSet *data = preference_set_load(t->data.items, t->data.n, tok, max_len, o.margin);
    PreferenceSet *heldout = data;
    int *train_groups, *eval_groups, n_train, n_eval;
    if (t->eval.n) {
        heldout = preference_set_load(t->eval.items, t->eval.n, tok, max_len, o.margin);
        train_groups = every_group(data, &n_train);
        eval_groups = every_group(heldout, &n_eval);
    } else {
        preference_set_split(data, t->eval_fraction, (uint64_t)t->seed, &train_groups, &n_train, &eval_groups, &n_eval);
    }
    if (n_train == 0) die("rm: every prompt was held out; lower --eval-fraction");
    if (n_eval == 0) warn("rm: no held-out prompts: accuracy is not measured (pass --eval or raise --eval-fraction)");

    RmTrainData td = {data,     train_groups, n_train,    heldout,   eval_groups,     n_eval,
                      t->batch, max_len,      t->packing, t->epochs, (uint64_t)t->seed};
    RmObjective *objective = rm_objective_new(&td);
    long steps = rm_objective_steps(objective, t->grad_accum);
    if (t->steps > 0 && t->steps < steps) steps = t->steps;
    info("model: %.2fM parameters (C %d, L %d, V %d), score head read at the last token", m->n_params / 1e6, m->cfg.dim,
         m->cfg.n_layers, m->cfg.vocab_size);
    info("data: %d training prompts, %d held out; %d prompts per step; %ld steps", n_train, n_eval,
         t->batch * t->grad_accum, steps);

    Objective obj = rm_objective(objective);
    TrainConfig tc = train_options_config(t, "rm", steps);
    tc.tokenizer = tok;
    tc.nested = o.nested;
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
    char *model_dir = path_join(t->out, "model");
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
    free(o.train.data.items);
    free(o.train.eval.items);
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
