/* rm_data.h — the reward model's data: preference records (chosen/rejected
 * pairs and K-way rankings) and scoring records (prompts with responses),
 * read from JSONL and rendered into token sequences.
 *
 * Preference records, one JSON object a line:
 *   {"prompt": P, "chosen": "...", "rejected": "..."}             a pair
 *   {"prompt": P, "responses": ["a", "b", "c"], "ranking": [2, 0, 1]}
 *        the indices of the responses from best to worst (here c > a > b);
 *        an element may be a list of tied indices: [0, [2, 3], 1] ranks
 *        0 first, 2 and 3 equal second, 1 last. Tied responses form no pair.
 * P is a string (one user message) or a list of chat messages. An optional
 * "margin" (a number) sets the margin of every pair of the record.
 *
 * Consecutive records with the same prompt form one group, their equal
 * texts one response: the pairs of a ranking written one record each (as
 * `lmforge annotate --pairs all` writes them) are then trained together, as
 * the ranking would be, and each response is scored once.
 *
 * Scoring records: {"prompt", "response"}, {"prompt", "completion"},
 * {"prompt", "responses": [...]}, or {"messages": [...]} whose last message
 * is the assistant's response.
 *
 * A sequence is the ChatML rendering of the prompt and one response, ending
 * at the response's closing <|im_end|>: the token at which the reward model
 * reads its score, and the last token a generation stops at, so that a
 * response is scored the same in training, evaluation and PPO. */
#ifndef LMF_RM_DATA_H
#define LMF_RM_DATA_H

#include <stdint.h>

#include "chat_data.h"
#include "comparisons.h"
#include "packing.h"

/* Token sequences stored end to end. */
typedef struct {
    IntVec tokens;
    int *start, *len; /* (n) where each sequence lies in tokens */
    int n, cap;
    int truncated;  /* sequences shortened to the maximum length */
    int answer_cut; /* of those, sequences whose answer lost its end */
} SeqSet;

static inline SeqRef seq_set_get(const SeqSet *s, int i) {
    return (SeqRef){s->tokens.data + s->start[i], NULL, s->len[i]};
}
void seq_set_free(SeqSet *s);

/* Renders (prompts[prompt_of[i]], responses[i]) for i < n, in parallel, and
 * appends each as a sequence that ends at the response's <|im_end|>. A
 * sequence longer than max_len is cut by the length policy (fit_seq_len,
 * chat_data.h) and counted in s->truncated. */
void seq_set_add_exchanges(SeqSet *s, const Tokenizer *tok, const Conversation *prompts, const int *prompt_of,
                           const char *const *responses, int n, int max_len);

/* One prompt's responses and their comparisons (from one record, or from
 * consecutive records of that prompt). */
typedef struct {
    int first_seq, n_seqs;   /* its K distinct responses: sequences [first_seq, first_seq + K) */
    int first_pair, n_pairs; /* its pairs in PreferenceSet.pairs; their indices count from first_seq */
    uint64_t prompt_hash;    /* equal for equal prompts, so that a split keeps a prompt on one side */
} PrefGroup;

typedef struct {
    SeqSet seqs;
    PrefGroup *groups;
    int n_groups;
    RmPair *pairs;
    int n_pairs;
    /* what loading left out, for the log */
    int identical_pairs; /* pairs of two identical responses (chosen = rejected), dropped */
    int empty_records;   /* records left with no pair (identical or all tied), skipped */
} PreferenceSet;

/* Reads preference records from the files as one dataset. Bad records die
 * naming the file, line and field: a ranking that is not a permutation of
 * the responses, fewer than two responses, a missing or mistyped field. A
 * pair of identical responses is dropped with a warning and counted; a
 * record left without pairs is skipped. Dies if no pair remains.
 * default_margin applies to records without a "margin" field. */
PreferenceSet *preference_set_load(const char *const *paths, int n_paths, const Tokenizer *tok, int max_len,
                                   float default_margin);
void preference_set_free(PreferenceSet *p);

/* Divides the groups into held-out and training ones by a seeded hash of the
 * prompt: about `fraction` of the prompts are held out, the same for every
 * run with the same seed. Fills malloc'ed index arrays (free them). */
void preference_set_split(const PreferenceSet *p, double fraction, uint64_t seed, int **train, int *n_train,
                          int **heldout, int *n_heldout);

/* A scoring record: one prompt and its responses. */
typedef struct {
    Conversation prompt;
    const char **responses; /* (n) strings inside the record's JSON */
    int n;
    int is_list; /* the responses came as a list ("responses"): they get "scores", else "score" */
} ResponseRecord;

/* Parses a scoring record; dies naming the file, line and field. */
void response_record_parse(const JsonlRecord *rec, ResponseRecord *out);
void response_record_free(ResponseRecord *r);

/* Every response of the scoring records in the files, rendered. */
SeqSet *response_set_load(const char *const *paths, int n_paths, const Tokenizer *tok, int max_len);

#endif
