/* test_eval_tokens.c — `lmforge eval MODEL --tokens / --tokens-file` on a
 * checkpoint without a tokenizer: the per-token log-probs it prints equal
 * log-softmax of the model's own logits, the loss is their mean, and bad
 * input is refused naming the flag or the line. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/util.h"
#include "../src/io/model_dir.h"
#include "test.h"

static Model *tiny_model(void) {
    ModelConfig c = config_default(50, 32, 2, 4);
    c.n_kv_heads = 2;
    c.max_seq_len = 16;
    Model *m = model_new(&c);
    model_init_random(m, 21);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] *= 5; /* a sharper model than at initialisation */
    return m;
}

/* log p(ids[t+1] | ids[..t]) computed here. */
static double logprob(Model *m, const int *ids, int n, int t) {
    const int V = m->cfg.vocab_size;
    model_forward(m, ids, NULL, 1, n, 0);
    const float *x = m->act.out + (size_t)t * V;
    double mx = -INFINITY, sum = 0;
    for (int v = 0; v < V; v++) mx = fmax(mx, x[v]);
    for (int v = 0; v < V; v++) sum += exp(x[v] - mx);
    return x[ids[t + 1]] - mx - log(sum);
}

static char *run_eval(const char *args, const char *dir, int *rc) {
    char *out = path_join(dir, "out.txt");
    *rc = test_system("'%s' eval %s > '%s' 2>&1", lmforge_bin(), args, out);
    char *text = read_file(out, NULL);
    free(out);
    return text;
}

TEST(eval_tokens_logprobs_equal_the_model) {
    char *dir = test_tmpdir("eval-tokens"), *model_dir = path_join(dir, "model");
    Model *m = tiny_model();
    int quiet = lmf_quiet;
    lmf_quiet = 1;
    model_dir_save(model_dir, m, NULL, 0, 1); /* no tokenizer */
    lmf_quiet = quiet;
    const int a[] = {3, 17, 0, 49, 8, 8, 21}, b[] = {5, 6};
    char *file = path_join(dir, "ids.txt");
    FILE *f = xfopen(file, "w");
    fprintf(f, "3, 17,0 49 8,8 21\n\n5 6\n");
    fclose(f);
    char args[2048];
    int rc;
    snprintf(args, sizeof args, "'%s' --tokens-file '%s' --json", model_dir, file);
    char *text = run_eval(args, dir, &rc);
    CHECK_EQ_INT(rc, 0);
    cJSON *js = cJSON_Parse(text);
    CHECK_MSG(js != NULL, "not JSON: %s", text);
    const cJSON *seqs = cJSON_GetObjectItem(js, "sequences");
    CHECK_EQ_INT(cJSON_GetArraySize(seqs), 2);
    double total = 0;
    for (int s = 0; s < 2 && cJSON_GetArraySize(seqs) == 2; s++) {
        const int *ids = s == 0 ? a : b, n = s == 0 ? 7 : 2;
        const cJSON *lps = cJSON_GetObjectItem(cJSON_GetArrayItem(seqs, s), "logprobs");
        CHECK_EQ_INT(cJSON_GetArraySize(lps), n - 1);
        for (int t = 0; t + 1 < n && t < cJSON_GetArraySize(lps); t++) {
            double want = logprob(m, ids, n, t);
            CHECK_NEAR(cJSON_GetArrayItem(lps, t)->valuedouble, want, 1e-5 * fmax(1, fabs(want)));
            total += want;
        }
    }
    CHECK_NEAR(cJSON_GetObjectItem(js, "loss")->valuedouble, -total / 7, 1e-5);
    CHECK_EQ_INT(cJSON_GetObjectItem(js, "tokens")->valuedouble, 7);
    cJSON_Delete(js);
    free(text);

    /* --tokens, text output: the same loss as the first line alone */
    snprintf(args, sizeof args, "'%s' --tokens 5,6", model_dir);
    text = run_eval(args, dir, &rc);
    CHECK_EQ_INT(rc, 0);
    char want[64];
    snprintf(want, sizeof want, "loss %.6f", -logprob(m, b, 2, 0));
    CHECK_MSG(strstr(text, want) != NULL, "got \"%s\", expected \"%s\"", text, want);
    free(text);

    /* bad input: one line naming where */
    f = xfopen(file, "w");
    fprintf(f, "1 2 3\n4 50 6\n");
    fclose(f);
    snprintf(args, sizeof args, "'%s' --tokens-file '%s'", model_dir, file);
    text = run_eval(args, dir, &rc);
    CHECK_MSG(rc != 0 && strstr(text, "ids.txt:2:") && strstr(text, "token id 50 is outside the vocabulary (0 to 49)"),
              "got \"%s\"", text);
    free(text);
    struct {
        const char *args, *expected;
    } bad[] = {
        {"--tokens 1,x,3", "--tokens: \"x,3\" is not a token id"},
        {"--tokens -1,2", "token id -1 is outside"},
        {"--tokens 7", "at least 2 tokens"},
        {"--tokens 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", "above the model's context of 16"},
        {"--tokens 1,2 --tokens-file x", "not both"},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(bad); i++) {
        snprintf(args, sizeof args, "'%s' %s", model_dir, bad[i].args);
        text = run_eval(args, dir, &rc);
        CHECK_MSG(rc != 0 && strstr(text, bad[i].expected), "eval %s: got \"%s\"", bad[i].args, text);
        free(text);
    }
    model_free(m);
    test_system("rm -rf '%s'", dir);
    free(file);
    free(model_dir);
    free(dir);
}
