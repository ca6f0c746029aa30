/* test_io_jsonl.c — JSONL datasets (line numbers, blank lines, several
 * files, errors naming file:line:field), the JSONL writer, and json_util. */
#include <stdlib.h>
#include <string.h>

#include "../src/base/json_util.h"
#include "../src/base/util.h"
#include "../src/base/jsonl.h"
#include "test.h"

static char *write_text_file(const char *dir, const char *name, const char *text) {
    char *path = path_join(dir, name);
    write_bytes(path, text, strlen(text));
    return path;
}

TEST(jsonl_reads_records_with_line_numbers) {
    char *dir = test_tmpdir("jsonl");
    /* A byte order mark, a CRLF line, blank lines, escapes and UTF-8. */
    char *a = write_text_file(dir, "a.jsonl",
                              "\xEF\xBB\xBF{\"text\": \"one\"}\r\n"
                              "\n   \n"
                              "{\"text\": \"tab\\there \\\"q\\\" \xC3\xA9\", \"tag\": null}\n"
                              "{\"text\": \"no final newline\", \"tag\": \"t\"}");
    char *b = write_text_file(dir, "b.jsonl", "\n{\"text\": \"second file\", \"responses\": [\"x\", \"y\"]}\n");
    const char *paths[] = {a, b};
    JsonlReader *r = jsonl_open_files(paths, 2);
    JsonlRecord rec;
    const char *texts[] = {"one", "tab\there \"q\" \xC3\xA9", "no final newline", "second file"};
    const int lines[] = {1, 4, 5, 2};
    int n = 0;
    while (jsonl_next(r, &rec)) {
        if (n < 4) {
            CHECK(strcmp(jsonl_get_string(&rec, "text"), texts[n]) == 0);
            CHECK_EQ_INT(rec.line, lines[n]);
            CHECK(strcmp(rec.path, n < 3 ? a : b) == 0);
        }
        if (n == 1) CHECK(jsonl_opt_string(&rec, "tag") == NULL); /* null counts as missing */
        if (n == 2) CHECK(strcmp(jsonl_opt_string(&rec, "tag"), "t") == 0);
        if (n == 3) {
            CHECK_EQ_INT(cJSON_GetArraySize(jsonl_get_array(&rec, "responses")), 2);
            CHECK(strcmp(jsonl_array_string(&rec, "responses", 1), "y") == 0);
            CHECK(jsonl_opt_array(&rec, "ranking") == NULL);
        }
        n++;
    }
    CHECK_EQ_INT(n, 4);
    CHECK(jsonl_next(r, &rec) == 0); /* stays at the end */
    jsonl_close(r);
    test_system("rm -rf %s", dir);
    free(a);
    free(b);
    free(dir);
}

typedef struct {
    const char *path, *field;
    int kind; /* which getter to call on the last record */
} JsonlCase;

static void read_all_records(void *arg) {
    const JsonlCase *c = arg;
    JsonlReader *r = jsonl_open(c->path);
    JsonlRecord rec;
    while (jsonl_next(r, &rec)) {
        if (c->kind == 0) jsonl_get_string(&rec, c->field);
        if (c->kind == 1) jsonl_opt_string(&rec, c->field);
        if (c->kind == 2) jsonl_array_string(&rec, c->field, 1);
        if (c->kind == 3) jsonl_get_number(&rec, c->field);
    }
    jsonl_close(r);
}

TEST(jsonl_bad_records_name_file_line_and_field) {
    char *dir = test_tmpdir("jsonl-bad");
    struct {
        const char *text, *field;
        int kind;
        const char *expected;
    } cases[] = {
        {"{\"text\": \"a\"}\n\n{\"text\": \"b\"\n", "text", 0, "data.jsonl:3: not valid JSON (column 14)"},
        {"{\"text\": \"a\"}\n{\"txt\": \"b\"}\n", "text", 0, "data.jsonl:2: field \"text\" is missing"},
        {"{\"text\": 5}\n", "text", 0, "data.jsonl:1: field \"text\" must be a string"},
        {"{\"text\": [\"a\"]}\n", "text", 1, "data.jsonl:1: field \"text\" must be a string"},
        {"{\"responses\": [\"a\", 2]}\n", "responses", 2, "data.jsonl:1: field \"responses\"[1] must be a string"},
        {"{\"responses\": [\"a\"]}\n", "responses", 2, "field \"responses\" has 1 elements, element 1 is missing"},
        {"{\"responses\": \"a\"}\n", "responses", 2, "data.jsonl:1: field \"responses\" must be an array"},
        {"{\"score\": \"high\"}\n", "score", 3, "data.jsonl:1: field \"score\" must be a number"},
        {"[1, 2]\n", "text", 0, "data.jsonl:1: expected a JSON object"},
        {"{\"a\": 1} {\"b\": 2}\n", "a", 1, "data.jsonl:1: not valid JSON"},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++) {
        char *path = write_text_file(dir, "data.jsonl", cases[i].text);
        JsonlCase c = {path, cases[i].field, cases[i].kind};
        CHECK_DIES(read_all_records, &c, cases[i].expected);
        free(path);
    }
    JsonlCase missing = {"/nonexistent/data.jsonl", "text", 0};
    CHECK_DIES(read_all_records, &missing, "/nonexistent/data.jsonl: no such file");
    test_system("rm -rf %s", dir);
    free(dir);
}

TEST(jsonl_writer_round_trips_awkward_strings) {
    char *dir = test_tmpdir("jsonl-write");
    char *path = path_join(dir, "round1/a/samples.jsonl"); /* the writer creates the folders */
    const char *strings[] = {"plain", "quote \" backslash \\ slash /", "new\nline\ttab\rcr", "\x01\x1f control",
                             "\xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x98\x80", ""};
    int n = (int)LMF_ARRAY_LEN(strings);
    JsonlWriter *w = jsonl_writer_open(path);
    for (int i = 0; i < n; i++) {
        cJSON *obj = cJSON_CreateObject();
        cJSON_AddStringToObject(obj, "prompt", strings[i]);
        cJSON *responses = cJSON_AddArrayToObject(obj, "responses");
        cJSON_AddItemToArray(responses, cJSON_CreateString(strings[(i + 1) % n]));
        jsonl_write(w, obj);
        cJSON_Delete(obj);
    }
    CHECK(!file_exists(path)); /* nothing visible before the commit */
    jsonl_writer_close(w);

    char *text = read_file(path, NULL);
    int newlines = 0;
    for (char *p = text; *p; p++) newlines += *p == '\n';
    CHECK_EQ_INT(newlines, n); /* one line per record: newlines inside strings are escaped */
    free(text);

    JsonlReader *r = jsonl_open(path);
    JsonlRecord rec;
    int i = 0;
    while (jsonl_next(r, &rec)) {
        CHECK(i < n && strcmp(jsonl_get_string(&rec, "prompt"), strings[i]) == 0);
        CHECK(i < n && strcmp(jsonl_array_string(&rec, "responses", 0), strings[(i + 1) % n]) == 0);
        CHECK_EQ_INT(rec.line, i + 1);
        i++;
    }
    CHECK_EQ_INT(i, n);
    jsonl_close(r);
    test_system("rm -rf %s", dir);
    free(path);
    free(dir);
}

/* A generated answer may stop inside a UTF-8 character: the line written
 * stays valid UTF-8 (U+FFFD for each stray byte), so any JSON reader takes it. */
TEST(jsonl_writer_mends_invalid_utf8) {
    char *dir = test_tmpdir("jsonl-utf8");
    char *path = path_join(dir, "a.jsonl");
    JsonlWriter *w = jsonl_writer_open(path);
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddStringToObject(obj, "response", "caf\xC3\xA9 \xE2\x82 x\xBE");
    jsonl_write(w, obj);
    cJSON_Delete(obj);
    jsonl_writer_close(w);
    char *text = read_file(path, NULL);
    CHECK_MSG(strcmp(text, "{\"response\":\"caf\xC3\xA9 \xEF\xBF\xBD\xEF\xBF\xBD x\xEF\xBF\xBD\"}\n") == 0, "wrote %s", text);
    free(text);
    test_system("rm -rf %s", dir);
    free(path);
    free(dir);
}

TEST(json_util_typed_getters_and_files) {
    char *dir = test_tmpdir("json-util");
    char *path = write_text_file(dir, "config.json",
                                 "{\"hidden_size\": 64, \"rms_norm_eps\": 1e-06, \"tie_word_embeddings\": true,\n"
                                 " \"model_type\": \"llama\", \"sliding_window\": null, \"max\": 9007199254740992,\n"
                                 " \"rope_scaling\": {\"factor\": 8.0}, \"layers\": [1, 2]}\n");
    cJSON *config = json_read_file(path);
    CHECK_EQ_INT(json_get_int(config, "hidden_size", path), 64);
    CHECK_EQ_INT(json_get_int64(config, "max", path), 9007199254740992LL);
    CHECK(json_get_float(config, "rms_norm_eps", path) == 1e-6f);
    CHECK(json_get_double(config, "rms_norm_eps", path) == 1e-6);
    CHECK(json_get_bool(config, "tie_word_embeddings", path) == 1);
    CHECK(strcmp(json_get_string(config, "model_type", path), "llama") == 0);
    CHECK_EQ_INT(json_opt_int(config, "sliding_window", path, -1), -1); /* null means absent */
    CHECK_EQ_INT(json_opt_int(config, "num_key_value_heads", path, 4), 4);
    CHECK_EQ_INT(json_opt_int64(config, "hidden_size", path, 0), 64);
    CHECK(json_opt_float(config, "rope_theta", path, 10000.0f) == 10000.0f);
    CHECK(json_opt_double(config, "rms_norm_eps", path, 0) == 1e-6);
    CHECK(json_opt_bool(config, "attention_bias", path, 0) == 0);
    CHECK(strcmp(json_opt_string(config, "hidden_act", path, "silu"), "silu") == 0);
    CHECK(json_get_float(json_get_object(config, "rope_scaling", path), "factor", "rope_scaling") == 8.0f);
    CHECK_EQ_INT(cJSON_GetArraySize(json_get_array(config, "layers", path)), 2);

    /* Written pretty-printed and atomically, read back identical. */
    char *copy = path_join(dir, "copy.json");
    json_write_file(copy, config);
    cJSON *again = json_read_file(copy);
    CHECK(cJSON_Compare(config, again, 1));
    char *tmp = xsprintf("%s.tmp", copy);
    CHECK(!file_exists(tmp));
    cJSON_Delete(again);
    cJSON_Delete(config);
    test_system("rm -rf %s", dir);
    free(tmp);
    free(copy);
    free(path);
    free(dir);
}

typedef struct {
    const char *path, *key;
    int kind;
} GetterCase;

static void call_getter(void *arg) {
    const GetterCase *c = arg;
    cJSON *obj = json_read_file(c->path);
    if (c->kind == 0) json_get_int(obj, c->key, c->path);
    if (c->kind == 1) json_get_string(obj, c->key, c->path);
    if (c->kind == 2) json_opt_bool(obj, c->key, c->path, 0);
    if (c->kind == 3) json_get_object(obj, c->key, c->path);
    if (c->kind == 4) json_get_float(obj, c->key, c->path);
    cJSON_Delete(obj);
}

TEST(json_util_errors_name_file_and_field) {
    char *dir = test_tmpdir("json-util-bad");
    char *path = write_text_file(dir, "config.json",
                                 "{\"hidden_size\": 64.5, \"n\": 3000000000, \"name\": 7, \"flag\": 1, \"obj\": [],"
                                 " \"eps\": \"small\"}");
    struct {
        const char *key;
        int kind;
        const char *expected;
    } cases[] = {
        {"hidden_size", 0, "config.json: field \"hidden_size\" must be an integer (got 64.5)"},
        {"n", 0, "config.json: field \"n\" = 3000000000 is out of range"},
        {"vocab_size", 0, "config.json: field \"vocab_size\" is missing"},
        {"name", 1, "config.json: field \"name\" must be a string"},
        {"flag", 2, "config.json: field \"flag\" must be true or false"},
        {"obj", 3, "config.json: field \"obj\" must be an object"},
        {"eps", 4, "config.json: field \"eps\" must be a number"},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++) {
        GetterCase c = {path, cases[i].key, cases[i].kind};
        CHECK_DIES(call_getter, &c, cases[i].expected);
    }
    char *bad = write_text_file(dir, "bad.json", "{\n  \"a\": 1,\n  \"b\": tru\n}\n");
    GetterCase bad_json = {bad, "a", 0};
    CHECK_DIES(call_getter, &bad_json, "bad.json:3:8: not valid JSON");
    test_system("rm -rf %s", dir);
    free(bad);
    free(path);
    free(dir);
}

TEST(json_fprint_string_escapes_for_json) {
    const char *s = "a \"b\" \\ \n\t\r \x01 \xC3\xA9";
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    json_fprint_string(f, s);
    fclose(f);
    cJSON *parsed = cJSON_Parse(buf);
    CHECK(cJSON_IsString(parsed) && strcmp(parsed->valuestring, s) == 0);
    CHECK(strchr(buf, '\n') == NULL && strchr(buf, '\x01') == NULL);
    cJSON_Delete(parsed);
    free(buf);
}
