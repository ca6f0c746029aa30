/* test_dpo.c — DPO: the losses against PyTorch (tests/ref/dpo_ref.py) and
 * finite differences, the answer log-prob sums against a token-by-token
 * reference, the pair data and its errors, a reference of another kind, and
 * `lmforge dpo` learning a known preference and resuming exactly. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/json_util.h"
#include "../src/base/metrics.h"
#include "../src/base/util.h"
#include "../src/data/chat_data.h"
#include "../src/data/preference_pairs.h"
#include "../src/io/model_dir.h"
#include "../src/io/safetensors.h"
#include "../src/kernels/kernels.h"
#include "../src/train/dpo_loss.h"
#include "test.h"
#include "test_pretrain_fixtures.h"

/* ---- fixtures ---- */

static const char *FRUITS[] = {"apple", "pear", "plum", "grape", "mango", "peach", "lemon", "melon"};
static const char *TOOLS[] = {"hammer", "wrench", "drill", "saw", "chisel", "pliers", "spanner", "clamp"};
static const char *ASKS[] = {"Name a fruit.", "Say a fruit name.", "Which fruit do you like?", "Give me a fruit."};

static void write_text(const char *path, const char *text) { write_bytes(path, text, strlen(text)); }

/* A small BPE tokenizer trained on sentences about fruits and tools. */
static Tokenizer *tiny_tokenizer(const char *dir, int variant) {
    char *path = path_join(dir, variant ? "corpus_b.txt" : "corpus_a.txt");
    FILE *f = xfopen(path, "w");
    for (int i = 0; i < 200; i++)
        fprintf(f, variant ? "%s %s %s\n\n" : "%s %s or %s.\n\n", ASKS[i % 4], FRUITS[i % 8], TOOLS[(i * 3) % 8]);
    fclose(f);
    BpeTrainOptions o = {.vocab_size = 300, .min_frequency = 2};
    const char *files[] = {path};
    Tokenizer *t = fixture_train_tokenizer(files, 1, &o);
    free(path);
    return t;
}

static ModelConfig tiny_config(int vocab, int dim) {
    ModelConfig c = config_default(vocab, dim, 2, 2);
    c.max_seq_len = 64;
    return c;
}

/* Writes a randomly initialised model with tokenizer t to DIR/NAME; returns the path. */
static char *save_tiny_model(const char *dir, const char *name, const Tokenizer *t, int dim, uint64_t seed) {
    ModelConfig c = tiny_config(tokenizer_vocab_size(t), dim);
    Model *m = model_new(&c);
    model_init_random(m, seed);
    char *path = path_join(dir, name);
    model_dir_save(path, m, t, 0.0, 1.0);
    model_free(m);
    return path;
}

/* Writes n pairs following the known rule "a fruit beats a tool" (or, with
 * reversed, "a tool beats a fruit") as JSONL. */
static void write_fruit_pairs(const char *path, int n, int offset, int reversed) {
    FILE *f = xfopen(path, "w");
    for (int i = 0; i < n; i++) {
        int k = i + offset;
        const char *fruit = FRUITS[(k * 5 + k / 8) % 8], *tool = TOOLS[(k * 3 + k / 4) % 8];
        fprintf(f, "{\"prompt\":\"%s\",\"chosen\":\"%s\",\"rejected\":\"%s\"}\n", ASKS[k % 4],
                reversed ? tool : fruit, reversed ? fruit : tool);
    }
    fclose(f);
}

/* ---- the losses ---- */

static const DpoPairLogps FIXED_PAIRS[] = {
    {-12.5, -14.0, -13.0, -13.5, 5},  {-30.25, -9.5, -28.0, -11.0, 12}, {-3.0, -3.0, -3.0, -3.0, 1},
    {-80.0, -20.0, -40.0, -60.0, 20}, {-5.5, -50.0, -6.0, -45.0, 2},     {-1.0, -2.0, -1.5, -1.25, 3},
};

static const DpoLossConfig FIXED_CONFIGS[] = {
    {DPO_LOSS_SIGMOID, 0.1, 0.0, 0.0}, /* DPO */
    {DPO_LOSS_SIGMOID, 0.5, 0.2, 0.0}, /* conservative DPO */
    {DPO_LOSS_IPO, 0.1, 0.0, 0.0},     /* IPO */
    {DPO_LOSS_IPO, 1.0, 0.0, 0.0},
    {DPO_LOSS_SIGMOID, 0.1, 0.0, 0.2}, /* DPO + NLL on the chosen answer (Llama 3.1) */
};

TEST(dpo_losses_and_gradients_match_pytorch) {
    if (!have_torch()) SKIP("python3-torch is not installed (apt-get install python3-torch)");
    int n_pairs = (int)LMF_ARRAY_LEN(FIXED_PAIRS), n_cfg = (int)LMF_ARRAY_LEN(FIXED_CONFIGS);
    cJSON *in = cJSON_CreateObject(), *cfgs = cJSON_AddArrayToObject(in, "configs"), *pairs = cJSON_AddArrayToObject(in, "pairs");
    for (int c = 0; c < n_cfg; c++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "loss", FIXED_CONFIGS[c].kind == DPO_LOSS_IPO ? "ipo" : "sigmoid");
        cJSON_AddNumberToObject(o, "beta", FIXED_CONFIGS[c].beta);
        cJSON_AddNumberToObject(o, "label_smoothing", FIXED_CONFIGS[c].label_smoothing);
        cJSON_AddNumberToObject(o, "nll_weight", FIXED_CONFIGS[c].nll_weight);
        cJSON_AddItemToArray(cfgs, o);
    }
    for (int i = 0; i < n_pairs; i++) {
        const DpoPairLogps *p = &FIXED_PAIRS[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "chosen", p->chosen);
        cJSON_AddNumberToObject(o, "rejected", p->rejected);
        cJSON_AddNumberToObject(o, "ref_chosen", p->ref_chosen);
        cJSON_AddNumberToObject(o, "ref_rejected", p->ref_rejected);
        cJSON_AddNumberToObject(o, "chosen_tokens", p->chosen_tokens);
        cJSON_AddItemToArray(pairs, o);
    }
    char *dir = test_tmpdir("dpo-ref"), *in_path = path_join(dir, "in.json"), *out_path = path_join(dir, "out.json");
    json_write_file(in_path, in);
    cJSON_Delete(in);
    if (test_system("/usr/bin/python3 tests/ref/dpo_ref.py %s", dir) != 0) {
        test_fail(__FILE__, __LINE__, "the PyTorch reference failed");
        return;
    }
    cJSON *out = json_read_file(out_path);
    for (int c = 0; c < n_cfg; c++)
        for (int i = 0; i < n_pairs; i++) {
            const cJSON *ref = cJSON_GetArrayItem(cJSON_GetArrayItem(out, c), i);
            DpoPairLoss got = dpo_pair_loss(&FIXED_CONFIGS[c], &FIXED_PAIRS[i]);
            const char *where = "out.json";
            CHECK_NEAR(got.loss, json_get_double(ref, "loss", where), 1e-9 * (1 + fabs(got.loss)));
            CHECK_NEAR(got.dchosen, json_get_double(ref, "dchosen", where), 1e-9);
            CHECK_NEAR(got.drejected, json_get_double(ref, "drejected", where), 1e-9);
            CHECK_NEAR(got.reward_chosen, json_get_double(ref, "reward_chosen", where), 1e-9);
            CHECK_NEAR(got.reward_rejected, json_get_double(ref, "reward_rejected", where), 1e-9);
        }
    cJSON_Delete(out);
    test_system("rm -rf '%s'", dir);
    free(in_path);
    free(out_path);
    free(dir);
}

TEST(dpo_loss_is_log2_when_the_policy_is_the_reference) {
    const DpoLossConfig sigmoid = {DPO_LOSS_SIGMOID, 0.1, 0.0, 0.0}, conservative = {DPO_LOSS_SIGMOID, 0.3, 0.25, 0.0};
    for (size_t i = 0; i < LMF_ARRAY_LEN(FIXED_PAIRS); i++) {
        DpoPairLogps p = FIXED_PAIRS[i];
        p.ref_chosen = p.chosen;
        p.ref_rejected = p.rejected;
        DpoPairLoss a = dpo_pair_loss(&sigmoid, &p), b = dpo_pair_loss(&conservative, &p);
        CHECK_NEAR(a.loss, log(2.0), 1e-12);
        CHECK_NEAR(b.loss, log(2.0), 1e-12);
        CHECK(a.reward_chosen == 0 && a.reward_rejected == 0);
        /* −log σ(βh) at h = 0 pulls with β/2: the chosen answer up, the rejected one down */
        CHECK_NEAR(a.dchosen, -0.05, 1e-12);
        CHECK_NEAR(a.drejected, 0.05, 1e-12);
        /* conservative DPO: (1 − 2ε) β/2 */
        CHECK_NEAR(b.dchosen, -(1 - 2 * 0.25) * 0.3 / 2, 1e-12);
    }
}

TEST(dpo_gradients_match_finite_differences) {
    const double h = 1e-5;
    for (size_t c = 0; c < LMF_ARRAY_LEN(FIXED_CONFIGS); c++)
        for (size_t i = 0; i < LMF_ARRAY_LEN(FIXED_PAIRS); i++) {
            DpoPairLogps up = FIXED_PAIRS[i], down = FIXED_PAIRS[i];
            DpoPairLoss at = dpo_pair_loss(&FIXED_CONFIGS[c], &FIXED_PAIRS[i]);
            up.chosen += h;
            down.chosen -= h;
            double d = (dpo_pair_loss(&FIXED_CONFIGS[c], &up).loss - dpo_pair_loss(&FIXED_CONFIGS[c], &down).loss) / (2 * h);
            CHECK_NEAR(at.dchosen, d, 1e-6 * (1 + fabs(d)));
            up = down = FIXED_PAIRS[i];
            up.rejected += h;
            down.rejected -= h;
            d = (dpo_pair_loss(&FIXED_CONFIGS[c], &up).loss - dpo_pair_loss(&FIXED_CONFIGS[c], &down).loss) / (2 * h);
            CHECK_NEAR(at.drejected, d, 1e-6 * (1 + fabs(d)));
        }
}

TEST(dpo_loss_is_finite_for_extreme_margins) {
    const DpoLossConfig c = {DPO_LOSS_SIGMOID, 0.5, 0.1, 0.0};
    DpoPairLogps far_right = {0, -5000, -5000, 0, 1}, far_wrong = {-5000, 0, 0, -5000, 1};
    DpoPairLoss a = dpo_pair_loss(&c, &far_right), b = dpo_pair_loss(&c, &far_wrong);
    CHECK(isfinite(a.loss) && isfinite(a.dchosen) && isfinite(b.loss) && isfinite(b.dchosen));
    CHECK_NEAR(b.loss, 0.9 * 0.5 * 10000, 1e-6); /* −log σ(−x) → x */
}

TEST(dpo_loss_config_errors) {
    DpoLossConfig c = dpo_loss_defaults();
    CHECK(dpo_loss_check(&c) == NULL);
    c.beta = 0;
    CHECK(dpo_loss_check(&c) != NULL);
    c = dpo_loss_defaults();
    c.kind = DPO_LOSS_IPO;
    c.label_smoothing = 0.1;
    CHECK(strstr(dpo_loss_check(&c), "sigmoid") != NULL);
    c = dpo_loss_defaults();
    c.label_smoothing = 0.5;
    CHECK(dpo_loss_check(&c) != NULL);
}

/* ---- answer log-probs ---- */

/* log p(ids[j] | ids[0..j)) from a forward pass over the prefix alone, in double. */
static double next_token_logp(Model *m, const int *ids, int j) {
    model_forward(m, ids, NULL, 1, j, 0);
    int V = m->cfg.vocab_size;
    const float *z = m->act.out + (size_t)(j - 1) * V;
    double max = z[0], sum = 0;
    for (int v = 1; v < V; v++) max = z[v] > max ? z[v] : max;
    for (int v = 0; v < V; v++) sum += exp(z[v] - max);
    return z[ids[j]] - max - log(sum);
}

TEST(dpo_answer_logp_sum_matches_token_by_token_reference) {
    char *dir = test_tmpdir("dpo-logp");
    Tokenizer *t = tiny_tokenizer(dir, 0);
    ModelConfig c = tiny_config(tokenizer_vocab_size(t), 32);
    Model *m = model_new(&c);
    model_init_random(m, 7);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] *= 4.0f; /* sharper distributions than at init */
    char *pairs_path = path_join(dir, "pairs.jsonl");
    write_text(pairs_path,
               "{\"prompt\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Name a "
               "fruit.\"}],\"chosen\":\"A ripe pear.\",\"rejected\":[{\"role\":\"assistant\",\"content\":\"hammer\"}]}\n"
               "{\"prompt\":\"Give me a fruit.\",\"chosen\":\"plum\",\"rejected\":\"a saw or a drill\"}\n");
    PrefPairs set = pref_pairs_load((const char *[]){pairs_path}, 1, t, 64);
    CHECK_EQ_INT(set.n, 2);

    /* the marked tokens are exactly the answer and its <|im_end|> */
    const PrefPair *first = &set.pairs[0];
    IntVec marked = {0};
    for (int i = 0; i < first->ids[CHOSEN].len; i++)
        if (first->mask[CHOSEN].data[i]) intvec_push(&marked, first->ids[CHOSEN].data[i]);
    char *text = tokenizer_decode(t, marked.data, marked.len, NULL);
    CHECK_MSG(strcmp(text, "A ripe pear.<|im_end|>") == 0, "marked tokens decode to \"%s\"", text);
    CHECK_EQ_INT(first->answer_tokens[CHOSEN], marked.len);
    free(text);
    intvec_free(&marked);

    /* token by token: each answer token scored from its prefix alone */
    double expected[4];
    for (int p = 0; p < 2; p++)
        for (int k = 0; k < 2; k++) {
            const IntVec *ids = &set.pairs[p].ids[k], *mask = &set.pairs[p].mask[k];
            double sum = 0;
            for (int j = 1; j < ids->len; j++)
                if (mask->data[j]) sum += next_token_logp(m, ids->data, j);
            expected[2 * p + k] = sum;
        }

    /* the same pairs in one packed micro-batch, one padded, and one pair at a
     * time, each after a larger batch (whose buffers the model reuses) */
    int idx[2] = {0, 1}, *big = xcalloc(4 * 64, sizeof(int));
    for (int layout = 0; layout < 3; layout++) {
        Batch b = {0};
        SeqPlace places[4];
        double sums[4];
        for (int part = 0; part < (layout == 2 ? 2 : 1); part++) {
            int n = layout == 2 ? 1 : 2;
            model_forward(m, big, NULL, 4, 64, 0);
            pref_pairs_pack(&set, idx + part, n, 64, layout == 0, tokenizer_eos_id(t), &b, places + 2 * part);
            CHECK(b.weight == n);
            model_forward(m, b.tokens, b.doc_start, b.B, b.T, 0);
            int N = b.B * b.T;
            float *logp = xalloc_floats((size_t)N), *lse = xalloc_floats((size_t)N);
            logprob_forward(m->act.out, b.targets, N, c.vocab_size, 1.0f, logp, lse, NULL);
            sequence_logp_sums(logp, b.T, places + 2 * part, 2 * n, sums + 2 * part);
            free(logp);
            free(lse);
        }
        for (int s = 0; s < 4; s++)
            CHECK_MSG(fabs(sums[s] - expected[s]) < 1e-4, "layout %d, sequence %d: %.7f vs token by token %.7f",
                      layout, s, sums[s], expected[s]);
        batch_free(&b);
    }
    CHECK(expected[0] < -1); /* the model is not trivially certain */
    free(big);

    pref_pairs_free(&set);
    model_free(m);
    tokenizer_free(t);
    test_system("rm -rf '%s'", dir);
    free(pairs_path);
    free(dir);
}

/* ---- data ---- */

TEST(dpo_pairs_read_every_format_and_truncate_prompts_alike) {
    char *dir = test_tmpdir("dpo-data");
    Tokenizer *t = tiny_tokenizer(dir, 0);
    char *path = path_join(dir, "pairs.jsonl");
    write_text(path, "{\"prompt\":\"Name a fruit.\",\"chosen\":\"pear\",\"rejected\":\"saw\"}\n"
                     "\n"
                     "{\"prompt\":[{\"role\":\"user\",\"content\":\"Name a fruit.\"}],"
                     "\"chosen\":[{\"role\":\"assistant\",\"content\":\"pear\"}],\"rejected\":\"saw\"}\n");
    PrefPairs set = pref_pairs_load((const char *[]){path}, 1, t, 64);
    CHECK_EQ_INT(set.n, 2);
    /* a string prompt is one user message: both lines give the same tokens */
    for (int k = 0; k < 2; k++) {
        CHECK_EQ_INT(set.pairs[0].ids[k].len, set.pairs[1].ids[k].len);
        CHECK(memcmp(set.pairs[0].ids[k].data, set.pairs[1].ids[k].data, sizeof(int) * (size_t)set.pairs[0].ids[k].len) == 0);
    }
    int full_len = set.pairs[0].ids[CHOSEN].len, answer = set.pairs[0].answer_tokens[CHOSEN];
    pref_pairs_free(&set);

    /* the length policy: both sequences lose the same prompt tokens, the answers stay whole */
    int max_len = full_len - 3;
    lmf_quiet = 1; /* it reports the shortened prompts */
    set = pref_pairs_load((const char *[]){path}, 1, t, max_len);
    lmf_quiet = 0;
    CHECK_EQ_INT(set.lengths.truncated, 2);
    CHECK_EQ_INT(set.lengths.answer_cut, 0);
    const PrefPair *p = &set.pairs[0];
    CHECK_EQ_INT(p->ids[CHOSEN].len, max_len);
    CHECK_EQ_INT(p->answer_tokens[CHOSEN], answer);
    int marked = 0;
    for (int i = 0; i < p->ids[CHOSEN].len; i++) marked += p->mask[CHOSEN].data[i];
    CHECK_EQ_INT(marked, answer);
    CHECK_EQ_INT(p->ids[CHOSEN].len - p->answer_tokens[CHOSEN], p->ids[REJECTED].len - p->answer_tokens[REJECTED]);
    pref_pairs_free(&set);

    /* ...then, when the prompt is down to one token, the answer loses its end */
    lmf_quiet = 1;
    set = pref_pairs_load((const char *[]){path}, 1, t, 3);
    lmf_quiet = 0;
    CHECK_EQ_INT(set.lengths.answer_cut, 2);
    CHECK_EQ_INT(set.pairs[0].ids[CHOSEN].len, 3);
    CHECK_EQ_INT(set.pairs[0].mask[CHOSEN].data[0], 0); /* one prompt token stays, to predict the answer */
    CHECK_EQ_INT(set.pairs[0].answer_tokens[CHOSEN], 2);
    pref_pairs_free(&set);

    /* splitting off held-out pairs keeps every pair exactly once */
    char *many = path_join(dir, "many.jsonl");
    write_fruit_pairs(many, 40, 0, 0);
    PrefPairs all = pref_pairs_load((const char *[]){many}, 1, t, 64);
    uint64_t before = pref_pairs_fingerprint(&all);
    PrefPairs held = pref_pairs_split(&all, 0.25, 3);
    CHECK_EQ_INT(held.n, 10);
    CHECK_EQ_INT(all.n, 30);
    CHECK(pref_pairs_fingerprint(&all) != before);
    pref_pairs_free(&all);
    pref_pairs_free(&held);

    tokenizer_free(t);
    test_system("rm -rf '%s'", dir);
    free(many);
    free(path);
    free(dir);
}

typedef struct {
    const char *dir, *line;
    const Tokenizer *t; /* built before the fork: OpenMP does not survive fork() in a child */
    int max_len;
} BadPairs;

static void load_bad_pairs(void *ctx) {
    const BadPairs *b = ctx;
    char *path = path_join(b->dir, "bad.jsonl");
    char *text = xsprintf("{\"prompt\":\"Name a fruit.\",\"chosen\":\"pear\",\"rejected\":\"saw\"}\n%s\n", b->line);
    write_text(path, text);
    pref_pairs_load((const char *[]){path}, 1, b->t, b->max_len);
}

TEST(dpo_bad_pairs_die_with_file_line_and_field) {
    char *dir = test_tmpdir("dpo-bad");
    Tokenizer *t = tiny_tokenizer(dir, 0);
    static const struct {
        const char *line, *expected;
        int max_len;
    } cases[] = {
        {"{\"prompt\":\"Name a fruit.\",\"chosen\":\"\",\"rejected\":\"saw\"}", "bad.jsonl:2: field \"chosen\" is an empty answer", 64},
        {"{\"prompt\":\"Name a fruit.\",\"chosen\":\"pear\",\"rejected\":\"  \"}", "bad.jsonl:2: field \"rejected\" is an empty answer", 64},
        {"{\"prompt\":\"Name a fruit.\",\"rejected\":\"saw\"}", "bad.jsonl:2: field \"chosen\" is missing", 64},
        {"{\"prompt\":\"Name a fruit.\",\"chosen\":3,\"rejected\":\"saw\"}", "bad.jsonl:2: field \"chosen\" must be a string", 64},
        {"{\"prompt\":\"Hi\",\"chosen\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"pear\"}],"
         "\"rejected\":\"saw\"}", "field \"chosen\" must be a string or a list holding one", 64},
        {"{\"chosen\":\"pear\",\"rejected\":\"saw\"}", "bad.jsonl:2: field \"prompt\" is missing", 64},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++) {
        BadPairs b = {dir, cases[i].line, t, cases[i].max_len};
        CHECK_DIES(load_bad_pairs, &b, cases[i].expected);
    }
    tokenizer_free(t);
    test_system("rm -rf '%s'", dir);
    free(dir);
}

/* ---- the reference ---- */

/* Runs lmforge dpo with --ref; checks that it fails with `expected` on stderr. */
static int dpo_refused(const char *dir, const char *policy, const char *ref, const char *data, const char *expected) {
    return test_system("%s dpo --init '%s' --ref '%s' --data '%s' --out '%s/run' --steps 1 > /dev/null 2> '%s/err'; "
                       "test $? -eq 1 && grep -q '%s' '%s/err'",
                       lmforge_bin(), policy, ref, data, dir, dir, expected, dir) == 0;
}

TEST(dpo_reference_of_another_architecture_or_tokenizer_dies) {
    char *dir = test_tmpdir("dpo-refcheck");
    Tokenizer *t = tiny_tokenizer(dir, 0), *other = tiny_tokenizer(dir, 1);
    CHECK_EQ_INT(tokenizer_vocab_size(t), tokenizer_vocab_size(other)); /* only the merges differ */
    char *policy = save_tiny_model(dir, "policy", t, 32, 1), *wider = save_tiny_model(dir, "wider", t, 48, 2);
    char *retokenized = save_tiny_model(dir, "retokenized", other, 32, 3);
    char *data = path_join(dir, "pairs.jsonl");
    write_fruit_pairs(data, 8, 0, 0);
    CHECK(dpo_refused(dir, policy, wider, data,
                      "lmforge: dpo: the reference .*wider has another architecture than the policy: hidden_size 48, "
                      "the policy.s 32"));
    CHECK(dpo_refused(dir, policy, retokenized, data, "has another tokenizer than the policy: token [0-9]* differs"));
    tokenizer_free(t);
    tokenizer_free(other);
    test_system("rm -rf '%s'", dir);
    free(policy);
    free(wider);
    free(retokenized);
    free(data);
    free(dir);
}

/* ---- training ---- */

/* The values of `key` in RUN/metrics.jsonl; returns how many. */
static int read_metric(const char *run, const char *key, double **values) {
    char *path = path_join(run, "metrics.jsonl");
    double *steps;
    int n = metrics_read_series(path, key, &steps, values);
    free(steps);
    free(path);
    return n;
}

typedef struct {
    int steps, evals;
    double first_loss, last_loss;
    double first_accuracy, last_accuracy, first_margin, last_margin; /* held out, after the first and last evaluation */
} LearnCurve;

/* Trains DIR/policy on `train` with DPO, evaluating on `heldout`. */
static LearnCurve train_and_read(const char *dir, const char *policy, const char *train, const char *heldout,
                                 const char *run_name) {
    LearnCurve c = {0};
    char *out = path_join(dir, run_name);
    CHECK(test_system("%s dpo --init '%s' --data '%s' --eval '%s' --out '%s' --lr 3e-3 --batch 16 --epochs 3 "
                      "--eval-every 3 > '%s.log' 2>&1",
                      lmforge_bin(), policy, train, heldout, out, out) == 0);
    double *acc, *margin, *loss;
    c.evals = read_metric(out, "eval/accuracy", &acc);
    c.steps = read_metric(out, "loss", &loss);
    if (read_metric(out, "eval/margin", &margin) == c.evals && c.evals > 0 && c.steps > 0) {
        c = (LearnCurve){c.steps, c.evals, loss[0], loss[c.steps - 1], acc[0], acc[c.evals - 1], margin[0],
                         margin[c.evals - 1]};
    }
    for (const char *f = "model/config.json\0loss.svg\0rewards.svg\0logps.svg\0ref_logps.safetensors\0"; *f;
         f += strlen(f) + 1) {
        char *p = path_join(out, f);
        CHECK_MSG(file_exists(p), "%s is missing", p);
        free(p);
    }
    free(acc);
    free(margin);
    free(loss);
    free(out);
    return c;
}

TEST_SLOW(dpo_learns_a_known_preference_and_generalises_to_heldout_pairs) {
    char *dir = test_tmpdir("dpo-learn");
    Tokenizer *t = tiny_tokenizer(dir, 0);
    char *policy = save_tiny_model(dir, "policy", t, 32, 11);
    char *rule = path_join(dir, "rule.jsonl"), *reversed = path_join(dir, "reversed.jsonl");
    char *heldout = path_join(dir, "heldout.jsonl");
    write_fruit_pairs(rule, 96, 0, 0);
    write_fruit_pairs(reversed, 96, 0, 1);
    write_fruit_pairs(heldout, 32, 1000, 0); /* other prompt / fruit / tool combinations, the rule's way round */

    /* Before training the policy is the reference: every implicit reward is
     * 0, so the held-out accuracy is 0 and the margin 0 (the first step's
     * loss is log 2). Training on the rule must make it prefer the held-out
     * chosen answers, training on the reversed rule the rejected ones. */
    LearnCurve c = train_and_read(dir, policy, rule, heldout, "rule");
    LearnCurve control = train_and_read(dir, policy, reversed, heldout, "reversed");
    printf("held out, trained on the rule: accuracy %.3f -> %.3f, margin %.4f -> %.4f (after step 3 and %d), "
           "loss %.4f -> %.4f; on the reversed rule: accuracy %.3f, margin %.4f\n",
           c.first_accuracy, c.last_accuracy, c.first_margin, c.last_margin, c.steps, c.first_loss, c.last_loss,
           control.last_accuracy, control.last_margin);
    CHECK_EQ_INT(c.steps, 18); /* 96 pairs x 3 epochs / 16 pairs a step */
    CHECK(c.evals >= 5);
    CHECK_NEAR(c.first_loss, log(2.0), 1e-5);
    CHECK(c.last_loss < 0.5);
    CHECK_MSG(c.last_accuracy >= 0.9, "held-out accuracy %.3f at the end", c.last_accuracy);
    CHECK_MSG(c.last_margin > 0.5 && c.last_margin > 2 * c.first_margin, "held-out margin %.4f -> %.4f",
              c.first_margin, c.last_margin);
    CHECK_MSG(control.last_accuracy <= 0.1 && control.last_margin < -0.5, "reversed rule: accuracy %.3f, margin %.4f",
              control.last_accuracy, control.last_margin);
    tokenizer_free(t);
    test_system("rm -rf '%s'", dir);
    free(policy);
    free(rule);
    free(reversed);
    free(heldout);
    free(dir);
}

TEST_SLOW(dpo_resume_reproduces_an_uninterrupted_run) {
    char *dir = test_tmpdir("dpo-resume");
    Tokenizer *t = tiny_tokenizer(dir, 0);
    char *policy = save_tiny_model(dir, "policy", t, 32, 5);
    char *data = path_join(dir, "pairs.jsonl");
    write_fruit_pairs(data, 40, 0, 0);
    const char *flags = "--lr 1e-3 --batch 4 --grad-accum 2 --steps 6 --save-every 3 --eval-every 3 --eval-fraction 0.2 "
                        "--nll-weight 0.2";
    CHECK(test_system("%s dpo --init '%s' --data '%s' --out '%s/a' %s > /dev/null", lmforge_bin(), policy, data, dir, flags) == 0);
    CHECK(test_system("%s dpo --init '%s' --data '%s' --out '%s/b' %s > /dev/null", lmforge_bin(), policy, data, dir, flags) == 0);
    /* b is "interrupted" after step 3: its last checkpoint and model go */
    CHECK(test_system("rm -rf '%s/b/checkpoint-6' '%s/b/model'", dir, dir) == 0);
    CHECK(test_system("%s dpo --init '%s' --data '%s' --out '%s/b' %s --resume > '%s/resume.log'", lmforge_bin(), policy,
                      data, dir, flags, dir) == 0);
    CHECK(test_system("grep -q 'reference log-probs read from' '%s/resume.log'", dir) == 0);
    CHECK_MSG(test_system("cmp -s '%s/a/model/model.safetensors' '%s/b/model/model.safetensors'", dir, dir) == 0,
              "the resumed run ends with other weights than the uninterrupted one");
    CHECK(test_system("cmp -s '%s/a/metrics.jsonl' '%s/b/metrics.jsonl'", dir, dir) == 0);
    tokenizer_free(t);
    test_system("rm -rf '%s'", dir);
    free(policy);
    free(data);
    free(dir);
}

/* Reference log-probs are computed only for the pairs a run visits: a run
 * of one step of 4 pairs scores 4 of the 32 training pairs (and the held-out
 * ones), keeps them in ref_logps.safetensors, and a resumed run reads them
 * back instead of scoring again. */
TEST(dpo_scores_only_the_pairs_the_run_visits_and_resume_reuses_them) {
    char *dir = test_tmpdir("dpo-lazy");
    Tokenizer *t = tiny_tokenizer(dir, 0);
    char *policy = save_tiny_model(dir, "policy", t, 32, 5);
    char *data = path_join(dir, "pairs.jsonl");
    write_fruit_pairs(data, 40, 0, 0);
    const char *flags = "--batch 4 --steps 2 --save-every 1 --eval-fraction 0.2";
    CHECK(test_system("%s dpo --init '%s' --data '%s' --out '%s/run' %s > '%s/first.log' 2>&1", lmforge_bin(),
                      policy, data, dir, flags, dir) == 0);
    CHECK(test_system("grep -q 'scoring 8 of 32 training pairs .* and 8 held-out pairs' '%s/first.log'", dir) == 0);
    char *cache = xsprintf("%s/run/ref_logps.safetensors", dir);
    SafeTensors *st = st_open(cache);
    const StTensor *ref = st_find(st, "ref_logps");
    CHECK(ref && st_numel(ref) == 2 * 40);
    if (ref && st_numel(ref) == 2 * 40) {
        float v[80];
        st_read_f32(ref, v, 80);
        int train_scored = 0, eval_scored = 0;
        for (int i = 0; i < 32; i++) train_scored += !isnan(v[2 * i]) && !isnan(v[2 * i + 1]);
        for (int i = 32; i < 40; i++) eval_scored += !isnan(v[2 * i]) && !isnan(v[2 * i + 1]) && v[2 * i] < 0;
        CHECK_EQ_INT(train_scored, 8);
        CHECK_EQ_INT(eval_scored, 8);
    }
    st_close(st);
    /* "killed" after step 1: the resumed run reads the scores back */
    CHECK(test_system("rm -rf '%s/run/checkpoint-2' '%s/run/model'", dir, dir) == 0);
    CHECK(test_system("%s dpo --init '%s' --data '%s' --out '%s/run' %s --resume > '%s/resume.log' 2>&1",
                      lmforge_bin(), policy, data, dir, flags, dir) == 0);
    CHECK(test_system("grep -q 'reference log-probs read from' '%s/resume.log'", dir) == 0);
    CHECK(test_system("grep -q 'scoring' '%s/resume.log'", dir) != 0);
    CHECK(test_system("test -s '%s/run/model/model.safetensors'", dir) == 0);
    tokenizer_free(t);
    test_system("rm -rf '%s'", dir);
    free(cache);
    free(policy);
    free(data);
    free(dir);
}
