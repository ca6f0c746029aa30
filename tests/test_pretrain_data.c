/* test_pretrain_data.c — the pretraining corpus (data/text_data.h): the
 * validation split keeps documents whole, token shards are reused while
 * their inputs stay the same and re-made when anything they depend on
 * changes, and bad input is reported naming the file. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../src/base/util.h"
#include "../src/data/text_data.h"
#include "test.h"
#include "test_pretrain_fixtures.h"

/* The documents in a shard: the decoded text between EOS tokens. */
static char **shard_documents(const TokenShard *s, const Tokenizer *tok, int *n_docs) {
    char **docs = NULL;
    int n = 0, eos = tokenizer_eos_id(tok);
    int *ids = xmalloc(sizeof(int) * (s->n_tokens + 1));
    size_t start = 0;
    for (size_t i = 0; i < s->n_tokens; i++) {
        ids[i] = shard_token(s, i);
        if (ids[i] != eos) continue;
        docs = xrealloc(docs, sizeof(char *) * (size_t)(n + 1));
        docs[n++] = tokenizer_decode(tok, ids + start, (int)(i - start), NULL);
        start = i + 1;
    }
    if (start != s->n_tokens) test_fail(__FILE__, __LINE__, "%s does not end with EOS", s->path);
    free(ids);
    *n_docs = n;
    return docs;
}

static int find_doc(char *const *docs, int n, const char *doc) {
    for (int i = 0; i < n; i++)
        if (strcmp(docs[i], doc) == 0) return i;
    return -1;
}

static void free_docs(char **docs, int n) {
    for (int i = 0; i < n; i++) free(docs[i]);
    free(docs);
}

/* In a .txt file a blank line (one or more, or white space only) ends a
 * document: two documents give an end-of-text token between them, and a
 * document's own line breaks stay in it. */
TEST(pretrain_txt_documents_end_at_blank_lines) {
    char *dir = test_tmpdir("txtdocs");
    char *text = fixture_write_text(dir, "vocab.txt", 100, 5);
    Tokenizer *tok = fixture_tokenizer(text, 300);
    char *path = path_join(dir, "two.txt");
    const char *body = "\nThe farmer sells stones.\nHe finds more.\n\n \n\nThe farmer sleeps.\n";
    write_bytes(path, body, strlen(body));
    const char *inputs[] = {path};
    IntVec got = tokenize_inputs(inputs, 1, tok), want = {0};
    int eos = tokenizer_eos_id(tok);
    const char *first = "The farmer sells stones.\nHe finds more.", *second = "The farmer sleeps.";
    tokenizer_encode(tok, first, strlen(first), 0, &want);
    intvec_push(&want, eos);
    tokenizer_encode(tok, second, strlen(second), 0, &want);
    intvec_push(&want, eos);
    CHECK_EQ_INT(got.len, want.len);
    CHECK(got.len == want.len && memcmp(got.data, want.data, sizeof(int) * (size_t)got.len) == 0);
    intvec_free(&got);
    intvec_free(&want);
    tokenizer_free(tok);
    test_system("rm -rf '%s'", dir);
    free(path);
    free(text);
    free(dir);
}

TEST(pretrain_validation_split_keeps_documents_whole) {
    char *dir = test_tmpdir("split");
    char *text = fixture_write_text(dir, "vocab.txt", 200, 7);
    Tokenizer *tok = fixture_tokenizer(text, 320);
    /* 36 documents in a folder: a .jsonl of 34 and two .txt files, one in a subfolder */
    enum { N_DOCS = 36 };
    char *docs[N_DOCS];
    test_system("mkdir -p '%s/corpus/sub'", dir);
    char *jsonl = xsprintf("%s/corpus/b.jsonl", dir);
    FILE *f = xfopen(jsonl, "w");
    for (int i = 0; i < N_DOCS; i++) {
        docs[i] = xsprintf("Document %d: the farmer %s %d stones.", i, i % 2 ? "sells" : "finds", i * 7);
        if (i < N_DOCS - 2) fprintf(f, "{\"text\": \"%s\"}\n\n", docs[i]); /* blank lines are skipped */
    }
    fclose(f);
    char *a = xsprintf("%s/corpus/a.txt", dir), *c = xsprintf("%s/corpus/sub/c.txt", dir);
    write_bytes(a, docs[N_DOCS - 2], strlen(docs[N_DOCS - 2]));
    write_bytes(c, docs[N_DOCS - 1], strlen(docs[N_DOCS - 1]));

    char *corpus = path_join(dir, "corpus"), *shards = path_join(dir, "shards");
    const char *inputs[] = {corpus};
    TokenData d = token_data_prepare(inputs, 1, NULL, 0, tok, shards, 0.25, 11);
    int n_train, n_val;
    char **train = shard_documents(&d.train, tok, &n_train), **val = shard_documents(&d.val, tok, &n_val);
    CHECK_EQ_INT(n_val, 9); /* 25% of 36 */
    CHECK_EQ_INT(n_train + n_val, N_DOCS);
    int seen[N_DOCS] = {0};
    for (int i = 0; i < n_train; i++) {
        int k = find_doc(docs, N_DOCS, train[i]);
        CHECK_MSG(k >= 0, "training document \"%s\" is not one of the inputs", train[i]);
        if (k >= 0) seen[k]++;
    }
    for (int i = 0; i < n_val; i++) {
        int k = find_doc(docs, N_DOCS, val[i]);
        CHECK_MSG(k >= 0, "validation document \"%s\" is not one of the inputs", val[i]);
        if (k >= 0) seen[k]++;
    }
    for (int k = 0; k < N_DOCS; k++) CHECK_MSG(seen[k] == 1, "document %d is in the shards %d times", k, seen[k]);
    /* the split is a random subset, not simply the last documents */
    int val_in_first_half = 0;
    for (int i = 0; i < n_val; i++) val_in_first_half += find_doc(docs, N_DOCS, val[i]) < N_DOCS / 2;
    CHECK(val_in_first_half > 0 && val_in_first_half < n_val);
    free_docs(train, n_train);
    free_docs(val, n_val);
    token_data_close(&d);

    /* one document: its last tokens are held out, nothing lost or repeated */
    const char *one[] = {text};
    char *shards1 = path_join(dir, "shards1");
    d = token_data_prepare(one, 1, NULL, 0, tok, shards1, 0.1, 11);
    IntVec all = tokenize_inputs(one, 1, tok);
    CHECK_EQ_INT(d.train.n_tokens + d.val.n_tokens, all.len);
    CHECK_EQ_INT(d.val.n_tokens, all.len - (int)(0.9 * all.len));
    int mismatches = 0;
    for (int i = 0; i < all.len; i++)
        mismatches += (size_t)i < d.train.n_tokens ? shard_token(&d.train, (size_t)i) != all.data[i]
                                                    : shard_token(&d.val, (size_t)i - d.train.n_tokens) != all.data[i];
    CHECK_EQ_INT(mismatches, 0);
    intvec_free(&all);
    token_data_close(&d);

    /* --val: validation is exactly the given files, training exactly the others */
    const char *val_inputs[] = {a}, *train_inputs[] = {c};
    char *shards2 = path_join(dir, "shards2");
    d = token_data_prepare(train_inputs, 1, val_inputs, 1, tok, shards2, 0.5, 11);
    IntVec want_train = tokenize_inputs(train_inputs, 1, tok), want_val = tokenize_inputs(val_inputs, 1, tok);
    CHECK_EQ_INT(d.train.n_tokens, want_train.len);
    CHECK_EQ_INT(d.val.n_tokens, want_val.len);
    mismatches = 0;
    for (int i = 0; i < want_train.len && (size_t)i < d.train.n_tokens; i++)
        mismatches += shard_token(&d.train, (size_t)i) != want_train.data[i];
    for (int i = 0; i < want_val.len && (size_t)i < d.val.n_tokens; i++)
        mismatches += shard_token(&d.val, (size_t)i) != want_val.data[i];
    CHECK_EQ_INT(mismatches, 0);
    intvec_free(&want_train);
    intvec_free(&want_val);
    token_data_close(&d);
    free(shards2);

    for (int i = 0; i < N_DOCS; i++) free(docs[i]);
    tokenizer_free(tok);
    test_system("rm -rf '%s'", dir);
    free(shards1);
    free(corpus);
    free(shards);
    free(a);
    free(c);
    free(jsonl);
    free(text);
    free(dir);
}

/* The identity of the file train.bin is now: an atomic rewrite replaces it. */
static void shard_identity(const char *shards, struct stat *st) {
    char *p = path_join(shards, "train.bin");
    if (stat(p, st) != 0) die_errno("stat %s", p);
    free(p);
}

static int same_file(const struct stat *a, const struct stat *b) {
    return a->st_ino == b->st_ino && a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Prepares the shards and reports whether train.bin was (re)written. */
static int prepare_rewrites(const char *input, const Tokenizer *tok, const char *shards, double val_fraction) {
    struct stat before = {0}, after;
    char *p = path_join(shards, "train.bin");
    int existed = file_exists(p);
    free(p);
    if (existed) shard_identity(shards, &before);
    const char *inputs[] = {input};
    TokenData d = token_data_prepare(inputs, 1, NULL, 0, tok, shards, val_fraction, 1);
    token_data_close(&d);
    shard_identity(shards, &after);
    return !existed || !same_file(&before, &after);
}

TEST(pretrain_shards_are_reused_until_an_input_changes) {
    char *dir = test_tmpdir("reuse");
    char *text = fixture_write_text(dir, "text.txt", 400, 3), *shards = path_join(dir, "shards");
    Tokenizer *tok = fixture_tokenizer(text, 300), *other = fixture_tokenizer(text, 290);
    CHECK(prepare_rewrites(text, tok, shards, 0.05));
    CHECK_MSG(!prepare_rewrites(text, tok, shards, 0.05), "the same input was tokenized again");
    CHECK_MSG(prepare_rewrites(text, tok, shards, 0.1), "another --val-fraction reused the old split");
    CHECK_MSG(prepare_rewrites(text, other, shards, 0.1), "another tokenizer reused the old shards");
    CHECK(!prepare_rewrites(text, other, shards, 0.1));

    /* An edit that keeps the size, moments after the shards were made. File
     * times tick with the kernel's clock (a few ms); wait out one tick. */
    nanosleep(&(struct timespec){0, 30 * 1000 * 1000}, NULL);
    size_t len;
    char *bytes = read_file(text, &len);
    bytes[len / 2] = bytes[len / 2] == 'e' ? 'a' : 'e';
    write_bytes(text, bytes, len);
    CHECK_MSG(prepare_rewrites(text, other, shards, 0.1), "an edited input reused the old shards");
    free(bytes);

    /* the shards of a run interrupted before its manifest was written are not trusted */
    char *manifest = path_join(shards, "manifest.json");
    remove(manifest);
    CHECK(prepare_rewrites(text, other, shards, 0.1));
    CHECK(file_exists(manifest));

    /* a folder of shards given as the input is used as it is */
    struct stat before, after;
    shard_identity(shards, &before);
    const char *inputs[] = {shards};
    char *unused = path_join(dir, "unused");
    TokenData d = token_data_prepare(inputs, 1, NULL, 0, other, unused, 0.1, 1);
    CHECK(!dir_exists(unused));
    free(unused);
    CHECK(d.train.n_tokens > 0 && d.val.n_tokens > 0);
    token_data_close(&d);
    shard_identity(shards, &after);
    CHECK(same_file(&before, &after));

    tokenizer_free(tok);
    tokenizer_free(other);
    test_system("rm -rf '%s'", dir);
    free(manifest);
    free(text);
    free(shards);
    free(dir);
}

/* ---- bad input ---- */

typedef struct {
    const char *input, *shards;
    const Tokenizer *tok;
    double val_fraction;
} PrepareArgs;

static void prepare(void *p) {
    const PrepareArgs *a = p;
    const char *inputs[] = {a->input};
    TokenData d = token_data_prepare(inputs, 1, NULL, 0, a->tok, a->shards, a->val_fraction, 1);
    token_data_close(&d);
}

static char *write_file_in(const char *dir, const char *name, const char *content) {
    char *p = path_join(dir, name);
    write_bytes(p, content, strlen(content));
    return p;
}

TEST(pretrain_bad_data_is_reported_naming_the_file) {
    char *dir = test_tmpdir("bad-data");
    char *text = fixture_write_text(dir, "good.txt", 100, 5), *shards = path_join(dir, "shards");
    Tokenizer *tok = fixture_tokenizer(text, 280);
    PrepareArgs a = {NULL, shards, tok, 0.05};
    struct {
        const char *name, *content, *expected;
    } cases[] = {
        {"empty.txt", "", "empty.txt: empty file"},
        {"empty.jsonl", "", "empty.jsonl: no documents"},
        {"not_json.jsonl", "{\"text\": \"fine\"}\n{\"text\": \"cut\n", "not_json.jsonl:2: not valid JSON"},
        {"array.jsonl", "[\"text\"]\n", "array.jsonl:1: expected a JSON object"},
        {"no_text.jsonl", "{\"text\": \"a\"}\n\n{\"content\": \"b\"}\n", "no_text.jsonl:3: field \"text\" is missing"},
        {"number.jsonl", "{\"text\": 42}\n", "number.jsonl:1: field \"text\" must be a string"},
        {"table.csv", "a,b\n", "table.csv: expected a .txt or .jsonl file"},
        {"tiny.txt", "a", "too few tokens"},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++) {
        char *p = write_file_in(dir, cases[i].name, cases[i].content);
        a.input = p;
        CHECK_DIES(prepare, &a, cases[i].expected);
        free(p);
    }
    a.input = "/nonexistent/corpus.txt";
    CHECK_DIES(prepare, &a, "/nonexistent/corpus.txt: no such file or folder");
    char *empty_dir = path_join(dir, "nothing");
    make_dirs(empty_dir);
    a.input = empty_dir;
    CHECK_DIES(prepare, &a, "nothing: no .txt or .jsonl files in this folder");
    a.input = text;
    a.val_fraction = 1.0;
    CHECK_DIES(prepare, &a, "--val-fraction must be in [0, 1)");
    a.val_fraction = 0.05;

    /* a folder of shards whose files are damaged */
    prepare(&a);
    char *train = path_join(shards, "train.bin");
    size_t len;
    char *bytes = read_file(train, &len);
    a.input = shards;
    write_bytes(train, bytes, len - 1);
    CHECK_DIES(prepare, &a, "shards/train.bin: header says");
    memcpy(bytes, "GPT2TOKS", 8);
    write_bytes(train, bytes, len);
    CHECK_DIES(prepare, &a, "shards/train.bin: not an lmforge token shard (bad magic)");
    remove(train);
    CHECK_DIES(prepare, &a, "cannot open");
    CHECK_DIES(prepare, &a, "shards/train.bin");
    /* shards made with a larger vocabulary than the tokenizer's */
    test_system("rm -rf '%s'", shards);
    a.input = text;
    prepare(&a);
    Tokenizer *smaller = fixture_tokenizer(text, 270);
    a.input = shards;
    a.tok = smaller;
    char *expected = xsprintf("shards: shards were made with a larger vocabulary (%d) than the tokenizer's (%d)",
                              tokenizer_vocab_size(tok), tokenizer_vocab_size(smaller));
    CHECK_DIES(prepare, &a, expected);
    free(expected);

    tokenizer_free(smaller);
    tokenizer_free(tok);
    test_system("rm -rf '%s'", dir);
    free(bytes);
    free(train);
    free(empty_dir);
    free(text);
    free(shards);
    free(dir);
}
