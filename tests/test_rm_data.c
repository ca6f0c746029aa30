/* test_rm_data.c — reading preference and scoring records: rankings with
 * ties, pairs, message-list prompts, where a sequence ends, truncation, the
 * held-out split, and clear errors for bad input. */
#include <stdlib.h>
#include <string.h>

#include "../src/base/util.h"
#include "../src/data/rm_data.h"
#include "../src/tokenizer/chat.h"
#include "test.h"
#include "test_rm_util.h"

static PreferenceSet *load_text(const char *text, int max_len, char **dir_out) {
    char *dir = test_tmpdir("rmdata"), *path = rm_test_write(dir, "prefs.jsonl", text);
    PreferenceSet *p = preference_set_load((const char *const *)&path, 1, rm_test_tokenizer(), max_len, 0.0f);
    free(path);
    if (dir_out)
        *dir_out = dir;
    else {
        test_system("rm -rf '%s'", dir);
        free(dir);
    }
    return p;
}

/* The text of sequence i. */
static char *decode_seq(const PreferenceSet *p, int i) {
    SeqRef s = seq_set_get(&p->seqs, i);
    return tokenizer_decode(rm_test_tokenizer(), s.ids, s.len, NULL);
}

TEST(rm_data_reads_pairs_and_rankings) {
    PreferenceSet *p = load_text(
        "{\"prompt\": \"What is 2 + 2?\", \"chosen\": \"4\", \"rejected\": \"5\"}\n"
        "\n"
        "{\"prompt\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"}], "
        "\"responses\": [\"a\", \"b\", \"c\", \"d\"], \"ranking\": [3, [0, 2], 1], \"margin\": 0.5}\n"
        "{\"prompt\": \"What is 2 + 2?\", \"responses\": [\"4\", \"22\", \"four\"], \"ranking\": [0, 2, 1]}\n",
        64, NULL);
    CHECK_EQ_INT(p->n_groups, 3);
    CHECK_EQ_INT(p->seqs.n, 2 + 4 + 3);
    CHECK_EQ_INT(p->n_pairs, 1 + 5 + 3);
    CHECK_EQ_INT(p->identical_pairs + p->empty_records, 0);

    const PrefGroup *pair = &p->groups[0], *ranked = &p->groups[1], *third = &p->groups[2];
    CHECK(p->pairs[pair->first_pair].better == 0 && p->pairs[pair->first_pair].worse == 1);
    CHECK(p->pairs[pair->first_pair].margin == 0.0f);
    /* [3, [0, 2], 1]: 3 beats all, 0 and 2 tie and beat 1 */
    int beats[4][4] = {{0}};
    for (int i = 0; i < ranked->n_pairs; i++) {
        const RmPair *q = &p->pairs[ranked->first_pair + i];
        beats[q->better][q->worse] = 1;
        CHECK(q->margin == 0.5f);
    }
    CHECK(beats[3][0] && beats[3][1] && beats[3][2] && beats[0][1] && beats[2][1]);
    CHECK(!beats[0][2] && !beats[2][0] && !beats[1][0]);
    CHECK_EQ_INT(ranked->first_seq, 2);
    CHECK(pair->prompt_hash == third->prompt_hash && pair->prompt_hash != ranked->prompt_hash);

    /* the sequence is the ChatML exchange, ending at the response's <|im_end|> */
    char *text = decode_seq(p, 0);
    CHECK_MSG(strcmp(text, "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>") == 0,
              "sequence 0: %s", text);
    free(text);
    text = decode_seq(p, ranked->first_seq + 3);
    CHECK_MSG(strcmp(text, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                           "<|im_start|>assistant\nd<|im_end|>") == 0,
              "ranked sequence 3: %s", text);
    free(text);
    preference_set_free(p);
}

TEST(rm_data_skips_identical_responses_and_counts_them) {
    PreferenceSet *p = load_text("{\"prompt\": \"q1\", \"chosen\": \"same\", \"rejected\": \"same\"}\n"
                                 "{\"prompt\": \"q2\", \"chosen\": \"good\", \"rejected\": \"bad\"}\n"
                                 "{\"prompt\": \"q3\", \"responses\": [\"x\", \"y\", \"x\"], \"ranking\": [0, 1, 2]}\n"
                                 "{\"prompt\": \"q4\", \"responses\": [\"x\", \"y\"], \"ranking\": [[0, 1]]}\n",
                                 64, NULL);
    CHECK_EQ_INT(p->n_groups, 2);          /* q2 and q3 */
    CHECK_EQ_INT(p->identical_pairs, 2);   /* q1's pair, and x over x in q3 */
    CHECK_EQ_INT(p->empty_records, 2);     /* q1, and q4 whose responses all tie */
    CHECK_EQ_INT(p->groups[1].n_pairs, 2); /* q3: x > y and y > x, not x > x */
    CHECK_EQ_INT(p->groups[1].n_seqs, 2);  /* the two x are one response */
    preference_set_free(p);
}

/* The pairs of one ranking written one record each (lmforge annotate --pairs
 * all) train together, as the ranking would. */
TEST(rm_data_joins_consecutive_records_of_a_prompt) {
    PreferenceSet *p = load_text("{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"b\"}\n"
                                 "{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"c\", \"margin\": 1}\n"
                                 "{\"prompt\": \"q\", \"responses\": [\"c\", \"b\", \"d\"], \"ranking\": [1, 0, 2]}\n"
                                 "{\"prompt\": \"other\", \"chosen\": \"a\", \"rejected\": \"b\"}\n"
                                 "{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"b\"}\n",
                                 64, NULL);
    CHECK_EQ_INT(p->n_groups, 3); /* q (three records), other, q again (not consecutive) */
    const PrefGroup *q = &p->groups[0];
    CHECK_EQ_INT(q->n_seqs, 4); /* a, b, c, d: each text once */
    CHECK_EQ_INT(q->n_pairs, 1 + 1 + 3);
    /* a > b, a > c (margin 1), b > c, b > d, c > d */
    int want[5][2] = {{0, 1}, {0, 2}, {1, 2}, {1, 3}, {2, 3}}, found = 0;
    for (int i = 0; i < q->n_pairs; i++) {
        const RmPair *r = &p->pairs[q->first_pair + i];
        for (int w = 0; w < 5; w++) found += r->better == want[w][0] && r->worse == want[w][1];
        if (r->better == 0 && r->worse == 2) CHECK(r->margin == 1.0f);
    }
    CHECK_EQ_INT(found, 5);
    char *text = decode_seq(p, q->first_seq + 3);
    CHECK(ends_with(text, "assistant\nd<|im_end|>"));
    free(text);
    CHECK_EQ_INT(p->groups[2].n_seqs, 2);
    CHECK_EQ_INT(p->seqs.n, 4 + 2 + 2);
    preference_set_free(p);
}

TEST(rm_data_truncates_the_prompt_side) {
    char *dir;
    PreferenceSet *p = load_text(
        "{\"prompt\": \"The quick brown fox jumps over the lazy dog, and the dog sleeps in the sun by the river.\", "
        "\"chosen\": \"yes\", \"rejected\": \"no\"}\n",
        20, &dir);
    CHECK_EQ_INT(p->seqs.truncated, 2);
    int im_end = tokenizer_token_id(rm_test_tokenizer(), "<|im_end|>");
    for (int i = 0; i < 2; i++) {
        SeqRef s = seq_set_get(&p->seqs, i);
        CHECK_EQ_INT(s.len, 20);
        CHECK_EQ_INT(s.ids[s.len - 1], im_end);
    }
    char *text = decode_seq(p, 0);
    CHECK_MSG(ends_with(text, "river.<|im_end|>\n<|im_start|>assistant\nyes<|im_end|>"), "truncated: %s", text);
    free(text);
    preference_set_free(p);
    test_system("rm -rf '%s'", dir);
    free(dir);
}

TEST(rm_data_split_keeps_each_prompt_on_one_side) {
    char text[1 << 16];
    size_t used = 0;
    for (int i = 0; i < 400; i++)
        used += (size_t)snprintf(text + used, sizeof text - used,
                                 "{\"prompt\": \"prompt %d\", \"chosen\": \"a%d\", \"rejected\": \"b%d\"}\n", i % 200,
                                 i, i);
    PreferenceSet *p = load_text(text, 64, NULL);
    int *train, *held, n_train, n_held;
    preference_set_split(p, 0.25, 7, &train, &n_train, &held, &n_held);
    CHECK_EQ_INT(n_train + n_held, 400);
    CHECK_MSG(n_held > 60 && n_held < 140, "held out %d of 400", n_held);
    for (int i = 0; i < n_held; i++) /* record g and g + 200 share a prompt */
        for (int j = 0; j < n_train; j++) CHECK(p->groups[held[i]].prompt_hash != p->groups[train[j]].prompt_hash);
    int *train2, *held2, n_train2, n_held2;
    preference_set_split(p, 0.25, 7, &train2, &n_train2, &held2, &n_held2);
    CHECK(n_held2 == n_held && memcmp(held, held2, sizeof(int) * (size_t)n_held) == 0);
    free(train2);
    free(held2);
    preference_set_split(p, 0.25, 8, &train2, &n_train2, &held2, &n_held2);
    CHECK(n_held2 != n_held ||
          memcmp(held, held2, sizeof(int) * (size_t)n_held) != 0); /* another seed, another split */
    free(train2);
    free(held2);
    free(train);
    free(held);
    preference_set_free(p);
}

TEST(rm_data_reads_scoring_records) {
    char *dir = test_tmpdir("rmscore");
    char *path = rm_test_write(
        dir, "gen.jsonl",
        "{\"prompt\": \"Hi\", \"response\": \"Hello\"}\n"
        "{\"prompt\": \"Hi\", \"completion\": \"Hey\"}\n"
        "{\"prompt\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"responses\": [\"a\", \"b\", \"c\"]}\n"
        "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": "
        "\"Yo\"}]}\n");
    SeqSet *s = response_set_load((const char *const *)&path, 1, rm_test_tokenizer(), 64);
    CHECK_EQ_INT(s->n, 6);
    const char *want[6] = {"Hello", "Hey", "a", "b", "c", "Yo"};
    for (int i = 0; i < 6; i++) {
        SeqRef r = seq_set_get(s, i);
        char *text = tokenizer_decode(rm_test_tokenizer(), r.ids, r.len, NULL);
        char *expected = xsprintf("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n%s<|im_end|>", want[i]);
        CHECK_MSG(strcmp(text, expected) == 0, "response %d: %s", i, text);
        free(text);
        free(expected);
    }
    seq_set_free(s);
    free(s);
    test_system("rm -rf '%s'", dir);
    free(path);
    free(dir);
}

/* ---- bad input: one clear line naming the file, the line and the field ---- */

typedef struct {
    const char *text;
    int scoring; /* read as scoring records instead of preferences */
} BadInput;

static void load_bad(void *ctx) {
    const BadInput *b = ctx;
    char *dir = test_tmpdir("rmbad"), *path = rm_test_write(dir, "bad.jsonl", b->text);
    if (b->scoring)
        response_set_load((const char *const *)&path, 1, rm_test_tokenizer(), 64);
    else
        preference_set_load((const char *const *)&path, 1, rm_test_tokenizer(), 64, 0.0f);
}

TEST(rm_data_reports_bad_records) {
    rm_test_tokenizer(); /* trained here: a forked child must not start OpenMP threads (libgomp is not fork-safe) */
    const char *good = "{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"b\"}\n";
    struct {
        const char *record, *expected;
    } cases[] = {
        {"{\"prompt\": \"q\", \"responses\": [\"a\", \"b\", \"c\"], \"ranking\": [0, 1, 1]}",
         "bad.jsonl:2: field \"ranking\" is not a permutation of the 3 responses: index 1 appears twice"},
        {"{\"prompt\": \"q\", \"responses\": [\"a\", \"b\", \"c\"], \"ranking\": [0, 2]}",
         "bad.jsonl:2: field \"ranking\" is not a permutation of the 3 responses: index 1 is missing"},
        {"{\"prompt\": \"q\", \"responses\": [\"a\", \"b\"], \"ranking\": [0, 3]}",
         "bad.jsonl:2: field \"ranking\" is not a permutation of the 2 responses: index 3 is out of range"},
        {"{\"prompt\": \"q\", \"responses\": [\"a\", \"b\"], \"ranking\": [0, [1, [0]]]}",
         "bad.jsonl:2: field \"ranking\"[1] must be a response index or a list of tied indices"},
        {"{\"prompt\": \"q\", \"responses\": [\"a\", \"b\"], \"ranking\": [0, 1.5]}",
         "bad.jsonl:2: field \"ranking\"[1] must be a response index"},
        {"{\"prompt\": \"q\", \"responses\": [\"a\", \"b\"], \"ranking\": [[], 0, 1]}",
         "bad.jsonl:2: field \"ranking\"[0] is an empty list of tied responses"},
        {"{\"prompt\": \"q\", \"responses\": [\"a\"], \"ranking\": [0]}",
         "bad.jsonl:2: field \"responses\" holds 1 response; a ranking needs at least 2"},
        {"{\"prompt\": \"q\", \"responses\": [], \"ranking\": []}",
         "bad.jsonl:2: field \"responses\" holds 0 responses; a ranking needs at least 2"},
        {"{\"prompt\": \"q\", \"responses\": [\"a\", \"b\"]}", "bad.jsonl:2: field \"ranking\" is missing"},
        {"{\"prompt\": \"q\", \"responses\": [\"a\", 3], \"ranking\": [0, 1]}",
         "bad.jsonl:2: field \"responses\"[1] must be a string"},
        {"{\"prompt\": \"q\", \"chosen\": \"a\"}", "bad.jsonl:2: field \"rejected\" is missing"},
        {"{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": 7}", "bad.jsonl:2: field \"rejected\" must be a string"},
        {"{\"chosen\": \"a\", \"rejected\": \"b\"}", "bad.jsonl:2: field \"prompt\" is missing"},
        {"{\"prompt\": [{\"role\": \"bot\", \"content\": \"x\"}], \"chosen\": \"a\", \"rejected\": \"b\"}",
         "bad.jsonl:2: field \"prompt\"[0]: unknown role \"bot\""},
        {"{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"b\", \"margin\": \"big\"}",
         "bad.jsonl:2: field \"margin\" must be a number"},
        {"{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"b\", \"responses\": [\"a\", \"b\"]}",
         "bad.jsonl:2: has both \"chosen\"/\"rejected\" and \"responses\""},
        {"{\"prompt\": \"q\", \"text\": \"a\"}", "bad.jsonl:2: field \"chosen\" is missing"},
        {"{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"b\"", "bad.jsonl:2: not valid JSON"},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++) {
        char *text = xsprintf("%s%s\n", good, cases[i].record);
        BadInput b = {text, 0};
        CHECK_DIES(load_bad, &b, cases[i].expected);
        free(text);
    }
    BadInput nothing = {"{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"a\"}\n", 0};
    CHECK_DIES(load_bad, &nothing, "bad.jsonl: no comparison to learn from");

    const char *scoring[][2] = {
        {"{\"prompt\": \"q\"}", "bad.jsonl:1: field \"response\" is missing"},
        {"{\"prompt\": \"q\", \"responses\": []}", "bad.jsonl:1: field \"responses\" is an empty list"},
        {"{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}",
         "bad.jsonl:1: field \"messages\" must end with the assistant's response"},
        {"{\"response\": \"a\"}", "bad.jsonl:1: field \"prompt\" is missing"},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(scoring); i++) {
        char *text = xsprintf("%s\n", scoring[i][0]);
        BadInput b = {text, 1};
        CHECK_DIES(load_bad, &b, scoring[i][1]);
        free(text);
    }
}
