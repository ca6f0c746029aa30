/* byte_level.h — GPT-2's byte-to-character alphabet.
 *
 * Byte-level BPE writes every token as a string of printable characters,
 * one per byte: the printable Latin-1 bytes stand for themselves, and the 68
 * others (controls, space, DEL, NBSP, soft hyphen) are shifted to U+0100 and
 * up, in byte order. So " hello" is written "Ġhello" in tokenizer.json. */
#ifndef LMF_BYTE_LEVEL_H
#define LMF_BYTE_LEVEL_H

#include <stddef.h>
#include <stdint.h>

/* The alphabet character of a byte. */
uint32_t byte_level_char(uint8_t byte);

/* Converts an alphabet string (UTF-8) to the bytes it stands for. out must
 * hold len bytes. Returns the number of bytes, or -1 if s holds a character
 * outside the alphabet (or invalid UTF-8). */
long byte_level_decode(const char *s, size_t len, uint8_t *out);

/* Converts bytes to the alphabet string (UTF-8, at most 2 bytes per byte);
 * out must hold 2 * len bytes. Returns the length written. */
size_t byte_level_encode(const uint8_t *bytes, size_t len, char *out);

#endif
