/* unicode.h — the character classes that the
 * pre-tokenizers ask about (\p{L}, \p{N}, \s), plus NFC normalization.
 * (UTF-8 decoding itself is base/utf8.h.)
 *
 * Text handed to the tokenizer may be invalid UTF-8. A byte that does not
 * start a valid sequence decodes as UNICODE_INVALID, one byte long, whose
 * class is "other" (not a letter, number or space); byte-level BPE still
 * encodes it, so no byte is ever lost. */
#ifndef LMF_UNICODE_H
#define LMF_UNICODE_H

#include <stddef.h>
#include <stdint.h>

#include "../base/utf8.h"


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
