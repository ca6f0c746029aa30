/* test_grpo_math.c — GRPO's arithmetic (advantages with every scale and
 * RLOO, the clipped loss with every aggregation, ε_low ≠ ε_high and a KL
 * term) against a float64 PyTorch reference written from TRL's definitions,
 * and against hand computations. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "../src/train/grpo_math.h"
#include "test.h"
#include "test_ref_util.h"

enum { GROUPS = 3, G = 4, S = GROUPS * G, T = 7 };

TEST(grpo_math_matches_pytorch) {
    if (!have_torch()) SKIP("python3-torch is not installed");
    Rng r;
    rng_seed(&r, 21);
    /* rewards: group 1 all equal (no signal), group 2 binary, group 0 continuous */
    float rewards[S] = {0.3f, -1.2f, 2.0f, 0.7f, 1, 1, 1, 1, 0, 1, 0, 0};
    int n[S];
    float adv[S];
    /* completions of lengths 1..T in padded (S, T) rows; junk where the mask is 0 */
    float logp_pad[S][T], old_pad[S][T], ref_pad[S][T], mask[S][T];
    float logp[S * T], old[S * T], ref[S * T];
    int tokens = 0;
    for (int s = 0; s < S; s++) {
        n[s] = 1 + (int)rng_below(&r, T);
        adv[s] = rng_normal(&r);
        for (int t = 0; t < T; t++) {
            int real = t < n[s];
            float lo = -2.0f * rng_uniform(&r);
            logp_pad[s][t] = real ? lo + 0.35f * rng_normal(&r) : 20.0f * rng_normal(&r);
            old_pad[s][t] = real ? lo : 20.0f * rng_normal(&r);
            ref_pad[s][t] = real ? lo + 0.3f * rng_normal(&r) : 20.0f * rng_normal(&r);
            mask[s][t] = (float)real;
            if (real) logp[tokens] = logp_pad[s][t], old[tokens] = old_pad[s][t], ref[tokens++] = ref_pad[s][t];
        }
    }
    const float eps = 1e-4f;
    const GrpoLossConfig base = {.eps_low = 0.2f, .eps_high = 0.28f, .beta = 0.04f};
    const int max_len = T + 3;

    cJSON *in = cJSON_CreateObject(), *rows[4];
    cJSON_AddItemToObject(in, "rewards", test_json_floats(rewards, S));
    cJSON_AddNumberToObject(in, "G", G);
    cJSON_AddNumberToObject(in, "eps", eps);
    cJSON_AddItemToObject(in, "adv", test_json_floats(adv, S));
    const char *names[4] = {"logp", "logp_old", "ref_logp", "mask"};
    float(*pads[4])[T] = {logp_pad, old_pad, ref_pad, mask};
    for (int k = 0; k < 4; k++) {
        rows[k] = cJSON_AddArrayToObject(in, names[k]);
        for (int s = 0; s < S; s++) cJSON_AddItemToArray(rows[k], test_json_floats(pads[k][s], T));
    }
    cJSON_AddNumberToObject(in, "eps_low", base.eps_low);
    cJSON_AddNumberToObject(in, "eps_high", base.eps_high);
    cJSON_AddNumberToObject(in, "beta", base.beta);
    cJSON_AddNumberToObject(in, "max_completion_len", max_len);
    char *dir = test_tmpdir("grpo"), *in_path = path_join(dir, "in.json"), *out_path = path_join(dir, "out.json");
    char *text = cJSON_PrintUnformatted(in);
    write_bytes(in_path, text, strlen(text));
    CHECK(test_system("/usr/bin/python3 tests/ref/grpo_ref.py < %s > %s", in_path, out_path) == 0);
    cJSON *ref_out = cJSON_Parse(read_file(out_path, NULL));
    CHECK(ref_out != NULL);

    float got[S];
    CHECK(group_advantages(rewards, GROUPS, G, ADVANTAGE_GRPO, SCALE_GROUP, eps, -1, got) == 1);
    test_check_json_floats(ref_out, "adv_group", got, S, 1e-5);
    group_advantages(rewards, GROUPS, G, ADVANTAGE_GRPO, SCALE_BATCH, eps, -1, got);
    test_check_json_floats(ref_out, "adv_batch", got, S, 1e-5);
    group_advantages(rewards, GROUPS, G, ADVANTAGE_GRPO, SCALE_NONE, eps, -1, got);
    test_check_json_floats(ref_out, "adv_none", got, S, 1e-5);
    group_advantages(rewards, GROUPS, G, ADVANTAGE_RLOO, SCALE_GROUP, eps, -1, got);
    test_check_json_floats(ref_out, "adv_rloo", got, S, 1e-5);

    const GrpoLossType types[4] = {LOSS_GRPO, LOSS_BNPO, LOSS_DAPO, LOSS_DR_GRPO};
    const char *type_names[4] = {"grpo", "bnpo", "dapo", "dr_grpo"};
    for (int k = 0; k < 4; k++) {
        GrpoLossConfig c = base;
        c.type = types[k];
        double norm = grpo_loss_norm(c.type, S, tokens, max_len);
        /* in two micro-batches sharing the step's denominator, as the trainer calls it */
        float dlogp[S * T], dpad[S * T] = {0};
        GrpoLossStats st = {0};
        int split = 5, first_tokens = 0;
        for (int s = 0; s < split; s++) first_tokens += n[s];
        double loss = grpo_loss(logp, old, ref, adv, n, split, &c, norm, dlogp, &st);
        loss += grpo_loss(logp + first_tokens, old + first_tokens, ref + first_tokens, adv + split, n + split, S - split,
                          &c, norm, dlogp + first_tokens, &st);
        char key[32];
        snprintf(key, sizeof key, "loss_%s", type_names[k]);
        CHECK_NEAR(loss, cJSON_GetObjectItem(ref_out, key)->valuedouble, 1e-5);
        CHECK_NEAR(st.loss, loss, 1e-12);
        CHECK(st.tokens == tokens);
        /* the gradient, padded back to (S, T): zero where the mask is */
        for (int s = 0, i = 0; s < S; s++)
            for (int t = 0; t < n[s]; t++) dpad[s * T + t] = dlogp[i++];
        snprintf(key, sizeof key, "dlogp_%s", type_names[k]);
        const cJSON *rows_ref = cJSON_GetObjectItem(ref_out, key);
        for (int s = 0; s < S; s++) {
            snprintf(key, sizeof key, "dlogp_%s[%d]", type_names[k], s);
            cJSON *one = cJSON_CreateObject();
            cJSON_AddItemToObject(one, key, cJSON_Duplicate(cJSON_GetArrayItem(rows_ref, s), 1));
            test_check_json_floats(one, key, dpad + s * T, T, 1e-5);
            cJSON_Delete(one);
        }
        if (k == 0) {
            CHECK(st.low_clipped == cJSON_GetObjectItem(ref_out, "low_clipped")->valueint);
            CHECK(st.high_clipped == cJSON_GetObjectItem(ref_out, "high_clipped")->valueint);
            CHECK(st.low_clipped > 0 && st.high_clipped > 0); /* both clip regions exercised */
        }
    }
    cJSON_Delete(in);
    cJSON_Delete(ref_out);
    free(text);
    test_system("rm -rf %s", dir);
    free(dir);
    free(in_path);
    free(out_path);
}

TEST(grpo_math_by_hand) {
    /* a group of rewards {1, 0, 0, 1}: mean 0.5, unbiased std sqrt(1/3) */
    float r[4] = {1, 0, 0, 1}, a[4];
    CHECK(group_advantages(r, 1, 4, ADVANTAGE_GRPO, SCALE_GROUP, 0, -1, a) == 0);
    CHECK_NEAR(a[0], 0.5 / sqrt(1.0 / 3.0), 1e-6);
    CHECK_NEAR(a[1], -0.5 / sqrt(1.0 / 3.0), 1e-6);
    group_advantages(r, 1, 4, ADVANTAGE_GRPO, SCALE_NONE, 0, -1, a); /* Dr. GRPO: only centred */
    CHECK_NEAR(a[0], 0.5, 1e-7);
    group_advantages(r, 1, 4, ADVANTAGE_RLOO, SCALE_GROUP, 0, -1, a); /* 1 − mean(0, 0, 1) */
    CHECK_NEAR(a[0], 1 - 1.0 / 3.0, 1e-6);
    CHECK_NEAR(a[1], 0 - 2.0 / 3.0, 1e-6);
    /* all equal: no signal, zero advantages even with a tiny eps */
    float same[3] = {0.5f, 0.5f, 0.5f};
    CHECK(group_advantages(same, 1, 3, ADVANTAGE_GRPO, SCALE_GROUP, 1e-4f, -1, a) == 1);
    CHECK(a[0] == 0 && a[1] == 0 && a[2] == 0);
    /* first update on fresh samples: ratio 1, gradient −A / norm per token (BNPO) */
    float lp[3] = {-1, -2, -0.5f}, d[3], adv[2] = {2, -1};
    int n[2] = {2, 1};
    GrpoLossConfig c = {.eps_low = 0.2f, .eps_high = 0.2f, .beta = 0, .type = LOSS_BNPO};
    GrpoLossStats st = {0};
    double loss = grpo_loss(lp, lp, NULL, adv, n, 2, &c, grpo_loss_norm(LOSS_BNPO, 2, 3, 8), d, &st);
    CHECK_NEAR(loss, (-2 - 2 + 1) / 3.0, 1e-7);
    CHECK_NEAR(d[0], -2 / 3.0, 1e-7);
    CHECK_NEAR(d[2], 1 / 3.0, 1e-7);
    CHECK(st.low_clipped == 0 && st.high_clipped == 0 && st.kl == 0);
    /* GRPO weighs each sequence equally: the 2-token one's tokens count half */
    c.type = LOSS_GRPO;
    grpo_loss(lp, lp, NULL, adv, n, 2, &c, grpo_loss_norm(LOSS_GRPO, 2, 3, 8), d, &st);
    CHECK_NEAR(d[0], -2 / 2.0 / 2.0, 1e-7);
    CHECK_NEAR(d[2], 1 / 2.0, 1e-7);
    /* DR_GRPO divides by sequences · max length, whatever the lengths */
    CHECK_NEAR(grpo_loss_norm(LOSS_DR_GRPO, 2, 3, 8), 16, 0);
}
