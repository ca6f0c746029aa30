/* unicode_data.h — the generated Unicode tables (unicode_data.c), read by
 * unicode.c and nfc.c only. Ranges are inclusive and sorted. */
#ifndef LMF_UNICODE_DATA_H
#define LMF_UNICODE_DATA_H

#include <stdint.h>

extern const char unicode_data_version[];
extern const uint32_t unicode_letter_ranges[][2];
extern const int unicode_n_letter_ranges;
extern const uint32_t unicode_number_ranges[][2];
extern const int unicode_n_number_ranges;
extern const uint32_t unicode_nfc_unstable_ranges[][2];
extern const int unicode_n_nfc_unstable_ranges;
extern const uint32_t unicode_ccc_ranges[][3];
extern const int unicode_n_ccc_ranges;
extern const uint32_t unicode_decomposition_index[][3];
extern const int unicode_n_decompositions;
extern const uint32_t unicode_decomposition_pool[];
extern const uint32_t unicode_compositions[][3];
extern const int unicode_n_compositions;

#endif
