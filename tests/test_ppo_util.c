/* test_ppo_util.c — see test_ppo_util.h. */
#include "test_ppo_util.h"

#include <stdlib.h>
#include <string.h>

#include "../src/base/metrics.h"
#include "../src/base/util.h"
#include "../src/data/chat_data.h"
#include "../src/data/packing.h"
#include "../src/io/model_dir.h"
#include "../src/train/lm_loss.h"
#include "../src/train/optimizer.h"
#include "test.h"
#include "test_pretrain_fixtures.h"

const char *const PPO_FRUITS[PPO_N_WORDS] = {"apple", "pear", "plum", "grape", "mango", "peach", "lemon", "melon"};
const char *const PPO_TOOLS[PPO_N_WORDS] = {"hammer", "wrench", "drill", "saw", "chisel", "pliers", "spanner", "clamp"};
const char *const PPO_ASKS[PPO_N_ASKS] = {"Name a fruit.", "Say a fruit name.", "Which fruit do you like?",
                                          "Give me a fruit."};

const Tokenizer *ppo_test_tokenizer(void) {
    static Tokenizer *tok;
    if (tok) return tok;
    /* one document holding every line (a .txt would be 200 documents: the
     * merges, and the fixtures' thresholds, were set on this one) */
    char *dir = test_tmpdir("ppotok"), *path = path_join(dir, "corpus.jsonl");
    FILE *f = xfopen(path, "w");
    fputs("{\"text\": \"", f);
    for (int i = 0; i < 200; i++)
        fprintf(f, "%s %s or %s.\\n\\n", PPO_ASKS[i % PPO_N_ASKS], PPO_FRUITS[i % PPO_N_WORDS],
                PPO_TOOLS[(i * 3) % PPO_N_WORDS]);
    fputs("\"}\n", f);
    fclose(f);
    BpeTrainOptions o = {.vocab_size = 300, .min_frequency = 2};
    const char *files[1] = {path};
    tok = fixture_train_tokenizer(files, 1, &o);
    test_system("rm -rf '%s'", dir);
    free(path);
    free(dir);
    return tok;
}

Model *ppo_test_random_model(HeadKind head, uint64_t seed, float sharpen) {
    ModelConfig c = config_default(tokenizer_vocab_size(ppo_test_tokenizer()), 32, 2, 4);
    c.max_seq_len = 64;
    c.head = head;
    Model *m = model_new(&c);
    model_init_random(m, seed);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] *= sharpen;
    return m;
}

/* Supervised fine-tuning on every exchange of an ask, with and without a
 * system message, answered with one of the first PPO_SFT_FRUITS fruits or
 * one of the tools; in two fixed halves (alternate asks) that take turns.
 * The loss covers the answer and its <|im_end|>, as in SFT. */
static Model *train_sft(void) {
    const Tokenizer *t = ppo_test_tokenizer();
    enum { WORDS = PPO_SFT_FRUITS + PPO_N_WORDS, N = PPO_N_ASKS * 2 * WORDS, HALF = N / 2 };
    IntVec ids[N] = {{0}}, masks[N] = {{0}};
    SeqRef halves[2][HALF];
    int n_half[2] = {0, 0};
    for (int i = 0; i < N; i++) {
        int ask = i / 2 % PPO_N_ASKS, with_system = i % 2, w = i / (2 * PPO_N_ASKS);
        ChatMessage chat[2] = {{"system", "Be brief."}, {"user", PPO_ASKS[ask]}};
        Conversation c = conversation_copy(chat + 1 - with_system, 1 + with_system);
        render_exchange(t, &c, w < PPO_SFT_FRUITS ? PPO_FRUITS[w] : PPO_TOOLS[w - PPO_SFT_FRUITS], &ids[i], &masks[i]);
        halves[ask % 2][n_half[ask % 2]++] = (SeqRef){ids[i].data, masks[i].data, ids[i].len};
        conversation_free(&c);
    }
    Batch batches[2] = {{0}};
    SeqPlace places[HALF];
    for (int h = 0; h < 2; h++)
        if (pack_sequences(&batches[h], halves[h], HALF, HALF, 64, 1, 0, places) != HALF)
            die("the SFT fixture does not fit one batch");
    Model *m = ppo_test_random_model(HEAD_LM, 3, 1.0f);
    model_alloc_grads(m);
    OptimConfig oc = optim_defaults();
    oc.weight_decay = 0;
    AdamW *opt = adamw_new(m->n_params, &oc);
    ParamSet ps = model_param_set(m);
    for (int step = 0; step < 160; step++) {
        const Batch *b = &batches[step % 2];
        model_zero_grads(m);
        model_forward(m, b->tokens, b->doc_start, b->B, b->T, 1);
        long counted;
        lm_loss_sum_and_grad(m, b->targets, b->weight, &counted);
        model_backward(m);
        adamw_step(opt, &ps, 1e-2f);
    }
    for (int h = 0; h < 2; h++) batch_free(&batches[h]);
    adamw_free(opt);
    for (int i = 0; i < N; i++) {
        intvec_free(&ids[i]);
        intvec_free(&masks[i]);
    }
    return m;
}

char *ppo_test_write_sft(const char *dir, const char *name) {
    static Model *sft;
    if (!sft) sft = train_sft();
    char *path = path_join(dir, name);
    model_dir_save(path, sft, ppo_test_tokenizer(), 0, 1);
    return path;
}

static ModelDir train_reward_model(void) {
    char *dir = test_tmpdir("ppo-rm"), *sft = ppo_test_write_sft(dir, "sft"), *pairs = path_join(dir, "pairs.jsonl");
    FILE *f = xfopen(pairs, "w");
    for (int a = 0; a < PPO_N_ASKS; a++)
        for (int i = 0; i < PPO_N_WORDS; i++)
            for (int j = 0; j < PPO_N_WORDS; j++)
                fprintf(f, "{\"prompt\":\"%s\",\"chosen\":\"%s\",\"rejected\":\"%s\"}\n", PPO_ASKS[a], PPO_FRUITS[i],
                        PPO_TOOLS[(i + j) % PPO_N_WORDS]);
    fclose(f);
    int rc = test_system(FIXTURE_ENV " %s rm --init '%s' --out '%s/rm' --epochs 40 --batch 2 --lr 1e-2 "
                         "--eval-fraction 0 --data '%s' > '%s/rm.log' 2>&1",
                         lmforge_bin(), sft, dir, pairs, dir);
    if (rc != 0) die("the reward-model fixture failed to train; see %s/rm.log", dir);
    char *model = path_join(dir, "rm/model");
    ModelDir ck = model_dir_load(model);
    test_system("rm -rf '%s'", dir);
    free(model);
    free(pairs);
    free(sft);
    free(dir);
    return ck;
}

char *ppo_test_write_reward_model(const char *dir, const char *name) {
    static ModelDir rm;
    if (!rm.model) rm = train_reward_model();
    char *path = path_join(dir, name);
    model_dir_save(path, rm.model, ppo_test_tokenizer(), rm.reward_mean, rm.reward_std);
    return path;
}

char *ppo_test_write_prompts(const char *dir) {
    char *path = path_join(dir, "prompts.jsonl");
    FILE *f = xfopen(path, "w");
    for (int a = 0; a < PPO_N_ASKS; a++) fprintf(f, "{\"prompt\":\"%s\"}\n", PPO_ASKS[a]);
    for (int a = 0; a < PPO_N_ASKS; a++)
        fprintf(f, "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                   "{\"role\":\"user\",\"content\":\"%s\"}]}\n",
                PPO_ASKS[a]);
    fclose(f);
    return path;
}

char *ppo_test_write_tasks(const char *dir) {
    char *path = path_join(dir, "tasks.jsonl");
    FILE *f = xfopen(path, "w");
    for (int a = 0; a < PPO_N_ASKS; a++) {
        fprintf(f, "{\"id\":\"fruit-%d\",\"family\":\"fruit\",\"prompt\":\"%s\",\"answer\":\"%s\",\"answers\":[", a,
                PPO_ASKS[a], PPO_FRUITS[0]);
        for (int i = 0; i < PPO_N_WORDS; i++) fprintf(f, "%s\"%s\"", i ? "," : "", PPO_FRUITS[i]);
        fprintf(f, "],\"judge\":\"exact\"}\n");
    }
    fclose(f);
    return path;
}

int ppo_test_is_fruit(const char *text) {
    while (*text == ' ') text++;
    for (int i = 0; i < PPO_N_WORDS; i++) {
        size_t n = strlen(PPO_FRUITS[i]);
        if (strncmp(text, PPO_FRUITS[i], n) == 0 && (text[n] == 0 || text[n] == ' ' || text[n] == '.')) return 1;
    }
    return 0;
}

cJSON **ppo_test_read_jsonl(const char *path, int *n) {
    char *text = file_exists(path) ? read_file(path, NULL) : xstrdup("");
    cJSON **lines = NULL;
    *n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        lines = xrealloc(lines, sizeof(cJSON *) * (size_t)(*n + 1));
        lines[(*n)++] = cJSON_Parse(line);
    }
    free(text);
    return lines;
}

void ppo_test_free_jsonl(cJSON **lines, int n) {
    for (int i = 0; i < n; i++) cJSON_Delete(lines[i]);
    free(lines);
}

int ppo_test_metric(const char *run, const char *key, double **values) {
    char *path = path_join(run, "metrics.jsonl");
    double *steps = NULL;
    *values = NULL;
    int n = file_exists(path) ? metrics_read_series(path, key, &steps, values) : 0;
    free(steps);
    free(path);
    return n;
}

double ppo_test_mean(const double *values, int from, int to) {
    double s = 0;
    for (int i = from; i < to; i++) s += values[i];
    return to > from ? s / (to - from) : NAN;
}
