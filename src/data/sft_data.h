/* sft_data.h — supervised fine-tuning data: JSONL files in TRL's two
 * formats, rendered with the ChatML template into token sequences whose
 * trained tokens are marked.
 *
 *   {"messages": [{"role": "system|user|assistant", "content": "..."}, ...]}
 *       a chat, ending with an assistant turn; every assistant turn is
 *       trained (or only the last one, with last_turn_only)
 *   {"prompt": "..." or [messages], "completion": "..." or [one assistant message]}
 *       the completion is trained; the prompt is context only
 *
 * A trained turn is its content and its closing <|im_end|>, so the model
 * learns to stop; system and user turns, and the template's own tokens, are
 * context. A sequence longer than max_len is cut by the length policy
 * (fit_seq_len, chat_data.h: the prompt's start, then the answer's end) and
 * counted in SftDataStats; the loader gives the one warning. */
#ifndef LMF_SFT_DATA_H
#define LMF_SFT_DATA_H

#include <stdint.h>

#include "chat_data.h"
#include "packing.h"

typedef struct {
    int max_len;        /* the longest sequence kept, in tokens */
    int last_turn_only; /* train only the last assistant turn of a multi-turn chat */
} SftOptions;

typedef struct {
    int *ids, *mask;     /* (len) tokens; mask 1 = trained */
    int len;
    Conversation prompt; /* the messages before the last assistant turn: what generation continues */
    char *reference;     /* the last assistant turn's content */
} SftExample;

typedef struct {
    int n_records;         /* records read */
    int n_truncated;       /* sequences cut to max_len */
    long n_tokens_dropped; /* tokens they lost */
    int n_response_cut;    /* truncated sequences that lost trained tokens (a response alone too long) */
    int n_skipped;         /* records left out: no trained token left */
} SftDataStats;

typedef struct {
    SftExample *items;
    int n;
    SftDataStats stats;
} SftData;

/* Reads every record of the files. Bad records end the program with
 * "FILE:LINE: field ...": an unknown role, a missing or non-string content,
 * an empty message list, a chat that does not end with an assistant turn. */
SftData *sft_data_load(const char *const *paths, int n_paths, const Tokenizer *t, const SftOptions *o);
/* Renders one record: appends its tokens to ids and its trained-token mask
 * to mask; fills *prompt and *reference (owned by the caller). */
void sft_render_record(const JsonlRecord *rec, const Tokenizer *t, int last_turn_only, IntVec *ids, IntVec *mask,
                       Conversation *prompt, char **reference);
/* Moves round(fraction * n) examples chosen by the seed (at least one when
 * fraction > 0) out of d into a new set, keeping both in file order. */
SftData *sft_data_split(SftData *d, double fraction, uint64_t seed);
void sft_data_free(SftData *d);

/* Example i as a sequence for pack_sequences. */
static inline SeqRef sft_example_seq(const SftData *d, int i) {
    return (SeqRef){d->items[i].ids, d->items[i].mask, d->items[i].len};
}

/* Lays out examples idx[0..n) as one micro-batch: packed in order into as
 * few rows of at most max_row tokens as possible, the rows no wider than
 * that number of rows needs, or one row each, padded to the longest.
 * Returns the number of counted targets. */
long sft_make_batch(Batch *b, const SftData *d, const int *idx, int n, int max_row, int packed, int pad_id);

#endif
