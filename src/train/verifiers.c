/* verifiers.c — see verifiers.h. */
#include "verifiers.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "../base/util.h"

static const char *const kind_names[VERIFY_N_KINDS] = {"exact", "number", "regex", "length"};

int verifier_kind(const char *name) {
    for (int k = 0; k < VERIFY_N_KINDS; k++)
        if (strcmp(name, kind_names[k]) == 0) return k;
    return -1;
}

const char *verifier_name(VerifierKind kind) { return kind_names[kind]; }

char *normalize_answer(const char *s) {
    size_t n = strlen(s), len = 0;
    char *out = xmalloc(n + 1);
    int space = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isspace(c)) {
            space = len > 0;
            continue;
        }
        if (space) out[len++] = ' ';
        space = 0;
        out[len++] = (char)tolower(c);
    }
    out[len] = 0;
    /* final punctuation, then surrounding quotes, as often as they nest */
    for (int changed = 1; changed && len > 0;) {
        changed = 0;
        while (len > 0 && strchr(".!?", out[len - 1])) out[--len] = 0, changed = 1;
        if (len >= 2 && (out[0] == '"' || out[0] == '\'') && out[len - 1] == out[0]) {
            memmove(out, out + 1, len - 2);
            len -= 2;
            out[len] = 0;
            changed = 1;
        }
        while (len > 0 && out[len - 1] == ' ') out[--len] = 0;
        if (out[0] == ' ') memmove(out, out + 1, len--);
    }
    return out;
}

float verify_exact(const char *completion, const char *gold) {
    char *a = normalize_answer(completion), *b = normalize_answer(gold);
    float same = strcmp(a, b) == 0;
    free(a);
    free(b);
    return same;
}

int last_number(const char *s, double *value) {
    const char *found = NULL;
    size_t found_len = 0;
    for (const char *p = s; *p;) {
        if (!isdigit((unsigned char)*p)) {
            p++;
            continue;
        }
        const char *start = p > s && p[-1] == '-' ? p - 1 : p;
        while (isdigit((unsigned char)*p) || (*p == ',' && isdigit((unsigned char)p[1]))) p++;
        if (*p == '.' && isdigit((unsigned char)p[1]))
            for (p++; isdigit((unsigned char)*p); p++) {
            }
        found = start;
        found_len = (size_t)(p - start);
    }
    if (!found) return 0;
    char *digits = xmalloc(found_len + 1);
    size_t k = 0;
    for (size_t i = 0; i < found_len; i++)
        if (found[i] != ',') digits[k++] = found[i];
    digits[k] = 0;
    *value = strtod(digits, NULL);
    free(digits);
    return 1;
}

float verify_number(const char *completion, const char *gold) {
    double a, b;
    return last_number(completion, &a) && last_number(gold, &b) && a == b;
}

float verify_length(int stopped) { return stopped ? 0.0f : -1.0f; }

struct Regex {
    pcre2_code *code;
    pcre2_match_data *match;
};

Regex *regex_compile(const char *pattern, const char *where) {
    int error;
    PCRE2_SIZE offset;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
                                     &error, &offset, NULL);
    if (!code) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(error, message, sizeof message);
        die("%s: the pattern \"%s\" does not compile at offset %zu: %s", where, pattern, (size_t)offset,
            (const char *)message);
    }
    Regex *r = xcalloc(1, sizeof(Regex));
    r->code = code;
    r->match = pcre2_match_data_create_from_pattern(code, NULL);
    return r;
}

void regex_free(Regex *r) {
    if (!r) return;
    pcre2_match_data_free(r->match);
    pcre2_code_free(r->code);
    free(r);
}

float verify_regex(const Regex *r, const char *text, size_t len) {
    return pcre2_match(r->code, (PCRE2_SPTR)text, len, 0, 0, r->match, NULL) >= 0;
}
