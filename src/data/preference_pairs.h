/* preference_pairs.h — {"prompt","chosen","rejected"} datasets (TRL's field
 * names) as token sequences, for DPO.
 *
 * The prompt is a string or a list of messages (chat_data.h). A pair may
 * instead have a "prefix": plain text that both answers continue, with no
 * chat template (pretraining text as preference data, pairs-from-data). An answer is a
 * string, or a list holding one assistant message, as in TRL's conversational
 * format. Each answer is rendered after the prompt in ChatML, so that it is
 * scored in the context in which the model would generate it; its tokens
 * (and its closing <|im_end|>) are marked.
 *
 * Bad input dies naming FILE:LINE and the field: a missing or empty answer,
 * an answer of another type. A
 * pair whose chosen answer equals its rejected one is skipped with a
 * FILE:LINE warning, as the reward model's reader does. */
#ifndef LMF_PREFERENCE_PAIRS_H
#define LMF_PREFERENCE_PAIRS_H

#include <stdint.h>

#include "../base/intvec.h"
#include "../tokenizer/tokenizer.h"
#include "chat_data.h"
#include "packing.h"

enum { CHOSEN = 0, REJECTED = 1 };

typedef struct {
    IntVec ids[2];        /* [CHOSEN], [REJECTED]: prompt + answer, rendered and tokenized */
    IntVec mask[2];       /* 1 on the answer's tokens and its <|im_end|> */
    int answer_tokens[2]; /* marked tokens of each */
} PrefPair;

typedef struct {
    PrefPair *pairs;
    int n;
    LengthStats lengths; /* what the length policy cut, as pref_pairs_load reported it */
} PrefPairs;

/* Reads the files as one dataset. A pair longer than max_len tokens is cut
 * by the length policy (chat_data.h): both sequences lose the same tokens
 * from the start of the prompt, then each answer its end; one warning counts
 * the pairs cut. */
PrefPairs pref_pairs_load(const char *const *paths, int n_paths, const Tokenizer *t, int max_len);
void pref_pairs_free(PrefPairs *p);

/* Moves a random `fraction` of the pairs (rounded down) out of `all` into
 * the returned set, for held-out evaluation; the order of both is kept. */
PrefPairs pref_pairs_split(PrefPairs *all, double fraction, uint64_t seed);

/* A hash of every token and mark, in order: tells whether data on disk still
 * matches values computed from it (the reference log-probs of a run). */
uint64_t pref_pairs_fingerprint(const PrefPairs *p);

/* Lays out pairs idx[0..n) in one micro-batch: sequence 2i is pair idx[i]'s
 * chosen answer, 2i+1 its rejected one, each placed at places[2i], places[2i+1]
 * (2n entries). Packed: rows of min(max_len, all their tokens) tokens; padded:
 * a row per sequence. b->weight is n, the pairs. */
void pref_pairs_pack(const PrefPairs *p, const int *idx, int n, int max_len, int packed, int pad_id, Batch *b,
                     SeqPlace *places);

/* Whether an answer is empty or only white space. Such a pair is refused
 * above, so the stages that write pairs from sampled answers (annotate, rs)
 * leave it out. */
int preference_answer_is_blank(const char *text);

#endif
