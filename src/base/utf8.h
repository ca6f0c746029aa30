/* utf8.h — strict UTF-8 decoding and encoding, for every reader of text
 * (input checks, JSON lines, the tokenizer). */
#ifndef LMF_UTF8_H
#define LMF_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* What utf8_decode returns for a byte that does not start a valid sequence. */
#define UNICODE_INVALID 0x110000u

/* Decodes the code point at s[0..len) (len >= 1) and stores its length in
 * bytes in *n. Overlong forms, surrogates and values past U+10FFFF are
 * invalid, as in every strict decoder (PCRE2, Rust, JavaScript). */
static inline uint32_t utf8_decode(const uint8_t *s, size_t len, int *n) {
    uint32_t b0 = s[0];
    if (b0 < 0x80) {
        *n = 1;
        return b0;
    }
    *n = 1;
    if (b0 < 0xC2 || b0 > 0xF4) return UNICODE_INVALID;
    if (b0 < 0xE0) {
        if (len < 2 || (s[1] & 0xC0) != 0x80) return UNICODE_INVALID;
        *n = 2;
        return (b0 & 0x1F) << 6 | (s[1] & 0x3F);
    }
    if (b0 < 0xF0) {
        uint8_t lo = b0 == 0xE0 ? 0xA0 : 0x80, hi = b0 == 0xED ? 0x9F : 0xBF;
        if (len < 3 || s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80) return UNICODE_INVALID;
        *n = 3;
        return (b0 & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    }
    uint8_t lo = b0 == 0xF0 ? 0x90 : 0x80, hi = b0 == 0xF4 ? 0x8F : 0xBF;
    if (len < 4 || s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return UNICODE_INVALID;
    *n = 4;
    return (b0 & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 | (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
}

/* s[0..len) with every byte that does not start a valid UTF-8 character,
 * and NUL, replaced by U+FFFD, as JSON text needs (a generated answer may
 * end inside a character). Malloc'ed, NUL-terminated. */
char *utf8_sanitize(const char *s, size_t len);

/* Writes cp (< 0x110000, not a surrogate) as UTF-8; returns the length. */
int utf8_encode(uint32_t cp, uint8_t *out);

#endif
