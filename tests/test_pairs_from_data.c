/* test_pairs_from_data.c — `lmforge pairs-from-data` (SPIN's pairs): the
 * data's answer is chosen and the model's sample rejected, for chats and
 * for pretraining text; pairs whose sample equals the data are dropped and
 * counted; the output is the same for a seed at any batch size; and DPO
 * trains on both kinds. On the toy task of test_ppo_util.h. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/util.h"
#include "test.h"
#include "test_ppo_util.h"
#include "test_pretrain_fixtures.h"

static int run(const char *dir, const char *args) {
    return test_system(FIXTURE_ENV " %s %s > '%s/run.log' 2>&1", lmforge_bin(), args, dir);
}

TEST_SLOW(pairs_from_data_sets_the_data_against_the_model) {
    char *dir = test_tmpdir("pfd");
    char *sft = ppo_test_write_sft(dir, "sft");
    /* chats: each ask answered with "apple" (which the SFT model also says: some samples equal it) and with a
     * word the model never says */
    char *chats = path_join(dir, "chats.jsonl");
    FILE *f = fopen(chats, "w");
    for (int r = 0; r < 6; r++)
        for (int a = 0; a < PPO_N_ASKS; a++) {
            fprintf(f, "{\"prompt\": \"%s\", \"completion\": \"apple\"}\n", PPO_ASKS[a]);
            fprintf(f, "{\"messages\": [{\"role\": \"user\", \"content\": \"%s\"}, {\"role\": \"assistant\", "
                       "\"content\": \"%s\"}]}\n", PPO_ASKS[a], PPO_FRUITS[7]);
        }
    fclose(f);
    char *args = xsprintf("pairs-from-data %s %s --out %s/a.jsonl --seed 4 --max-new-tokens 6", sft, chats, dir);
    CHECK(run(dir, args) == 0);
    free(args);
    args = xsprintf("pairs-from-data %s %s --out %s/b.jsonl --seed 4 --max-new-tokens 6 --batch-size 3", sft, chats, dir);
    CHECK(run(dir, args) == 0);
    CHECK_MSG(test_system("cmp -s %s/a.jsonl %s/b.jsonl", dir, dir) == 0, "another batch size gave other pairs");
    free(args);

    char *path = path_join(dir, "a.jsonl");
    int n, apple = 0, melon = 0;
    cJSON **lines = ppo_test_read_jsonl(path, &n);
    for (int i = 0; i < n; i++) {
        const char *chosen = cJSON_GetObjectItem(lines[i], "chosen")->valuestring;
        const char *rejected = cJSON_GetObjectItem(lines[i], "rejected")->valuestring;
        CHECK(cJSON_IsString(cJSON_GetObjectItem(lines[i], "prompt")));
        CHECK(strcmp(chosen, rejected) != 0);
        apple += strcmp(chosen, "apple") == 0;
        melon += strcmp(chosen, PPO_FRUITS[7]) == 0;
    }
    /* every "melon" line makes a pair (the model never says it); some "apple" lines were dropped */
    CHECK_EQ_INT(melon, 6 * PPO_N_ASKS);
    CHECK_MSG(apple < 6 * PPO_N_ASKS && apple > 0, "%d apple pairs", apple);
    CHECK_EQ_INT(n, apple + melon);
    char *expect = xsprintf("grep -q 'dropped %d whose sample equals the data' %s/run.log", 6 * PPO_N_ASKS - apple, dir);
    CHECK_MSG(test_system("%s", expect) == 0, "the log does not count the dropped pairs");
    ppo_test_free_jsonl(lines, n);

    /* --limit takes the first N, --shuffle N at random */
    args = xsprintf("pairs-from-data %s %s --out %s/l.jsonl --limit 3 --max-new-tokens 6 --temperature 0", sft, chats,
                    dir);
    CHECK(run(dir, args) == 0);
    free(args);
    free(path);
    path = path_join(dir, "l.jsonl");
    lines = ppo_test_read_jsonl(path, &n);
    CHECK(n <= 3);
    ppo_test_free_jsonl(lines, n);

    /* pretraining text: the prefix's real continuation against the model's */
    char *text = path_join(dir, "text.txt");
    f = fopen(text, "w");
    for (int i = 0; i < 30; i++) fprintf(f, "%s %s or %s. ", PPO_ASKS[i % 4], PPO_FRUITS[i % 8], PPO_TOOLS[i % 5]);
    fclose(f);
    args = xsprintf("pairs-from-data %s %s --out %s/t.jsonl --prefix-tokens 8 --continuation-tokens 6", sft, text, dir);
    CHECK(run(dir, args) == 0);
    free(args);
    char *whole = read_file(text, NULL);
    free(path);
    path = path_join(dir, "t.jsonl");
    lines = ppo_test_read_jsonl(path, &n);
    CHECK(n > 5);
    for (int i = 0; i < n; i++) {
        const char *prefix = cJSON_GetObjectItem(lines[i], "prefix")->valuestring;
        const char *chosen = cJSON_GetObjectItem(lines[i], "chosen")->valuestring;
        char *joined = xsprintf("%s%s", prefix, chosen);
        CHECK_MSG(strstr(whole, joined) != NULL, "\"%s\" is not in the text", joined);
        CHECK(cJSON_GetObjectItem(lines[i], "prompt") == NULL);
        free(joined);
    }
    ppo_test_free_jsonl(lines, n);

    /* DPO trains on both kinds of pairs */
    args = xsprintf("dpo --init %s --data %s/a.jsonl --steps 2 --batch 4 --out %s/dpo-chat", sft, dir, dir);
    CHECK(run(dir, args) == 0);
    free(args);
    args = xsprintf("dpo --init %s --data %s/t.jsonl --steps 2 --batch 4 --out %s/dpo-text", sft, dir, dir);
    CHECK(run(dir, args) == 0);
    free(args);

    /* a file without answers is refused naming its line */
    write_bytes(chats, "{\"prompt\": \"Name a fruit.\"}\n", 28);
    args = xsprintf("pairs-from-data %s %s --out %s/x.jsonl", sft, chats, dir);
    CHECK(run(dir, args) == 1);
    CHECK(test_system("grep -q 'chats.jsonl:1: field \"answer\" is missing' %s/run.log", dir) == 0);
    free(args);
    free(expect);
    free(whole);
    free(text);
    free(path);
    free(chats);
    free(sft);
    test_system("rm -rf %s", dir);
    free(dir);
}
