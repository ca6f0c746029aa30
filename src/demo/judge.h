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
 * Case folding and punctuation are ASCII-only; other bytes compare as they are. */
#ifndef LMF_DEMO_JUDGE_H
#define LMF_DEMO_JUDGE_H

typedef enum { JUDGE_EXACT, JUDGE_EXACT_CASE, JUDGE_F1 } JudgeKind;

/* Returns 0 and sets *kind for "exact", "exact-case" or "f1"; -1 otherwise. */
int judge_parse(const char *name, JudgeKind *kind);
const char *judge_name(JudgeKind kind);

/* The normalised form exact matching compares. Caller frees. */
char *judge_normalize(const char *s, int fold_case);
double judge_token_f1(const char *response, const char *reference);

/* The best score of response against any of the n accepted answers. */
double judge_score(JudgeKind kind, const char *response, char *const *answers, int n);

#endif
