/* text_data.c — see text_data.h. */
#include "text_data.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../base/input_check.h"
#include "../base/json_util.h"
#include "../base/rng.h"
#include "../base/util.h"
#include "../base/jsonl.h"

typedef struct {
    char **paths;
    int n, cap;
} PathList;

static void path_list_add(PathList *l, const char *p) {
    if (l->n == l->cap) l->paths = xrealloc(l->paths, sizeof(char *) * (size_t)(l->cap = l->cap ? 2 * l->cap : 16));
    l->paths[l->n++] = xstrdup(p);
}

static int compare_strings(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int is_text_file(const char *p) { return ends_with(p, ".txt") || ends_with(p, ".jsonl"); }

/* Adds the .txt/.jsonl files under dir, in sorted order. */
static void collect_dir(PathList *l, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) die_errno("cannot read directory %s", dir);
    PathList here = {0};
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            char *p = path_join(dir, e->d_name);
            path_list_add(&here, p);
            free(p);
        }
    closedir(d);
    if (here.n > 1) qsort(here.paths, (size_t)here.n, sizeof(char *), compare_strings); /* an empty folder has no list */
    for (int i = 0; i < here.n; i++) {
        if (dir_exists(here.paths[i])) collect_dir(l, here.paths[i]);
        else if (is_text_file(here.paths[i])) path_list_add(l, here.paths[i]);
        free(here.paths[i]);
    }
    free(here.paths);
}

static PathList collect_inputs(const char *const *inputs, int n) {
    PathList l = {0};
    for (int i = 0; i < n; i++) {
        if (dir_exists(inputs[i])) {
            int before = l.n;
            collect_dir(&l, inputs[i]);
            if (l.n == before) die("%s: no .txt or .jsonl files in this folder", inputs[i]);
        } else if (file_exists(inputs[i])) {
            if (!is_text_file(inputs[i])) die("%s: expected a .txt or .jsonl file", inputs[i]);
            path_list_add(&l, inputs[i]);
        } else {
            die("%s: no such file or folder", inputs[i]);
        }
    }
    return l;
}

/* Calls fn(doc, len, ctx) for every document of every file: in a .txt file,
 * the runs of lines between blank lines (text_documents); in a .jsonl file,
 * each record's "text". */
static void for_each_document(const PathList *files, TextDocFn fn, void *ctx) {
    for (int i = 0; i < files->n; i++) {
        const char *p = files->paths[i];
        if (ends_with(p, ".txt")) {
            size_t len;
            char *text = read_file(p, &len);
            /* The input policy (input_check.h): raw bytes are not text. */
            size_t bom = utf8_bom_length(text, len), offset;
            const char *why = text_problem(text + bom, len - bom, &offset);
            if (why) die("%s: %s at byte offset %zu", p, why, bom + offset);
            if (len == bom) die("%s: empty file", p);
            if (jsonl_text_is_blank(text + bom)) die("%s: only white space, no text", p);
            text_documents(text + bom, len - bom, fn, ctx); /* a blank line ends a document */
            free(text);
            continue;
        }
        JsonlReader *r = jsonl_open(p);
        JsonlRecord rec;
        int docs = 0, blank = 0;
        while (jsonl_next(r, &rec)) {
            const char *text = jsonl_get_string(&rec, "text");
            /* An empty document would add only an end-of-text token. */
            if (jsonl_text_is_blank(text)) {
                if (blank++ == 0) warn("%s:%d: empty document skipped", rec.path, rec.line);
                continue;
            }
            fn(text, strlen(text), ctx);
            docs++;
        }
        jsonl_close(r);
        if (!docs && blank) die("%s: all %d documents are empty (or only white space)", p, blank);
        if (!docs) die("%s: no documents (expected one {\"text\": ...} object per line)", p);
        if (blank > 1) warn("%s: %d empty documents skipped", p, blank);
    }
}

typedef struct {
    const Tokenizer *tok;
    int eos;
    IntVec tokens;    /* all documents, each followed by EOS */
    IntVec doc_ends;  /* token index after each document's EOS */
} TokenizeCtx;

static void tokenize_document(const char *doc, size_t len, void *p) {
    TokenizeCtx *c = p;
    tokenizer_encode(c->tok, doc, len, 0, &c->tokens);
    intvec_push(&c->tokens, c->eos);
    intvec_push(&c->doc_ends, c->tokens.len);
}

static TokenizeCtx tokenize_all(const PathList *files, const Tokenizer *tok) {
    TokenizeCtx c = {.tok = tok, .eos = tokenizer_eos_id(tok)};
    if (c.eos < 0) die("the tokenizer has no end-of-text token to separate documents");
    for_each_document(files, tokenize_document, &c);
    return c;
}

IntVec tokenize_inputs(const char *const *inputs, int n_inputs, const Tokenizer *tok) {
    PathList files = collect_inputs(inputs, n_inputs);
    TokenizeCtx c = tokenize_all(&files, tok);
    for (int i = 0; i < files.n; i++) free(files.paths[i]);
    free(files.paths);
    intvec_free(&c.doc_ends);
    return c.tokens;
}

static void add_sources(cJSON *m, const char *key, const PathList *files) {
    cJSON *sources = cJSON_AddArrayToObject(m, key);
    for (int i = 0; i < files->n; i++) {
        struct stat st;
        if (stat(files->paths[i], &st) != 0) die_errno("cannot stat %s", files->paths[i]);
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "path", files->paths[i]);
        cJSON_AddNumberToObject(s, "size", (double)st.st_size);
        /* to the nanosecond: an edit in the same second as the last run must count */
        cJSON_AddNumberToObject(s, "mtime", (double)st.st_mtim.tv_sec + 1e-9 * (double)st.st_mtim.tv_nsec);
        cJSON_AddItemToArray(sources, s);
    }
}

static cJSON *make_manifest(const PathList *files, const PathList *val_files, uint64_t fingerprint,
                            double val_fraction, uint64_t seed) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddNumberToObject(m, "version", 2); /* 2: a blank line ends a .txt document */
    add_sources(m, "sources", files);
    if (val_files->n) add_sources(m, "val_sources", val_files);
    char hex[32];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fingerprint);
    cJSON_AddStringToObject(m, "tokenizer", hex);
    cJSON_AddNumberToObject(m, "val_fraction", val_fraction);
    cJSON_AddNumberToObject(m, "seed", (double)seed);
    return m;
}

static TokenData open_shards(const char *dir) {
    char *train = path_join(dir, "train.bin"), *val = path_join(dir, "val.bin");
    TokenData d = {shard_open(train), shard_open(val)};
    free(train);
    free(val);
    return d;
}

/* Writes train.bin / val.bin from the tokenized documents. */
static void split_and_write(const TokenizeCtx *c, const char *dir, int vocab, double val_fraction, uint64_t seed) {
    int n_docs = c->doc_ends.len;
    IntVec train = {0}, val = {0};
    if (n_docs == 1 || val_fraction <= 0) {
        int cut = (int)((1.0 - val_fraction) * c->tokens.len);
        intvec_append(&train, c->tokens.data, cut);
        intvec_append(&val, c->tokens.data + cut, c->tokens.len - cut);
        if (val_fraction > 0) info("one document: holding out its last %.0f%% of tokens for validation", 100 * val_fraction);
    } else {
        /* a random subset of documents (at least one, never all) for validation */
        int *order = xmalloc(sizeof(int) * (size_t)n_docs);
        for (int i = 0; i < n_docs; i++) order[i] = i;
        Rng r;
        rng_seed(&r, seed);
        rng_shuffle_ints(&r, order, n_docs);
        int n_val = (int)(val_fraction * n_docs + 0.5);
        n_val = LMF_MIN(LMF_MAX(n_val, 1), n_docs - 1);
        char *is_val = xcalloc((size_t)n_docs, 1);
        for (int i = 0; i < n_val; i++) is_val[order[i]] = 1;
        for (int d = 0, start = 0; d < n_docs; start = c->doc_ends.data[d++])
            intvec_append(is_val[d] ? &val : &train, c->tokens.data + start, c->doc_ends.data[d] - start);
        free(order);
        free(is_val);
    }
    if (train.len < 2) die("the corpus has too few tokens to train on (%d)", train.len);
    char *p = path_join(dir, "train.bin");
    shard_write(p, train.data, (size_t)train.len, vocab);
    free(p);
    p = path_join(dir, "val.bin");
    shard_write(p, val.data, (size_t)val.len, vocab);
    free(p);
    intvec_free(&train);
    intvec_free(&val);
}

/* Training shard from the train files, validation shard from the val files, whole. */
static void write_separate(const TokenizeCtx *train, const TokenizeCtx *val, const char *dir, int vocab) {
    if (train->tokens.len < 2) die("the corpus has too few tokens to train on (%d)", train->tokens.len);
    char *p = path_join(dir, "train.bin");
    shard_write(p, train->tokens.data, (size_t)train->tokens.len, vocab);
    free(p);
    p = path_join(dir, "val.bin");
    shard_write(p, val->tokens.data, (size_t)val->tokens.len, vocab);
    free(p);
}

TokenData token_data_prepare(const char *const *inputs, int n_inputs, const char *const *val_inputs, int n_val,
                             const Tokenizer *tok, const char *shard_dir, double val_fraction, uint64_t seed) {
    if (n_inputs < 1) die("no training data given");
    if (val_fraction < 0 || val_fraction >= 1) die("--val-fraction must be in [0, 1)");
    /* a folder of shards made before */
    char *given_manifest = n_inputs == 1 ? path_join(inputs[0], "manifest.json") : NULL;
    if (given_manifest && file_exists(given_manifest)) {
        free(given_manifest);
        TokenData d = open_shards(inputs[0]);
        if (d.train.vocab_size > tokenizer_vocab_size(tok))
            die("%s: shards were made with a larger vocabulary (%d) than the tokenizer's (%d)", inputs[0],
                d.train.vocab_size, tokenizer_vocab_size(tok));
        return d;
    }
    free(given_manifest);

    PathList files = collect_inputs(inputs, n_inputs), val_files = {0};
    if (n_val > 0) val_files = collect_inputs(val_inputs, n_val);
    cJSON *manifest = make_manifest(&files, &val_files, tokenizer_fingerprint(tok), val_fraction, seed);
    char *manifest_path = path_join(shard_dir, "manifest.json");
    int reuse = 0;
    if (file_exists(manifest_path)) {
        cJSON *old = json_read_file(manifest_path);
        cJSON *old_core = cJSON_Duplicate(old, 1);
        cJSON_DeleteItemFromObject(old_core, "train_tokens");
        cJSON_DeleteItemFromObject(old_core, "val_tokens");
        reuse = cJSON_Compare(old_core, manifest, 1);
        cJSON_Delete(old_core);
        cJSON_Delete(old);
    }
    TokenData d;
    if (reuse) {
        info("reusing the token shards in %s", shard_dir);
        d = open_shards(shard_dir);
    } else {
        double t = now_seconds();
        remove(manifest_path); /* the old shards stop being valid from here on */
        TokenizeCtx c = tokenize_all(&files, tok);
        make_dirs(shard_dir);
        if (val_files.n) {
            TokenizeCtx v = tokenize_all(&val_files, tok);
            write_separate(&c, &v, shard_dir, tokenizer_vocab_size(tok));
            intvec_free(&v.tokens);
            intvec_free(&v.doc_ends);
        } else {
            split_and_write(&c, shard_dir, tokenizer_vocab_size(tok), val_fraction, seed);
        }
        d = open_shards(shard_dir);
        cJSON_AddNumberToObject(manifest, "train_tokens", (double)d.train.n_tokens);
        cJSON_AddNumberToObject(manifest, "val_tokens", (double)d.val.n_tokens);
        json_write_file(manifest_path, manifest); /* last: it marks the shards complete */
        info("tokenized %d file(s), %d documents, into %zu training and %zu validation tokens in %.1fs", files.n,
             c.doc_ends.len, d.train.n_tokens, d.val.n_tokens, now_seconds() - t);
        intvec_free(&c.tokens);
        intvec_free(&c.doc_ends);
    }
    cJSON_Delete(manifest);
    free(manifest_path);
    for (int i = 0; i < files.n; i++) free(files.paths[i]);
    for (int i = 0; i < val_files.n; i++) free(val_files.paths[i]);
    free(files.paths);
    free(val_files.paths);
    return d;
}

void token_data_close(TokenData *d) {
    shard_close(&d->train);
    shard_close(&d->val);
}
