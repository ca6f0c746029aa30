/* eval_tokens.h — `lmforge eval` on token ids instead of text (eval_tokens.c). */
#ifndef LMF_EVAL_TOKENS_H
#define LMF_EVAL_TOKENS_H

/* Loss (and with json each sequence's per-token log-probs) of the model in
 * model_dir on one sequence given as "1,2,3" (tokens) or one sequence per
 * line of a file (tokens_file; ids separated by commas or spaces). A bad id
 * dies naming the flag or the file and line. Prints the result on stdout. */
int eval_token_sequences(const char *model_dir, const char *tokens, const char *tokens_file, int json);

#endif
