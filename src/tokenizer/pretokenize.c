/* pretokenize.c — the pre-tokenizers; see pretokenize.h.
 *
 * The hand-written splitters follow the regular expressions alternative by
 * alternative, in order, with the same greedy-then-backtrack results; the
 * comments quote the alternative each branch implements. Every code point
 * is exactly one of: letter (\p{L}), number (\p{N}), space (\s), other. */
#include "pretokenize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/util.h"
#include "unicode.h"

const char PATTERN_GPT2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char PATTERN_LLAMA3[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                              "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char PATTERN_QWEN2[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
                             "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

enum { OTHER = 0, LETTER = UCLASS_LETTER, NUMBER = UCLASS_NUMBER, SPACE = UCLASS_SPACE };
#define CLASS_MASK (LETTER | NUMBER | SPACE)

/* The class (LETTER, NUMBER, SPACE or OTHER) of the code point at s[pos]. */
static inline int class_at(const uint8_t *s, size_t len, size_t pos, uint32_t *cp, int *n) {
    uint8_t b = s[pos];
    if (b < 0x80) {
        *n = 1;
        *cp = b;
        return unicode_classes[b] & CLASS_MASK;
    }
    return unicode_class_at(s + pos, len - pos, cp, n) & CLASS_MASK;
}

/* The end of the run of code points of class `cls` that starts at pos, at
 * most max_count of them (e.g. \p{L}+ or \p{N}{1,3}). */
static size_t run_end(const uint8_t *s, size_t len, size_t pos, int cls, size_t max_count) {
    uint32_t cp;
    int n;
    for (size_t count = 0; pos < len && count < max_count; count++) {
        if (class_at(s, len, pos, &cp, &n) != cls) break;
        pos += (size_t)n;
    }
    return pos;
}

/* '(s|t|re|ve|m|ll|d) at s[0] == '\'': its length in bytes, or 0. With
 * ignore_case, as (?i:...) does, the letters match either case, and 's' also
 * matches U+017F (long s), whose case folding is 's'. */
static size_t contraction(const uint8_t *s, size_t len, int ignore_case) {
    if (len < 2) return 0;
    uint8_t a = s[1], b = len > 2 ? s[2] : 0;
    if (ignore_case) {
        if (a == 0xC5 && b == 0xBF) return 3; /* 'ſ */
        if (a >= 'A' && a <= 'Z') a = (uint8_t)(a + 32);
        if (b >= 'A' && b <= 'Z') b = (uint8_t)(b + 32);
    }
    switch (a) {
    case 's':
    case 't':
    case 'm':
    case 'd': return 2;
    case 'r':
    case 'v': return b == 'e' ? 3 : 0;
    case 'l': return b == 'l' ? 3 : 0;
    default: return 0;
    }
}

/* At a space code point: \s*[\r\n]+ (when newline_first), then \s+(?!\S),
 * then \s+. The first takes the run up to its last \r or \n; the second the
 * run less its last code point when a non-space follows; the third the run. */
static size_t space_end(const uint8_t *s, size_t len, size_t pos, int newline_first) {
    size_t end = pos, last = pos, after_newline = 0;
    uint32_t cp;
    int n;
    while (end < len && class_at(s, len, end, &cp, &n) == SPACE) {
        if (cp == '\r' || cp == '\n') after_newline = end + 1;
        last = end;
        end += (size_t)n;
    }
    if (newline_first && after_newline) return after_newline;
    if (end == len || last == pos) return end;
    return last;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t next_gpt2(const uint8_t *s, size_t len, size_t pos) {
    uint32_t cp;
    int n;
    int cls = class_at(s, len, pos, &cp, &n);
    if (cp == '\'') {
        size_t k = contraction(s + pos, len - pos, 0);
        if (k) return pos + k;
    }
    size_t start = pos;
    if (cp == ' ' && pos + 1 < len) { /* " ?X+": the space joins a following run of letters, numbers or others */
        uint32_t cp2;
        int n2, cls2 = class_at(s, len, pos + 1, &cp2, &n2);
        if (cls2 != SPACE) {
            start = pos + 1;
            cls = cls2;
        }
    }
    if (cls != SPACE) return run_end(s, len, start, cls, SIZE_MAX);
    return space_end(s, len, pos, 0);
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}|
 * ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t next_llama3(const uint8_t *s, size_t len, size_t pos, size_t max_digits) {
    uint32_t cp, cp2 = 0;
    int n, n2, cls2 = -1;
    int cls = class_at(s, len, pos, &cp, &n);
    if (cp == '\'') {
        size_t k = contraction(s + pos, len - pos, 1);
        if (k) return pos + k;
    }
    if (cls == LETTER) return run_end(s, len, pos, LETTER, SIZE_MAX);
    if (cls == NUMBER) return run_end(s, len, pos, NUMBER, max_digits);
    if (pos + (size_t)n < len) cls2 = class_at(s, len, pos + (size_t)n, &cp2, &n2);
    /* [^\r\n\p{L}\p{N}]?\p{L}+ with the optional prefix */
    if (cls2 == LETTER && cp != '\r' && cp != '\n') return run_end(s, len, pos + (size_t)n, LETTER, SIZE_MAX);
    /* " ?[^\s\p{L}\p{N}]+[\r\n]*" */
    if (cls == OTHER || (cp == ' ' && cls2 == OTHER)) {
        size_t end = run_end(s, len, cls == OTHER ? pos : pos + 1, OTHER, SIZE_MAX);
        while (end < len && (s[end] == '\r' || s[end] == '\n')) end++;
        return end;
    }
    return space_end(s, len, pos, 1);
}

static size_t next_regex(const SplitRule *r, const uint8_t *s, size_t len, size_t pos, SplitScratch *sc) {
    if (!sc->match) {
        sc->match = pcre2_match_data_create(1, NULL);
        sc->context = pcre2_match_context_create(NULL);
        sc->jit_stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
        if (!sc->match || !sc->context || !sc->jit_stack) die("out of memory for PCRE2 match data");
        pcre2_jit_stack_assign(sc->context, NULL, sc->jit_stack);
    }
    int rc = pcre2_match(r->code, s, len, pos, PCRE2_NOTEMPTY, sc->match, sc->context);
    if (rc == PCRE2_ERROR_NOMATCH) return len;
    if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        die("pre-tokenizer pattern %s failed on a text of %zu bytes: %s", r->pattern, len, (char *)msg);
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(sc->match);
    return ov[0] > pos ? ov[0] : ov[1];
}

size_t split_next(const SplitRule *r, const uint8_t *s, size_t len, size_t pos, SplitScratch *sc) {
    switch (r->kind) {
    case SPLIT_GPT2: return next_gpt2(s, len, pos);
    case SPLIT_LLAMA3: return next_llama3(s, len, pos, 3);
    case SPLIT_QWEN2: return next_llama3(s, len, pos, 1);
    case SPLIT_REGEX: break;
    }
    return next_regex(r, s, len, pos, sc);
}

static int ascii_letter(uint8_t c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }

int split_is_safe_cut(const uint8_t *s, size_t len, size_t p) {
    if (p == 0 || p + 1 >= len) return 0;
    /* Before a space between two letters: a run of letters (or a
     * contraction) ends at the space, and " word" starts there. */
    if (s[p] == ' ') return ascii_letter(s[p - 1]) && ascii_letter(s[p + 1]);
    /* After a newline, before a letter: no pattern puts a newline in front
     * of a letter, so the newline's piece ends here. */
    uint32_t cp;
    int n;
    return s[p - 1] == '\n' && class_at(s, len, p, &cp, &n) == LETTER;
}

size_t split_find_safe_cut(const uint8_t *s, size_t len, size_t from, size_t limit) {
    size_t p = from;
    while (p < limit && !split_is_safe_cut(s, len, p)) p++;
    return p;
}

/* PCRE2's \s (with UCP) is not White_Space: it lacks U+0085 and has U+180E.
 * So \s becomes the explicit White_Space set: [WS] outside a class, WS
 * inside one, and \S outside a class [^WS]. (\S inside a class is left
 * alone; no pattern in use has one.) */
#define WHITE_SPACE                                                                                                    \
    "\\t-\\r\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"
static char *with_white_space(const char *p) {
    size_t n = strlen(p);
    char *out = xmalloc(n * (sizeof WHITE_SPACE + 3) + 1), *o = out;
    int in_class = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\' && i + 1 < n) {
            char c = p[++i];
            if (c == 'Q') { /* \Q...\E is literal text */
                const char *e = strstr(p + i, "\\E");
                size_t k = e ? (size_t)(e - (p + i)) + 2 : n - i;
                *o++ = '\\';
                memcpy(o, p + i, k);
                o += k;
                i += k - 1;
            } else if (c == 's') {
                o += sprintf(o, in_class ? WHITE_SPACE : "[" WHITE_SPACE "]");
            } else if (c == 'S' && !in_class) {
                o += sprintf(o, "[^" WHITE_SPACE "]");
            } else {
                *o++ = '\\';
                *o++ = c;
            }
        } else if (p[i] == '[' && !in_class) {
            in_class = 1;
            *o++ = p[i];
            if (p[i + 1] == '^') *o++ = p[++i];
            if (p[i + 1] == ']') *o++ = p[++i];                  /* a ']' first in a class is literal */
        } else if (p[i] == '[' && in_class && p[i + 1] == ':') { /* [:alpha:] */
            const char *e = strstr(p + i, ":]");
            size_t k = e ? (size_t)(e - (p + i)) + 2 : 1;
            memcpy(o, p + i, k);
            o += k;
            i += k - 1;
        } else {
            if (p[i] == ']' && in_class) in_class = 0;
            *o++ = p[i];
        }
    }
    *o = 0;
    return out;
}

int split_rule_init_pcre2(SplitRule *r, const char *pattern, int literal, char *err, size_t err_size) {
    memset(r, 0, sizeof *r);
    r->kind = SPLIT_REGEX;
    r->pattern = xstrdup(pattern);
    r->literal = literal;
    char *source = literal ? xstrdup(pattern) : with_white_space(pattern);
    int code;
    PCRE2_SIZE offset;
    uint32_t options = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    r->code = pcre2_compile((PCRE2_SPTR)source, PCRE2_ZERO_TERMINATED, options, &code, &offset, NULL);
    free(source);
    if (!r->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        snprintf(err, err_size, "regex \"%s\" does not compile: %s", pattern, (char *)msg);
        split_rule_free(r);
        return -1;
    }
    pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE); /* without JIT, pcre2_match interprets: slower, same result */
    return 0;
}

int split_rule_init(SplitRule *r, const char *pattern, int literal, char *err, size_t err_size) {
    unicode_init();
    SplitKind kind = SPLIT_REGEX;
    if (!literal && strcmp(pattern, PATTERN_GPT2) == 0) kind = SPLIT_GPT2;
    if (!literal && strcmp(pattern, PATTERN_LLAMA3) == 0) kind = SPLIT_LLAMA3;
    if (!literal && strcmp(pattern, PATTERN_QWEN2) == 0) kind = SPLIT_QWEN2;
    if (kind == SPLIT_REGEX) return split_rule_init_pcre2(r, pattern, literal, err, err_size);
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->pattern = xstrdup(pattern);
    return 0;
}

void split_rule_free(SplitRule *r) {
    free(r->pattern);
    if (r->code) pcre2_code_free(r->code);
    memset(r, 0, sizeof *r);
}

void split_scratch_free(SplitScratch *sc) {
    if (sc->match) pcre2_match_data_free(sc->match);
    if (sc->context) pcre2_match_context_free(sc->context);
    if (sc->jit_stack) pcre2_jit_stack_free(sc->jit_stack);
    memset(sc, 0, sizeof *sc);
}
