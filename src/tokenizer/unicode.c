/* unicode.c — the code point class table; see unicode.h.
 *
 * One byte per code point (1.1 MB) makes the pre-tokenizers' question "is
 * this a letter?" a single load. The table is built once from the generated
 * ranges in unicode_data.c. */
#include "unicode.h"

#include <pthread.h>
#include <string.h>

#include "../base/util.h"
#include "unicode_data.h"

uint8_t unicode_classes[0x110001];

/* The White_Space property, which is what \s means to Hugging Face's
 * Oniguruma, to tiktoken's Rust regex and (after pretokenize.c rewrites \s)
 * to PCRE2. It has not changed since Unicode 6.3. */
static const uint32_t white_space_ranges[][2] = {
    {0x09, 0x0D},     {0x20, 0x20},     {0x85, 0x85},     {0xA0, 0xA0},     {0x1680, 0x1680},
    {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000},
};

static void mark_ranges(const uint32_t (*ranges)[2], int n, uint8_t bit) {
    for (int i = 0; i < n; i++)
        for (uint32_t cp = ranges[i][0]; cp <= ranges[i][1]; cp++) unicode_classes[cp] |= bit;
}

static void build_tables(void) {
    mark_ranges(unicode_letter_ranges, unicode_n_letter_ranges, UCLASS_LETTER);
    mark_ranges(unicode_number_ranges, unicode_n_number_ranges, UCLASS_NUMBER);
    mark_ranges(white_space_ranges, (int)(sizeof white_space_ranges / sizeof white_space_ranges[0]), UCLASS_SPACE);
    mark_ranges(unicode_nfc_unstable_ranges, unicode_n_nfc_unstable_ranges, UCLASS_NFC_UNSTABLE);
}

void unicode_init(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, build_tables);
}
