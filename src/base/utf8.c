/* utf8.c — see utf8.h. */
#include "utf8.h"

#include <string.h>

#include "util.h"

int utf8_encode(uint32_t cp, uint8_t *out) {
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | cp >> 6);
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | cp >> 12);
        out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | cp >> 18);
    out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

char *utf8_sanitize(const char *s, size_t len) {
    size_t n = 0;
    char *out = xmalloc(3 * len + 1);
    for (size_t i = 0; i < len;) {
        int k;
        if (s[i] == 0 || utf8_decode((const uint8_t *)s + i, len - i, &k) == UNICODE_INVALID) {
            memcpy(out + n, "\xEF\xBF\xBD", 3);
            n += 3;
            i++;
        } else {
            memcpy(out + n, s + i, (size_t)k);
            n += (size_t)k;
            i += (size_t)k;
        }
    }
    out[n] = 0;
    return out;
}
