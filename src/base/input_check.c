/* input_check.c — see input_check.h. */
#include "input_check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "util.h"

size_t utf8_bom_length(const char *s, size_t len) {
    return len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
}

const char *text_problem(const char *s, size_t len, size_t *offset) {
    const uint8_t *u = (const uint8_t *)s;
    *offset = 0;
    /* UTF-32 first: its little-endian mark starts with UTF-16's. */
    if (len >= 4 && (memcmp(u, "\xFF\xFE\0\0", 4) == 0 || memcmp(u, "\0\0\xFE\xFF", 4) == 0))
        return "UTF-32 text (it starts with a UTF-32 byte order mark); convert it to UTF-8";
    if (len >= 2 && (memcmp(u, "\xFF\xFE", 2) == 0 || memcmp(u, "\xFE\xFF", 2) == 0))
        return "UTF-16 text (it starts with a UTF-16 byte order mark); convert it to UTF-8";
    for (size_t i = 0; i < len;) {
        if (u[i] < 0x80) { /* ASCII, the common case */
            if (u[i] == 0) {
                *offset = i;
                return "a NUL byte (binary data?)";
            }
            i++;
            continue;
        }
        int n;
        if (utf8_decode(u + i, len - i, &n) == UNICODE_INVALID) {
            *offset = i;
            return "invalid UTF-8 (binary data, another encoding, or a character cut short?)";
        }
        i += (size_t)n;
    }
    return NULL;
}

static int hex4(const char *s, size_t len, unsigned *out) {
    if (len < 4) return 0;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return 0;
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return 1;
}

const char *json_text_problem(const char *s, size_t len, size_t *offset) {
    const char *why = text_problem(s, len, offset);
    if (why) return why;
    /* A raw control character (a tab, a line break...) inside a string is not JSON: it must be escaped ("\t",
     * "\n"). cJSON takes it as it is; other readers refuse the file, or split the line there. */
    /* (Reported when the string closes: in one that never does, the line break is the end of the line, and the
     * record is not valid JSON.) */
    for (size_t i = 0, in_string = 0, control = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!in_string) {
            in_string = c == '"';
            control = 0;
        } else if (c == '\\') {
            i++;
        } else if (c == '"') {
            in_string = 0;
            if (control) {
                *offset = control - 1;
                return "a raw control character inside a string (JSON wants it escaped: \\t, \\n, \\u0001...)";
            }
        } else if (c < 0x20 && !control) {
            control = i + 1;
        }
    }
    /* A backslash can only start an escape (outside strings JSON has none;
     * cJSON refuses a stray one later). Skipping the escaped character keeps
     * "\\u0000" (a backslash, then text) from being mistaken for an escape. */
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] != '\\') continue;
        unsigned cp, low;
        if (s[i + 1] != 'u' || !hex4(s + i + 2, len - i - 2, &cp)) {
            i++;
            continue;
        }
        *offset = i;
        if (cp == 0) return "a \\u0000 escape (NUL is not allowed in text)";
        if (cp >= 0xDC00 && cp <= 0xDFFF) return "a lone surrogate escape (a low half without its high half)";
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (i + 7 >= len || s[i + 6] != '\\' || s[i + 7] != 'u' || !hex4(s + i + 8, len - i - 8, &low) ||
                low < 0xDC00 || low > 0xDFFF)
                return "a lone surrogate escape (a high half without its low half)";
            i += 6;
        }
        i += 5;
    }
    return NULL;
}

static int compare_keys(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char *json_duplicate_key(const cJSON *root) {
    if (!root) return NULL;
    if (cJSON_IsObject(root)) {
        int n = cJSON_GetArraySize(root);
        const char *dup = NULL;
        if (n <= 16) { /* small objects, nearly all of them: no allocation */
            for (const cJSON *a = root->child; a && !dup; a = a->next)
                for (const cJSON *b = a->next; b && !dup; b = b->next)
                    if (strcmp(a->string, b->string) == 0) dup = a->string;
        } else { /* a tokenizer's vocabulary: sort the keys, compare neighbours */
            const char **keys = xmalloc(sizeof(char *) * (size_t)n);
            int k = 0;
            for (const cJSON *a = root->child; a; a = a->next) keys[k++] = a->string;
            qsort(keys, (size_t)n, sizeof(char *), compare_keys);
            for (int i = 1; i < n && !dup; i++)
                if (strcmp(keys[i - 1], keys[i]) == 0) dup = keys[i];
            free(keys);
        }
        if (dup) return dup;
    }
    for (const cJSON *c = root->child; c; c = c->next) {
        const char *dup = json_duplicate_key(c);
        if (dup) return dup;
    }
    return NULL;
}

const char *json_parse_failure(const char *s) {
    int depth = 0, max_depth = 0, in_string = 0;
    for (; *s; s++) {
        if (in_string) {
            if (*s == '\\' && s[1]) s++;
            else if (*s == '"') in_string = 0;
        } else if (*s == '"') {
            in_string = 1;
        } else if (*s == '[' || *s == '{') {
            if (++depth > max_depth) max_depth = depth;
        } else if (*s == ']' || *s == '}') {
            depth--;
        }
    }
    if (max_depth > CJSON_NESTING_LIMIT) {
        static _Thread_local char why[96];
        snprintf(why, sizeof why, "JSON nested more than %d levels deep", CJSON_NESTING_LIMIT);
        return why;
    }
    return "not valid JSON";
}

/* Whether the line s[0..len) holds only white space. */
static int blank_line(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\f' && s[i] != '\v') return 0;
    return 1;
}

int text_documents(const char *s, size_t len, TextDocFn fn, void *ctx) {
    int n = 0;
    size_t start = 0, end = 0; /* the document being gathered: s[start..end), empty while end == start */
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t line_end = nl ? (size_t)(nl - s) : len;
        if (blank_line(s + i, line_end - i)) {
            if (end > start) fn(s + start, end - start, ctx), n++;
            start = end = line_end + 1;
        } else {
            end = line_end;
        }
        i = line_end + 1;
    }
    if (end > start) fn(s + start, end - start, ctx), n++;
    return n;
}
