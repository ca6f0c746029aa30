/* test_rm_loss.c — the reward model's pairwise and ranking losses: the pairs
 * a ranking forms, the loss and its gradient against the formula, finite
 * differences and a PyTorch reference (tests/ref/rm_loss_ref.py). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/json_util.h"
#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "../src/data/rm_data.h"
#include "../src/train/rm_loss.h"
#include "test.h"
#include "test_rm_util.h"

static int has_pair(const RmPair *pairs, int n, int better, int worse) {
    for (int i = 0; i < n; i++)
        if (pairs[i].better == better && pairs[i].worse == worse) return 1;
    return 0;
}

TEST(rm_ranking_forms_every_pair_but_ties) {
    RmPair pairs[10];
    int strict[4] = {1, 3, 0, 2}; /* response 2 best, then 0, 3, 1 */
    int n = rm_ranking_pairs(strict, 4, 0.5f, pairs);
    CHECK_EQ_INT(n, 6);
    for (int i = 0; i < n; i++) {
        CHECK(strict[pairs[i].better] < strict[pairs[i].worse]);
        CHECK(pairs[i].margin == 0.5f);
    }
    CHECK(has_pair(pairs, n, 2, 1) && has_pair(pairs, n, 0, 3) && !has_pair(pairs, n, 1, 2));

    int tied[4] = {0, 2, 1, 1}; /* [0, [2, 3], 1] */
    n = rm_ranking_pairs(tied, 4, 0, pairs);
    CHECK_EQ_INT(n, 5);
    CHECK(!has_pair(pairs, n, 2, 3) && !has_pair(pairs, n, 3, 2));
    CHECK(has_pair(pairs, n, 0, 2) && has_pair(pairs, n, 2, 1) && has_pair(pairs, n, 3, 1));

    int all_tied[3] = {0, 0, 0};
    CHECK_EQ_INT(rm_ranking_pairs(all_tied, 3, 0, pairs), 0);
}

TEST(rm_pair_loss_is_the_formula_and_its_gradient) {
    float scores[2] = {0.3f, 1.1f};
    RmPair pair = {1, 0, 0.25f};
    float d = scores[1] - scores[0] - 0.25f;
    float grad[2] = {0, 0};
    RmPairStats stats = {0};
    double loss = rm_pairs_loss(scores, &pair, 1, 2.0, grad, &stats);
    CHECK_NEAR(loss, log(1 + exp(-d)), 1e-12);
    /* weight 2: ∂/∂r_better = −2σ(−d), ∂/∂r_worse = +2σ(−d) */
    CHECK_NEAR(grad[1], -2.0 / (1 + exp(d)), 1e-6);
    CHECK_NEAR(grad[0], 2.0 / (1 + exp(d)), 1e-6);
    CHECK_EQ_INT(stats.pairs, 1);
    CHECK_NEAR(stats.correct, 1.0, 0);
    CHECK_NEAR(stats.margin_sum, scores[1] - scores[0], 1e-7);
    /* finite differences of the mean over three pairs */
    float s3[3] = {0.5f, -0.7f, 1.9f};
    RmPair three[3] = {{0, 1, 0}, {2, 0, 0.5f}, {2, 1, 0}};
    float g3[3] = {0, 0, 0};
    rm_pairs_loss(s3, three, 3, 1.0, g3, NULL);
    for (int k = 0; k < 3; k++) {
        float saved = s3[k], h = 1e-3f;
        s3[k] = saved + h;
        double up = rm_pairs_loss(s3, three, 3, 0, NULL, NULL);
        s3[k] = saved - h;
        double down = rm_pairs_loss(s3, three, 3, 0, NULL, NULL);
        s3[k] = saved;
        CHECK_NEAR(g3[k], (up - down) / (2 * h), 1e-4);
    }
}

TEST(rm_loss_is_stable_far_from_zero) {
    CHECK_NEAR(rm_neg_log_sigmoid(100), 0, 1e-40);
    CHECK_NEAR(rm_neg_log_sigmoid(-100), 100, 1e-12);
    CHECK_NEAR(rm_neg_log_sigmoid(-1000), 1000, 1e-9);
    CHECK_NEAR(rm_neg_log_sigmoid(0), log(2), 1e-15);
    float scores[2] = {-500, 500}, grad[2] = {0, 0};
    RmPair wrong_way = {0, 1, 0};
    RmPairStats stats = {0};
    double loss = rm_pairs_loss(scores, &wrong_way, 1, 1.0, grad, &stats);
    CHECK_NEAR(loss, 1000, 1e-9);
    CHECK_NEAR(grad[0], -1, 1e-7);
    CHECK_NEAR(grad[1], 1, 1e-7);
    CHECK_NEAR(stats.correct, 0, 0);
    float tie[2] = {2, 2};
    stats = (RmPairStats){0};
    rm_pairs_loss(tie, &wrong_way, 1, 1.0, NULL, &stats);
    CHECK_NEAR(stats.correct, 0.5, 0); /* an exact tie is half right */
}

/* ---- against PyTorch, through the data loader's reading of rankings ---- */

typedef struct {
    const char *ranking; /* JSON, or NULL for a chosen/rejected pair */
    int K;
    double margin;
    double scale; /* of the random scores */
} LossCase;

TEST(rm_losses_match_pytorch) {
    if (!have_torch()) SKIP("python3-torch is not installed (apt-get install python3-torch)");
    const LossCase cases[] = {
        {"[2, 0, 3, 1]", 4, 0.0, 1.5},         /* K = 4, a strict ranking: 6 pairs */
        {"[0, [2, 3], 1]", 4, 0.0, 1.5},       /* K = 4 with a tie: 5 pairs */
        {NULL, 2, 0.5, 1.5},                   /* a chosen/rejected pair with a margin */
        {"[[4, 1], 0, [2, 3]]", 5, 0.25, 1.5}, /* two ties, a margin */
        {"[1, 0, 2]", 3, 0.0, 30.0},           /* scores far apart: the loss saturates */
    };
    const int G = (int)LMF_ARRAY_LEN(cases);
    char *dir = test_tmpdir("rmloss");
    Rng r;
    rng_seed(&r, 42);
    /* the records, for lmforge's loader; the same rankings and scores, for the reference */
    char *jsonl_path = path_join(dir, "prefs.jsonl");
    FILE *f = xfopen(jsonl_path, "w");
    cJSON *ref = cJSON_CreateObject(), *groups = cJSON_AddArrayToObject(ref, "groups");
    float scores[32];
    int n_scores = 0;
    for (int g = 0; g < G; g++) {
        const LossCase *c = &cases[g];
        cJSON *group = cJSON_CreateObject(), *s = cJSON_AddArrayToObject(group, "scores");
        for (int k = 0; k < c->K; k++) {
            scores[n_scores] = (float)(c->scale * rng_normal(&r));
            cJSON_AddItemToArray(s, cJSON_CreateNumber(scores[n_scores++]));
        }
        cJSON_AddItemToObject(group, "ranking", cJSON_Parse(c->ranking ? c->ranking : "[0, 1]"));
        cJSON_AddNumberToObject(group, "margin", c->margin);
        cJSON_AddItemToArray(groups, group);
        if (c->ranking) {
            fprintf(f, "{\"prompt\": \"question %d\", \"responses\": [", g);
            for (int k = 0; k < c->K; k++) fprintf(f, "%s\"answer %d\"", k ? ", " : "", k);
            fprintf(f, "], \"ranking\": %s, \"margin\": %g}\n", c->ranking, c->margin);
        } else {
            fprintf(f, "{\"prompt\": \"question %d\", \"chosen\": \"yes\", \"rejected\": \"no\", \"margin\": %g}\n", g,
                    c->margin);
        }
    }
    fclose(f);
    char *case_path = path_join(dir, "rm_case.json");
    json_write_file(case_path, ref);
    cJSON_Delete(ref);
    CHECK(test_system("/usr/bin/python3 tests/ref/rm_loss_ref.py %s", dir) == 0);

    PreferenceSet *p = preference_set_load((const char *const *)&jsonl_path, 1, rm_test_tokenizer(), 64, 0.0f);
    CHECK_EQ_INT(p->n_groups, G);
    CHECK_EQ_INT(p->n_pairs, 6 + 5 + 1 + 8 + 3);
    float grads[32] = {0};
    double loss = 0;
    for (int g = 0; g < p->n_groups; g++) {
        const PrefGroup *pg = &p->groups[g];
        double group_loss = rm_pairs_loss(scores + pg->first_seq, p->pairs + pg->first_pair, pg->n_pairs, 1.0 / G,
                                          grads + pg->first_seq, NULL);
        loss += group_loss / G;
    }
    char *ref_path = path_join(dir, "ref.json");
    cJSON *out = json_read_file(ref_path);
    double ref_loss = json_get_double(out, "loss", ref_path);
    CHECK_MSG(fabs(loss - ref_loss) < 1e-6 * fabs(ref_loss), "loss %.10f vs PyTorch %.10f", loss, ref_loss);
    const cJSON *ref_grads = json_get_array(out, "grads", ref_path);
    for (int g = 0, s = 0; g < G; g++)
        for (int k = 0; k < cases[g].K; k++, s++) {
            double want = cJSON_GetArrayItem(cJSON_GetArrayItem(ref_grads, g), k)->valuedouble;
            CHECK_MSG(fabs(grads[s] - want) < 1e-6, "group %d response %d: gradient %.8g vs PyTorch %.8g", g, k,
                      grads[s], want);
        }
    cJSON_Delete(out);
    preference_set_free(p);
    test_system("rm -rf '%s'", dir);
    free(ref_path);
    free(case_path);
    free(jsonl_path);
    free(dir);
}
