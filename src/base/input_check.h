/* input_check.h — lmforge's input policy, shared by every reader of text and
 * JSON (the JSONL datasets, .txt corpora, config.json, recipes, checkpoint
 * headers), so that each refuses the same things with the same words:
 *
 *   - text is valid UTF-8 (no overlong forms, no surrogates, nothing past
 *     U+10FFFF, no character cut at the end); a UTF-16 or UTF-32 byte order
 *     mark is named as such; a UTF-8 byte order mark may be skipped;
 *   - no NUL byte, nor a \u0000 escape in a JSON string (cJSON ends the
 *     string there and silently drops the rest of it);
 *   - no raw control character (a tab, a line break) inside a JSON string:
 *     JSON wants it escaped, and cJSON alone would take it;
 *   - no lone surrogate escape (\ud800 without its low half) in JSON;
 *   - no key twice in one JSON object (parsers disagree on which one wins);
 *   - nesting deeper than cJSON's limit is reported as such, not as
 *     "not valid JSON".
 *
 * The checks return a message (a static string) and where the problem is,
 * or NULL when the input is fine; the caller dies naming the file. */
#ifndef LMF_INPUT_CHECK_H
#define LMF_INPUT_CHECK_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* Length of a UTF-8 byte order mark at the start of s[0..len) (3), or 0. */
size_t utf8_bom_length(const char *s, size_t len);

/* Text s[0..len): the first problem (a UTF-16/32 byte order mark, a NUL
 * byte, invalid UTF-8) with its byte offset in *offset, or NULL. */
const char *text_problem(const char *s, size_t len, size_t *offset);

/* The documents of a .txt corpus, the one rule of tokenizer train,
 * pretrain, eval, data check and demo-data: runs of lines separated by one
 * or more blank lines (empty, or only white space). Calls fn for each, from
 * its first character to the end of its last line (the newline that ends it
 * left out); returns how many there were. */
typedef void (*TextDocFn)(const char *doc, size_t len, void *ctx);
int text_documents(const char *s, size_t len, TextDocFn fn, void *ctx);

/* JSON text: text_problem(), raw control characters inside strings, then the escapes: \u0000 and lone
 * surrogates. */
const char *json_text_problem(const char *s, size_t len, size_t *offset);

/* The first key that appears twice in one object, anywhere in the tree, or
 * NULL. */
const char *json_duplicate_key(const cJSON *root);

/* Why cJSON could not parse s (NUL-terminated): "nested more than 1000
 * levels deep" when that is the cause, else "not valid JSON". */
const char *json_parse_failure(const char *s);

#endif
