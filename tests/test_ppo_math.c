/* test_ppo_math.c — PPO's arithmetic against a PyTorch reference (the way TRL
 * computes it) and against hand computations. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "../src/train/ppo_math.h"
#include "test.h"
#include "test_ref_util.h"

TEST(ppo_math_matches_pytorch) {
    if (!have_torch()) SKIP("python3-torch is not installed");
    enum { S = 3, N = 12 };
    int n[S] = {5, 3, 4};
    float logp[N], ref[N], values[N], score[S] = {1.5f, -0.7f, 0.2f};
    float logp_new[N], logp_old[N], adv_in[N], v[N], v_old[N], R[N];
    Rng r;
    rng_seed(&r, 8);
    for (int i = 0; i < N; i++) {
        logp[i] = -2.0f * rng_uniform(&r);
        ref[i] = logp[i] + 0.4f * rng_normal(&r);
        values[i] = rng_normal(&r);
        logp_old[i] = -1.5f * rng_uniform(&r);
        logp_new[i] = logp_old[i] + 0.3f * rng_normal(&r); /* several ratios outside [0.8, 1.2] */
        adv_in[i] = rng_normal(&r);
        v_old[i] = rng_normal(&r);
        v[i] = v_old[i] + 0.4f * rng_normal(&r);
        R[i] = rng_normal(&r);
    }
    const float beta = 0.05f, gamma = 1.0f, lam = 0.95f, eps = 0.2f;
    cJSON *in = cJSON_CreateObject();
    cJSON_AddItemToObject(in, "logp", test_json_floats(logp, N));
    cJSON_AddItemToObject(in, "ref_logp", test_json_floats(ref, N));
    cJSON_AddItemToObject(in, "values", test_json_floats(values, N));
    cJSON_AddItemToObject(in, "score", test_json_floats(score, S));
    cJSON_AddItemToObject(in, "n", cJSON_CreateIntArray(n, S));
    cJSON_AddNumberToObject(in, "beta", beta);
    cJSON_AddNumberToObject(in, "gamma", gamma);
    cJSON_AddNumberToObject(in, "lam", lam);
    cJSON_AddNumberToObject(in, "kl", 1);
    cJSON_AddNumberToObject(in, "eps", eps);
    cJSON_AddItemToObject(in, "logp_new", test_json_floats(logp_new, N));
    cJSON_AddItemToObject(in, "logp_old", test_json_floats(logp_old, N));
    cJSON_AddItemToObject(in, "adv", test_json_floats(adv_in, N));
    cJSON_AddItemToObject(in, "v", test_json_floats(v, N));
    cJSON_AddItemToObject(in, "v_old", test_json_floats(v_old, N));
    cJSON_AddItemToObject(in, "R", test_json_floats(R, N));
    char *dir = test_tmpdir("ppo"), *in_path = path_join(dir, "in.json"), *out_path = path_join(dir, "out.json");
    char *text = cJSON_PrintUnformatted(in);
    write_bytes(in_path, text, strlen(text));
    CHECK(test_system("/usr/bin/python3 tests/ref/ppo_ref.py < %s > %s", in_path, out_path) == 0);
    cJSON *ref_out = cJSON_Parse(read_file(out_path, NULL));
    CHECK(ref_out != NULL);

    float k1[N], k3[N], rewards[N], adv[N], returns[N], white[N], dlogp[N], dv[N];
    for (int i = 0; i < N; i++) k1[i] = kl_estimate(logp[i], ref[i], KL_K1), k3[i] = kl_estimate(logp[i], ref[i], KL_K3);
    test_check_json_floats(ref_out, "k1", k1, N, 1e-6);
    test_check_json_floats(ref_out, "k3", k3, N, 1e-6);
    ppo_rewards(logp, ref, score, n, S, beta, KL_K1, rewards);
    test_check_json_floats(ref_out, "rewards", rewards, N, 1e-6);
    gae(rewards, values, n, S, gamma, lam, adv, returns);
    test_check_json_floats(ref_out, "adv", adv, N, 1e-5);
    test_check_json_floats(ref_out, "returns", returns, N, 1e-5);
    memcpy(white, adv, sizeof adv);
    whiten(white, N);
    test_check_json_floats(ref_out, "white", white, N, 1e-5);
    long clipped = 0;
    double approx_kl = 0;
    double pg = ppo_policy_loss(logp_new, logp_old, adv_in, N, eps, dlogp, &clipped, &approx_kl);
    CHECK_NEAR(pg, cJSON_GetObjectItem(ref_out, "pg")->valuedouble, 1e-5);
    test_check_json_floats(ref_out, "dlogp", dlogp, N, 1e-5);
    CHECK(clipped > 0 && clipped < N); /* both branches exercised */
    long vclipped = 0;
    double vf = ppo_value_loss(v, v_old, R, N, eps, dv, &vclipped);
    CHECK_NEAR(vf, cJSON_GetObjectItem(ref_out, "vf")->valuedouble, 1e-5);
    test_check_json_floats(ref_out, "dv", dv, N, 1e-5);
    CHECK(vclipped > 0 && vclipped < N);
    cJSON_Delete(in);
    cJSON_Delete(ref_out);
    free(text);
    test_system("rm -rf %s", dir);
    free(dir);
    free(in_path);
    free(out_path);
}

TEST(ppo_math_by_hand) {
    /* KL: k1 is the log ratio, k3 is never negative and 0 when equal */
    CHECK_NEAR(kl_estimate(-1.0f, -1.5f, KL_K1), 0.5, 1e-7);
    CHECK_NEAR(kl_estimate(-1.0f, -1.5f, KL_K3), exp(-0.5) - 1 + 0.5, 1e-7);
    CHECK(kl_estimate(-2.0f, -2.0f, KL_K3) == 0.0f);
    /* GAE with λ = 1, γ = 1 gives returns = sum of the rewards to come */
    float rew[3] = {1, 2, 3}, val[3] = {0.5f, 0.25f, -1}, adv[3], ret[3];
    int n[1] = {3};
    gae(rew, val, n, 1, 1.0f, 1.0f, adv, ret);
    CHECK_NEAR(ret[0], 6, 1e-6);
    CHECK_NEAR(ret[1], 5, 1e-6);
    CHECK_NEAR(ret[2], 3, 1e-6);
    /* the first minibatch of an epoch has ratio exactly 1: nothing clipped, gradient −A */
    float lp[2] = {-1.2f, -0.3f}, a[2] = {0.7f, -2.0f}, d[2];
    long clipped = 0;
    double kl = 0;
    double loss = ppo_policy_loss(lp, lp, a, 2, 0.2f, d, &clipped, &kl);
    CHECK_NEAR(loss, -(0.7 - 2.0), 1e-6);
    CHECK(clipped == 0 && kl == 0);
    CHECK_NEAR(d[0], -0.7, 1e-7);
    CHECK_NEAR(d[1], 2.0, 1e-7);
    /* explained variance: a perfect critic explains everything */
    float R[4] = {1, 2, 3, 4};
    CHECK_NEAR(explained_variance(R, R, 4), 1.0, 1e-9);
    /* adaptive KL: above target raises beta, by at most 20% per horizon */
    CHECK_NEAR(adaptive_kl_update(0.1f, 12.0, 6.0f, 100, 100), 0.12, 1e-6);
    CHECK_NEAR(adaptive_kl_update(0.1f, 3.0, 6.0f, 100, 1000), 0.1 * (1 - 0.2 * 0.1), 1e-6);
}
