/* quiz.c — see quiz.h. The pattern parser is a recursive descent that
 * expands each pattern into the full set of strings it accepts; the patterns
 * in the quiz files are short, so the sets stay small. */
#include "quiz.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../base/util.h"

/* A pattern with more expansions than this is refused (the real files need under 100). */
#define MAX_EXPANSIONS 4096

typedef struct {
    const char *s;
    size_t i;
    char *err;
    size_t err_len;
    int failed;
} Parser;

static void fail(Parser *p, const char *fmt, ...) {
    if (p->failed) return;
    p->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, p->err_len, fmt, ap);
    va_end(ap);
}

static int is_plain_ascii(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) return 0;
    return 1;
}

/* Overstrike spellings carry a backspace; UTF-8 ones (°Aland) are kept. */
static int has_control_char(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20) return 1;
    return 0;
}

/* Adds the strings of `from` that `to` does not have yet; frees `from`. */
static void merge_unique(StrList *to, StrList *from) {
    for (int i = 0; i < from->n; i++) {
        if (strlist_contains(to, from->items[i])) continue;
        strlist_take(to, from->items[i]);
        from->items[i] = NULL;
    }
    strlist_free(from);
}

/* Every a + b for a in prefixes, b in suffixes; replaces prefixes. */
static void cross_product(Parser *p, StrList *prefixes, const StrList *suffixes) {
    if ((long)prefixes->n * suffixes->n > MAX_EXPANSIONS) {
        fail(p, "more than %d alternatives", MAX_EXPANSIONS);
        return;
    }
    StrList out = {0};
    for (int i = 0; i < prefixes->n; i++)
        for (int j = 0; j < suffixes->n; j++) {
            char *s = xsprintf("%s%s", prefixes->items[i], suffixes->items[j]);
            if (strlist_contains(&out, s)) free(s);
            else strlist_take(&out, s);
        }
    strlist_free(prefixes);
    *prefixes = out;
}

static void append_to_all(StrList *l, char **canonical, char c) {
    for (int i = 0; i < l->n; i++) {
        size_t n = strlen(l->items[i]);
        l->items[i] = xrealloc(l->items[i], n + 2);
        l->items[i][n] = c;
        l->items[i][n + 1] = 0;
    }
    size_t n = strlen(*canonical);
    *canonical = xrealloc(*canonical, n + 2);
    (*canonical)[n] = c;
    (*canonical)[n + 1] = 0;
}

static void parse_alternation(Parser *p, StrList *all, char **canonical);

/* A bracketed group after its opening bracket, up to and including `close`. */
static void parse_group(Parser *p, char close, StrList *all, char **canonical) {
    size_t open_at = p->i - 1;
    parse_alternation(p, all, canonical);
    if (p->s[p->i] != close) {
        fail(p, "'%c' at column %zu is never closed", p->s[open_at], open_at + 1);
        return;
    }
    p->i++;
}

/* sequence := (literal | '\' char | '{' alternation '}' | '[' alternation ']')* */
static void parse_sequence(Parser *p, StrList *all, char **canonical) {
    strlist_add(all, "");
    *canonical = xstrdup("");
    while (!p->failed) {
        char c = p->s[p->i];
        if (c == 0 || c == '|' || c == '}' || c == ']') return;
        p->i++;
        if (c == '\\') {
            if (p->s[p->i] == 0) {
                fail(p, "backslash at the end of the pattern");
                return;
            }
            append_to_all(all, canonical, p->s[p->i++]);
        } else if (c == '{' || c == '[') {
            StrList group = {0};
            char *group_canonical = NULL;
            parse_group(p, c == '{' ? '}' : ']', &group, &group_canonical);
            if (c == '{' && !strlist_contains(&group, "")) strlist_add(&group, ""); /* optional: may be left out */
            cross_product(p, all, &group);
            char *joined = xsprintf("%s%s", *canonical, group_canonical);
            free(*canonical);
            *canonical = joined;
            free(group_canonical);
            strlist_free(&group);
        } else {
            append_to_all(all, canonical, c);
        }
    }
}

/* alternation := sequence ('|' sequence)* ; the canonical form is that of the
 * first alternative written in plain ASCII (else of the first). */
static void parse_alternation(Parser *p, StrList *all, char **canonical) {
    parse_sequence(p, all, canonical);
    while (!p->failed && p->s[p->i] == '|') {
        p->i++;
        StrList alternative = {0};
        char *alternative_canonical = NULL;
        parse_sequence(p, &alternative, &alternative_canonical);
        if (!is_plain_ascii(*canonical) && is_plain_ascii(alternative_canonical)) {
            free(*canonical);
            *canonical = alternative_canonical;
        } else {
            free(alternative_canonical);
        }
        merge_unique(all, &alternative);
        if (all->n > MAX_EXPANSIONS) fail(p, "more than %d alternatives", MAX_EXPANSIONS);
    }
}

int quiz_pattern_parse(const char *pattern, QuizPattern *out, char *err, size_t err_len) {
    Parser p = {.s = pattern, .err = err, .err_len = err_len};
    StrList all = {0};
    char *canonical = NULL;
    parse_alternation(&p, &all, &canonical);
    if (!p.failed && pattern[p.i] != 0) fail(&p, "unmatched '%c' at column %zu", pattern[p.i], p.i + 1);
    if (p.failed) {
        strlist_free(&all);
        free(canonical);
        return -1;
    }
    *out = (QuizPattern){.canonical = canonical};
    for (int i = 0; i < all.n; i++)
        if (!has_control_char(all.items[i])) strlist_add(&out->accepted, all.items[i]);
    strlist_free(&all);
    return 0;
}

void quiz_pattern_free(QuizPattern *p) {
    strlist_free(&p->accepted);
    free(p->canonical);
    p->canonical = NULL;
}

void quiz_split_categories(const char *line, StrList *out) {
    StrBuf field = {0};
    int depth = 0;
    for (const char *c = line; *c; c++) {
        if (*c == '\\' && c[1]) {
            strbuf_append_n(&field, c, 2);
            c++;
            continue;
        }
        if (*c == '{' || *c == '[') depth++;
        if ((*c == '}' || *c == ']') && depth > 0) depth--;
        if (*c == ':' && depth == 0) {
            strlist_take(out, strbuf_take(&field));
            continue;
        }
        strbuf_append_char(&field, *c);
    }
    strlist_take(out, strbuf_take(&field));
}

/* 1 if the line ends in an unescaped backslash (a continuation). */
static int continues(const char *line, size_t len) {
    size_t backslashes = 0;
    while (backslashes < len && line[len - 1 - backslashes] == '\\') backslashes++;
    return backslashes % 2 == 1;
}

QuizFile quiz_file_read(const char *path) {
    FILE *f = xfopen(path, "r");
    QuizFile qf = {0};
    int cap = 0, line_no = 0, start = 0;
    StrBuf logical = {0};
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    for (;;) {
        len = getline(&line, &line_cap, f);
        if (len >= 0) {
            line_no++;
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
            if (logical.len == 0) start = line_no;
            if (continues(line, (size_t)len)) {
                strbuf_append_n(&logical, line, (size_t)len - 1);
                continue;
            }
            strbuf_append_n(&logical, line, (size_t)len);
        }
        if (logical.len > 0) {
            if (qf.n == cap) {
                cap = cap ? 2 * cap : 64;
                qf.rows = xrealloc(qf.rows, (size_t)cap * sizeof(QuizRow));
            }
            QuizRow *row = &qf.rows[qf.n++];
            *row = (QuizRow){.line = start};
            quiz_split_categories(logical.data, &row->categories);
            logical.len = 0;
        }
        if (len < 0) break;
    }
    if (ferror(f)) die_errno("cannot read %s", path);
    free(line);
    strbuf_free(&logical);
    fclose(f);
    return qf;
}

void quiz_file_free(QuizFile *f) {
    for (int i = 0; i < f->n; i++) strlist_free(&f->rows[i].categories);
    free(f->rows);
    *f = (QuizFile){0};
}

int quiz_index_column(const QuizRow *index_row, const char *name) {
    /* The index row's first category is the data file's path; the titles follow. */
    for (int i = 1; i < index_row->categories.n; i++) {
        QuizPattern title;
        char err[128];
        if (quiz_pattern_parse(index_row->categories.items[i], &title, err, sizeof err) != 0) continue;
        int match = 0;
        for (int j = 0; j < title.accepted.n && !match; j++) match = strcasecmp(title.accepted.items[j], name) == 0;
        quiz_pattern_free(&title);
        if (match) return i - 1;
    }
    return -1;
}

const QuizRow *quiz_index_find(const QuizFile *index, const char *subject) {
    for (int i = 0; i < index->n; i++) {
        const char *path = index->rows[i].categories.items[0];
        const char *base = strrchr(path, '/');
        if (strcmp(base ? base + 1 : path, subject) == 0) return &index->rows[i];
    }
    return NULL;
}
