/* unicode.h — UTF-8 decoding and the character classes that the
 * pre-tokenizers ask about (\p{L}, \p{N}, \s), plus NFC normalization.
 *
 * Text handed to the tokenizer may be invalid UTF-8. A byte that does not
 * start a valid sequence decodes as UNICODE_INVALID, one byte long, whose
 * class is "other" (not a letter, number or space); byte-level BPE still
 * encodes it, so no byte is ever lost. */
#ifndef LMF_UNICODE_H
#define LMF_UNICODE_H

#include <stddef.h>
#include <stdint.h>

#define UNICODE_INVALID 0x110000u

/* Class bits, one byte per code point. */
enum {
    UCLASS_LETTER = 1,       /* \p{L} */
    UCLASS_NUMBER = 2,       /* \p{N} */
    UCLASS_SPACE = 4,        /* \s: the Unicode White_Space property */
    UCLASS_NFC_UNSTABLE = 8, /* NFC may change the text at this code point */
};

/* The class of every code point, and of UNICODE_INVALID (index 0x110000).
 * Filled by unicode_init(). */
extern uint8_t unicode_classes[0x110001];

/* Builds the tables on first call; cheap and thread-safe afterwards. */
void unicode_init(void);

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

/* The class bits of the code point at s (len >= 1); its length goes to *n. */
static inline int unicode_class_at(const uint8_t *s, size_t len, uint32_t *cp, int *n) {
    *cp = utf8_decode(s, len, n);
    return unicode_classes[*cp];
}

/* NFC normalization (Unicode Standard Annex #15), as Qwen2's tokenizer.json
 * asks for. Output goes to a buffer that the caller reuses across calls. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
    /* With offset tracking: src[i] is the offset in the input of the
     * normalization region that output byte i came from (bytes outside any
     * changed region map one to one). */
    size_t *src;
    size_t src_cap;
} NfcBuffer;

/* Returns 0 when s[0..len) is certainly unchanged by NFC (buf untouched),
 * else 1 with the normalized text in buf. Invalid UTF-8 bytes pass through. */
int nfc_normalize(const uint8_t *s, size_t len, NfcBuffer *buf, int track_offsets);
void nfc_buffer_free(NfcBuffer *buf);

#endif
