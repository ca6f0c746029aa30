/* verifiers.h — verifiable rewards: small programs that check an answer
 * instead of a learned model that guesses its quality (Tulu 3's RLVR,
 * DeepSeek-R1). Each returns a number for one completion:
 *
 *   exact   1 when the completion equals the gold answer after
 *           normalisation (case, white space, surrounding quotes and final
 *           punctuation ignored), else 0
 *   number  1 when the last number in the completion equals the last number
 *           in the gold answer (GSM8K's "#### 42" style; thousands commas
 *           ignored), else 0
 *   regex   1 when the completion matches a PCRE2 pattern (a format check,
 *           e.g. "^Answer: \d+$"), else 0
 *   length  −1 when the completion hit the token limit without stopping,
 *           else 0 (DAPO's overlong penalty, in its simplest form) */
#ifndef LMF_VERIFIERS_H
#define LMF_VERIFIERS_H

#include <stddef.h>

typedef enum { VERIFY_EXACT, VERIFY_NUMBER, VERIFY_REGEX, VERIFY_LENGTH, VERIFY_N_KINDS } VerifierKind;

/* The kind named name ("exact", "number", "regex", "length"), or -1. */
int verifier_kind(const char *name);
const char *verifier_name(VerifierKind kind);

/* The answer lower-cased, white space collapsed, surrounding white space,
 * quotes and final . ! ? removed (malloc'ed). */
char *normalize_answer(const char *s);
/* exact: normalize_answer(completion) == normalize_answer(gold). */
float verify_exact(const char *completion, const char *gold);
/* Finds the last number in s (an optional minus, digits with optional
 * thousands commas, an optional decimal part); returns 0 if none. */
int last_number(const char *s, double *value);
/* number: both have a last number and they are equal. */
float verify_number(const char *completion, const char *gold);
/* length: −1 when the completion ran out of tokens without stopping. */
float verify_length(int stopped);

/* A compiled format pattern (PCRE2, UTF mode). Dies naming `where` and the
 * offset on a pattern that does not compile. */
typedef struct Regex Regex;
Regex *regex_compile(const char *pattern, const char *where);
void regex_free(Regex *r);
/* regex: 1 when the pattern matches somewhere in text[0..len), else 0. */
float verify_regex(const Regex *r, const char *text, size_t len);

#endif
