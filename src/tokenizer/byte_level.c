/* byte_level.c — see byte_level.h.
 *
 * The 68 bytes without a printable character of their own are 0x00-0x20
 * (33 bytes), 0x7F-0xA0 (34) and 0xAD (1); they become U+0100 to U+0143. */
#include "byte_level.h"

#include "unicode.h"

uint32_t byte_level_char(uint8_t b) {
    if (b <= 0x20) return 0x100 + b;
    if (b >= 0x7F && b <= 0xA0) return 0x100 + 33 + (b - 0x7F);
    if (b == 0xAD) return 0x100 + 67;
    return b;
}

/* The byte a character stands for, or -1. */
static int char_byte(uint32_t cp) {
    if (cp < 0x100) return byte_level_char((uint8_t)cp) == cp ? (int)cp : -1;
    if (cp < 0x100 + 33) return (int)(cp - 0x100);
    if (cp < 0x100 + 67) return (int)(cp - 0x100 - 33 + 0x7F);
    if (cp == 0x100 + 67) return 0xAD;
    return -1;
}

long byte_level_decode(const char *s, size_t len, uint8_t *out) {
    const uint8_t *u = (const uint8_t *)s;
    long n = 0;
    for (size_t pos = 0; pos < len;) {
        int k;
        int b = char_byte(utf8_decode(u + pos, len - pos, &k));
        if (b < 0) return -1;
        out[n++] = (uint8_t)b;
        pos += (size_t)k;
    }
    return n;
}

size_t byte_level_encode(const uint8_t *bytes, size_t len, char *out) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += (size_t)utf8_encode(byte_level_char(bytes[i]), (uint8_t *)out + n);
    return n;
}
