/* test_demo_report.c — the arithmetic of the evaluation report: the win
 * rate (ties count ½), the KL of best-of-n, the reward model's agreement
 * with gold on pairs whose gold scores differ, the best-of-first-n pick, the
 * over-optimisation peak, and the wall times read back from pipeline.jsonl. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/util.h"
#include "../src/demo/evaluate.h"
#include "../src/demo/report.h"
#include "test.h"

TEST(demo_win_rate_counts_a_tie_as_half) {
    const double a[] = {1, 0, 1, 0.5, 0, 1};
    const double b[] = {0, 0, 1, 0.25, 1, 1};
    WinRate w = win_rate(a, b, 6);
    CHECK_EQ_INT(w.wins, 2);   /* prompts 0 and 3 */
    CHECK_EQ_INT(w.ties, 3);   /* 1, 2, 5 */
    CHECK_EQ_INT(w.losses, 1); /* 4 */
    CHECK_NEAR(w.rate, (2 + 1.5) / 6, 1e-12);
    /* against itself: all ties, exactly one half, never a win */
    WinRate self = win_rate(a, a, 6);
    CHECK_EQ_INT(self.ties, 6);
    CHECK_NEAR(self.rate, 0.5, 1e-12);
    /* the rates of a against b and b against a add up to 1 */
    CHECK_NEAR(win_rate(b, a, 6).rate, 1 - w.rate, 1e-12);
}

TEST(demo_kl_of_best_of_n_is_log_n_minus_n_minus_one_over_n) {
    CHECK_NEAR(kl_best_of_n(1), 0.0, 1e-12);
    CHECK_NEAR(kl_best_of_n(2), log(2.0) - 0.5, 1e-12);
    CHECK_NEAR(kl_best_of_n(32), log(32.0) - 31.0 / 32, 1e-12);
    /* it grows with n, slower than log n */
    for (int n = 2; n <= 64; n *= 2) {
        CHECK(kl_best_of_n(n) > kl_best_of_n(n / 2));
        CHECK(kl_best_of_n(n) < log((double)n));
    }
}

TEST(demo_rm_agreement_counts_only_pairs_whose_gold_differs) {
    /* four answers: gold 1, 0, 1, 0.5. Pairs with different gold: (0,1) (0,3) (1,2) (1,3) (2,3); (0,2) is a gold tie. */
    const double gold[] = {1, 0, 1, 0.5};
    const float rm[] = {2.0f, -1.0f, 0.5f, 0.5f};
    PairAgreement acc = {0};
    pair_agreement_add(&acc, gold, rm, 4, 0);
    CHECK_EQ_INT(acc.pairs, 5);
    /* (0,1) right, (0,3) right, (1,2) right, (1,3) right (0.5 > -1), (2,3) an RM tie: ½ */
    CHECK_NEAR(acc.correct, 4.5, 1e-12);
    CHECK_NEAR(pair_agreement_rate(&acc), 0.9, 1e-12);
    /* a reward model with the order reversed gets none of them */
    const float reversed[] = {-2.0f, 1.0f, -0.5f, 0.0f};
    PairAgreement bad = {0};
    pair_agreement_add(&bad, gold, reversed, 4, 0);
    CHECK_NEAR(pair_agreement_rate(&bad), 0.0, 1e-12);
    /* prompts accumulate; all-equal gold adds nothing */
    const double same[] = {0, 0, 0};
    pair_agreement_add(&acc, same, rm, 3, 0);
    CHECK_EQ_INT(acc.pairs, 5);
    PairAgreement none = {0};
    CHECK(isnan(pair_agreement_rate(&none)));
}

TEST(demo_best_of_first_n_takes_the_earliest_highest_score) {
    const float rm[] = {0.1f, 0.7f, 0.3f, 0.7f, 0.9f};
    CHECK_EQ_INT(best_of_first(rm, 1), 0);
    CHECK_EQ_INT(best_of_first(rm, 2), 1);
    CHECK_EQ_INT(best_of_first(rm, 4), 1); /* the tie at 3 goes to the earlier answer */
    CHECK_EQ_INT(best_of_first(rm, 5), 4);
}

TEST(demo_stage_times_are_read_from_pipeline_jsonl) {
    char *dir = test_tmpdir("demo_times");
    char *path = path_join(dir, "pipeline.jsonl");
    const char *text = "{\"step\":\"pretrain\",\"status\":\"done\",\"seconds\":61.5,\"command\":\"x\",\"outputs\":[]}\n"
                       "{\"step\":\"dpo\",\"round\":2,\"status\":\"skipped\",\"command\":\"x\",\"outputs\":[]}\n";
    write_bytes(path, text, strlen(text));
    int n;
    StageTime *t = stage_times_load(path, &n);
    CHECK_EQ_INT(n, 2);
    CHECK(strcmp(t[0].step, "pretrain") == 0 && t[0].round == 0 && strcmp(t[0].status, "done") == 0);
    CHECK_NEAR(t[0].seconds, 61.5, 1e-12);
    CHECK(strcmp(t[1].step, "dpo") == 0 && t[1].round == 2);
    CHECK(isnan(t[1].seconds));
    stage_times_free(t, n);
    char *missing = path_join(dir, "none.jsonl");
    CHECK(stage_times_load(missing, &n) == NULL && n == 0);
    free(missing);
    free(path);
    free(dir);
}

TEST(frontier_peak_passed_needs_gold_up_then_down_while_rm_rises) {
    /* x, name, kl, gold, rm */
    const PolicyPoint over[] = {{0, NULL, 0, 0.5, 0}, {1, NULL, 1, 0.7, 1}, {2, NULL, 2, 0.6, 2}};
    CHECK(frontier_peak_passed(over, 3));
    CHECK(!frontier_peak_passed(over, 2)); /* still rising */
    /* the reward model fell with the gold score: no over-optimisation */
    const PolicyPoint both_fall[] = {{0, NULL, 0, 0.5, 0}, {1, NULL, 1, 0.7, 1}, {2, NULL, 2, 0.6, 0.5}};
    CHECK(!frontier_peak_passed(both_fall, 3));
    /* the gold score never rose above the baseline: no peak to pass */
    const PolicyPoint never[] = {{0, NULL, 0, 0.5, 0}, {1, NULL, 1, 0.4, 1}, {2, NULL, 2, 0.3, 2}};
    CHECK(!frontier_peak_passed(never, 3));
    /* flat at the top: not fallen */
    const PolicyPoint flat[] = {{0, NULL, 0, 0.5, 0}, {1, NULL, 1, 0.7, 1}, {2, NULL, 2, 0.7, 2}};
    CHECK(!frontier_peak_passed(flat, 3));
    /* no reward-model scores: cannot tell */
    const PolicyPoint no_rm[] = {{0, NULL, 0, 0.5, NAN}, {1, NULL, 1, 0.7, NAN}, {2, NULL, 2, 0.6, NAN}};
    CHECK(!frontier_peak_passed(no_rm, 3));
}

TEST(demo_rm_agreement_skips_pairs_within_the_margin) {
    const double gold[] = {1.0, 0.95, 0.0};
    const float rm[] = {0.0f, 1.0f, -1.0f}; /* wrong on the close pair (0,1), right on the others */
    PairAgreement all = {0}, wide = {0};
    pair_agreement_add(&all, gold, rm, 3, 0);
    pair_agreement_add(&wide, gold, rm, 3, 0.1);
    CHECK_EQ_INT(all.pairs, 3);
    CHECK_NEAR(pair_agreement_rate(&all), 2.0 / 3, 1e-12);
    CHECK_EQ_INT(wide.pairs, 2); /* (0,1) differs by 0.05 <= 0.1 */
    CHECK_NEAR(pair_agreement_rate(&wide), 1.0, 1e-12);
}
