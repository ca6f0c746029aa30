/* test_own_data.c — README's "Your own data" walkthrough, run as a user
 * would: its commands and its two programs (rank.py, judge.py) are read from
 * README.md, tiny files in the formats it describes are written, and the
 * commands run in order with miniature sizes substituted (each substitution
 * must find its text, so that the README and this test stay in step). Then:
 * tokenizer train, pretrain and data check count the same documents of the
 * .txt (a blank line ends one), the length policy's one warning appears,
 * ppo's held-out evaluation logged the judge, and chat answered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/base/util.h"
#include "test.h"
#include "test_pretrain_fixtures.h"

static void write_in(const char *dir, const char *name, const char *text) {
    char *path = path_join(dir, name);
    write_bytes(path, text, strlen(text));
    free(path);
}

/* Replaces every `from` in *s by `to`; returns how many there were. */
static int replace_all(char **s, const char *from, const char *to) {
    int n = 0;
    size_t pos = 0;
    for (char *at; (at = strstr(*s + pos, from)); n++) {
        size_t head = (size_t)(at - *s);
        char *next = xsprintf("%.*s%s%s", (int)head, *s, to, at + strlen(from));
        free(*s);
        *s = next;
        pos = head + strlen(to); /* after what was put in: `to` may hold `from` */
    }
    return n;
}

/* The sections of the README the test reads: the block after
 * "<!-- walkthrough -->" into walk.sh, the block after "<!-- file: NAME -->" into NAME. */
static const char *EXTRACT =
    "/^<!-- walkthrough -->/ { target = dir \"/walk.sh\"; next }\n"
    "/^<!-- file: / { target = dir \"/\" $3; next }\n"
    "target != \"\" && /^```/ { if (inside) { inside = 0; target = \"\" } else inside = 1; next }\n"
    "inside { print > target }\n";

static const char *const MINIATURE[][2] = {
    {"--vocab-size 8000", "--vocab-size 300"},
    {"--preset small", "--dim 32 --layers 1 --heads 2 --batch 4"},
    {"--steps 2000", "--steps 3"},
    {"--seq-len 512", "--seq-len 64"},
    {"--epochs 3", "--epochs 1"},
    {"--limit 500", "--limit 4"},
    {"--iterations 100", "--iterations 2 --rollout-prompts 4 --minibatch 4 --max-new-tokens 8 --eval-every 1"},
    {"--steps 300", "--steps 2"},
    {"lmforge chat runs/dpo/model", "echo 'Name a fruit.' | lmforge chat runs/dpo/model --max-new-tokens 8"},
};

TEST(own_data_walkthrough_of_the_readme_runs_as_written) {
    if (test_system("python3 -c 'import json' > /dev/null 2>&1") != 0) SKIP("python3 is not installed");
    char *dir = test_tmpdir("own-data");
    char *cwd = getcwd(NULL, 0);
    test_system("mkdir -p '%s/data'", dir);
    /* 12 documents: two lines each, blank lines between (two at one place, white space at another) */
    static const char *FRUITS[] = {"apple", "pear", "plum", "grape", "mango", "peach"};
    char *corpus = xstrdup("");
    for (int i = 0; i < 12; i++) {
        char *more = xsprintf("%sThe farmer grows a %s.\nHe sells the %s at the market.\n%s", corpus, FRUITS[i % 6],
                              FRUITS[(i + 1) % 6], i == 3 ? "\n\n" : i == 7 ? "  \n" : "\n");
        free(corpus);
        corpus = more;
    }
    write_in(dir, "data/corpus.txt", corpus);
    char *chats = xstrdup("");
    for (int i = 0; i < 12; i++) {
        char *more = i % 2 ? xsprintf("%s{\"messages\": [{\"role\": \"user\", \"content\": \"Name a fruit.\"}, "
                                      "{\"role\": \"assistant\", \"content\": \"A %s.\"}]}\n", chats, FRUITS[i % 6])
                           : xsprintf("%s{\"prompt\": \"What does the farmer grow?\", \"completion\": \"He grows a "
                                      "%s.\"}\n", chats, FRUITS[i % 6]);
        free(chats);
        chats = more;
    }
    write_in(dir, "data/chats.jsonl", chats);
    write_in(dir, "data/prompts.jsonl", "{\"prompt\": \"Name a fruit.\"}\n{\"prompt\": \"What does the farmer grow?\"}\n"
                                        "{\"messages\": [{\"role\": \"user\", \"content\": \"What does he sell?\"}]}\n"
                                        "{\"prompt\": \"Name a fruit, please.\"}\n");
    write_in(dir, "data/heldout_prompts.jsonl", "{\"prompt\": \"Which fruit is sweet?\"}\n"
                                                "{\"prompt\": \"What is at the market?\"}\n");

    /* the README's commands and programs */
    write_in(dir, "extract.awk", EXTRACT);
    CHECK(test_system("awk -v dir='%s' -f '%s/extract.awk' '%s/README.md'", dir, dir, cwd) == 0);
    char *walk_path = path_join(dir, "walk.sh"), *walk = read_file(walk_path, NULL);
    for (size_t i = 0; i < LMF_ARRAY_LEN(MINIATURE); i++)
        CHECK_MSG(replace_all(&walk, MINIATURE[i][0], MINIATURE[i][1]) > 0,
                  "README's walkthrough no longer has \"%s\"", MINIATURE[i][0]);
    char *bin = xsprintf("%s%s%s ", lmforge_bin()[0] == '/' ? "" : cwd, lmforge_bin()[0] == '/' ? "" : "/",
                         lmforge_bin());
    CHECK(replace_all(&walk, "lmforge ", bin) >= 12);
    char *script = xsprintf("set -e\n%s", walk);
    write_in(dir, "walk.sh", script);
    CHECK(test_system("test -s '%s/rank.py' && test -s '%s/judge.py'", dir, dir) == 0);
    CHECK_MSG(test_system("cd '%s' && " FIXTURE_ENV " OMP_NUM_THREADS=2 sh walk.sh > walk.log 2>&1", dir) == 0,
              "the walkthrough failed: see %s/walk.log", dir);

    /* the same 12 documents for the tokenizer, pretraining and data check */
    CHECK(test_system("grep -q '^  12 documents, ' '%s/walk.log'", dir) == 0);
    CHECK(test_system("grep -q 'tokenizer: .* in 12 documents' '%s/walk.log'", dir) == 0);
    CHECK(test_system("grep -q 'tokenized 1 file(s), 12 documents' '%s/walk.log'", dir) == 0);
    /* the length policy: one counted warning, in its words */
    CHECK(test_system("grep -q 'records truncated to --seq-len 64\\|responses truncated to --seq-len 64' '%s/walk.log'",
                      dir) == 0);
    CHECK(test_system("grep -q 'sft truncates [0-9]* of 12 records' '%s/walk.log'", dir) == 0);
    /* what each stage left */
    CHECK(test_system("grep -q 'dpo done: 2 steps' '%s/walk.log'", dir) == 0);
    CHECK(test_system("grep -q '\"eval/judge\"' '%s/runs/ppo/metrics.jsonl'", dir) == 0);
    CHECK(test_system("test -s '%s/runs/rankings.jsonl' && test -s '%s/runs/rs/pairs.jsonl' && "
                      "test -s '%s/runs/dpo/model/model.safetensors'", dir, dir, dir) == 0);

    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(script);
    free(bin);
    free(walk);
    free(walk_path);
    free(chats);
    free(corpus);
    free(cwd);
    free(dir);
}
