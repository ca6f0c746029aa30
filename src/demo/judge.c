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
    else if (strcmp(name, "digits") == 0) *kind = JUDGE_DIGITS;
    else if (strcmp(name, "count") == 0) *kind = JUDGE_COUNT;
    else if (strcmp(name, "edit") == 0) *kind = JUDGE_EDIT;
    else if (strcmp(name, "edit-case") == 0) *kind = JUDGE_EDIT_CASE;
    else if (strcmp(name, "sentiment") == 0) *kind = JUDGE_SENTIMENT;
    else return -1;
    return 0;
}

const char *judge_name(JudgeKind kind) {
    switch (kind) {
    case JUDGE_EXACT: return "exact";
    case JUDGE_EXACT_CASE: return "exact-case";
    case JUDGE_F1: return "f1";
    case JUDGE_DIGITS: return "digits";
    case JUDGE_COUNT: return "count";
    case JUDGE_EDIT: return "edit";
    case JUDGE_EDIT_CASE: return "edit-case";
    case JUDGE_SENTIMENT: return "sentiment";
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

double judge_levenshtein(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    size_t *row = xmalloc((lb + 1) * sizeof(size_t)); /* one row of the DP table: distances of a[0..i) to b[0..j) */
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t substitute = diagonal + (a[i - 1] != b[j - 1]);
            diagonal = row[j];
            row[j] = LMF_MIN(LMF_MIN(row[j] + 1, row[j - 1] + 1), substitute);
        }
    }
    double d = (double)row[lb];
    free(row);
    return d;
}

/* A graded judge's view of a response: its first word, trailing punctuation
 * and quotes peeled, and the number of characters after that word. Caller frees. */
static char *answer_word(const char *response, int fold_case, size_t *extra) {
    char *norm = judge_normalize(response, fold_case);
    size_t word = strcspn(norm, " ");
    *extra = strlen(norm) - word;
    norm[word] = 0;
    while (word > 0 && (is_trailing_punct(norm[word - 1]) || is_quote(norm[word - 1]))) norm[--word] = 0;
    return norm;
}

static double brevity_factor(size_t extra) { return JUDGE_BREVITY_CHARS / (JUDGE_BREVITY_CHARS + (double)extra); }

double judge_brevity(const char *response, int fold_case) {
    size_t extra;
    free(answer_word(response, fold_case, &extra));
    return brevity_factor(extra);
}

static double digits_credit(const char *got, const char *want) {
    size_t lg = strlen(got), lw = strlen(want), longer = LMF_MAX(lg, lw), right = 0;
    for (size_t i = 0; i < LMF_MIN(lg, lw); i++) right += got[lg - 1 - i] == want[lw - 1 - i];
    return longer ? (double)right / (double)longer : 0;
}

/* An integer of at most 9 digits with an optional sign, or -1 in *ok. */
static long parse_count(const char *s, int *ok) {
    const char *digits = s + (*s == '-' || *s == '+');
    size_t n = strlen(digits);
    *ok = n > 0 && n <= 9 && strspn(digits, "0123456789") == n;
    return *ok ? strtol(s, NULL, 10) : 0;
}

static double count_credit(const char *got, const char *want) {
    int ok_got, ok_want;
    long g = parse_count(got, &ok_got), w = parse_count(want, &ok_want);
    if (!ok_got || !ok_want) return 0;
    return 1.0 / (1.0 + (double)labs(g - w));
}

static double edit_credit(const char *got, const char *want) {
    size_t longer = LMF_MAX(strlen(got), strlen(want));
    return longer ? 1 - judge_levenshtein(got, want) / (double)longer : 1;
}

/* The graded judges: the best credit over the accepted answers, times the brevity factor. */
static double graded_score(JudgeKind kind, const char *response, char *const *answers, int n) {
    int fold_case = kind != JUDGE_EDIT_CASE;
    size_t extra;
    char *got = answer_word(response, fold_case, &extra);
    double best = 0;
    for (int i = 0; i < n; i++) {
        char *want = judge_normalize(answers[i], fold_case);
        double credit = kind == JUDGE_DIGITS  ? digits_credit(got, want)
                        : kind == JUDGE_COUNT ? count_credit(got, want)
                                              : edit_credit(got, want);
        best = LMF_MAX(best, credit);
        free(want);
    }
    free(got);
    return best * brevity_factor(extra);
}

double judge_score(JudgeKind kind, const char *response, char *const *answers, int n) {
    if (kind == JUDGE_SENTIMENT) die("judge_score: sentiment is scored by an external program (gold.c)");
    if (kind == JUDGE_DIGITS || kind == JUDGE_COUNT || kind == JUDGE_EDIT || kind == JUDGE_EDIT_CASE)
        return graded_score(kind, response, answers, n);
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

int judge_exact_kind(JudgeKind kind, JudgeKind *exact) {
    if (kind == JUDGE_SENTIMENT) return -1;
    *exact = kind == JUDGE_EXACT_CASE || kind == JUDGE_EDIT_CASE ? JUDGE_EXACT_CASE : JUDGE_EXACT;
    return 0;
}
