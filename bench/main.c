/* main.c — the benchmark runner; see bench.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/util.h"
#include "../src/kernels/kernels.h"
#include "bench.h"

typedef struct {
    const char *name;
    BenchFn fn;
} Bench;

static Bench benches[128];
static int n_benches;

typedef struct {
    const char *name;
    BenchChildFn fn;
} BenchChild;

static BenchChild children[64];
static int n_children;

void bench_register_child(const char *name, BenchChildFn fn) {
    if (n_children == (int)LMF_ARRAY_LEN(children)) die("too many benchmark children");
    children[n_children++] = (BenchChild){name, fn};
}
static FILE *results;

void bench_register(const char *name, BenchFn fn) {
    if (n_benches == (int)LMF_ARRAY_LEN(benches)) die("too many benchmarks");
    benches[n_benches++] = (Bench){name, fn};
}

void bench_report(const char *name, double value, const char *unit, const char *vs) {
    printf("  %-44s %14.4g  %-10s%s%s\n", name, value, unit, vs ? "  vs " : "", vs ? vs : "");
    fflush(stdout);
    if (!results) return;
    fprintf(results, "{\"name\": \"%s\", \"value\": %.6g, \"unit\": \"%s\"", name, value, unit);
    if (vs) fprintf(results, ", \"vs\": \"%s\"", vs);
    fprintf(results, "}\n");
    fflush(results);
}

/* Writes text as a JSON string: quotes, backslashes and control characters escaped. */
static void write_json_string(FILE *f, const char *text) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

void bench_report_text(const char *name, const char *text) {
    printf("  %-44s %s\n", name, text);
    fflush(stdout);
    if (!results) return;
    fprintf(results, "{\"name\": \"%s\", \"value\": ", name);
    write_json_string(results, text);
    fprintf(results, ", \"unit\": \"text\"}\n");
    fflush(results);
}

char *bench_capture(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    fflush(stdout);
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 4096, n = 0;
    char *out = xmalloc(cap);
    size_t got;
    while ((got = fread(out + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (n + 1 >= cap) out = xrealloc(out, cap *= 2);
    }
    out[n] = 0;
    if (pclose(p) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

int main(int argc, char **argv) {
    blas_prefer_fast_kernels(argv); /* the kernels build/lmforge runs with */
    if (argc == 4 && strcmp(argv[1], "--child") == 0) {
        for (int i = 0; i < n_children; i++)
            if (strcmp(children[i].name, argv[2]) == 0) {
                children[i].fn(argv[3]);
                return 0;
            }
        die("no benchmark child %s", argv[2]);
    }
    const char *filter = argc > 1 ? argv[1] : NULL;
    results = fopen("bench/results.jsonl", "w");
    if (!results) warn("cannot write bench/results.jsonl; printing only");
    printf("  %-44s %14s  %s\n", "figure", "value", "unit");
    bench_report_machine();
    for (int i = 0; i < n_benches; i++) {
        if (filter && !strstr(benches[i].name, filter)) continue;
        printf("%s\n", benches[i].name);
        fflush(stdout);
        benches[i].fn();
    }
    if (results) fclose(results);
    printf("figures written to bench/results.jsonl\n");
    return 0;
}
