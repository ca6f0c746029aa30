/* tokenizer_cmd.c — `lmforge tokenizer train|encode|decode`: training a
 * byte-level BPE tokenizer, and turning text into ids and back. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/args.h"
#include "../base/util.h"
#include "../tokenizer/tokenizer.h"
#include "stages.h"

static int cmd_train(int argc, char **argv) {
    int vocab_size = 8192, min_frequency = 2;
    OptList special = {0};
    const char *pattern = "llama3", *out = NULL;
    Option opts[] = {
        OPT_INT("vocab-size", &vocab_size, "tokens in all: 256 bytes + merges + special tokens"),
        OPT_LIST("special", &special,
                 "an extra special token (<|endoftext|>, <|im_start|>, <|im_end|> are always there)"),
        OPT_STR("pattern", &pattern, "pre-tokenizer: llama3 (Llama 3 / Qwen2 style) or gpt2"),
        OPT_INT("min-frequency", &min_frequency, "stop when the most frequent pair occurs fewer times"),
        OPT_STR("out", &out, "directory for tokenizer.json and tokenizer_config.json"),
        OPT_END,
    };
    char **files;
    int n_files = args_parse("tokenizer train", "FILES...",
                             "Learn byte-level BPE merges from raw text: UTF-8 .txt files (a blank line ends a\n"
                             "document, as in pretrain), and .jsonl files with one {\"text\": ...} document per line.",
                             opts, argc, argv, &files);
    if (!out) die("tokenizer train: --out DIR is required");
    if (n_files == 0) die("tokenizer train: give at least one text file");
    BpeTrainOptions o = {
        .vocab_size = vocab_size, .special = special.items, .n_special = special.n, .min_frequency = min_frequency};
    if (strcmp(pattern, "llama3") == 0)
        o.pattern = BPE_PATTERN_LLAMA3;
    else if (strcmp(pattern, "gpt2") == 0)
        o.pattern = BPE_PATTERN_GPT2;
    else
        die("tokenizer train: --pattern must be llama3 or gpt2, not '%s'", pattern);
    double start = now_seconds();
    Tokenizer *t = tokenizer_train((const char **)files, n_files, &o);
    tokenizer_save(t, out);
    info("tokenizer: wrote %s/tokenizer.json and tokenizer_config.json; %.1f s in all", out, now_seconds() - start);
    tokenizer_free(t);
    free(files);
    free(special.items);
    return 0;
}

static char *read_stream(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0, got;
    char *buf = xmalloc(cap);
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0)
        if ((n += got) + 1 >= cap) buf = xrealloc(buf, cap *= 2);
    buf[n] = 0;
    *len = n;
    return buf;
}

static int cmd_encode(int argc, char **argv) {
    const char *path = NULL, *file = NULL;
    int special = 0, bos = 0;
    Option opts[] = {
        OPT_STR("tokenizer", &path,
                "tokenizer.json, a directory with tokenizer.json or encoder.json + vocab.bpe, or NAME.tiktoken"),
        OPT_FLAG("special", &special, "turn the text of special tokens (<|im_end|>) into those tokens"),
        OPT_FLAG("bos", &bos, "start with the BOS token"),
        OPT_STR("file", &file, "read the text from this file"),
        OPT_END,
    };
    char **pos;
    int n = args_parse("tokenizer encode", "[TEXT]",
                       "Print the token ids of TEXT (or of --file, or of standard input), separated by spaces.", opts,
                       argc, argv, &pos);
    if (!path) die("tokenizer encode: --tokenizer PATH is required");
    if (n > 1 || (n == 1 && file)) die("tokenizer encode: give one TEXT argument, or --file, or standard input");
    size_t len;
    char *text = n == 1 ? xstrdup(pos[0]) : file ? read_file(file, &len) : read_stream(stdin, &len);
    if (n == 1) len = strlen(text);
    Tokenizer *t = tokenizer_load(path);
    IntVec ids = {0};
    if (bos) {
        if (tokenizer_bos_id(t) < 0) die("tokenizer encode: %s has no BOS token", path);
        intvec_push(&ids, tokenizer_bos_id(t));
    }
    tokenizer_encode(t, text, len, special, &ids);
    for (int i = 0; i < ids.len; i++) printf(i ? " %d" : "%d", ids.data[i]);
    printf("\n");
    intvec_free(&ids);
    tokenizer_free(t);
    free(text);
    free(pos);
    return 0;
}

/* Appends the ids in s (separated by spaces, commas or newlines) to ids. */
static void parse_ids(const Tokenizer *t, const char *s, IntVec *ids) {
    const char *sep = " ,\t\r\n";
    for (s += strspn(s, sep); *s; s += strspn(s, sep)) {
        size_t n = strcspn(s, sep);
        char *end;
        errno = 0;
        long id = strtol(s, &end, 10);
        if (end != s + n || errno || id < INT_MIN || id > INT_MAX)
            die("tokenizer decode: '%.*s' is not a token id", (int)n, s);
        if (!tokenizer_id_valid(t, (int)id))
            die("tokenizer decode: %ld is not a token id of this tokenizer (vocabulary size %d)", id,
                tokenizer_vocab_size(t));
        intvec_push(ids, (int)id);
        s += n;
    }
}

static int cmd_decode(int argc, char **argv) {
    const char *path = NULL;
    Option opts[] = {
        OPT_STR("tokenizer", &path,
                "tokenizer.json, a directory with tokenizer.json or encoder.json + vocab.bpe, or NAME.tiktoken"),
        OPT_END,
    };
    char **pos;
    int n = args_parse("tokenizer decode", "[IDS...]",
                       "Write the bytes of the token ids (arguments, or standard input) to standard output.", opts,
                       argc, argv, &pos);
    if (!path) die("tokenizer decode: --tokenizer PATH is required");
    Tokenizer *t = tokenizer_load(path);
    IntVec ids = {0};
    if (n == 0) {
        size_t len;
        char *in = read_stream(stdin, &len);
        parse_ids(t, in, &ids);
        free(in);
    }
    for (int i = 0; i < n; i++) parse_ids(t, pos[i], &ids);
    size_t len;
    char *text = tokenizer_decode(t, ids.data, ids.len, &len);
    if (fwrite(text, 1, len, stdout) != len) die_errno("tokenizer decode: cannot write the output");
    free(text);
    intvec_free(&ids);
    tokenizer_free(t);
    free(pos);
    return 0;
}

int cmd_tokenizer(int argc, char **argv) {
    static const char usage[] = "usage: lmforge tokenizer COMMAND [options]\n\n"
                                "  train    learn a byte-level BPE tokenizer from text files\n"
                                "  encode   print the token ids of a text\n"
                                "  decode   print the text of token ids\n\n"
                                "`lmforge tokenizer COMMAND --help` documents every flag.\n";
    if (argc >= 2 && strcmp(argv[1], "train") == 0) return cmd_train(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "encode") == 0) return cmd_encode(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "decode") == 0) return cmd_decode(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "--help") != 0 && strcmp(argv[1], "help") != 0)
        die("tokenizer: unknown command '%s' (train, encode or decode)", argv[1]);
    printf("%s", usage);
    return argc >= 2 ? 0 : 1;
}
