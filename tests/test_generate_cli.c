/* test_generate_cli.c — `lmforge generate`, `chat` and `eval` on a checkpoint
 * written by the test (a random tiny model and a tokenizer trained on a few
 * lines), checked against the library calls they are built on. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/util.h"
#include "../src/data/text_data.h"
#include "../src/io/model_dir.h"
#include "../src/kernels/kernels.h"
#include "../src/model/generate.h"
#include "../src/tokenizer/chat.h"
#include "../src/tokenizer/unicode.h"
#include "../src/train/lm_loss.h"
#include "test.h"

typedef struct {
    char *dir, *model_dir;
    ModelDir ck;
} Fixture;

static Fixture make_fixture(const char *tag) {
    Fixture f = {.dir = test_tmpdir(tag)};
    char *text = path_join(f.dir, "text.txt");
    FILE *fp = xfopen(text, "w");
    for (int i = 0; i < 40; i++) fprintf(fp, "the cat sat on the mat; the dog ate the bone. Café %d\n", i);
    fclose(fp);
    BpeTrainOptions bo = {.vocab_size = 320};
    int quiet = lmf_quiet;
    lmf_quiet = 1;
    Tokenizer *tok = tokenizer_train((const char **)&text, 1, &bo);
    ModelConfig c = config_default(tokenizer_vocab_size(tok), 32, 2, 4);
    c.n_kv_heads = 2;
    c.max_seq_len = 96;
    c.tie_embeddings = 1;
    Model *m = model_new(&c);
    model_init_random(m, 3);
    /* weights well above the 0.02 of initialisation, so that what the model
     * says depends on its context */
    for (int i = 0; i < m->n_tensors; i++)
        if (!strstr(m->tensors[i].name, "norm"))
            for (size_t j = 0; j < (size_t)m->tensors[i].rows * m->tensors[i].cols; j++)
                m->params[m->tensors[i].offset + j] *= 12.0f;
    f.model_dir = path_join(f.dir, "model");
    model_dir_save(f.model_dir, m, tok, 0, 1);
    lmf_quiet = quiet;
    model_free(m);
    tokenizer_free(tok);
    free(text);
    f.ck = model_dir_load(f.model_dir);
    return f;
}

static void free_fixture(Fixture *f) {
    test_system("rm -rf '%s'", f->dir);
    model_dir_free(&f->ck);
    free(f->dir);
    free(f->model_dir);
}

/* What the CLI should have generated: greedy unless `temperature` > 0, stopping at EOS and <|im_end|>. */
static Generation *expected(Fixture *f, IntVec *prompts, int n, int K, float temperature, int seed, int max_new,
                            const char *stop) {
    int stop_ids[2] = {tokenizer_eos_id(f->ck.tokenizer), tokenizer_token_id(f->ck.tokenizer, "<|im_end|>")};
    SampleOptions o = sample_options_default();
    o.temperature = temperature;
    o.top_p = temperature > 0 ? 0.9f : 1.0f;
    o.max_new_tokens = max_new;
    o.stop_ids = stop_ids;
    o.n_stop_ids = 2;
    o.stop_strings = stop ? &stop : NULL;
    o.n_stop_strings = stop ? 1 : 0;
    o.tokenizer = f->ck.tokenizer;
    o.seed = (uint64_t)seed;
    o.n_samples = K;
    const int *p[8];
    int lens[8];
    for (int i = 0; i < n; i++) p[i] = prompts[i].data, lens[i] = prompts[i].len;
    Generation *g = xcalloc((size_t)n * K, sizeof(Generation));
    generate_batch(f->ck.model, p, lens, n, &o, g);
    return g;
}

static IntVec plain(Fixture *f, const char *text) {
    IntVec ids = {0};
    tokenizer_encode(f->ck.tokenizer, text, strlen(text), 1, &ids);
    return ids;
}

static IntVec chat(Fixture *f, const ChatMessage *msgs, int n) {
    IntVec ids = {0};
    chat_render(f->ck.tokenizer, msgs, n, 1, 0, &ids, NULL);
    return ids;
}

/* The JSON-safe form of a generation's text: NUL and invalid UTF-8 bytes become U+FFFD, one each. */
static char *json_safe(const Generation *g) {
    size_t n = 0;
    char *out = xmalloc(3 * g->text_len + 1);
    for (size_t i = 0; i < g->text_len;) {
        int k;
        const uint8_t *s = (const uint8_t *)g->text + i;
        int bad = *s == 0 || utf8_decode(s, g->text_len - i, &k) == UNICODE_INVALID;
        if (bad) k = 1;
        memcpy(out + n, bad ? "\xEF\xBF\xBD" : (const char *)s, bad ? 3 : (size_t)k);
        n += bad ? 3 : (size_t)k;
        i += (size_t)k;
    }
    out[n] = 0;
    return out;
}

static int json_response_is(const cJSON *item, const Generation *g) {
    char *safe = json_safe(g);
    int ok = cJSON_IsString(item) && strcmp(item->valuestring, safe) == 0;
    free(safe);
    return ok;
}

static int json_string_is(const cJSON *item, const char *s) { return cJSON_IsString(item) && strcmp(item->valuestring, s) == 0; }

/* The lines of a JSONL file, parsed; *n gets their count. */
static cJSON **read_jsonl_lines(const char *path, int *n) {
    char *data = read_file(path, NULL);
    cJSON **lines = NULL;
    *n = 0;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        lines = xrealloc(lines, sizeof(cJSON *) * (size_t)(*n + 1));
        lines[(*n)++] = cJSON_Parse(line);
    }
    free(data);
    return lines;
}

static void free_lines(cJSON **lines, int n) {
    for (int i = 0; i < n; i++) cJSON_Delete(lines[i]);
    free(lines);
}

TEST(cli_generate_writes_text_and_jsonl) {
    Fixture f = make_fixture("gen-cli");
    const char *bin = lmforge_bin();
    IntVec prompts[2] = {plain(&f, "the cat"), plain(&f, "a dog")};
    Generation *g = expected(&f, prompts, 2, 1, 0, 0, 12, NULL);
    CHECK_EQ_INT(test_system("%s generate %s --prompt 'the cat' --prompt 'a dog' --temperature 0 --max-new-tokens 12 "
                             "--format jsonl > %s/out.jsonl",
                             bin, f.model_dir, f.dir), 0);
    char *out = path_join(f.dir, "out.jsonl");
    int n;
    cJSON **lines = read_jsonl_lines(out, &n);
    CHECK_EQ_INT(n, 2);
    for (int i = 0; i < n && i < 2; i++) {
        CHECK(json_string_is(cJSON_GetObjectItem(lines[i], "prompt"), i ? "a dog" : "the cat"));
        CHECK(json_response_is(cJSON_GetObjectItem(lines[i], "response"), &g[i]));
    }
    free_lines(lines, n);

    /* text: the response alone, raw bytes */
    CHECK_EQ_INT(test_system("%s generate %s --prompt 'the cat' --temperature 0 --max-new-tokens 12 > %s/out.txt", bin,
                             f.model_dir, f.dir), 0);
    char *txt_path = path_join(f.dir, "out.txt");
    size_t len;
    char *txt = read_file(txt_path, &len);
    CHECK(len == g[0].text_len + 1 && memcmp(txt, g[0].text, g[0].text_len) == 0 && txt[len - 1] == '\n');
    free(txt);
    free(txt_path);
    generations_free(g, 2);
    free(g);

    /* K samples per prompt, through --out; the same file at batch size 1 */
    Generation *s = expected(&f, prompts, 2, 3, 1.0f, 5, 10, NULL);
    for (int b = 0; b < 2; b++) {
        CHECK_EQ_INT(test_system("%s generate %s --prompt 'the cat' --prompt 'a dog' --n 3 --temperature 1 --seed 5 "
                                 "--max-new-tokens 10 --batch-size %d --format jsonl --out %s > /dev/null",
                                 bin, f.model_dir, b ? 1 : 32, out), 0);
        lines = read_jsonl_lines(out, &n);
        CHECK_EQ_INT(n, 2);
        for (int i = 0; i < n && i < 2; i++) {
            const cJSON *responses = cJSON_GetObjectItem(lines[i], "responses");
            CHECK_EQ_INT(cJSON_GetArraySize(responses), 3);
            for (int k = 0; k < 3 && k < cJSON_GetArraySize(responses); k++)
                CHECK(json_response_is(cJSON_GetArrayItem(responses, k), &s[i * 3 + k]));
        }
        free_lines(lines, n);
    }
    generations_free(s, 6);
    free(s);
    intvec_free(&prompts[0]);
    intvec_free(&prompts[1]);
    free(out);
    free_fixture(&f);
}

/* Two letters or digits in a row in the text from byte 2 on: a stop string
 * that is safe in a shell command and does occur. */
static int pick_stop(const Generation *g, char stop[3]) {
    for (size_t i = 2; i + 1 < g->text_len; i++) {
        unsigned char a = (unsigned char)g->text[i], b = (unsigned char)g->text[i + 1];
        if (a < 0x80 && b < 0x80 && isalnum(a) && isalnum(b)) {
            stop[0] = (char)a, stop[1] = (char)b, stop[2] = 0;
            return 1;
        }
    }
    return 0;
}

TEST(cli_generate_reads_prompt_files_with_chats_and_stops) {
    Fixture f = make_fixture("gen-file");
    char *in = path_join(f.dir, "prompts.jsonl"), *out = path_join(f.dir, "out.jsonl");
    FILE *fp = xfopen(in, "w");
    fprintf(fp, "{\"prompt\": \"the mat\"}\n\n");
    fprintf(fp, "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, "
                "{\"role\": \"user\", \"content\": \"Where is the cat?\"}]}\n");
    fclose(fp);
    ChatMessage first[1] = {{"user", "the mat"}}, second[2] = {{"system", "Be brief."}, {"user", "Where is the cat?"}};
    IntVec prompts[2] = {chat(&f, first, 1), chat(&f, second, 2)};
    Generation *free_run = expected(&f, prompts, 2, 1, 0, 0, 16, NULL);
    char stop[3];
    CHECK(pick_stop(&free_run[0], stop));
    CHECK_EQ_INT(test_system("%s generate %s --prompts %s --chat --temperature 0 --max-new-tokens 16 --stop '%s' "
                             "--format jsonl --out %s > /dev/null",
                             lmforge_bin(), f.model_dir, in, stop, out), 0);
    Generation *g = expected(&f, prompts, 2, 1, 0, 0, 16, stop);
    CHECK_EQ_INT(g[0].finished_by_stop, STOP_STRING);
    int n;
    cJSON **lines = read_jsonl_lines(out, &n);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK(json_string_is(cJSON_GetObjectItem(lines[0], "prompt"), "the mat"));
        const cJSON *msgs = cJSON_GetObjectItem(lines[1], "prompt"); /* chats are echoed as messages */
        CHECK(cJSON_IsArray(msgs) && cJSON_GetArraySize(msgs) == 2);
        for (int i = 0; i < 2; i++) CHECK(json_response_is(cJSON_GetObjectItem(lines[i], "response"), &g[i]));
    }
    free_lines(lines, n);
    generations_free(g, 2);
    generations_free(free_run, 2);
    free(g);
    free(free_run);
    intvec_free(&prompts[0]);
    intvec_free(&prompts[1]);

    /* errors name the file, the line and the field */
    const struct {
        const char *lines, *message;
    } bad[] = {
        {"{\"prompt\": \"ok\"}\n{\"text\": \"no prompt\"}\n", "prompts.jsonl:2: field \"prompt\" (or \"messages\") is missing"},
        {"{\"prompt\": 3}\n", "prompts.jsonl:1: field \"prompt\" must be a string"},
        {"{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}\n", "prompts.jsonl:1: field \"messages[0].role\""},
        {"{\"messages\": [{\"role\": \"user\"}]}\n", "prompts.jsonl:1: field \"messages[0].content\" must be a string"},
        {"{\"prompt\": \"a\", \"messages\": []}\n", "prompts.jsonl:1: has both"},
        /* 100 words: longer than the model's context of 96 tokens */
        {"{\"prompt\": \"ok\"}\n{\"prompt\": \"x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x "
         "x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x\"}\n",
         "prompts.jsonl:2: the prompt is "},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(bad); i++) {
        write_bytes(in, bad[i].lines, strlen(bad[i].lines));
        CHECK_EQ_INT(test_system("%s generate %s --prompts %s > /dev/null 2> %s/err", lmforge_bin(), f.model_dir, in,
                                 f.dir), 1);
        char *err_path = path_join(f.dir, "err"), *err = read_file(err_path, NULL);
        CHECK_MSG(strstr(err, bad[i].message), "expected \"%s\", got: %s", bad[i].message, err);
        free(err);
        free(err_path);
    }
    free(in);
    free(out);
    free_fixture(&f);
}

/* Runs `lmforge chat` on the given input; returns its stdout (length in *len, exit status in *rc). */
static char *run_chat(Fixture *f, const char *input, size_t *len, int *rc) {
    char *in = path_join(f->dir, "chat_in"), *out = path_join(f->dir, "chat_out");
    write_bytes(in, input, strlen(input));
    *rc = test_system("%s chat %s --temperature 0 --max-new-tokens 10 < %s > %s", lmforge_bin(), f->model_dir, in, out);
    char *text = read_file(out, len);
    free(in);
    free(out);
    return text;
}

/* Whether out[0..len) is the texts of the replies, each followed by a newline. */
static int printed_replies(const char *out, size_t len, Generation *const *replies, int n) {
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        const Generation *g = replies[i];
        if (at + g->text_len + 1 > len || memcmp(out + at, g->text, g->text_len) != 0 || out[at + g->text_len] != '\n')
            return 0;
        at += g->text_len + 1;
    }
    return at == len;
}

TEST(cli_chat_keeps_the_conversation) {
    Fixture f = make_fixture("chat-cli");
    /* turn 1, then turn 2 with turn 1 in its prompt */
    ChatMessage turn1[1] = {{"user", "hello there"}};
    IntVec p1 = chat(&f, turn1, 1);
    Generation *r1 = expected(&f, &p1, 1, 1, 0, 0, 10, NULL);
    ChatMessage turn2[3] = {{"user", "hello there"}, {"assistant", r1[0].text}, {"user", "and the cat?"}};
    IntVec p2 = chat(&f, turn2, 3);
    Generation *r2 = expected(&f, &p2, 1, 1, 0, 0, 10, NULL);
    ChatMessage alone[1] = {{"user", "and the cat?"}};
    IntVec p3 = chat(&f, alone, 1);
    Generation *r3 = expected(&f, &p3, 1, 1, 0, 0, 10, NULL);
    CHECK_MSG(r2[0].n_tokens != r3[0].n_tokens || memcmp(r2[0].tokens, r3[0].tokens, sizeof(int) * r2[0].n_tokens),
              "the test needs the history to change the second reply");

    int rc;
    size_t len;
    char *got = run_chat(&f, "hello there\nand the cat?\n", &len, &rc);
    CHECK_EQ_INT(rc, 0); /* end of input ends the chat */
    CHECK_MSG(printed_replies(got, len, (Generation *[]){r1, r2}, 2), "chat printed \"%s\"", got);
    free(got);
    /* /reset forgets turn 1; /quit stops before the last line */
    got = run_chat(&f, "hello there\n/reset\nand the cat?\n/quit\nnever read\n", &len, &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_MSG(printed_replies(got, len, (Generation *[]){r1, r3}, 2), "chat printed \"%s\"", got);
    free(got);
    Generation *all[3] = {r1, r2, r3};
    for (int i = 0; i < 3; i++) {
        generations_free(all[i], 1);
        free(all[i]);
    }
    intvec_free(&p1);
    intvec_free(&p2);
    intvec_free(&p3);
    free_fixture(&f);
}

TEST(cli_eval_matches_lm_loss) {
    Fixture f = make_fixture("eval-cli");
    char *text = path_join(f.dir, "eval.txt");
    FILE *fp = xfopen(text, "w");
    for (int i = 0; i < 12; i++) fprintf(fp, "the dog sat on the bone %d times; the cat did not.\n", i * 7);
    fclose(fp);
    CHECK_EQ_INT(test_system("%s eval %s %s --seq-len 16 --batch 3 --format json > %s/eval.json 2> /dev/null",
                             lmforge_bin(), f.model_dir, text, f.dir), 0);
    /* the same windows by hand: T+1 tokens each, sharing their ends; the last one shorter */
    IntVec tokens = tokenize_inputs((const char *const *)&text, 1, f.ck.tokenizer);
    double sum = 0;
    long count = 0;
    for (int start = 0; start + 1 < tokens.len; start += 16) {
        int len = LMF_MIN(16, tokens.len - 1 - start);
        long n;
        model_forward(f.ck.model, tokens.data + start, NULL, 1, len, 0);
        sum += lm_loss_sum(f.ck.model, tokens.data + start + 1, &n);
        count += n;
    }
    CHECK((tokens.len - 1) % 16 != 0); /* the test covers a short last window */
    char *path = path_join(f.dir, "eval.json"), *json = read_file(path, NULL);
    cJSON *j = cJSON_Parse(json);
    CHECK(j != NULL);
    if (j) {
        CHECK_NEAR(cJSON_GetObjectItem(j, "loss")->valuedouble, sum / count, 2e-5);
        CHECK_NEAR(cJSON_GetObjectItem(j, "perplexity")->valuedouble, exp(sum / count), 1e-3);
        CHECK_EQ_INT(cJSON_GetObjectItem(j, "tokens")->valuedouble, count);
    }
    cJSON_Delete(j);
    free(json);
    free(path);
    free(text);
    intvec_free(&tokens);
    free_fixture(&f);
}

TEST(cli_generate_chat_eval_help_and_usage_errors) {
    const char *bin = lmforge_bin();
    const char *commands[] = {"generate", "chat", "eval"};
    for (int i = 0; i < 3; i++) CHECK_EQ_INT(test_system("%s %s --help > /dev/null", bin, commands[i]), 0);
    CHECK_EQ_INT(test_system("%s generate --help | grep -q -- '--max-new-tokens'", bin), 0);
    CHECK_EQ_INT(test_system("%s generate 2> /dev/null", bin), 1);
    CHECK_EQ_INT(test_system("%s generate /nonexistent --prompt x 2> /dev/null", bin), 1);
    CHECK_EQ_INT(test_system("%s eval /nonexistent 2> /dev/null", bin), 1);
}

/* A full disk is an error: the output file named by --out, standard output
 * (--help's too), each exits non-zero naming what could not be written, and
 * nothing is left behind or put in place of a device. */
TEST(cli_write_errors_fail_naming_the_file) {
    Fixture f = make_fixture("gen-full");
    const char *bin = lmforge_bin();
    CHECK(test_system("%s generate %s --prompt 'the cat' --max-new-tokens 4 --format jsonl --out /dev/full 2> %s/err",
                      bin, f.model_dir, f.dir) == 1);
    CHECK(test_system("grep -q 'cannot write /dev/full: No space left on device' %s/err", f.dir) == 0);
    CHECK(test_system("test -c /dev/full && test ! -e /dev/full.tmp") == 0);
    CHECK(test_system("%s generate %s --prompt 'the cat' --max-new-tokens 4 > /dev/full 2> %s/err", bin, f.model_dir,
                      f.dir) == 1);
    CHECK(test_system("grep -q 'cannot write to standard output: No space left on device' %s/err", f.dir) == 0);
    CHECK(test_system("%s eval --help > /dev/full 2>/dev/null", bin) == 1);
    CHECK(test_system("%s tokenizer encode --tokenizer %s 'the cat' > /dev/full 2>/dev/null", bin, f.model_dir) == 1);
    free_fixture(&f);
}

/* die() removes the temporary files of atomic writes it interrupts. */
static void die_while_writing(void *path) {
    AtomicFile af = atomic_open(path);
    fputs("half a file", af.f);
    fflush(af.f);
    die("stopped while writing %s", (const char *)path);
}
TEST(a_failed_write_leaves_no_temporary_file) {
    char *dir = test_tmpdir("tmp-clean"), *path = path_join(dir, "out.json");
    CHECK_DIES(die_while_writing, path, "stopped while writing");
    CHECK(test_system("test -z \"$(ls -A '%s')\"", dir) == 0);
    test_system("rm -rf '%s'", dir);
    free(path);
    free(dir);
}
