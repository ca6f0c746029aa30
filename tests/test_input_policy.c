/* test_input_policy.c — the input policy (README: Reliability): every reader
 * refuses text that is not UTF-8, NUL, lone surrogates, duplicate keys,
 * blank prompts and answers and fields of the wrong type, naming the file
 * (and line); dpo skips chosen == rejected as rm does; safetensors files
 * must tile their data section and shards must sit beside their index. Each
 * case is a small file written here, and the message it must die with. */
#include <stdlib.h>
#include <string.h>

#include "../src/base/input_check.h"
#include "../src/base/json_util.h"
#include "../src/base/util.h"
#include "../src/data/chat_data.h"
#include "../src/base/jsonl.h"
#include "../src/data/preference_pairs.h"
#include "../src/data/rm_data.h"
#include "../src/data/sft_data.h"
#include "../src/data/text_data.h"
#include "../src/io/safetensors.h"
#include "test.h"
#include "test_pretrain_fixtures.h"

static char *write_in(const char *dir, const char *name, const void *bytes, size_t len) {
    char *p = path_join(dir, name);
    write_bytes(p, bytes, len);
    return p;
}

static void read_jsonl(void *path) {
    JsonlReader *r = jsonl_open(path);
    JsonlRecord rec;
    while (jsonl_next(r, &rec)) {}
    jsonl_close(r);
}

/* JSONL lines, given with their lengths: some hold NUL bytes. */
#define BYTES(s) s, sizeof(s) - 1

TEST(input_jsonl_refuses_text_that_is_not_utf8_or_holds_nul) {
    char *dir = test_tmpdir("policy-utf8");
    struct {
        const char *bytes;
        size_t len;
        const char *expected;
    } cases[] = {
        {BYTES("{\"text\": \"ok\"}\n{\"text\": \"a\xFF\"}\n"), "d.jsonl:2: invalid UTF-8 (binary data, another encoding, or a character cut short?) (column 12)"},
        {BYTES("{\"text\": \"\xC0\xAF\"}\n"), "d.jsonl:1: invalid UTF-8"},          /* overlong "/" */
        {BYTES("{\"text\": \"\xED\xA0\x80\"}\n"), "d.jsonl:1: invalid UTF-8"},      /* an encoded surrogate */
        {BYTES("{\"text\": \"\xF4\x90\x80\x80\"}\n"), "d.jsonl:1: invalid UTF-8"},  /* past U+10FFFF */
        {BYTES("{\"text\": \"cut \xE4\xBD"), "d.jsonl:1: invalid UTF-8 (binary data, another encoding, or a character cut short?) (column 15)"},
        {BYTES("{\"text\": \"a\0b\"}\n"), "d.jsonl:1: a NUL byte (binary data?) (column 12)"},
        {BYTES("\n\0\n"), "d.jsonl:2: a NUL byte"}, /* not a blank line */
        {BYTES("{\"text\": \"a\\u0000b\"}\n"), "d.jsonl:1: a \\u0000 escape (NUL is not allowed in text) (column 12)"},
        {BYTES("{\"text\": \"a\\ud800\"}\n"), "d.jsonl:1: a lone surrogate escape (a high half without its low half)"},
        {BYTES("{\"text\": \"a\\ud800\\u0041\"}\n"), "a lone surrogate escape (a high half without its low half)"},
        {BYTES("{\"text\": \"\\uDC00x\"}\n"), "d.jsonl:1: a lone surrogate escape (a low half without its high half)"},
        {BYTES("\xFF\xFE{\0\"\0"), "d.jsonl:1: UTF-16 text (it starts with a UTF-16 byte order mark); convert it to UTF-8"},
        {BYTES("\xFF\xFE\0\0{\0\0\0"), "d.jsonl:1: UTF-32 text"},
        {BYTES("{\"text\": \"a\tb\"}\n"), "d.jsonl:1: a raw control character inside a string (JSON wants it escaped"},
        {BYTES("{\"te\x01xt\": 1}\n"), "d.jsonl:1: a raw control character inside a string"},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++) {
        char *p = write_in(dir, "d.jsonl", cases[i].bytes, cases[i].len);
        CHECK_MSG(CHECK_DIES(read_jsonl, p, cases[i].expected), "case %zu", i);
        free(p);
    }

    /* What must stay accepted: an escaped backslash before "u0000", a valid
     * surrogate pair, a UTF-8 byte order mark, and 4-byte UTF-8. */
    const char good[] = "\xEF\xBB\xBF{\t\"a\":\t\"\\\\u0000 \\ud83d\\ude00 \xF0\x9F\x98\x80\\\"\\t\"}\n";
    char *p = write_in(dir, "good.jsonl", good, sizeof good - 1);
    JsonlReader *r = jsonl_open(p);
    JsonlRecord rec;
    CHECK(jsonl_next(r, &rec));
    CHECK(strcmp(jsonl_get_string(&rec, "a"), "\\u0000 \xF0\x9F\x98\x80 \xF0\x9F\x98\x80\"\t") == 0);
    jsonl_close(r);
    free(p);
    test_system("rm -rf %s", dir);
    free(dir);
}

static void read_json_file(void *path) { cJSON_Delete(json_read_file(path)); }

TEST(input_json_refuses_duplicate_keys_and_says_when_too_deep) {
    char *dir = test_tmpdir("policy-json");
    const char *cases[][2] = {
        {"{\"text\": \"a\", \"text\": \"b\"}\n", "d.jsonl:1: key \"text\" appears twice in one object"},
        {"{\"ok\": 1}\n{\"m\": [{\"role\": \"user\", \"role\": \"assistant\"}]}\n",
         "d.jsonl:2: key \"role\" appears twice in one object"},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++) {
        char *p = write_in(dir, "d.jsonl", cases[i][0], strlen(cases[i][0]));
        CHECK_DIES(read_jsonl, p, cases[i][1]);
        free(p);
    }
    /* 40 distinct keys (the sorted path) with one repeated at the end. */
    char big[2048] = "{";
    for (int k = 0; k < 40; k++) snprintf(big + strlen(big), sizeof big - strlen(big), "\"k%d\": %d, ", k, k);
    strcat(big, "\"k7\": 0}\n");
    char *p = write_in(dir, "d.jsonl", big, strlen(big));
    CHECK_DIES(read_jsonl, p, "d.jsonl:1: key \"k7\" appears twice");
    free(p);

    /* Deeper than cJSON's limit: said as such, not as "not valid JSON". */
    size_t depth = CJSON_NESTING_LIMIT + 1;
    char *deep = xmalloc(2 * depth + 16);
    strcpy(deep, "{\"a\": ");
    size_t n = strlen(deep);
    for (size_t i = 0; i < depth; i++) deep[n++] = '[';
    for (size_t i = 0; i < depth; i++) deep[n++] = ']';
    strcpy(deep + n, "}\n");
    p = write_in(dir, "d.jsonl", deep, strlen(deep));
    CHECK_DIES(read_jsonl, p, "d.jsonl:1: JSON nested more than 1000 levels deep");
    free(p);
    free(deep);

    /* Whole JSON files (config.json, recipes, indexes) follow the same rules. */
    const char *files[][2] = {
        {"{\"dim\": 64, \"n_layers\": 2, \"dim\": 128}", "c.json: key \"dim\" appears twice in one object"},
        {"{\"name\": \"a\\u0000b\"}", "c.json: a \\u0000 escape (NUL is not allowed in text) at byte offset 11"},
        {"{\"name\": \"\xE9t\xE9\"}", "c.json: invalid UTF-8 (binary data, another encoding, or a character cut short?) at byte offset 10"},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(files); i++) {
        char *c = write_in(dir, "c.json", files[i][0], strlen(files[i][0]));
        CHECK_DIES(read_json_file, c, files[i][1]);
        free(c);
    }
    test_system("rm -rf %s", dir);
    free(dir);
}

/* ---- text corpora ---- */

typedef struct {
    const char *input;
    const Tokenizer *tok;
} TokenizeArgs;

static void tokenize(void *p) {
    const TokenizeArgs *a = p;
    IntVec ids = tokenize_inputs(&a->input, 1, a->tok);
    intvec_free(&ids);
}

TEST(input_text_corpora_must_be_utf8_text) {
    char *dir = test_tmpdir("policy-text");
    char *corpus = fixture_write_text(dir, "corpus.txt", 40, 3);
    Tokenizer *tok = fixture_tokenizer(corpus, 270);
    struct {
        const char *name, *bytes;
        size_t len;
        const char *expected;
    } cases[] = {
        {"utf16.txt", BYTES("\xFF\xFEh\0i\0"), "utf16.txt: UTF-16 text (it starts with a UTF-16 byte order mark); convert it to UTF-8 at byte offset 0"},
        {"utf16be.txt", BYTES("\xFE\xFF\0h\0i"), "utf16be.txt: UTF-16 text"},
        {"binary.txt", BYTES("ELF\x7f\x02\x01\x01\0\0\0"), "binary.txt: a NUL byte (binary data?) at byte offset 7"},
        {"latin1.txt", BYTES("caf\xE9 au lait"), "latin1.txt: invalid UTF-8 (binary data, another encoding, or a character cut short?) at byte offset 3"},
        {"cut.txt", BYTES("hello \xE4\xBD\xA0\xE5\xA5"), "cut.txt: invalid UTF-8 (binary data, another encoding, or a character cut short?) at byte offset 9"},
        {"blank.txt", BYTES(" \n\t\n"), "blank.txt: only white space, no text"},
        {"bom_only.txt", BYTES("\xEF\xBB\xBF"), "bom_only.txt: empty file"},
        {"empty_docs.jsonl", BYTES("{\"text\": \"\"}\n{\"text\": \"  \"}\n"), "empty_docs.jsonl: all 2 documents are empty (or only white space)"},
        {"nul.jsonl", BYTES("{\"text\": \"a\\u0000b\"}\n"), "nul.jsonl:1: a \\u0000 escape"},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++) {
        char *p = write_in(dir, cases[i].name, cases[i].bytes, cases[i].len);
        TokenizeArgs a = {p, tok};
        CHECK_MSG(CHECK_DIES(tokenize, &a, cases[i].expected), "case %s", cases[i].name);
        free(p);
    }
    /* A UTF-8 byte order mark is skipped: the text tokenizes as without it. */
    char *with = write_in(dir, "with_bom.txt", BYTES("\xEF\xBB\xBFthe cat")), *without = write_in(dir, "plain.txt", BYTES("the cat"));
    IntVec a = tokenize_inputs((const char *const *)&with, 1, tok), b = tokenize_inputs((const char *const *)&without, 1, tok);
    CHECK(a.len == b.len && memcmp(a.data, b.data, sizeof(int) * (size_t)a.len) == 0);
    int plain_len = b.len;
    intvec_free(&a);
    intvec_free(&b);
    /* An empty document among others is skipped, not turned into a lone EOS. */
    char *mixed = write_in(dir, "mixed.jsonl", BYTES("{\"text\": \"the cat\"}\n{\"text\": \" \"}\n"));
    IntVec m = tokenize_inputs((const char *const *)&mixed, 1, tok);
    CHECK_EQ_INT(m.len, plain_len);
    intvec_free(&m);
    free(with);
    free(without);
    free(mixed);
    tokenizer_free(tok);
    free(corpus);
    test_system("rm -rf %s", dir);
    free(dir);
}

/* ---- prompts, SFT, preference pairs ---- */

static void load_prompt_file(void *path) {
    int n;
    Conversation *c = load_prompts(path, &n);
    for (int i = 0; i < n; i++) conversation_free(&c[i]);
    free(c);
}

TEST(input_prompts_must_say_something_and_have_the_right_type) {
    char *dir = test_tmpdir("policy-prompts");
    const char *cases[][2] = {
        {"{\"prompt\": \"hi\"}\n{\"prompt\": \"\"}\n", "p.jsonl:2: field \"prompt\" is empty (or only white space)"},
        {"{\"prompt\": \" \\n\\t \"}\n", "p.jsonl:1: field \"prompt\" is empty (or only white space)"},
        {"{\"messages\": \"a string\"}\n",
         "p.jsonl:1: field \"messages\" must be a list of {\"role\": ..., \"content\": ...} messages, not a string"},
        {"{\"messages\": {\"role\": \"user\"}}\n", "p.jsonl:1: field \"messages\" must be a list of {\"role\": ..., \"content\": ...} messages, not an object"},
        {"{\"messages\": [{\"role\": \"system\", \"content\": \"be brief\"}, {\"role\": \"user\", \"content\": \" \"}]}\n",
         "p.jsonl:1: field \"messages\"[1]: the user message is empty (or only white space)"},
        {"{\"prompt\": 3}\n", "p.jsonl:1: field \"prompt\" must be a string or a list of messages"},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++) {
        char *p = write_in(dir, "p.jsonl", cases[i][0], strlen(cases[i][0]));
        CHECK_MSG(CHECK_DIES(load_prompt_file, p, cases[i][1]), "case %zu", i);
        free(p);
    }
    test_system("rm -rf %s", dir);
    free(dir);
}

typedef struct {
    const char *path;
    const Tokenizer *tok;
} LoadArgs;

static void load_sft(void *p) {
    const LoadArgs *a = p;
    SftOptions o = {.max_len = 64};
    sft_data_free(sft_data_load(&a->path, 1, a->tok, &o));
}

static void load_dpo(void *p) {
    const LoadArgs *a = p;
    PrefPairs pairs = pref_pairs_load(&a->path, 1, a->tok, 64);
    pref_pairs_free(&pairs);
}

static void load_rm(void *p) {
    const LoadArgs *a = p;
    preference_set_free(preference_set_load(&a->path, 1, a->tok, 64, 0));
}

TEST(input_answers_must_say_something_in_every_stage) {
    char *dir = test_tmpdir("policy-answers");
    char *corpus = fixture_write_text(dir, "corpus.txt", 40, 4);
    Tokenizer *tok = fixture_tokenizer(corpus, 270);
    struct {
        void (*load)(void *);
        const char *text, *expected;
    } cases[] = {
        {load_sft, "", "d.jsonl: no examples"},
        {load_sft, "\n  \n\n", "d.jsonl: no examples"},
        {load_sft, "{\"prompt\": \"hi\", \"completion\": \" \"}\n", "d.jsonl:1: field \"completion\" is an empty answer"},
        {load_sft, "{\"prompt\": \"\", \"completion\": \"yes\"}\n", "d.jsonl:1: field \"prompt\" is empty"},
        {load_sft,
         "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"\"}, "
         "{\"role\": \"user\", \"content\": \"again\"}, {\"role\": \"assistant\", \"content\": \"ok\"}]}\n",
         "d.jsonl:1: field \"messages\"[1]: the assistant message is an empty answer"},
        {load_sft, "{\"messages\": \"hi\"}\n", "d.jsonl:1: field \"messages\" must be a list of messages"},
        {load_dpo, "{\"prompt\": \"hi\", \"chosen\": \"\", \"rejected\": \"no\"}\n", "d.jsonl:1: field \"chosen\" is an empty answer"},
        {load_dpo, "{\"prompt\": \" \", \"chosen\": \"yes\", \"rejected\": \"no\"}\n", "d.jsonl:1: field \"prompt\" is empty"},
        {load_dpo, "{\"prompt\": \"hi\", \"chosen\": \"same\", \"rejected\": \"same\"}\n",
         "d.jsonl: no preference pairs left (every pair was identical)"},
        {load_rm, "{\"prompt\": \"hi\", \"chosen\": \"\\n\", \"rejected\": \"no\"}\n", "d.jsonl:1: field \"chosen\" is an empty answer"},
        {load_rm, "{\"prompt\": \"hi\", \"chosen\": \"yes\", \"rejected\": \"\"}\n", "d.jsonl:1: field \"rejected\" is an empty answer"},
        {load_rm, "{\"prompt\": \"hi\", \"responses\": [\"a\", \" \"], \"ranking\": [0, 1]}\n",
         "d.jsonl:1: field \"responses\"[1] is an empty answer"},
        {load_rm, "{\"prompt\": \"\", \"chosen\": \"yes\", \"rejected\": \"no\"}\n", "d.jsonl:1: field \"prompt\" is empty"},
        /* found by make fuzz: an index too large for an int was cast to one */
        {load_rm, "{\"prompt\": \"hi\", \"responses\": [\"a\", \"b\"], \"ranking\": [0, 2.1e34]}\n",
         "d.jsonl:1: field \"ranking\" is not a permutation of the 2 responses: index 2.1e+34 is out of range"},
        {load_rm, "{\"prompt\": \"hi\", \"responses\": [\"a\", \"b\"], \"ranking\": [[0, -1e300]]}\n",
         "index -1e+300 is out of range"},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++) {
        char *p = write_in(dir, "d.jsonl", cases[i].text, strlen(cases[i].text));
        LoadArgs a = {p, tok};
        CHECK_MSG(CHECK_DIES(cases[i].load, &a, cases[i].expected), "case %zu", i);
        free(p);
    }

    /* dpo skips a pair whose answers are the same, as rm does, and keeps the rest. */
    const char *mixed = "{\"prompt\": \"hi\", \"chosen\": \"yes\", \"rejected\": \"no\"}\n"
                        "{\"prompt\": \"hi\", \"chosen\": \"same\", \"rejected\": \"same\"}\n";
    char *p = write_in(dir, "d.jsonl", mixed, strlen(mixed));
    PrefPairs pairs = pref_pairs_load((const char *const *)&p, 1, tok, 64);
    CHECK_EQ_INT(pairs.n, 1);
    pref_pairs_free(&pairs);
    PreferenceSet *set = preference_set_load((const char *const *)&p, 1, tok, 64, 0);
    CHECK_EQ_INT(set->n_pairs, 1);
    CHECK_EQ_INT(set->identical_pairs, 1);
    preference_set_free(set);
    free(p);
    tokenizer_free(tok);
    free(corpus);
    test_system("rm -rf %s", dir);
    free(dir);
}

/* ---- safetensors ---- */

static void write_st(const char *path, const char *header, size_t data_len) {
    uint64_t n = strlen(header);
    char *bytes = xcalloc(8 + n + data_len, 1);
    memcpy(bytes, &n, 8);
    memcpy(bytes + 8, header, n);
    write_bytes(path, bytes, 8 + n + data_len);
    free(bytes);
}

static void open_st(void *path) { st_close(st_open(path)); }

TEST(input_safetensors_data_ranges_tile_the_data_section) {
    char *dir = test_tmpdir("policy-st");
    char *path = path_join(dir, "m.safetensors");
    struct {
        const char *header;
        size_t data_len;
        const char *expected; /* NULL: accepted */
    } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
         "m.safetensors: tensor \"b\": data_offsets [4, 12] overlap those of tensor \"a\" [0, 8]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
         "data_offsets [0, 8] overlap those of tensor"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12,
         "m.safetensors: tensor \"b\": data_offsets [8, 12] leave a gap of 4 bytes after tensor \"a\", which ends at 4"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
         "m.safetensors: tensor \"a\": data_offsets [4, 8]: the data section's first 4 bytes belong to no tensor"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12,
         "m.safetensors: 8 bytes after the end of the last tensor (\"a\", at 4) belong to no tensor"},
        {"{\"__metadata__\":{\"format\":\"pt\"}}", 4, "m.safetensors: 4 bytes of data but no tensor"},
        /* out of order in the header, tiling the data: fine; so is an empty tensor */
        {"{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, NULL},
        {"{\"__metadata__\":{\"format\":\"pt\"}}", 0, NULL},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++) {
        write_st(path, cases[i].header, cases[i].data_len);
        if (cases[i].expected) {
            CHECK_MSG(CHECK_DIES(open_st, path, cases[i].expected), "case %zu", i);
        } else {
            SafeTensors *st = st_open(path);
            CHECK(st_count(st) == (i == 6 ? 3 : 0));
            st_close(st);
        }
    }
    /* The header follows the JSON rules too. */
    write_st(path, "{\"a\xFF\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    CHECK_DIES(open_st, path, "m.safetensors: header: invalid UTF-8");
    test_system("rm -rf %s", dir);
    free(path);
    free(dir);
}

TEST(input_safetensors_shards_stay_in_the_checkpoint_folder) {
    char *dir = test_tmpdir("policy-index");
    char *ck = path_join(dir, "ck"), *elsewhere = path_join(dir, "elsewhere");
    make_dirs(ck);
    make_dirs(elsewhere);
    /* A real shard outside the folder: following the index would load it. */
    StWriter *w = st_writer_new();
    float v[2] = {1, 2};
    st_writer_add(w, "p", ST_F32, 1, (int64_t[]){2}, v);
    char *outside = path_join(elsewhere, "model.safetensors"), *inside = path_join(ck, "model-1.safetensors");
    st_writer_save(w, outside);
    st_writer_save(w, inside);
    st_writer_free(w);
    char *index = path_join(ck, "model.safetensors.index.json");
    const char *cases[][2] = {
        {"{\"weight_map\": {\"p\": \"../elsewhere/model.safetensors\"}}",
         "model.safetensors.index.json: tensor \"p\" is in shard \"../elsewhere/model.safetensors\": a shard must be a "
         "plain file name in the checkpoint's folder (no '/', no '..')"},
        {"{\"weight_map\": {\"p\": \"sub/model-1.safetensors\"}}", "is in shard \"sub/model-1.safetensors\": a shard must be"},
        {"{\"weight_map\": {\"p\": \"..\"}}", "is in shard \"..\": a shard must be a plain file name"},
        {"{\"weight_map\": {\"p\": \"\"}}", "is in shard \"\": a shard must be a plain file name"},
        {"{\"weight_map\": {\"p\": \"model-1.safetensors\", \"p\": \"model-1.safetensors\"}}",
         "model.safetensors.index.json: key \"p\" appears twice in one object"},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++) {
        write_bytes(index, cases[i][0], strlen(cases[i][0]));
        CHECK_MSG(CHECK_DIES(open_st, ck, cases[i][1]), "case %zu", i);
    }
    char *abs = xsprintf("{\"weight_map\": {\"p\": \"%s\"}}", outside);
    write_bytes(index, abs, strlen(abs));
    CHECK_DIES(open_st, ck, "a shard must be a plain file name");
    free(abs);
    const char *good = "{\"weight_map\": {\"p\": \"model-1.safetensors\"}}";
    write_bytes(index, good, strlen(good));
    SafeTensors *st = st_open(ck);
    CHECK_EQ_INT(st_count(st), 1);
    st_close(st);
    test_system("rm -rf %s", dir);
    free(ck);
    free(elsewhere);
    free(outside);
    free(inside);
    free(index);
    free(dir);
}

static void load_tokenizer(void *path) { tokenizer_free(tokenizer_load(path)); }

/* tokenizer.json and tokenizer_config.json follow the same policy as every other JSON file. */
TEST(input_tokenizer_files_follow_the_json_policy) {
    char *dir = test_tmpdir("policy-tok");
    char *corpus = fixture_write_text(dir, "corpus.txt", 200, 3);
    Tokenizer *tok = fixture_tokenizer(corpus, 270);
    char *tok_dir = path_join(dir, "tok"), *json = path_join(tok_dir, "tokenizer.json");
    tokenizer_save(tok, tok_dir);
    tokenizer_free(tok);
    size_t len;
    char *text = read_file(json, &len);
    char *vocab = strstr(text, "\"vocab\": {"), *type = strstr(text, "\"type\"");
    CHECK(vocab && type);
    if (vocab && type) {
        /* a key twice in the vocabulary */
        size_t at = (size_t)(vocab - text) + strlen("\"vocab\": {");
        char *dup = xsprintf("%.*s\"twice\": 1, \"twice\": 2, %s", (int)at, text, text + at);
        write_bytes(json, dup, strlen(dup));
        CHECK_DIES(load_tokenizer, tok_dir, "key \"twice\" appears twice in one object");
        free(dup);
        /* a raw tab inside a string */
        char *tab = xstrdup(text);
        tab[type - text + 3] = '\t';
        write_bytes(json, tab, strlen(tab));
        CHECK_DIES(load_tokenizer, tok_dir, "a raw control character inside a string");
        free(tab);
        /* and tokenizer_config.json */
        write_bytes(json, text, len);
        char *config = path_join(tok_dir, "tokenizer_config.json");
        write_bytes(config, "{\"a\": 1, \"a\": 2}", 16);
        CHECK_DIES(load_tokenizer, tok_dir, "tokenizer_config.json: key \"a\" appears twice in one object");
        free(config);
    }
    free(text);
    free(json);
    free(tok_dir);
    free(corpus);
    test_system("rm -rf %s", dir);
    free(dir);
}
