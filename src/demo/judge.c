/* judge.c — see judge.h. */
#include "judge.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "../base/util.h"
#include "strutil.h"

int judge_parse(const char *name, JudgeKind *kind) {
    if (strcmp(name, "exact") == 0) *kind = JUDGE_EXACT;
    else if (strcmp(name, "exact-case") == 0) *kind = JUDGE_EXACT_CASE;
    else if (strcmp(name, "f1") == 0) *kind = JUDGE_F1;
    else return -1;
    return 0;
}

const char *judge_name(JudgeKind kind) {
    switch (kind) {
    case JUDGE_EXACT: return "exact";
    case JUDGE_EXACT_CASE: return "exact-case";
    case JUDGE_F1: return "f1";
    }
    return "?";
}

static int is_quote(char c) { return c == '"' || c == '\'' || c == '`'; }
static int is_trailing_punct(char c) { return c && strchr(".,;:!?", c) != NULL; }

char *judge_normalize(const char *s, int fold_case) {
    StrBuf b = {0};
    int pending_space = 0;
    for (; *s; s++) {
        if (isspace((unsigned char)*s)) {
            pending_space = b.len > 0;
            continue;
        }
        if (pending_space) strbuf_append_char(&b, ' ');
        pending_space = 0;
        strbuf_append_char(&b, fold_case ? (char)tolower((unsigned char)*s) : *s);
    }
    char *out = strbuf_take(&b);
    /* Peel trailing punctuation and quotes, and quotes at the front, until none is left: "'tac'." → tac. */
    size_t start = 0, end = strlen(out);
    for (;;) {
        if (end > start && (is_trailing_punct(out[end - 1]) || is_quote(out[end - 1]) || out[end - 1] == ' ')) end--;
        else if (end > start && (is_quote(out[start]) || out[start] == ' ')) start++;
        else break;
    }
    memmove(out, out + start, end - start);
    out[end - start] = 0;
    return out;
}

/* Lower-cased words with punctuation removed and articles dropped. */
static void f1_tokens(const char *s, StrList *tokens) {
    StrBuf word = {0};
    for (const char *c = s;; c++) {
        if (*c && !isspace((unsigned char)*c) && !ispunct((unsigned char)*c)) {
            strbuf_append_char(&word, (char)tolower((unsigned char)*c));
            continue;
        }
        if (word.len) {
            char *w = strbuf_take(&word);
            if (strcmp(w, "a") == 0 || strcmp(w, "an") == 0 || strcmp(w, "the") == 0) free(w);
            else strlist_take(tokens, w);
        }
        if (!*c) break;
    }
    strbuf_free(&word);
}

double judge_token_f1(const char *response, const char *reference) {
    StrList got = {0}, want = {0};
    f1_tokens(response, &got);
    f1_tokens(reference, &want);
    double f1;
    if (got.n == 0 || want.n == 0) {
        f1 = got.n == want.n; /* both empty: a perfect (empty) match */
    } else {
        /* Each reference token can be matched once: common tokens count with multiplicity. */
        char *used = xcalloc((size_t)want.n, 1);
        int common = 0;
        for (int i = 0; i < got.n; i++)
            for (int j = 0; j < want.n; j++)
                if (!used[j] && strcmp(got.items[i], want.items[j]) == 0) {
                    used[j] = 1;
                    common++;
                    break;
                }
        free(used);
        double precision = (double)common / got.n, recall = (double)common / want.n;
        f1 = common ? 2 * precision * recall / (precision + recall) : 0;
    }
    strlist_free(&got);
    strlist_free(&want);
    return f1;
}

double judge_score(JudgeKind kind, const char *response, char *const *answers, int n) {
    double best = 0;
    if (kind == JUDGE_F1) {
        for (int i = 0; i < n; i++) best = LMF_MAX(best, judge_token_f1(response, answers[i]));
        return best;
    }
    int fold_case = kind == JUDGE_EXACT;
    char *got = judge_normalize(response, fold_case);
    for (int i = 0; i < n && best == 0; i++) {
        char *want = judge_normalize(answers[i], fold_case);
        best = strcmp(got, want) == 0;
        free(want);
    }
    free(got);
    return best;
}
