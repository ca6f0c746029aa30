/* test_data_check.c — `lmforge data check`, run as a user would before
 * training: each file's format is recognised, its records counted, their
 * lengths shown; at --seq-len, what sft would truncate is counted and what
 * the readers refuse is listed with FILE:LINE (a bad record is reported, not
 * a crash); the exit status says whether every file would be accepted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/base/util.h"
#include "test.h"
#include "test_pretrain_fixtures.h"

static void write_text(const char *dir, const char *name, const char *text) {
    char *path = path_join(dir, name);
    write_bytes(path, text, strlen(text));
    free(path);
}

/* The lmforge binary by an absolute path: the checks run in their folder. */
static const char *bin(void) {
    static char path[4096];
    if (!path[0]) {
        char *cwd = getcwd(NULL, 0);
        snprintf(path, sizeof path, "%s%s%s", lmforge_bin()[0] == '/' ? "" : cwd, lmforge_bin()[0] == '/' ? "" : "/",
                 lmforge_bin());
        free(cwd);
    }
    return path;
}

/* Runs `lmforge data check ARGS` in DIR; stdout to out.txt, stderr to err.txt. */
static int check(const char *dir, const char *args) {
    return test_system("cd '%s' && " FIXTURE_ENV " %s data check %s > out.txt 2> err.txt", dir, bin(), args);
}

static int out_has(const char *dir, const char *file, const char *text) {
    return test_system("grep -qF -- '%s' '%s/%s'", text, dir, file) == 0;
}

TEST(data_check_detects_counts_and_lists_what_the_stages_refuse) {
    char *dir = test_tmpdir("data-check");
    write_text(dir, "corpus.txt", "Name a fruit. An apple, a pear and a plum. The cat sat on the mat.\n");
    CHECK(test_system("cd '%s' && %s tokenizer train --vocab-size 280 --out tok corpus.txt > /dev/null", dir, bin()) == 0);

    /* SFT: two good records, one with an unknown role (line 3), a line that is not JSON (5), a long one */
    write_text(dir, "sft.jsonl",
               "{\"messages\": [{\"role\": \"user\", \"content\": \"Name a fruit.\"}, {\"role\": \"assistant\", "
               "\"content\": \"apple\"}]}\n"
               "{\"prompt\": \"Name a fruit.\", \"completion\": \"pear\"}\n"
               "{\"messages\": [{\"role\": \"bot\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": "
               "\"x\"}]}\n"
               "\n"
               "not json\n"
               "{\"prompt\": \"Name a fruit. The cat sat on the mat. The cat sat on the mat. The cat sat on the mat. "
               "The cat sat on the mat.\", \"completion\": \"plum\"}\n");
    CHECK(check(dir, "sft.jsonl --tokenizer tok --seq-len 60") == 1);
    CHECK(out_has(dir, "out.txt", "sft.jsonl: SFT examples"));
    CHECK(out_has(dir, "out.txt", "refused by sft: sft.jsonl:3: field \"messages\"[0]: unknown role \"bot\""));
    CHECK(out_has(dir, "out.txt", "refused by sft: sft.jsonl:5: not valid JSON"));
    CHECK(out_has(dir, "out.txt", "3 records accepted"));
    CHECK(out_has(dir, "out.txt", "tokens per example (prompt and answer in ChatML): p50"));
    CHECK(out_has(dir, "out.txt", "at --seq-len 60: sft truncates 1 of 3 records (0 lose the end of an answer)"));
    CHECK(out_has(dir, "out.txt", "2 records refused"));
    CHECK(test_system("test $(wc -l < '%s/err.txt') -eq 1", dir) == 0);
    CHECK(out_has(dir, "err.txt", "data check: 1 of 1 file would be refused"));

    /* pairs, rankings, prompts, text: accepted; without a tokenizer, lengths in bytes */
    write_text(dir, "pairs.jsonl", "{\"prompt\": \"Name a fruit.\", \"chosen\": \"apple\", \"rejected\": \"saw\"}\n"
                                   "{\"prompt\": \"Name a fruit.\", \"chosen\": \"pear\", \"rejected\": \"pear\"}\n");
    write_text(dir, "ranks.jsonl", "{\"prompt\": \"Name a fruit.\", \"responses\": [\"saw\", \"apple\", \"pear\"], "
                                   "\"ranking\": [1, 2, 0]}\n");
    write_text(dir, "prompts.jsonl", "{\"prompt\": \"Name a fruit.\"}\n{\"messages\": [{\"role\": \"user\", "
                                     "\"content\": \"Name a fruit.\"}]}\n");
    write_text(dir, "docs.jsonl", "{\"text\": \"one\"}\n{\"text\": \"two three\"}\n");
    CHECK(check(dir, "pairs.jsonl ranks.jsonl prompts.jsonl docs.jsonl corpus.txt") == 0);
    CHECK(out_has(dir, "out.txt", "pairs.jsonl: preference pairs"));
    CHECK(out_has(dir, "out.txt", "2 records accepted: 1 pairs, 1 skipped"));
    CHECK(out_has(dir, "out.txt", "ranks.jsonl: K-way rankings"));
    CHECK(out_has(dir, "out.txt", "1 records accepted: 1 prompts, 3 responses, 3 pairs"));
    CHECK(out_has(dir, "out.txt", "prompts.jsonl: prompts"));
    CHECK(out_has(dir, "out.txt", "2 prompts accepted"));
    CHECK(out_has(dir, "out.txt", "docs.jsonl: pretraining text"));
    CHECK(out_has(dir, "out.txt", "bytes per document: p50 3, p90 9, p99 9, max 9"));
    CHECK(out_has(dir, "out.txt", "corpus.txt: pretraining text"));
    CHECK(test_system("test -s '%s/err.txt'", dir) != 0);

    /* at a short --seq-len: prompts that leave no room for an answer are cut, as ppo and grpo cut them */
    CHECK(check(dir, "prompts.jsonl pairs.jsonl --tokenizer tok --seq-len 12") == 0);
    CHECK(out_has(dir, "out.txt", "at --seq-len 12: 2 of 2 prompts leave no room for an answer: ppo and grpo cut"));
    /* pairs are cut by the one length policy (the loaders' own counts), in
     * dpo and rm alike; the old --truncate-prompt is accepted */
    CHECK(check(dir, "pairs.jsonl --tokenizer tok --seq-len 12 --truncate-prompt") == 0);
    CHECK(out_has(dir, "out.txt", "dpo truncates 1 of 1 records ("));
    CHECK(out_has(dir, "out.txt", "rm truncates 2 of 2 responses ("));

    /* a file of no known format, and usage errors */
    write_text(dir, "odd.jsonl", "{\"foo\": 1}\n");
    CHECK(check(dir, "odd.jsonl") == 1);
    CHECK(out_has(dir, "out.txt", "no record says which format it is"));
    CHECK(check(dir, "pairs.jsonl --seq-len 12") == 1);
    CHECK(out_has(dir, "err.txt", "give the --tokenizer too"));
    CHECK(check(dir, "missing.jsonl") == 1);
    CHECK(out_has(dir, "err.txt", "missing.jsonl: no such file"));
    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(dir);
}
