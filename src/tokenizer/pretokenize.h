/* pretokenize.h — cutting text into pieces before BPE ("pre-tokenization").
 *
 * A byte-level BPE tokenizer never merges across the pieces that a regular
 * expression cuts the text into. Hugging Face's tokenizer.json names the
 * expression (a Split pre-tokenizer, or ByteLevel's built-in GPT-2 one).
 * The three patterns of the public models have hand-written splitters here,
 * several times faster than a regex engine and checked against PCRE2 by the
 * tests; any other pattern runs through PCRE2 with JIT.
 *
 * In all of them \s means the Unicode White_Space property, as it does for
 * Hugging Face (Oniguruma) and tiktoken (Rust regex). */
#ifndef LMF_PRETOKENIZE_H
#define LMF_PRETOKENIZE_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

extern const char PATTERN_GPT2[];   /* GPT-2, and ByteLevel with use_regex */
extern const char PATTERN_LLAMA3[]; /* Llama 3: numbers in groups of up to 3 digits */
extern const char PATTERN_QWEN2[];  /* Qwen2 / Qwen3: one digit per piece */

typedef enum { SPLIT_GPT2, SPLIT_LLAMA3, SPLIT_QWEN2, SPLIT_REGEX } SplitKind;

typedef struct {
    SplitKind kind;
    char *pattern;    /* as written in tokenizer.json */
    int literal;      /* the pattern is a plain string ({"String": ...}), not a regex */
    pcre2_code *code; /* SPLIT_REGEX only */
} SplitRule;

/* Prepares a rule for `pattern`. Returns 0 on success, or -1 with a
 * one-line reason in err (a pattern PCRE2 rejects). */
int split_rule_init(SplitRule *r, const char *pattern, int literal, char *err, size_t err_size);
/* The same, always through PCRE2 (the tests compare it with the hand-written splitters). */
int split_rule_init_pcre2(SplitRule *r, const char *pattern, int literal, char *err, size_t err_size);
void split_rule_free(SplitRule *r);

/* Per-thread match state for SPLIT_REGEX rules (unused by the others). */
typedef struct {
    pcre2_match_data *match;
    pcre2_match_context *context;
    pcre2_jit_stack *jit_stack;
} SplitScratch;
void split_scratch_free(SplitScratch *sc);

/* The end of the piece that starts at s[pos] (pos < len). Pieces tile the
 * text: a stretch that a regex does not match is a piece of its own, as in
 * Hugging Face's "Isolated" split. */
size_t split_next(const SplitRule *r, const uint8_t *s, size_t len, size_t pos, SplitScratch *sc);

/* Whether every hand-written splitter ends a piece at p: true after a
 * newline that a letter follows, and before a space between two ASCII
 * letters. Long texts are cut there into chunks that are tokenized in
 * parallel with the same result. */
int split_is_safe_cut(const uint8_t *s, size_t len, size_t p);
/* The first safe cut in [from, limit), or limit if there is none. */
size_t split_find_safe_cut(const uint8_t *s, size_t len, size_t from, size_t limit);

#endif
