/* tokenizer.h — byte-level BPE (GPT-2, Llama 3, Qwen2 and our own), giving
 * exactly the token ids that Hugging Face's tokenizers and tiktoken give.
 *
 * Text becomes ids in four steps, as in Hugging Face's tokenizer.json:
 *   1. added tokens (<|endoftext|>, <|im_start|>, ...) are cut out first;
 *   2. each stretch between them is normalized (NFC, for Qwen2) if asked;
 *   3. a regular expression cuts it into pieces (pretokenize.h);
 *   4. each piece's bytes are merged by BPE, lowest-ranked merge first.
 * Decoding concatenates the tokens' bytes, so decode(encode(x)) == x for any
 * bytes x, valid UTF-8 or not (x already in NFC when the tokenizer normalizes).
 *
 * A Tokenizer is read-only once built: encode and decode from many threads.
 * Long texts are encoded in parallel with OpenMP (the result is the same). */
#ifndef LMF_TOKENIZER_H
#define LMF_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "../base/intvec.h"

typedef struct Tokenizer Tokenizer;

/* Loads a tokenizer.json file, a directory holding tokenizer.json (and
 * maybe tokenizer_config.json), a directory holding GPT-2's encoder.json
 * and vocab.bpe, or a tiktoken rank file (NAME.tiktoken, below). A missing
 * or malformed file dies with a message naming the file and the problem. */
Tokenizer *tokenizer_load(const char *path);

/* OpenAI's tiktoken rank files: tokenizer_load reads PATH/NAME.tiktoken,
 * NAME being the encoding (r50k_base, p50k_base, cl100k_base, o200k_base),
 * which gives the pre-tokenizer and the special tokens the file lacks. From
 * memory: NULL and a malloc'ed one-line message in *error on a bad file. */
Tokenizer *tokenizer_load_tiktoken(const char *path);
Tokenizer *tokenizer_from_tiktoken(const char *text, size_t len, const char *encoding, const char *name, char **error);

/* The same for tokenizer.json text already in memory; `name` is used in
 * messages. Returns NULL with a malloc'ed one-line message in *error instead
 * of dying (the fuzzer and the tests call this). */
Tokenizer *tokenizer_from_json(const char *json, size_t len, const char *name, char **error);
/* The same for GPT-2's two files. */
Tokenizer *tokenizer_from_gpt2_files(const char *encoder_json, size_t encoder_len, const char *vocab_bpe,
                                     size_t vocab_len, const char *dir, char **error);

/* Writes DIR/tokenizer.json and DIR/tokenizer_config.json (atomically),
 * which Hugging Face's AutoTokenizer loads. A tokenizer loaded with its
 * tokenizer_config.json keeps that file as it was; otherwise it gets one with
 * the ChatML chat template and the special token names. */
void tokenizer_save(const Tokenizer *t, const char *dir);
void tokenizer_free(Tokenizer *t);

/* One more than the largest id, added tokens included. */
int tokenizer_vocab_size(const Tokenizer *t);

/* Appends the ids of text[0..len) to out. With allow_special, the text of a
 * special token (<|im_end|>) becomes that token; without, it is encoded as
 * ordinary text. Added tokens that are not special are always recognised,
 * as Hugging Face does. No BOS is added: push tokenizer_bos_id() first. */
void tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int allow_special, IntVec *out);

/* The same, also appending to `offsets` the byte offset in text where each
 * token starts. Texts must be shorter than 2 GB. Runs on one thread. */
void tokenizer_encode_with_offsets(const Tokenizer *t, const char *text, size_t len, int allow_special, IntVec *out,
                                   IntVec *offsets);

/* The bytes of ids[0..n), malloc'ed and NUL-terminated (*out_len excludes
 * the NUL; out_len may be NULL). A single token may hold an incomplete UTF-8
 * sequence; a whole encoded text always decodes to its bytes. Ids that name
 * no token (tokenizer_id_valid() is 0) decode to nothing, as in Hugging Face. */
char *tokenizer_decode(const Tokenizer *t, const int *ids, int n, size_t *out_len);

/* Whether id names a token. */
int tokenizer_id_valid(const Tokenizer *t, int id);

/* The id of the token whose text is `token` (raw bytes, " the" rather than
 * "Ġthe"), added and special tokens included; -1 if absent. */
int tokenizer_token_id(const Tokenizer *t, const char *token);

/* <|endoftext|> (ours, GPT-2, Qwen) or <|end_of_text|> (Llama 3); -1 if none. */
int tokenizer_eos_id(const Tokenizer *t);
/* <|begin_of_text|> (Llama 3); -1 if none (ours, GPT-2 and Qwen have none). */
int tokenizer_bos_id(const Tokenizer *t);

/* A 64-bit fingerprint of the vocabulary and merges: equal for tokenizers
 * that encode alike. Token shards record it; stages that combine models
 * (policy and reward model, policy and reference) compare it. */
uint64_t tokenizer_fingerprint(const Tokenizer *t);
/* The context length written as model_max_length in tokenizer_config.json
 * (by default Hugging Face's "no limit"). */
void tokenizer_set_model_max_length(Tokenizer *t, long long n);

/* Training: byte-level BPE merges learnt from raw text (train.c). */
enum { BPE_PATTERN_LLAMA3 = 0, BPE_PATTERN_GPT2 = 1 };
typedef struct {
    int vocab_size;       /* all tokens: 256 bytes + merges + special tokens */
    const char **special; /* extra special tokens, beyond the three below */
    int n_special;
    int pattern;       /* BPE_PATTERN_LLAMA3 (the default) or BPE_PATTERN_GPT2 */
    int min_frequency; /* stop when the best pair occurs fewer times (0 or 1: never) */
} BpeTrainOptions;

/* Learns merges from UTF-8 .txt files and .jsonl files (one {"text": ...}
 * per line). The result always has the special tokens <|endoftext|> (EOS,
 * document separator and padding), <|im_start|> and <|im_end|> (ChatML),
 * then o->special, with the ids after the merges. Deterministic: the same
 * files and options give the same tokenizer on any number of threads. */
Tokenizer *tokenizer_train(const char **files, int n_files, const BpeTrainOptions *o);

#endif
