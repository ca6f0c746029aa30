/* text_data.h — a pretraining corpus: text files tokenized once into token
 * shards (shards.h), split into training and validation by document.
 *
 * Inputs are .txt files (documents separated by blank lines: one or more
 * empty lines, text_documents in input_check.h), .jsonl files (one document
 * per line, in the "text" field), folders of them (searched recursively, in
 * sorted order), or a folder of shards made earlier (manifest.json +
 * train.bin + val.bin). Each document ends with the EOS token. The shards go
 * to shard_dir with a manifest recording the sources (path, size, mtime) and
 * the tokenizer; a later run with the same inputs reuses them. */
#ifndef LMF_TEXT_DATA_H
#define LMF_TEXT_DATA_H

#include <stdint.h>

#include "../tokenizer/tokenizer.h"
#include "shards.h"

typedef struct {
    TokenShard train, val;
} TokenData;

/* Validation is val_inputs when given (n_val > 0); otherwise val_fraction
 * of the documents (at least one when there are two or more) go to
 * validation, and a corpus of one document holds out its last val_fraction
 * of tokens instead. */
TokenData token_data_prepare(const char *const *inputs, int n_inputs, const char *const *val_inputs, int n_val,
                             const Tokenizer *tok, const char *shard_dir, double val_fraction, uint64_t seed);
void token_data_close(TokenData *d);

/* Tokenizes documents of the inputs into one stream (each followed by EOS),
 * without splitting or caching: for `lmforge eval`. */
IntVec tokenize_inputs(const char *const *inputs, int n_inputs, const Tokenizer *tok);

#endif
