/* test_tokenizer.c — the tokenizer's parts on their own: the byte-level
 * alphabet, UTF-8, the hand-written pre-tokenizers against PCRE2, NFC against
 * Python, round trips, training, saving and loading, chat rendering, and
 * clear errors for malformed files. The comparison with other tokenizers'
 * ids is in test_tokenizer_reference.c. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "../src/tokenizer/byte_level.h"
#include "../src/tokenizer/chat.h"
#include "../src/tokenizer/pretokenize.h"
#include "../src/tokenizer/tokenizer.h"
#include "../src/tokenizer/unicode.h"
#include "test.h"
#include "test_pretrain_fixtures.h"
#include "tokenizer/fuzz_one.h"

#define TEXTS "tests/tokenizer/texts.jsonl"

/* --- helpers ------------------------------------------------------------ */

static size_t put_utf8(char *out, uint32_t cp) { return (size_t)utf8_encode(cp, (uint8_t *)out); }

/* A corpus for training: the test texts plus ~150 KB of generated prose,
 * written to DIR/corpus.txt; returns the two file paths in files[0..1]. */
static void write_corpus(const char *dir, char **files) {
    static const char *words[] = {
        "the",   "of",   "and",  "a",         "to",    "in",   "is",   "you",        "that",  "it",    "he",
        "was",   "for",  "on",   "are",       "as",    "with", "his",  "they",       "I",     "at",    "be",
        "this",  "have", "from", "or",        "one",   "had",  "by",   "word",       "but",   "not",   "what",
        "all",   "were", "we",   "when",      "your",  "can",  "said", "there",      "use",   "an",    "each",
        "which", "she",  "do",   "how",       "their", "if",   "will", "up",         "other", "about", "out",
        "many",  "then", "them", "tokenizer", "merge", "byte", "pair", "encoding",   "don't", "it's",  "we'll",
        "数据",  "学习", "模型", "1984",      "2048",  "3.14", "(x)",  "\"quoted\"", "naïve", "café"};
    Rng rng;
    rng_seed(&rng, 7);
    files[0] = path_join(dir, "corpus.txt");
    FILE *f = xfopen(files[0], "w");
    for (int line = 0; line < 3000; line++) {
        int n = 3 + (int)rng_below(&rng, 12);
        for (int i = 0; i < n; i++) fprintf(f, "%s%s", i ? " " : "", words[rng_below(&rng, LMF_ARRAY_LEN(words))]);
        fprintf(f, rng_below(&rng, 5) == 0 ? ".\n\n" : ".\n");
    }
    fclose(f);
    files[1] = xstrdup(TEXTS);
}

/* A tokenizer trained on write_corpus()'s text. */
static Tokenizer *trained(int pattern, int vocab_size) {
    char *dir = test_tmpdir("toktrain"), *files[2];
    write_corpus(dir, files);
    const char *special[] = {"<|user_special|>"};
    BpeTrainOptions o = {
        .vocab_size = vocab_size, .special = special, .n_special = 1, .pattern = pattern, .min_frequency = 2};
    Tokenizer *t = fixture_train_tokenizer((const char **)files, 2, &o);
    test_system("rm -rf '%s'", dir);
    free(files[0]);
    free(files[1]);
    free(dir);
    return t;
}

/* The test texts, one string each; returns the count. */
static int read_texts(char ***texts) {
    char *data = read_file(TEXTS, NULL);
    int n = 0;
    *texts = NULL;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        *texts = xrealloc(*texts, (size_t)(n + 1) * sizeof(char *));
        (*texts)[n++] = xstrdup(cJSON_GetObjectItem(j, "text")->valuestring);
        cJSON_Delete(j);
    }
    free(data);
    return n;
}

static void free_texts(char **texts, int n) {
    for (int i = 0; i < n; i++) free(texts[i]);
    free(texts);
}

static int same_ids(const IntVec *a, const IntVec *b) {
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, (size_t)a->len * sizeof(int)) == 0);
}

/* Runs fn(arg) in a child process; returns its exit status, with its
 * standard error in *err (caller frees). */
static int run_child(void (*fn)(void *), void *arg, char **err) {
    int fds[2];
    if (pipe(fds) != 0) die_errno("pipe");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap);
    ssize_t got;
    while ((got = read(fds[0], buf + n, cap - n - 1)) > 0)
        if ((n += (size_t)got) + 1 >= cap) buf = xrealloc(buf, cap *= 2);
    buf[n] = 0;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    *err = buf;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* --- the byte-level alphabet and UTF-8 ------------------------------------ */

TEST(tokenizer_byte_level_alphabet) {
    CHECK_EQ_INT(byte_level_char(' '), 0x120);  /* "Ġ" */
    CHECK_EQ_INT(byte_level_char('\n'), 0x10A); /* "Ċ" */
    CHECK_EQ_INT(byte_level_char('a'), 'a');
    CHECK_EQ_INT(byte_level_char(0xAD), 0x143);
    uint8_t all[256], back[256];
    char text[512];
    for (int b = 0; b < 256; b++) all[b] = (uint8_t)b;
    size_t n = byte_level_encode(all, 256, text);
    CHECK_EQ_INT(byte_level_decode(text, n, back), 256);
    CHECK(memcmp(all, back, 256) == 0);
    CHECK_EQ_INT(byte_level_decode("a b", 3, back), -1); /* a raw space is not in the alphabet */
}

TEST(tokenizer_utf8_decoding_is_strict) {
    int n;
    CHECK_EQ_INT(utf8_decode((const uint8_t *)"\xC3\xA9", 2, &n), 0xE9);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(utf8_decode((const uint8_t *)"\xF0\x9F\x98\x80", 4, &n), 0x1F600);
    CHECK_EQ_INT(n, 4);
    const char *invalid[] = {"\xC0\x80", "\xE0\x80\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\x80", "\xC3", "\xFF"};
    for (size_t i = 0; i < LMF_ARRAY_LEN(invalid); i++) {
        CHECK_EQ_INT(utf8_decode((const uint8_t *)invalid[i], strlen(invalid[i]), &n), UNICODE_INVALID);
        CHECK_EQ_INT(n, 1);
    }
    unicode_init();
    CHECK(unicode_classes[0x85] & UCLASS_SPACE);      /* NEL is White_Space */
    CHECK(!(unicode_classes[0x180E] & UCLASS_SPACE)); /* no longer since Unicode 6.3 */
    CHECK(!(unicode_classes[0xFEFF] & UCLASS_SPACE)); /* \s in JavaScript, not in Unicode */
    CHECK(unicode_classes[0x4E2D] & UCLASS_LETTER);
    CHECK(unicode_classes[0x2160] & UCLASS_NUMBER); /* Roman numeral one, Nl */
}

/* --- the pre-tokenizers ---------------------------------------------------- */

static void piece_ends(const SplitRule *r, const char *s, size_t len, SplitScratch *sc, IntVec *ends) {
    ends->len = 0;
    for (size_t pos = 0; pos < len;) {
        size_t end = split_next(r, (const uint8_t *)s, len, pos, sc);
        if (end <= pos || end > len) {
            intvec_push(ends, -1); /* no progress: a bug */
            return;
        }
        intvec_push(ends, (int)end);
        pos = end;
    }
}

/* A random valid UTF-8 string, mostly from code points that the patterns
 * treat specially, sometimes from anywhere in Unicode. */
static size_t random_text(Rng *rng, char *out) {
    static const uint32_t palette[] = {
        'a',    'b',    'Z',      's',    'S',    't',    'T',    'r',    'R',    'e',    'E',     'v',
        'm',    'M',    'l',      'L',    'd',    'D',    '\'',   '\'',   ' ',    ' ',    ' ',     '\t',
        '\n',   '\n',   '\r',     '\v',   '\f',   '0',    '5',    '9',    '.',    ',',    '!',     '-',
        '_',    0,      0x7F,     0x1C,   0xA0,   0x85,   0x2028, 0x2029, 0x3000, 0x180E, 0xFEFF,  0x200B,
        0x200D, 0x17F,  0x212A,   0xE9,   0x301,  0x4E2D, 0x3042, 0x663,  0xB2,   0x2160, 0x1F600, 0x1F3FD,
        0xFE0F, 0xE000, 0x10FFFF, 0x2009, 0x1680, 0xFF11, 0x0130, 0x2019};
    size_t n = 0;
    int count = (int)rng_below(rng, 40);
    for (int i = 0; i < count; i++) {
        uint32_t cp = palette[rng_below(rng, LMF_ARRAY_LEN(palette))];
        if (rng_below(rng, 10) == 0) {
            do cp = (uint32_t)rng_below(rng, 0x110000);
            while (cp >= 0xD800 && cp <= 0xDFFF);
        }
        n += put_utf8(out + n, cp);
    }
    return n;
}

TEST(tokenizer_hand_written_pretokenizers_match_pcre2) {
    const char *patterns[] = {PATTERN_GPT2, PATTERN_LLAMA3, PATTERN_QWEN2};
    char **texts;
    int n_texts = read_texts(&texts);
    for (size_t p = 0; p < LMF_ARRAY_LEN(patterns); p++) {
        SplitRule fast, pcre;
        SplitScratch sc = {0};
        char err[512];
        CHECK(split_rule_init(&fast, patterns[p], 0, err, sizeof err) == 0);
        CHECK(fast.kind != SPLIT_REGEX);
        CHECK(split_rule_init_pcre2(&pcre, patterns[p], 0, err, sizeof err) == 0);
        IntVec a = {0}, b = {0};
        Rng rng;
        rng_seed(&rng, 42 + p);
        char buf[256];
        for (int i = 0; i < 20000 + n_texts && !test_failed(); i++) {
            const char *s = i < n_texts ? texts[i] : buf;
            size_t len = i < n_texts ? strlen(texts[i]) : random_text(&rng, buf);
            piece_ends(&fast, s, len, NULL, &a);
            piece_ends(&pcre, s, len, &sc, &b);
            if (!same_ids(&a, &b)) {
                char hex[1024];
                size_t h = 0;
                for (size_t k = 0; k < len && h + 3 < sizeof hex; k++)
                    h += (size_t)sprintf(hex + h, "%02x", (uint8_t)s[k]);
                test_fail(__FILE__, __LINE__, "pattern %zu splits differently from PCRE2 on the text (hex) %s", p, hex);
            }
        }
        intvec_free(&a);
        intvec_free(&b);
        split_rule_free(&fast);
        split_rule_free(&pcre);
        split_scratch_free(&sc);
    }
    free_texts(texts, n_texts);
}

TEST(tokenizer_regex_split_keeps_unmatched_text) {
    SplitRule r;
    SplitScratch sc = {0};
    char err[512];
    CHECK(split_rule_init(&r, "[0-9]+", 0, err, sizeof err) == 0);
    CHECK(r.kind == SPLIT_REGEX);
    IntVec ends = {0};
    piece_ends(&r, "ab12cd345", 9, &sc, &ends);
    int want[] = {2, 4, 6, 9};
    CHECK_EQ_INT(ends.len, 4);
    for (int i = 0; i < ends.len && i < 4; i++) CHECK_EQ_INT(ends.data[i], want[i]);
    split_rule_free(&r);
    CHECK(split_rule_init(&r, "(unclosed", 0, err, sizeof err) != 0);
    CHECK(strstr(err, "does not compile") != NULL);
    intvec_free(&ends);
    split_scratch_free(&sc);
}

/* --- NFC ----------------------------------------------------------------- */

static char *nfc(const char *s) {
    NfcBuffer buf = {0};
    char *out =
        nfc_normalize((const uint8_t *)s, strlen(s), &buf, 0) ? xstrndup((char *)buf.data, buf.len) : xstrdup(s);
    nfc_buffer_free(&buf);
    return out;
}

TEST(tokenizer_nfc_examples) {
    struct {
        const char *in, *out;
    } cases[] = {
        {"cafe\xCC\x81", "caf\xC3\xA9"},                          /* e + acute -> é */
        {"\xE2\x84\xAB", "\xC3\x85"},                             /* angstrom sign -> Å (a singleton) */
        {"\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", "\xEA\xB0\x81"}, /* Hangul jamo -> 각 */
        {"a\xCC\x81\xCC\xA3", "\xE1\xBA\xA1\xCC\x81"},            /* marks reordered: dot below first, then composed */
        {"plain ascii", "plain ascii"},
        {"\xCC\x81start", "\xCC\x81start"}, /* a mark with no base stays */
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++) {
        char *got = nfc(cases[i].in);
        CHECK_MSG(strcmp(got, cases[i].out) == 0, "NFC case %zu", i);
        free(got);
    }
    NfcBuffer buf = {0};
    CHECK_EQ_INT(nfc_normalize((const uint8_t *)"d\xC3\xA9j\xC3\xA0 vu \xE4\xB8\xAD", 12, &buf, 0),
                 0);                                                             /* already NFC */
    CHECK_EQ_INT(nfc_normalize((const uint8_t *)"\xFF\xCC\x81", 3, &buf, 0), 1); /* invalid byte passes through */
    CHECK(buf.len == 3 && memcmp(buf.data, "\xFF\xCC\x81", 3) == 0);
    nfc_buffer_free(&buf);
}

TEST(tokenizer_nfc_matches_python) {
    if (test_system("/usr/bin/python3 -c 'import unicodedata' >/dev/null 2>&1") != 0) SKIP("python3 not available");
    static const uint32_t palette[] = {'a',    'e',     'o',    'A',    'u',    'n',    ' ',    0x300,  0x301,
                                       0x302,  0x308,   0x323,  0x327,  0x328,  0x344,  0x345,  0x0F73, 0x0F71,
                                       0x0F72, 0x1D15E, 0xE9,   0x1D6,  0x212B, 0x2126, 0xF900, 0x0CBF, 0x0CD5,
                                       0x0CC6, 0x0CC2,  0x1100, 0x1161, 0x11A8, 0xAC00, 0xAC01, 0x0B47, 0x0B3E,
                                       0x0B57, 0x3099,  0x304B, 0x30AB, 0x05B4, 0x05BC, 0x4E2D};
    char *dir = test_tmpdir("nfc"), *in_path = path_join(dir, "in"), *out_path = path_join(dir, "out");
    enum { N = 3000 };
    char **texts = xmalloc(N * sizeof(char *));
    FILE *f = xfopen(in_path, "w");
    Rng rng;
    rng_seed(&rng, 3);
    for (int i = 0; i < N; i++) {
        char s[256];
        size_t n = 0;
        int count = 1 + (int)rng_below(&rng, 12);
        for (int k = 0; k < count; k++) {
            uint32_t cp = palette[rng_below(&rng, LMF_ARRAY_LEN(palette))];
            if (rng_below(&rng, 8) == 0) {
                do cp = (uint32_t)rng_below(&rng, 0x30000);
                while (cp >= 0xD800 && cp <= 0xDFFF);
            }
            n += put_utf8(s + n, cp);
        }
        texts[i] = xstrndup(s, n);
        for (size_t k = 0; k < n; k++) fprintf(f, "%02x", (uint8_t)s[k]);
        fprintf(f, "\n");
    }
    fclose(f);
    CHECK(test_system("/usr/bin/python3 tests/tokenizer/nfc_reference.py < '%s' > '%s'", in_path, out_path) == 0);
    char *expected = read_file(out_path, NULL), *line = strtok(expected, "\n");
    for (int i = 0; i < N && line && !test_failed(); i++, line = strtok(NULL, "\n")) {
        char *got = nfc(texts[i]), hex[1024];
        size_t h = 0;
        for (size_t k = 0; got[k] && h + 3 < sizeof hex; k++) h += (size_t)sprintf(hex + h, "%02x", (uint8_t)got[k]);
        hex[h] = 0;
        CHECK_MSG(strcmp(hex, line) == 0, "NFC differs from Python: got %s, Python %s", hex, line);
        free(got);
    }
    for (int i = 0; i < N; i++) free(texts[i]);
    free(texts);
    free(expected);
    test_system("rm -rf '%s'", dir);
    free(in_path);
    free(out_path);
    free(dir);
}

/* --- encoding and decoding -------------------------------------------------- */

static void check_round_trips(const Tokenizer *t, uint64_t seed) {
    Rng rng;
    rng_seed(&rng, seed);
    static const char *pieces[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", " ", "\n", "the", "中文", "😀", "'s"};
    for (int i = 0; i < 2000 && !test_failed(); i++) {
        char s[300];
        size_t n = 0;
        int count = (int)rng_below(&rng, 60);
        for (int k = 0; k < count; k++) {
            if (rng_below(&rng, 4) == 0) {
                const char *p = pieces[rng_below(&rng, LMF_ARRAY_LEN(pieces))];
                memcpy(s + n, p, strlen(p));
                n += strlen(p);
            } else {
                s[n++] = (char)rng_below(&rng, 256); /* often invalid UTF-8 */
            }
        }
        for (int special = 0; special < 2; special++) {
            IntVec ids = {0};
            tokenizer_encode(t, s, n, special, &ids);
            size_t len;
            char *back = tokenizer_decode(t, ids.data, ids.len, &len);
            CHECK_MSG(len == n && memcmp(back, s, n) == 0, "decode(encode(x)) != x for a random string of %zu bytes",
                      n);
            free(back);
            intvec_free(&ids);
        }
    }
}

TEST(tokenizer_round_trips_random_bytes) {
    Tokenizer *llama3 = trained(BPE_PATTERN_LLAMA3, 1000), *gpt2 = trained(BPE_PATTERN_GPT2, 1000);
    check_round_trips(llama3, 1);
    check_round_trips(gpt2, 2);
    tokenizer_free(llama3);
    tokenizer_free(gpt2);
}

TEST(tokenizer_special_tokens_only_when_allowed) {
    Tokenizer *t = trained(BPE_PATTERN_LLAMA3, 800);
    int eos = tokenizer_eos_id(t), user = tokenizer_token_id(t, "<|user_special|>");
    CHECK(eos >= 0 && user >= 0);
    CHECK_EQ_INT(tokenizer_bos_id(t), -1);
    CHECK_EQ_INT(tokenizer_token_id(t, "<|im_start|>"), eos + 1);
    CHECK_EQ_INT(tokenizer_vocab_size(t), 800);
    const char *text = "a<|endoftext|>b<|user_special|>";
    IntVec on = {0}, off = {0};
    tokenizer_encode(t, text, strlen(text), 1, &on);
    tokenizer_encode(t, text, strlen(text), 0, &off);
    CHECK_EQ_INT(on.len, 4);
    if (on.len == 4) {
        CHECK_EQ_INT(on.data[1], eos);
        CHECK_EQ_INT(on.data[3], user);
    }
    CHECK(off.len > 4);
    for (int i = 0; i < off.len; i++) CHECK(off.data[i] != eos && off.data[i] != user);
    intvec_free(&on);
    intvec_free(&off);
    tokenizer_free(t);
}

TEST(tokenizer_single_tokens_may_split_utf8) {
    Tokenizer *t = trained(BPE_PATTERN_LLAMA3, 600);
    const char *text = "\xF4\x8F\xBF\xBF"; /* U+10FFFF, not in the corpus: no token holds all of it */
    IntVec ids = {0};
    tokenizer_encode(t, text, 4, 0, &ids);
    CHECK(ids.len >= 2 && ids.len <= 4);
    size_t len;
    char *one = tokenizer_decode(t, ids.data, 1, &len);
    CHECK(len >= 1 && len < 4 && memcmp(one, text, len) == 0);
    free(one);
    IntVec bogus = {0}; /* ids that name no token decode to nothing */
    intvec_push(&bogus, -5);
    intvec_append(&bogus, ids.data, ids.len);
    intvec_push(&bogus, 1 << 30);
    char *all = tokenizer_decode(t, bogus.data, bogus.len, &len);
    CHECK(len == 4 && memcmp(all, text, 4) == 0);
    intvec_free(&bogus);
    CHECK(!tokenizer_id_valid(t, -5) && tokenizer_id_valid(t, ids.data[0]));
    free(all);
    intvec_free(&ids);
    tokenizer_free(t);
}

TEST(tokenizer_parallel_encoding_equals_serial) {
    Tokenizer *t = trained(BPE_PATTERN_LLAMA3, 1200);
    char **texts;
    int n_texts = read_texts(&texts);
    size_t cap = 3 << 20, len = 0;
    char *big = xmalloc(cap);
    for (int i = 0; len + 4096 < cap; i = (i + 1) % n_texts) {
        size_t n = strlen(texts[i]);
        if (len + n + 1 >= cap) break;
        memcpy(big + len, texts[i], n);
        len += n;
        big[len++] = '\n';
    }
    int threads = omp_get_max_threads();
    omp_set_num_threads(2);
    IntVec parallel = {0}, serial = {0}, offsets = {0};
    tokenizer_encode(t, big, len, 1, &parallel);
    tokenizer_encode_with_offsets(t, big, len, 1, &serial, &offsets);
    omp_set_num_threads(threads);
    CHECK(same_ids(&parallel, &serial));
    CHECK_EQ_INT(offsets.len, serial.len);
    /* Offsets: each token's bytes are found where its offset says. */
    for (int k = 0; k < serial.len && !test_failed(); k += 97) {
        size_t n;
        char *bytes = tokenizer_decode(t, &serial.data[k], 1, &n);
        CHECK((size_t)offsets.data[k] + n <= len && memcmp(big + offsets.data[k], bytes, n) == 0);
        free(bytes);
    }
    intvec_free(&parallel);
    intvec_free(&serial);
    intvec_free(&offsets);
    free(big);
    free_texts(texts, n_texts);
    tokenizer_free(t);
}

/* --- training, saving, loading ---------------------------------------------- */

static char *saved_json(const Tokenizer *t, const char *dir) {
    tokenizer_save(t, dir);
    char *path = path_join(dir, "tokenizer.json"), *text = read_file(path, NULL);
    free(path);
    return text;
}

TEST(tokenizer_training_is_deterministic) {
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    Tokenizer *a = trained(BPE_PATTERN_LLAMA3, 1500);
    omp_set_num_threads(2);
    Tokenizer *b = trained(BPE_PATTERN_LLAMA3, 1500);
    omp_set_num_threads(threads);
    char *dir = test_tmpdir("tokdet"), *da = path_join(dir, "a"), *db = path_join(dir, "b");
    char *ja = saved_json(a, da), *jb = saved_json(b, db);
    CHECK_MSG(strcmp(ja, jb) == 0, "two trainings on the same text differ");
    test_system("rm -rf '%s'", dir);
    free(ja);
    free(jb);
    free(da);
    free(db);
    free(dir);
    tokenizer_free(a);
    tokenizer_free(b);
}

TEST(tokenizer_saved_and_loaded_encodes_identically) {
    Tokenizer *t = trained(BPE_PATTERN_LLAMA3, 1500);
    char *dir = test_tmpdir("toksave");
    tokenizer_set_model_max_length(t, 2048);
    tokenizer_save(t, dir);
    Tokenizer *back = tokenizer_load(dir);
    CHECK_EQ_INT(tokenizer_vocab_size(back), tokenizer_vocab_size(t));
    char **texts;
    int n_texts = read_texts(&texts);
    for (int i = 0; i < n_texts; i++)
        for (int special = 0; special < 2; special++) {
            IntVec a = {0}, b = {0};
            tokenizer_encode(t, texts[i], strlen(texts[i]), special, &a);
            tokenizer_encode(back, texts[i], strlen(texts[i]), special, &b);
            CHECK_MSG(same_ids(&a, &b), "text %d encodes differently after save + load", i);
            intvec_free(&a);
            intvec_free(&b);
        }
    /* The structure Hugging Face expects (that of Qwen2's tokenizer.json). */
    char *json_path = path_join(dir, "tokenizer.json"), *config_path = path_join(dir, "tokenizer_config.json");
    char *json_text = read_file(json_path, NULL), *config_text = read_file(config_path, NULL);
    cJSON *json = cJSON_Parse(json_text), *config = cJSON_Parse(config_text);
    CHECK(json && config);
    const cJSON *model = cJSON_GetObjectItem(json, "model"), *pre = cJSON_GetObjectItem(json, "pre_tokenizer");
    CHECK(strcmp(cJSON_GetObjectItem(model, "type")->valuestring, "BPE") == 0);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(model, "vocab")), tokenizer_vocab_size(t) - 4);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(json, "normalizer")));
    CHECK(strcmp(cJSON_GetObjectItem(pre, "type")->valuestring, "Sequence") == 0);
    const cJSON *split = cJSON_GetArrayItem(cJSON_GetObjectItem(pre, "pretokenizers"), 0);
    CHECK(strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(split, "pattern"), "Regex")->valuestring, PATTERN_LLAMA3) ==
          0);
    const cJSON *added = cJSON_GetObjectItem(json, "added_tokens");
    CHECK_EQ_INT(cJSON_GetArraySize(added), 4);
    CHECK(strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(added, 0), "content")->valuestring, "<|endoftext|>") == 0);
    CHECK(strcmp(cJSON_GetObjectItem(config, "eos_token")->valuestring, "<|endoftext|>") == 0);
    CHECK(strcmp(cJSON_GetObjectItem(config, "pad_token")->valuestring, "<|endoftext|>") == 0);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(config, "bos_token")));
    CHECK_EQ_INT(cJSON_GetObjectItem(config, "model_max_length")->valueint, 2048);
    CHECK(strstr(cJSON_GetObjectItem(config, "chat_template")->valuestring, "<|im_start|>") != NULL);
    cJSON_Delete(json);
    cJSON_Delete(config);
    free(json_text);
    free(config_text);
    free(json_path);
    free(config_path);
    free_texts(texts, n_texts);
    test_system("rm -rf '%s'", dir);
    free(dir);
    tokenizer_free(t);
    tokenizer_free(back);
}

TEST(tokenizer_training_learns_frequent_words) {
    Tokenizer *t = trained(BPE_PATTERN_LLAMA3, 2000);
    IntVec ids = {0};
    tokenizer_encode(t, " tokenizer", 10, 0, &ids); /* frequent in the corpus: one token */
    CHECK_EQ_INT(ids.len, 1);
    CHECK(tokenizer_token_id(t, " the") >= 0);
    intvec_free(&ids);
    tokenizer_free(t);
}

/* --- chat ------------------------------------------------------------------ */

static void chat_bad_role(void *tokenizer) {
    ChatMessage m = {"robot", "beep"};
    IntVec ids = {0};
    chat_render(tokenizer, &m, 1, 0, 0, &ids, NULL);
}

TEST(tokenizer_chat_template_and_assistant_mask) {
    Tokenizer *t = trained(BPE_PATTERN_LLAMA3, 1000);
    ChatMessage msgs[] = {
        {"system", "You are terse."},      {"user", "Say hi."}, {"assistant", "Hi."}, {"user", "Again, twice."},
        {"assistant", "Hi! Hi!\n\nDone."},
    };
    char *text = chat_render_text(msgs, 5, 1);
    CHECK(strcmp(text, "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nSay hi.<|im_end|>\n"
                       "<|im_start|>assistant\nHi.<|im_end|>\n<|im_start|>user\nAgain, twice.<|im_end|>\n"
                       "<|im_start|>assistant\nHi! Hi!\n\nDone.<|im_end|>\n<|im_start|>assistant\n") == 0);
    IntVec ids = {0}, mask = {0}, direct = {0};
    chat_render(t, msgs, 5, 1, 0, &ids, &mask);
    tokenizer_encode(t, text, strlen(text), 1, &direct);
    CHECK(same_ids(&ids, &direct));
    CHECK_EQ_INT(mask.len, ids.len);
    IntVec trained_on = {0};
    for (int i = 0; i < ids.len; i++)
        if (mask.data[i]) intvec_push(&trained_on, ids.data[i]);
    char *masked = tokenizer_decode(t, trained_on.data, trained_on.len, NULL);
    CHECK_MSG(strcmp(masked, "Hi.<|im_end|>Hi! Hi!\n\nDone.<|im_end|>") == 0, "masked text: %s", masked);
    free(masked);
    IntVec ids2 = {0}, mask2 = {0};
    chat_render(t, msgs, 5, 0, 1, &ids2, &mask2);
    trained_on.len = 0;
    for (int i = 0; i < ids2.len; i++)
        if (mask2.data[i]) intvec_push(&trained_on, ids2.data[i]);
    masked = tokenizer_decode(t, trained_on.data, trained_on.len, NULL);
    CHECK_MSG(strcmp(masked, "Hi! Hi!\n\nDone.<|im_end|>") == 0, "last-only masked text: %s", masked);
    CHECK_EQ_INT(ids2.data[ids2.len - 1], tokenizer_token_id(t, "\n")); /* no generation prompt */
    free(masked);
    char *err;
    CHECK_EQ_INT(run_child(chat_bad_role, t, &err), 1);
    CHECK_MSG(strstr(err, "role \"robot\"") != NULL, "stderr: %s", err);
    free(err);
    free(text);
    intvec_free(&ids);
    intvec_free(&mask);
    intvec_free(&direct);
    intvec_free(&ids2);
    intvec_free(&mask2);
    intvec_free(&trained_on);
    tokenizer_free(t);
}

/* --- malformed files ------------------------------------------------------- */

/* A small valid tokenizer.json: the 256 bytes (id = byte), "ab" (256), one
 * merge, <|endoftext|> (257), the Llama 3 pattern. */
static cJSON *minimal_json(void) {
    cJSON *root = cJSON_CreateObject(), *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (int b = 0; b < 256; b++) {
        char name[8];
        uint8_t byte = (uint8_t)b;
        name[byte_level_encode(&byte, 1, name)] = 0;
        cJSON_AddNumberToObject(vocab, name, b);
    }
    cJSON_AddNumberToObject(vocab, "ab", 256);
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    cJSON_AddItemToArray(merges, cJSON_CreateString("a b"));
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens"), *eot = cJSON_CreateObject();
    cJSON_AddNumberToObject(eot, "id", 257);
    cJSON_AddStringToObject(eot, "content", "<|endoftext|>");
    cJSON_AddBoolToObject(eot, "special", 1);
    cJSON_AddItemToArray(added, eot);
    cJSON_AddNullToObject(root, "normalizer");
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "Sequence");
    cJSON *steps = cJSON_AddArrayToObject(pre, "pretokenizers"), *split = cJSON_CreateObject();
    cJSON_AddStringToObject(split, "type", "Split");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(split, "pattern"), "Regex", PATTERN_LLAMA3);
    cJSON_AddStringToObject(split, "behavior", "Isolated");
    cJSON_AddBoolToObject(split, "invert", 0);
    cJSON_AddItemToArray(steps, split);
    cJSON *byte_level = cJSON_CreateObject();
    cJSON_AddStringToObject(byte_level, "type", "ByteLevel");
    cJSON_AddBoolToObject(byte_level, "add_prefix_space", 0);
    cJSON_AddBoolToObject(byte_level, "use_regex", 0);
    cJSON_AddItemToArray(steps, byte_level);
    return root;
}

static cJSON *path_get(cJSON *root, const char *a, const char *b) {
    cJSON *x = cJSON_GetObjectItem(root, a);
    return b ? cJSON_GetObjectItem(x, b) : x;
}

static void set(cJSON *obj, const char *key, cJSON *value) {
    if (cJSON_GetObjectItem(obj, key))
        cJSON_ReplaceItemInObject(obj, key, value);
    else
        cJSON_AddItemToObject(obj, key, value);
}

/* Loads `json` and checks the error names the file and holds `expected`. */
static void expect_load_error(const char *json, const char *expected) {
    char *error = NULL;
    Tokenizer *t = tokenizer_from_json(json, strlen(json), "bad/tokenizer.json", &error);
    CHECK_MSG(t == NULL, "loaded a malformed file that should fail with \"%s\"", expected);
    if (error) {
        CHECK_MSG(strncmp(error, "bad/tokenizer.json: ", 20) == 0 && strstr(error, expected) && !strchr(error, '\n'),
                  "error \"%s\" should name the file and say \"%s\"", error, expected);
    }
    free(error);
    tokenizer_free(t);
}

TEST(tokenizer_json_minimal_file_loads) {
    cJSON *root = minimal_json();
    char *text = cJSON_PrintUnformatted(root), *error = NULL;
    Tokenizer *t = tokenizer_from_json(text, strlen(text), "ok.json", &error);
    CHECK_MSG(t != NULL, "%s", error ? error : "");
    if (t) {
        IntVec ids = {0};
        tokenizer_encode(t, "ab<|endoftext|>", 15, 1, &ids);
        CHECK(ids.len == 2 && ids.data[0] == 256 && ids.data[1] == 257);
        intvec_free(&ids);
    }
    tokenizer_free(t);
    free(text);
    cJSON_Delete(root);
}

TEST(tokenizer_json_errors_name_file_and_problem) {
    expect_load_error("{\"model\": ", "line 1: not valid JSON");
    expect_load_error("[1, 2]", "not a JSON object");
    expect_load_error("{}", "model must be an object");
    struct {
        const char *a, *b, *key;
        const char *value; /* JSON */
        const char *expected;
    } cases[] = {
        {"model", NULL, "type", "\"WordPiece\"", "model type \"WordPiece\" is not supported"},
        {"model", NULL, "vocab", "[]", "model.vocab must be an object"},
        {"model", "vocab", "a b", "300", "outside the byte-level alphabet"},
        {"model", "vocab", "xy", "-1", "integer id"},
        {"model", "vocab", "xy", "1.5", "integer id"},
        {"model", "vocab", "xy", "1e12", "integer id"},
        {"model", "vocab", "xy", "\"7\"", "integer id"},
        {"model", "vocab", "xy", "5", "id 5 is given to two tokens"},
        {"model", NULL, "merges", "{}", "model.merges must be an array"},
        {"model", NULL, "merges", "[\"a\"]", "merges[0]: expected two tokens separated by one space"},
        {"model", NULL, "merges", "[\"a b\", \"a  b\"]", "merges[1]: expected two tokens"},
        {"model", NULL, "merges", "[\"a zz\"]", "token \"zz\" is not in the vocabulary"},
        {"model", NULL, "merges", "[\"x y\"]", "not in the vocabulary"},
        {"model", NULL, "merges", "[[\"a\"]]", "must be \"a b\" or [\"a\", \"b\"]"},
        {"model", NULL, "merges", "[\"a \\u0000\"]", "expected two tokens"},
        {"model", NULL, "dropout", "0.1", "dropout"},
        {"model", NULL, "continuing_subword_prefix", "\"##\"", "continuing_subword_prefix"},
        {"model", NULL, "ignore_merges", "1", "ignore_merges must be true or false"},
        {"model", NULL, "vocab", "{\"a\": 97, \"b\": 98, \"ab\": 256}", "no token for the byte 0x00"},
        {"added_tokens", NULL, NULL, "[{\"id\": 5, \"content\": \"<x>\"}]", "another token"},
        {"added_tokens", NULL, NULL, "[{\"id\": \"x\", \"content\": \"<x>\"}]",
         "added_tokens[0].id must be an integer"},
        {"added_tokens", NULL, NULL, "[{\"id\": 300, \"content\": \"\"}]", "empty content"},
        {"added_tokens", NULL, NULL, "[{\"id\": 300, \"content\": \"<x>\", \"single_word\": true}]", "single_word"},
        {"added_tokens", NULL, NULL, "[{\"id\": 300, \"content\": 5}]", "content must be a string"},
        {"added_tokens", NULL, NULL, "{}", "added_tokens must be an array"},
        {"pre_tokenizer", NULL, NULL, "null", "no ByteLevel step"},
        {"pre_tokenizer", NULL, NULL, "{\"type\": \"Whitespace\"}", "type \"Whitespace\" is not supported"},
        {"pre_tokenizer", NULL, NULL, "{\"type\": \"ByteLevel\", \"add_prefix_space\": true}", "add_prefix_space"},
        {"pre_tokenizer", NULL, NULL,
         "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, "
         "\"behavior\": \"Isolated\"}, {\"type\": \"ByteLevel\"}]}",
         "pre_tokenizer.pretokenizers[0]: regex \"(\" does not compile"},
        {"pre_tokenizer", NULL, NULL,
         "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": \"x\"}, "
         "\"behavior\": \"Removed\"}, {\"type\": \"ByteLevel\"}]}",
         "behavior must be \"Isolated\""},
        {"pre_tokenizer", NULL, NULL, "{\"type\": 3}", "needs a string field \"type\""},
        {"normalizer", NULL, NULL, "{\"type\": \"Lowercase\"}", "normalizer type \"Lowercase\" is not supported"},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++) {
        cJSON *root = minimal_json(), *value = cJSON_Parse(cases[i].value);
        CHECK_MSG(value != NULL, "case %zu: bad test JSON", i);
        if (cases[i].key)
            set(path_get(root, cases[i].a, cases[i].b), cases[i].key, value);
        else
            set(root, cases[i].a, value);
        char *text = cJSON_PrintUnformatted(root);
        expect_load_error(text, cases[i].expected);
        free(text);
        cJSON_Delete(root);
    }
}

TEST(tokenizer_gpt2_file_errors_name_file_and_line) {
    cJSON *root = minimal_json();
    char *encoder = cJSON_PrintUnformatted(path_get(root, "model", "vocab")), *error = NULL;
    struct {
        const char *encoder, *bpe, *expected;
    } cases[] = {
        {"{\"a\": ", "#version: 0.2\n", "dir/encoder.json: line 1: not valid JSON"},
        {"{\"a\": 1}", "#version: 0.2\n", "dir/encoder.json: the vocabulary has no token for the byte 0x00"},
        {encoder, "#version: 0.2\na b c\n", "dir/vocab.bpe: line 2: expected two tokens"},
        {encoder, "#version: 0.2\na b\nq zz\n", "dir/vocab.bpe: line 3: token \"zz\" is not in the vocabulary"},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++) {
        Tokenizer *t = tokenizer_from_gpt2_files(cases[i].encoder, strlen(cases[i].encoder), cases[i].bpe,
                                                 strlen(cases[i].bpe), "dir", &error);
        CHECK(t == NULL);
        CHECK_MSG(error && strstr(error, cases[i].expected), "case %zu: error \"%s\"", i, error ? error : "");
        free(error);
        tokenizer_free(t);
    }
    Tokenizer *t = tokenizer_from_gpt2_files(encoder, strlen(encoder), "#version: 0.2\na b\n", 18, "dir", &error);
    CHECK(t != NULL);
    tokenizer_free(t);
    free(encoder);
    cJSON_Delete(root);
}

TEST(tokenizer_added_tokens_strip_white_space) {
    cJSON *root = minimal_json(), *mask = cJSON_CreateObject();
    cJSON_AddNumberToObject(mask, "id", 300);
    cJSON_AddStringToObject(mask, "content", "<mask>");
    cJSON_AddBoolToObject(mask, "lstrip", 1);
    cJSON_AddBoolToObject(mask, "rstrip", 1);
    cJSON_AddItemToArray(cJSON_GetObjectItem(root, "added_tokens"), mask);
    char *text = cJSON_PrintUnformatted(root), *error;
    Tokenizer *t = tokenizer_from_json(text, strlen(text), "mask.json", &error);
    CHECK(t != NULL);
    IntVec ids = {0}, plain = {0};
    tokenizer_encode(t, "ab  <mask>\t b", 13, 0, &ids); /* the white space around <mask> goes */
    tokenizer_encode(t, "ab", 2, 0, &plain);
    intvec_push(&plain, 300);
    tokenizer_encode(t, "b", 1, 0, &plain);
    CHECK(same_ids(&ids, &plain));
    intvec_free(&ids);
    intvec_free(&plain);
    tokenizer_free(t);
    free(text);
    cJSON_Delete(root);
}

TEST(tokenizer_fuzz_regressions_load_cleanly) {
    const char *dir = "tests/tokenizer/fuzz_regressions";
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.') continue;
        char *path = path_join(dir, e->d_name);
        size_t len;
        char *data = read_file(path, &len);
        tokenizer_fuzz_one((const uint8_t *)data, len); /* aborts on a failure */
        free(data);
        free(path);
        n++;
    }
    if (d) closedir(d);
    CHECK(n > 0);
}

/* --- the command line ------------------------------------------------------ */

TEST(tokenizer_cli_train_encode_decode) {
    char *dir = test_tmpdir("tokcli"), *files[2], *out = path_join(dir, "tok");
    write_corpus(dir, files);
    CHECK(test_system("%s tokenizer train --vocab-size 700 --special '<|a|>' --special '<|b|>' --out '%s' '%s' %s "
                      "> '%s/train.log'",
                      lmforge_bin(), out, files[0], files[1], dir) == 0);
    char *log = xsprintf("%s/train.log", dir), *log_text = read_file(log, NULL);
    CHECK(strstr(log_text, "trained 700 tokens") != NULL);
    CHECK(test_system("%s tokenizer encode --tokenizer '%s' --special 'hi <|b|> there' > '%s/ids'", lmforge_bin(), out,
                      dir) == 0);
    CHECK(test_system("%s tokenizer decode --tokenizer '%s' < '%s/ids' > '%s/text'", lmforge_bin(), out, dir, dir) ==
          0);
    char *text_path = xsprintf("%s/text", dir), *text = read_file(text_path, NULL);
    CHECK_MSG(strcmp(text, "hi <|b|> there") == 0, "round trip through the CLI gave \"%s\"", text);
    CHECK(test_system("%s tokenizer encode --tokenizer '%s' --bos x 2>/dev/null", lmforge_bin(), out) == 1);
    CHECK(test_system("%s tokenizer decode --tokenizer '%s' 1 2 99999 2>/dev/null", lmforge_bin(), out) == 1);
    CHECK(test_system("%s tokenizer encode --tokenizer '%s/nowhere' x 2>/dev/null", lmforge_bin(), dir) == 1);
    CHECK(test_system("echo '{\"model\": 1}' > '%s/bad.json' && %s tokenizer encode --tokenizer '%s/bad.json' x "
                      "2> '%s/err'",
                      dir, lmforge_bin(), dir, dir) == 1);
    char *err_path = xsprintf("%s/err", dir), *err = read_file(err_path, NULL);
    CHECK_MSG(strstr(err, "lmforge: ") == err && strstr(err, "bad.json: model must be an object"), "stderr: %s", err);
    test_system("rm -rf '%s'", dir);
    free(err_path);
    free(err);
    free(text_path);
    free(text);
    free(log);
    free(log_text);
    free(files[0]);
    free(files[1]);
    free(out);
    free(dir);
}
