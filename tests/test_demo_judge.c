/* test_demo_judge.c — the gold judges: exact match after normalisation,
 * with alternatives, and token F1 on hand-computed examples. */
#include <stdlib.h>
#include <string.h>

#include "../src/demo/judge.h"
#include "test.h"

static double exact(const char *response, const char *answer) {
    char *answers[] = {(char *)answer};
    return judge_score(JUDGE_EXACT, response, answers, 1);
}

TEST(demo_judge_exact_normalises) {
    CHECK(exact("Paris", "Paris") == 1);
    CHECK(exact("  paris. ", "Paris") == 1);      /* spaces, case, trailing full stop */
    CHECK(exact("PARIS!?", "Paris") == 1);
    CHECK(exact("'tac'", "tac") == 1);             /* quotes around the answer */
    CHECK(exact("New   Delhi", "New Delhi") == 1); /* runs of spaces */
    CHECK(exact("St. John's", "St. John's") == 1);
    CHECK(exact("Pariss", "Paris") == 0);
    CHECK(exact("Paris, France", "Paris") == 0); /* only trailing punctuation goes */
    CHECK(exact("", "Paris") == 0);
    char *n = judge_normalize("  \"Hello,  World\"!  ", 1);
    CHECK(strcmp(n, "hello, world") == 0);
    free(n);
}

TEST(demo_judge_exact_accepts_alternatives) {
    char *answers[] = {"Kiev", "Kyiv"};
    CHECK(judge_score(JUDGE_EXACT, "kyiv!", answers, 2) == 1);
    CHECK(judge_score(JUDGE_EXACT, "Kiev", answers, 2) == 1);
    CHECK(judge_score(JUDGE_EXACT, "Kyev", answers, 2) == 0);
}

TEST(demo_judge_exact_case_keeps_case) {
    char *answers[] = {"CAT"};
    CHECK(judge_score(JUDGE_EXACT_CASE, "CAT.", answers, 1) == 1);
    CHECK(judge_score(JUDGE_EXACT_CASE, " CAT ", answers, 1) == 1);
    CHECK(judge_score(JUDGE_EXACT_CASE, "cat", answers, 1) == 0);
    CHECK(judge_score(JUDGE_EXACT_CASE, "Cat", answers, 1) == 0);
}

TEST(demo_judge_token_f1_by_hand) {
    /* [period of time] vs [period of time containing 365 days] ("a" dropped):
     * 3 common, P = 3/3, R = 3/6, F1 = 2·1·0.5/1.5 = 2/3. */
    CHECK_NEAR(judge_token_f1("a period of time", "a period of time containing 365 days"), 2.0 / 3, 1e-12);
    /* Punctuation and case go: [time period] vs [period of time]: 2 common, P = 1, R = 2/3, F1 = 0.8. */
    CHECK_NEAR(judge_token_f1("Time, period!", "period of time"), 0.8, 1e-12);
    /* Multiplicity: [cat cat cat] vs [cat]: 1 common, P = 1/3, R = 1, F1 = 0.5. */
    CHECK_NEAR(judge_token_f1("cat cat cat", "cat"), 0.5, 1e-12);
    /* [cat sat] ("the" dropped) vs [cat cat sat]: 2 common, P = 1, R = 2/3, F1 = 0.8. */
    CHECK_NEAR(judge_token_f1("the cat sat", "cat cat sat"), 0.8, 1e-12);
    CHECK_NEAR(judge_token_f1("a human being", "a human being"), 1.0, 1e-12);
    CHECK_NEAR(judge_token_f1("dog", "a human being"), 0.0, 1e-12);
    CHECK_NEAR(judge_token_f1("", "a human being"), 0.0, 1e-12);
    CHECK_NEAR(judge_token_f1("the", "a"), 1.0, 1e-12); /* both empty after articles go */
    /* The judge takes the best of several references: [adult male person] vs
     * [young person] has F1 0.4; vs [adult person who is male] P = 1, R = 3/5, F1 = 0.75. */
    char *refs[] = {"a young person", "an adult person who is male"};
    CHECK_NEAR(judge_score(JUDGE_F1, "adult male person", refs, 2), 0.75, 1e-12);
}

TEST(demo_judge_names) {
    JudgeKind k;
    CHECK(judge_parse("exact", &k) == 0 && k == JUDGE_EXACT);
    CHECK(judge_parse("exact-case", &k) == 0 && k == JUDGE_EXACT_CASE);
    CHECK(judge_parse("f1", &k) == 0 && k == JUDGE_F1);
    CHECK(judge_parse("fuzzy", &k) == -1);
    CHECK(strcmp(judge_name(JUDGE_F1), "f1") == 0);
}

static double graded(JudgeKind kind, const char *response, const char *answer) {
    char *answers[] = {(char *)answer};
    return judge_score(kind, response, answers, 1);
}

TEST(demo_judge_levenshtein_by_hand) {
    CHECK_NEAR(judge_levenshtein("kitten", "sitting"), 3, 0); /* k→s, e→i, +g */
    CHECK_NEAR(judge_levenshtein("", "abc"), 3, 0);
    CHECK_NEAR(judge_levenshtein("house", "esuoh"), 4, 0); /* only the middle u stays */
    CHECK_NEAR(judge_levenshtein("flaw", "lawn"), 2, 0);   /* −f, +n */
}

TEST(demo_judge_digits_gives_partial_credit) {
    CHECK_NEAR(graded(JUDGE_DIGITS, "42", "42"), 1, 1e-12);
    CHECK_NEAR(graded(JUDGE_DIGITS, "42.", "42"), 1, 1e-12);
    CHECK_NEAR(graded(JUDGE_DIGITS, "41", "42"), 0.5, 1e-12);      /* tens right, units wrong */
    CHECK_NEAR(graded(JUDGE_DIGITS, "24", "42"), 0, 1e-12);        /* two different wrong answers, two scores */
    CHECK_NEAR(graded(JUDGE_DIGITS, "142", "42"), 2.0 / 3, 1e-12); /* aligned from the right, over the longer */
    CHECK_NEAR(graded(JUDGE_DIGITS, "4", "42"), 0, 1e-12);         /* 4 against the units digit 2 */
    CHECK_NEAR(graded(JUDGE_DIGITS, "", "42"), 0, 1e-12);
    /* concise beats verbose: " is the sum" is 11 characters of run-on → 16/27 */
    CHECK_NEAR(graded(JUDGE_DIGITS, "42 is the sum", "42"), 16.0 / 27, 1e-12);
    CHECK_NEAR(graded(JUDGE_DIGITS, "41, I think", "42"), 0.5 * 16 / 24, 1e-12);
}

TEST(demo_judge_count_falls_with_the_error) {
    CHECK_NEAR(graded(JUDGE_COUNT, "2", "2"), 1, 1e-12);
    CHECK_NEAR(graded(JUDGE_COUNT, "3", "2"), 0.5, 1e-12);
    CHECK_NEAR(graded(JUDGE_COUNT, "5", "2"), 0.25, 1e-12);
    CHECK_NEAR(graded(JUDGE_COUNT, "-1", "2"), 0.25, 1e-12);
    CHECK_NEAR(graded(JUDGE_COUNT, "two", "2"), 0, 1e-12); /* not a number */
    CHECK_NEAR(graded(JUDGE_COUNT, "99999999999", "2"), 0, 1e-12);
    CHECK_NEAR(graded(JUDGE_COUNT, "3 words", "2"), 0.5 * 16 / 22, 1e-12);
}

TEST(demo_judge_edit_distance_credit) {
    CHECK_NEAR(graded(JUDGE_EDIT, "esuoh", "esuoh"), 1, 1e-12);
    CHECK_NEAR(graded(JUDGE_EDIT, "'ESUOH'.", "esuoh"), 1, 1e-12); /* edit folds case */
    CHECK_NEAR(graded(JUDGE_EDIT, "esuo", "esuoh"), 0.8, 1e-12);
    CHECK_NEAR(graded(JUDGE_EDIT, "house", "esuoh"), 0.2, 1e-12);
    CHECK_NEAR(graded(JUDGE_EDIT_CASE, "HOUSE", "HOUSE"), 1, 1e-12);
    CHECK_NEAR(graded(JUDGE_EDIT_CASE, "HOUSe", "HOUSE"), 0.8, 1e-12);
    CHECK_NEAR(graded(JUDGE_EDIT_CASE, "house", "HOUSE"), 0, 1e-12); /* edit-case keeps case */
    /* of two right answers the concise one wins; one cut off at the token limit loses more */
    double concise = graded(JUDGE_EDIT_CASE, "HOUSE", "HOUSE");
    double verbose = graded(JUDGE_EDIT_CASE, "HOUSE is the answer", "HOUSE");
    double cut_off = graded(JUDGE_EDIT_CASE, "HOUSE HOUSE HOUSE HOUSE HOUSE HOUSE HOUSE", "HOUSE");
    CHECK_NEAR(verbose, 16.0 / 30, 1e-12);
    CHECK_NEAR(cut_off, 16.0 / 52, 1e-12);
    CHECK(concise > verbose && verbose > cut_off);
    CHECK_NEAR(judge_brevity("HOUSE is the answer", 0), 16.0 / 30, 1e-12);
    /* the best accepted answer counts */
    char *answers[] = {"abc", "xyz"};
    CHECK_NEAR(judge_score(JUDGE_EDIT, "xya", answers, 2), 2.0 / 3, 1e-12);
}

TEST(demo_judge_graded_names_and_exact_kinds) {
    static const char *const names[] = {"digits", "count", "edit", "edit-case", "sentiment"};
    static const JudgeKind kinds[] = {JUDGE_DIGITS, JUDGE_COUNT, JUDGE_EDIT, JUDGE_EDIT_CASE, JUDGE_SENTIMENT};
    for (int i = 0; i < 5; i++) {
        JudgeKind k;
        CHECK(judge_parse(names[i], &k) == 0 && k == kinds[i]);
        CHECK(strcmp(judge_name(kinds[i]), names[i]) == 0);
    }
    JudgeKind exact;
    CHECK(judge_exact_kind(JUDGE_DIGITS, &exact) == 0 && exact == JUDGE_EXACT);
    CHECK(judge_exact_kind(JUDGE_EDIT_CASE, &exact) == 0 && exact == JUDGE_EXACT_CASE);
    CHECK(judge_exact_kind(JUDGE_SENTIMENT, &exact) == -1);
}
