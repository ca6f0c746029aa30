/* judge.h — gold judges: how right one answer is, as a score in [0, 1].
 *
 *   exact       1 if the answer equals one of the accepted answers after
 *               normalisation (surrounding spaces and quotes trimmed, runs of
 *               spaces collapsed, trailing . , ; : ! ? removed, case folded)
 *   exact-case  the same without case folding ("Write 'cat' in capital letters.")
 *   f1          token F1 against the best accepted answer, as SQuAD scores it:
 *               lower case, punctuation removed, the articles a/an/the dropped,
 *               then the harmonic mean of precision and recall of the tokens
 *               (counted with multiplicity)
 *
 * The graded judges of the computation families give partial credit, so that
 * two wrong answers are rarely equally wrong and an annotator ordering them
 * by gold score has something to go on. The response is normalised as for
 * exact (case folded except for edit-case); its first word, with trailing
 * . , ; : ! ? and quotes peeled, is the answer; the rest of the normalised
 * response, its separating space included, is `extra` characters of run-on.
 * The score is
 *
 *     credit(answer, reference) × 16 / (16 + extra)
 *
 * (the brevity factor, JUDGE_BREVITY_CHARS = 16: "42" scores 1, "42 is the
 * sum" 16/27 = 0.59, an answer that runs on to the token limit far less),
 * with the best credit over the accepted answers, where credit is
 *
 *   digits      share of digit positions right, aligned from the right, over
 *               the longer length: 43 for 42 → 1/2, 142 for 42 → 2/3, 4 → 0
 *   count       1 / (1 + |answer − reference|) for an integer answer, else 0
 *   edit        1 − Levenshtein(answer, reference) / max(their lengths)
 *   edit-case   the same without case folding
 *
 * So of two right answers the concise one wins, and one that stops beats one
 * that runs on. `sentiment` is no judge of an answer against a reference:
 * gold.c scores it with an external program (VADER), see gold.h.
 * Case folding and punctuation are ASCII-only; other bytes compare as they are. */
#ifndef LMF_DEMO_JUDGE_H
#define LMF_DEMO_JUDGE_H

typedef enum {
    JUDGE_EXACT,
    JUDGE_EXACT_CASE,
    JUDGE_F1,
    JUDGE_DIGITS,
    JUDGE_COUNT,
    JUDGE_EDIT,
    JUDGE_EDIT_CASE,
    JUDGE_SENTIMENT
} JudgeKind;

#define JUDGE_BREVITY_CHARS 16.0
/* The names judge_parse accepts, for error messages. */
#define JUDGE_NAMES "exact, exact-case, f1, digits, count, edit, edit-case or sentiment"

/* Returns 0 and sets *kind for one of JUDGE_NAMES; -1 otherwise. */
int judge_parse(const char *name, JudgeKind *kind);
const char *judge_name(JudgeKind kind);

/* The normalised form exact matching compares. Caller frees. */
char *judge_normalize(const char *s, int fold_case);
double judge_token_f1(const char *response, const char *reference);

double judge_levenshtein(const char *a, const char *b);
/* The brevity factor of a response (see above), 1 when it is one word. */
double judge_brevity(const char *response, int fold_case);

/* The best score of response against any of the n accepted answers. Not for
 * JUDGE_SENTIMENT (dies). */
double judge_score(JudgeKind kind, const char *response, char *const *answers, int n);
/* The 0/1 exact-match judge that goes with a kind (exact-case for edit-case
 * and exact-case, exact for the others); -1 for sentiment, which has no
 * right answer. */
int judge_exact_kind(JudgeKind kind, JudgeKind *exact);

#endif
