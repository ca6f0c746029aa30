/* tokenizer_json.c — reading and writing Hugging Face's tokenizer.json and
 * tokenizer_config.json, and reading GPT-2's encoder.json + vocab.bpe.
 *
 * Supported: model BPE over the byte-level alphabet (byte_level.h), merges
 * as "a b" strings or ["a", "b"] pairs, ignore_merges, added tokens with
 * lstrip/rstrip, normalizer null or NFC, and a pre-tokenizer made of Split
 * (Isolated, regex or string) and ByteLevel steps. Anything else is refused
 * with a message naming the field, rather than tokenized differently from
 * Hugging Face.
 *
 * A loader error unwinds with longjmp to the entry point, which frees what
 * was built and returns the message: malformed input never leaks or crashes,
 * which the fuzzer (scripts/fuzz_tokenizer.sh) checks. */
#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/input_check.h"
#include "../base/util.h"
#include "byte_level.h"
#include "tokenizer_internal.h"
#include "unicode.h"

/* Hugging Face's value for "no limit" (transformers' VERY_LARGE_INTEGER, int(1e30)). */
static const char NO_MAX_LENGTH[] = "1000000000000000019884624838656";

/* The chat template: ChatML, exactly what chat_render() produces (the GGUF export writes it too). */
const char CHATML_TEMPLATE[] =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

typedef struct {
    const char *name; /* the file, for messages */
    jmp_buf jump;
    char *error;
    /* What to free when a load fails. */
    Tokenizer *t;
    cJSON *root;
    uint8_t *buf; /* scratch for decoded token bytes */
    size_t buf_cap;
} Loader;

static _Noreturn void load_fail(Loader *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static _Noreturn void load_fail(Loader *l, const char *fmt, ...) {
    char msg[TOKENIZER_ERROR_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    l->error = xsprintf("%s: %s", l->name, msg);
    longjmp(l->jump, 1);
}

/* Dies with the builder's message unless rc is 0. */
static void check(Loader *l, int rc, const char *err) {
    if (rc != 0) load_fail(l, "%s", err);
}

static uint8_t *scratch(Loader *l, size_t n) {
    if (n > l->buf_cap) {
        l->buf_cap = LMF_MAX(n, 2 * l->buf_cap);
        l->buf = xrealloc(l->buf, l->buf_cap);
    }
    return l->buf;
}

/* The line of byte offset `at` in text. */
static int line_of(const char *text, size_t len, size_t at) {
    int line = 1;
    for (size_t i = 0; i < at && i < len; i++) line += text[i] == '\n';
    return line;
}

/* The input policy (base/input_check.h), as every JSON reader applies it, then cJSON. */
static cJSON *parse_json(Loader *l, const char *text, size_t len) {
    size_t offset;
    const char *why = json_text_problem(text, len, &offset);
    if (why) load_fail(l, "line %d: %s", line_of(text, len, offset), why);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        char *copy = xstrndup(text, len);
        why = json_parse_failure(copy);
        free(copy);
        load_fail(l, "line %d: %s", line_of(text, len, end ? (size_t)(end - text) : 0), why);
    }
    const char *dup = json_duplicate_key(root);
    if (dup) {
        char key[128];
        snprintf(key, sizeof key, "%s", dup); /* dup lives in root */
        cJSON_Delete(root);
        load_fail(l, "key \"%s\" appears twice in one object", key);
    }
    return root;
}

/* --- field access with clear messages ---------------------------------- */

static int is_null_or_absent(const cJSON *x) { return !x || cJSON_IsNull(x); }

static const char *type_of(const cJSON *o, const char *path, Loader *l) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
    if (!cJSON_IsString(type)) load_fail(l, "%s needs a string field \"type\"", path);
    return type->valuestring;
}

/* A boolean field; absent means `absent`. */
static int get_bool(Loader *l, const cJSON *o, const char *field, const char *path, int absent) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, field);
    if (!x) return absent;
    if (!cJSON_IsBool(x)) load_fail(l, "%s.%s must be true or false", path, field);
    return cJSON_IsTrue(x);
}

static int get_id(Loader *l, const cJSON *x, const char *what) {
    /* The range first: converting a double beyond int's range is undefined. */
    if (!cJSON_IsNumber(x) || !(x->valuedouble >= 0 && x->valuedouble < TOKENIZER_MAX_IDS) ||
        x->valuedouble != (double)(int)x->valuedouble)
        load_fail(l, "%s must be an integer id from 0 to %d", what, TOKENIZER_MAX_IDS - 1);
    return (int)x->valuedouble;
}

/* The bytes of a token written in the byte-level alphabet (s[0..n)). */
static int token_bytes(Loader *l, const char *s, size_t n, const char *what, uint8_t **out) {
    uint8_t *b = scratch(l, n + 1);
    long k = byte_level_decode(s, n, b);
    if (k < 0)
        load_fail(l, "%s \"%.*s\" has a character outside the byte-level alphabet", what, (int)LMF_MIN(n, 60), s);
    if (k == 0) load_fail(l, "%s is empty", what);
    *out = b;
    return (int)k;
}

static int valid_utf8(const char *s, size_t len) {
    for (size_t i = 0; i < len;) {
        int n;
        if (utf8_decode((const uint8_t *)s + i, len - i, &n) == UNICODE_INVALID) return 0;
        i += (size_t)n;
    }
    return 1;
}

/* --- the parts of tokenizer.json ---------------------------------------- */

/* model.vocab, or all of GPT-2's encoder.json: {"token": id, ...} */
static void load_vocab(Loader *l, const cJSON *vocab, const char *path) {
    char err[TOKENIZER_ERROR_SIZE];
    if (!cJSON_IsObject(vocab)) load_fail(l, "%s must be an object of token: id", path);
    for (const cJSON *e = vocab->child; e; e = e->next) {
        char what[96];
        snprintf(what, sizeof what, "%s token", path);
        uint8_t *b;
        int n = token_bytes(l, e->string, strlen(e->string), what, &b);
        snprintf(what, sizeof what, "%s[\"%.40s\"]", path, e->string);
        int id = get_id(l, e, what);
        if (tokenizer_add_vocab(l->t, id, b, n, err) != 0) load_fail(l, "%s: %s", path, err);
    }
}

/* One merge, its tokens given as left[0..left_len) and right[0..right_len);
 * both must be in the vocabulary. */
static void add_merge(Loader *l, const char *left, size_t left_len, const char *right, size_t right_len,
                      const char *where) {
    char err[TOKENIZER_ERROR_SIZE];
    int ids[2];
    const char *parts[2] = {left, right};
    size_t lens[2] = {left_len, right_len};
    for (int k = 0; k < 2; k++) {
        uint8_t *b;
        int n = token_bytes(l, parts[k], lens[k], where, &b);
        ids[k] = tokenizer_vocab_id(l->t, b, (size_t)n);
        if (ids[k] < 0)
            load_fail(l, "%s: token \"%.*s\" is not in the vocabulary", where, (int)LMF_MIN(lens[k], 60), parts[k]);
    }
    if (tokenizer_add_merge(l->t, ids[0], ids[1], err) != 0) load_fail(l, "%s: %s", where, err);
}

/* "a b": byte-level tokens hold no space, so exactly one separates them. */
static void add_merge_line(Loader *l, const char *line, size_t len, const char *where) {
    const char *space = memchr(line, ' ', len);
    size_t left = space ? (size_t)(space - line) : 0, right = space ? len - left - 1 : 0;
    if (!space || left == 0 || right == 0 || memchr(space + 1, ' ', right))
        load_fail(l, "%s: expected two tokens separated by one space, got \"%.*s\"", where, (int)LMF_MIN(len, 60),
                  line);
    add_merge(l, line, left, space + 1, right, where);
}

static void load_merges(Loader *l, const cJSON *merges) {
    if (!cJSON_IsArray(merges)) load_fail(l, "model.merges must be an array");
    int i = 0;
    for (const cJSON *m = merges->child; m; m = m->next, i++) {
        char where[64];
        snprintf(where, sizeof where, "model.merges[%d]", i);
        if (cJSON_IsString(m)) {
            add_merge_line(l, m->valuestring, strlen(m->valuestring), where);
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
                   cJSON_IsString(m->child->next)) {
            const char *a = m->child->valuestring, *b = m->child->next->valuestring;
            add_merge(l, a, strlen(a), b, strlen(b), where);
        } else {
            load_fail(l, "%s must be \"a b\" or [\"a\", \"b\"]", where);
        }
    }
}

static void load_added_tokens(Loader *l, const cJSON *added) {
    char err[TOKENIZER_ERROR_SIZE];
    if (is_null_or_absent(added)) return;
    if (!cJSON_IsArray(added)) load_fail(l, "added_tokens must be an array");
    int i = 0;
    for (const cJSON *a = added->child; a; a = a->next, i++) {
        char path[64];
        snprintf(path, sizeof path, "added_tokens[%d]", i);
        if (!cJSON_IsObject(a)) load_fail(l, "%s must be an object", path);
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(a, "content");
        if (!cJSON_IsString(content)) load_fail(l, "%s.content must be a string", path);
        char what[80];
        snprintf(what, sizeof what, "%s.id", path);
        AddedToken tok = {
            .content = content->valuestring,
            .len = (int)strlen(content->valuestring),
            .id = get_id(l, cJSON_GetObjectItemCaseSensitive(a, "id"), what),
            .special = get_bool(l, a, "special", path, 0),
            .lstrip = get_bool(l, a, "lstrip", path, 0),
            .rstrip = get_bool(l, a, "rstrip", path, 0),
            .normalized = get_bool(l, a, "normalized", path, 0),
        };
        if (!valid_utf8(tok.content, (size_t)tok.len)) load_fail(l, "%s.content is not valid UTF-8", path);
        if (get_bool(l, a, "single_word", path, 0))
            load_fail(l, "%s: single_word added tokens are not supported", path);
        if (tokenizer_add_added(l->t, &tok, err) != 0) load_fail(l, "%s: %s", path, err);
    }
}

static void load_normalizer(Loader *l, const cJSON *n, const char *path) {
    if (is_null_or_absent(n)) return;
    if (!cJSON_IsObject(n)) load_fail(l, "%s must be an object or null", path);
    const char *type = type_of(n, path, l);
    if (strcmp(type, "NFC") == 0) {
        l->t->nfc = 1;
    } else if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers");
        if (!cJSON_IsArray(list)) load_fail(l, "%s.normalizers must be an array", path);
        int i = 0;
        for (const cJSON *x = list->child; x; x = x->next, i++) {
            char sub[96];
            snprintf(sub, sizeof sub, "%s.normalizers[%d]", path, i);
            load_normalizer(l, x, sub);
        }
    } else {
        load_fail(l, "%s type \"%s\" is not supported (only NFC)", path, type);
    }
}

/* Returns how many ByteLevel steps it met. */
static int load_pre_tokenizer(Loader *l, const cJSON *p, const char *path) {
    char err[TOKENIZER_ERROR_SIZE];
    if (!cJSON_IsObject(p)) load_fail(l, "%s must be an object", path);
    const char *type = type_of(p, path, l);
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers");
        if (!cJSON_IsArray(list)) load_fail(l, "%s.pretokenizers must be an array", path);
        int i = 0, byte_level = 0;
        for (const cJSON *x = list->child; x; x = x->next, i++) {
            char sub[96];
            snprintf(sub, sizeof sub, "%s.pretokenizers[%d]", path, i);
            byte_level += load_pre_tokenizer(l, x, sub);
        }
        return byte_level;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        if (get_bool(l, p, "add_prefix_space", path, 1))
            load_fail(l, "%s: ByteLevel with add_prefix_space true is not supported", path);
        if (get_bool(l, p, "use_regex", path, 1)) {
            check(l, tokenizer_add_split(l->t, PATTERN_GPT2, 0, err), err);
        }
        return 1;
    }
    if (strcmp(type, "Split") == 0) {
        const cJSON *pattern = cJSON_GetObjectItemCaseSensitive(p, "pattern");
        const cJSON *regex = cJSON_GetObjectItemCaseSensitive(pattern, "Regex");
        const cJSON *string = cJSON_GetObjectItemCaseSensitive(pattern, "String");
        const cJSON *behavior = cJSON_GetObjectItemCaseSensitive(p, "behavior");
        if (!cJSON_IsString(regex) && !cJSON_IsString(string))
            load_fail(l, "%s.pattern must be {\"Regex\": ...} or {\"String\": ...}", path);
        if (!cJSON_IsString(behavior) || strcmp(behavior->valuestring, "Isolated") != 0)
            load_fail(l, "%s.behavior must be \"Isolated\" (the only one supported)", path);
        if (get_bool(l, p, "invert", path, 0)) load_fail(l, "%s: invert true is not supported", path);
        int literal = !cJSON_IsString(regex);
        if (tokenizer_add_split(l->t, literal ? string->valuestring : regex->valuestring, literal, err) != 0)
            load_fail(l, "%s: %s", path, err);
        return 0;
    }
    load_fail(l, "%s type \"%s\" is not supported (only Split, ByteLevel and Sequence)", path, type);
}

static void load_model(Loader *l, const cJSON *model) {
    if (!cJSON_IsObject(model)) load_fail(l, "model must be an object");
    const char *type = type_of(model, "model", l);
    if (strcmp(type, "BPE") != 0) load_fail(l, "model type \"%s\" is not supported (only BPE)", type);
    if (!is_null_or_absent(cJSON_GetObjectItemCaseSensitive(model, "dropout")))
        load_fail(l, "model.dropout is not supported (it makes encoding random)");
    const char *affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(model, affixes[i]);
        if (!is_null_or_absent(x) && !(cJSON_IsString(x) && x->valuestring[0] == 0))
            load_fail(l, "model.%s is not supported in byte-level BPE", affixes[i]);
    }
    l->t->ignore_merges = get_bool(l, model, "ignore_merges", "model", 0);
    load_vocab(l, cJSON_GetObjectItemCaseSensitive(model, "vocab"), "model.vocab");
    load_merges(l, cJSON_GetObjectItemCaseSensitive(model, "merges"));
}

static char *json_text_or_null(const cJSON *x) { return is_null_or_absent(x) ? NULL : cJSON_PrintUnformatted(x); }

/* Ends a load: frees the loader and what it holds, and returns the
 * tokenizer (NULL after a failure, with the message in *error). */
static Tokenizer *loader_finish(Loader *l, char **error) {
    Tokenizer *t = l->error ? NULL : l->t;
    if (t) l->t = NULL;
    *error = l->error;
    cJSON_Delete(l->root);
    tokenizer_free(l->t);
    free(l->buf);
    free(l);
    return t;
}

Tokenizer *tokenizer_from_json(const char *json, size_t len, const char *name, char **error) {
    /* On the heap: fields written after setjmp must not live in registers. */
    Loader *l = xcalloc(1, sizeof *l);
    l->name = name;
    if (setjmp(l->jump)) return loader_finish(l, error);
    char err[TOKENIZER_ERROR_SIZE];
    l->t = tokenizer_alloc();
    l->root = parse_json(l, json, len);
    if (!cJSON_IsObject(l->root)) load_fail(l, "not a JSON object");
    load_model(l, cJSON_GetObjectItemCaseSensitive(l->root, "model"));
    load_added_tokens(l, cJSON_GetObjectItemCaseSensitive(l->root, "added_tokens"));
    load_normalizer(l, cJSON_GetObjectItemCaseSensitive(l->root, "normalizer"), "normalizer");
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(l->root, "pre_tokenizer");
    if (is_null_or_absent(pre) || load_pre_tokenizer(l, pre, "pre_tokenizer") == 0)
        load_fail(l, "pre_tokenizer has no ByteLevel step: only byte-level BPE is supported");
    l->t->post_processor_json = json_text_or_null(cJSON_GetObjectItemCaseSensitive(l->root, "post_processor"));
    l->t->decoder_json = json_text_or_null(cJSON_GetObjectItemCaseSensitive(l->root, "decoder"));
    check(l, tokenizer_finish(l->t, err), err);
    return loader_finish(l, error);
}

/* --- GPT-2's encoder.json + vocab.bpe ----------------------------------- */

static void load_vocab_bpe(Loader *l, const char *text, size_t len) {
    int line_no = 0;
    for (size_t pos = 0; pos < len;) {
        const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + 1;
        line_no++;
        if (n && line[n - 1] == '\r') n--;
        if (n == 0 || (line_no == 1 && n >= 8 && memcmp(line, "#version", 8) == 0)) continue;
        char where[32];
        snprintf(where, sizeof where, "line %d", line_no);
        add_merge_line(l, line, n, where);
    }
}

Tokenizer *tokenizer_from_gpt2_files(const char *encoder_json, size_t encoder_len, const char *vocab_bpe,
                                     size_t vocab_len, const char *dir, char **error) {
    char *encoder_name = path_join(dir, "encoder.json"), *vocab_name = path_join(dir, "vocab.bpe");
    Loader *l = xcalloc(1, sizeof *l);
    l->name = encoder_name;
    if (setjmp(l->jump) == 0) {
        char err[TOKENIZER_ERROR_SIZE];
        l->t = tokenizer_alloc();
        l->root = parse_json(l, encoder_json, encoder_len);
        load_vocab(l, l->root, "the vocabulary");
        l->name = vocab_name;
        load_vocab_bpe(l, vocab_bpe, vocab_len);
        int eot = tokenizer_vocab_id(l->t, "<|endoftext|>", 13);
        if (eot >= 0) {
            AddedToken a = {.content = "<|endoftext|>", .len = 13, .id = eot, .special = 1};
            check(l, tokenizer_add_added(l->t, &a, err), err);
        }
        check(l, tokenizer_add_split(l->t, PATTERN_GPT2, 0, err), err);
        l->name = encoder_name; /* what finishing checks (all 256 bytes present) is the vocabulary's */
        check(l, tokenizer_finish(l->t, err), err);
    }
    free(encoder_name);
    free(vocab_name);
    return loader_finish(l, error);
}

/* --- loading from disk -------------------------------------------------- */

static Tokenizer *load_json_file(const char *path) {
    size_t len;
    char *text = read_file(path, &len), *error;
    Tokenizer *t = tokenizer_from_json(text, len, path, &error);
    free(text);
    if (!t) die("%s", error);
    return t;
}

/* Keeps DIR/tokenizer_config.json, if there is one, for saving. */
static void attach_config(Tokenizer *t, const char *dir) {
    char *path = path_join(dir, "tokenizer_config.json");
    if (file_exists(path)) {
        size_t len;
        char *text = read_file(path, &len);
        size_t offset;
        const char *why = json_text_problem(text, len, &offset);
        if (why) die("%s: %s (byte %zu)", path, why, offset);
        cJSON *root = cJSON_ParseWithLength(text, len);
        if (!cJSON_IsObject(root)) die("%s: not a valid JSON object", path);
        const char *dup = json_duplicate_key(root);
        if (dup) die("%s: key \"%s\" appears twice in one object", path, dup);
        cJSON_Delete(root);
        t->config_json = text;
    }
    free(path);
}

Tokenizer *tokenizer_load(const char *path) {
    Tokenizer *t;
    if (dir_exists(path)) {
        char *json = path_join(path, "tokenizer.json"), *encoder = path_join(path, "encoder.json"),
             *vocab = path_join(path, "vocab.bpe");
        if (file_exists(json)) {
            t = load_json_file(json);
            attach_config(t, path);
        } else if (file_exists(encoder) && file_exists(vocab)) {
            size_t elen, vlen;
            char *etext = read_file(encoder, &elen), *vtext = read_file(vocab, &vlen), *error;
            t = tokenizer_from_gpt2_files(etext, elen, vtext, vlen, path, &error);
            free(etext);
            free(vtext);
            if (!t) die("%s", error);
        } else {
            die("%s holds neither tokenizer.json nor GPT-2's encoder.json and vocab.bpe", path);
        }
        free(json);
        free(encoder);
        free(vocab);
        return t;
    }
    if (!file_exists(path)) die("%s: no such tokenizer file or directory", path);
    if (ends_with(path, ".tiktoken")) return tokenizer_load_tiktoken(path); /* tiktoken.c */
    t = load_json_file(path);
    char *dir = xstrdup(path), *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    attach_config(t, slash ? dir : ".");
    free(dir);
    return t;
}

/* --- saving ------------------------------------------------------------- */

static void write_json_string(FILE *f, const char *s, size_t len) {
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\r')
            fputs("\\r", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* A model token in the byte-level alphabet, as a JSON string. */
static void write_token(FILE *f, const Tokenizer *t, int id, char *buf) {
    size_t n = byte_level_encode((const uint8_t *)t->token_bytes + t->token_off[id], (size_t)t->token_len[id], buf);
    write_json_string(f, buf, n);
}

static const char *json_bool(int b) { return b ? "true" : "false"; }

static void write_added_tokens(FILE *f, const Tokenizer *t) {
    fprintf(f, "  \"added_tokens\": [");
    for (int i = 0; i < t->n_added; i++) {
        const AddedToken *a = &t->added[i];
        fprintf(f, "%s\n    {\"id\": %d, \"content\": ", i ? "," : "", a->id);
        write_json_string(f, a->content, (size_t)a->len);
        fprintf(f, ", \"single_word\": false, \"lstrip\": %s, \"rstrip\": %s, \"normalized\": %s, \"special\": %s}",
                json_bool(a->lstrip), json_bool(a->rstrip), json_bool(a->normalized), json_bool(a->special));
    }
    fprintf(f, "%s],\n", t->n_added ? "\n  " : "");
}

static void write_pre_tokenizer(FILE *f, const Tokenizer *t) {
    fprintf(f, "  \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [");
    for (int i = 0; i < t->n_splits; i++) {
        fprintf(f, "\n    {\"type\": \"Split\", \"pattern\": {\"%s\": ", t->splits[i].literal ? "String" : "Regex");
        write_json_string(f, t->splits[i].pattern, strlen(t->splits[i].pattern));
        fprintf(f, "}, \"behavior\": \"Isolated\", \"invert\": false},");
    }
    fprintf(f, "\n    {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": false, \"use_regex\": "
               "false}]},\n");
}

static void write_tokenizer_json(const Tokenizer *t, const char *path) {
    static const char byte_level[] = "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": false, "
                                     "\"use_regex\": false}";
    AtomicFile af = atomic_open(path);
    FILE *f = af.f;
    char *buf = xmalloc(2 * (size_t)LMF_MAX(t->token_bytes_len, 1) + 2);
    fprintf(f, "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n");
    write_added_tokens(f, t);
    fprintf(f, "  \"normalizer\": %s,\n", t->nfc ? "{\"type\": \"NFC\"}" : "null");
    write_pre_tokenizer(f, t);
    fprintf(f, "  \"post_processor\": %s,\n", t->post_processor_json ? t->post_processor_json : byte_level);
    fprintf(f, "  \"decoder\": %s,\n", t->decoder_json ? t->decoder_json : byte_level);
    fprintf(f,
            "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n"
            "    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n"
            "    \"byte_fallback\": false,\n    \"ignore_merges\": %s,\n    \"vocab\": {",
            json_bool(t->ignore_merges));
    int first = 1;
    for (int id = 0; id < t->n_ids; id++) {
        if (!(t->kind[id] & ID_IN_VOCAB)) continue;
        fprintf(f, "%s\n      ", first ? "" : ",");
        write_token(f, t, id, buf);
        fprintf(f, ": %d", id);
        first = 0;
    }
    fprintf(f, "\n    },\n    \"merges\": [");
    for (int i = 0; i < t->n_merges; i++) {
        /* "a b": byte-level tokens never hold a space, so one splits them. */
        size_t n = byte_level_encode((const uint8_t *)t->token_bytes + t->token_off[t->merges[i][0]],
                                     (size_t)t->token_len[t->merges[i][0]], buf);
        buf[n++] = ' ';
        n += byte_level_encode((const uint8_t *)t->token_bytes + t->token_off[t->merges[i][1]],
                               (size_t)t->token_len[t->merges[i][1]], buf + n);
        fprintf(f, "%s\n      ", i ? "," : "");
        write_json_string(f, buf, n);
    }
    fprintf(f, "\n    ]\n  }\n}\n");
    free(buf);
    atomic_commit(&af);
}

/* The content of token `id` as a JSON string, or null. */
static void write_token_name(FILE *f, const Tokenizer *t, int id) {
    if (id < 0)
        fputs("null", f);
    else
        write_json_string(f, t->token_bytes + t->token_off[id], (size_t)t->token_len[id]);
}

static void write_tokenizer_config(const Tokenizer *t, const char *path) {
    if (t->config_json) {
        atomic_write(path, t->config_json, strlen(t->config_json));
        return;
    }
    int eos = tokenizer_eos_id(t), bos = tokenizer_bos_id(t);
    AtomicFile af = atomic_open(path);
    FILE *f = af.f;
    fprintf(f, "{\n  \"added_tokens_decoder\": {");
    for (int i = 0; i < t->n_added; i++) {
        const AddedToken *a = &t->added[i];
        fprintf(f, "%s\n    \"%d\": {\"content\": ", i ? "," : "", a->id);
        write_json_string(f, a->content, (size_t)a->len);
        fprintf(f, ", \"lstrip\": %s, \"normalized\": %s, \"rstrip\": %s, \"single_word\": false, \"special\": %s}",
                json_bool(a->lstrip), json_bool(a->normalized), json_bool(a->rstrip), json_bool(a->special));
    }
    fprintf(f, "%s},\n  \"additional_special_tokens\": [", t->n_added ? "\n  " : "");
    int listed = 0;
    for (int i = 0; i < t->n_added; i++) {
        const AddedToken *a = &t->added[i];
        if (!a->special || a->id == eos || a->id == bos) continue;
        fprintf(f, "%s", listed++ ? ", " : "");
        write_json_string(f, a->content, (size_t)a->len);
    }
    fprintf(f, "],\n  \"bos_token\": ");
    write_token_name(f, t, bos);
    /* The ChatML template only where its tokens are special tokens. */
    if (tokenizer_token_id(t, "<|im_start|>") >= 0 && tokenizer_token_id(t, "<|im_end|>") >= 0) {
        fprintf(f, ",\n  \"chat_template\": ");
        write_json_string(f, CHATML_TEMPLATE, strlen(CHATML_TEMPLATE));
    }
    fprintf(f, ",\n  \"clean_up_tokenization_spaces\": false,\n  \"eos_token\": ");
    write_token_name(f, t, eos);
    fprintf(f, ",\n  \"errors\": \"replace\",\n  \"model_max_length\": ");
    if (t->model_max_length > 0)
        fprintf(f, "%lld", t->model_max_length);
    else
        fputs(NO_MAX_LENGTH, f);
    fprintf(f, ",\n  \"pad_token\": ");
    write_token_name(f, t, eos);
    fprintf(f, ",\n  \"split_special_tokens\": false,\n  \"tokenizer_class\": \"PreTrainedTokenizerFast\",\n"
               "  \"unk_token\": null\n}\n");
    atomic_commit(&af);
}

void tokenizer_save(const Tokenizer *t, const char *dir) {
    make_dirs(dir);
    char *json = path_join(dir, "tokenizer.json"), *config = path_join(dir, "tokenizer_config.json");
    write_tokenizer_json(t, json);
    write_tokenizer_config(t, config);
    free(json);
    free(config);
}
