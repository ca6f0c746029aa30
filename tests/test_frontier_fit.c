/* test_frontier_fit.c — the Gao et al. 2022 frontier fits: α and β come back
 * from points made with them, exactly (R² = 1) or to a tolerance under
 * noise, and too few or degenerate points are reported as no fit. */
#include <math.h>

#include "../src/base/rng.h"
#include "../src/demo/frontier_fit.h"
#include "test.h"

/* KL of best-of-n for n = 1 .. 64, as the report's x values */
static int bon_kls(double *kl) {
    int n = 0;
    for (int bn = 1; bn <= 64; bn *= 2) kl[n++] = log((double)bn) - (double)(bn - 1) / bn;
    return n;
}

TEST(frontier_fit_recovers_alpha_and_beta_of_exact_data) {
    double kl[8], gain[8];
    int n = bon_kls(kl);
    const double alpha = 0.8, beta = 0.3;
    for (int i = 0; i < n; i++) gain[i] = sqrt(kl[i]) * (alpha - beta * sqrt(kl[i]));
    FrontierFit f = frontier_fit(FRONTIER_BEST_OF_N, kl, gain, n);
    CHECK(f.ok);
    CHECK_EQ_INT(f.n, n - 1); /* n = 1 sits at KL 0 */
    CHECK_NEAR(f.alpha, alpha, 1e-9);
    CHECK_NEAR(f.beta, beta, 1e-9);
    CHECK_NEAR(f.r2, 1.0, 1e-9);
    CHECK_NEAR(frontier_eval(FRONTIER_BEST_OF_N, &f, 2.0), sqrt(2.0) * (alpha - beta * sqrt(2.0)), 1e-9);
    CHECK_NEAR(frontier_eval(FRONTIER_BEST_OF_N, &f, 0.0), 0.0, 0);

    /* the RL form on PPO-like KLs, with a negative β as well */
    const double rl_kl[] = {0, 0.5, 1, 2, 4, 8, 16};
    double rl_gain[7];
    for (int i = 0; i < 7; i++) {
        double d = sqrt(rl_kl[i]);
        rl_gain[i] = d > 0 ? d * (0.5 - (-0.2) * log(d)) : 0;
    }
    FrontierFit rl = frontier_fit(FRONTIER_RL, rl_kl, rl_gain, 7);
    CHECK(rl.ok);
    CHECK_NEAR(rl.alpha, 0.5, 1e-9);
    CHECK_NEAR(rl.beta, -0.2, 1e-9);
    CHECK_NEAR(rl.r2, 1.0, 1e-9);
    /* the wrong form does not fit as well */
    CHECK(frontier_fit(FRONTIER_BEST_OF_N, rl_kl, rl_gain, 7).r2 < 0.9999);
}

TEST(frontier_fit_recovers_alpha_and_beta_under_noise) {
    Rng rng;
    rng_seed(&rng, 7);
    enum { N = 400 };
    double kl[N], gain[N];
    const double alpha = 1.2, beta = 0.25, sd = 0.05;
    for (int i = 0; i < N; i++) {
        kl[i] = 0.05 + 10.0 * i / N;
        double d = sqrt(kl[i]);
        gain[i] = d * (alpha - beta * log(d)) + sd * rng_normal(&rng);
    }
    FrontierFit f = frontier_fit(FRONTIER_RL, kl, gain, N);
    CHECK(f.ok);
    CHECK_NEAR(f.alpha, alpha, 0.03);
    CHECK_NEAR(f.beta, beta, 0.03);
    CHECK(f.r2 > 0.9 && f.r2 < 1.0);
}

TEST(frontier_fit_reports_no_fit_without_two_usable_points) {
    const double kl[] = {0, 1, NAN, -0.1}, gain[] = {0, 0.3, 0.5, 0.2};
    FrontierFit f = frontier_fit(FRONTIER_BEST_OF_N, kl, gain, 4);
    CHECK(!f.ok);
    CHECK_EQ_INT(f.n, 1);
    CHECK(isnan(f.alpha) && isnan(f.beta) && isnan(f.r2));
    CHECK(!frontier_fit(FRONTIER_RL, kl, gain, 0).ok);
    /* two points at the same KL do not pin two parameters down */
    const double same_kl[] = {2, 2}, two[] = {0.1, 0.3};
    CHECK(!frontier_fit(FRONTIER_RL, same_kl, two, 2).ok);
}
