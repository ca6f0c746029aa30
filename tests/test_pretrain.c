/* test_pretrain.c — `lmforge pretrain` end to end, as a user runs it: it
 * learns real text to well below the unigram entropy; a run killed and
 * resumed repeats the uninterrupted run bit for bit, even when killed in the
 * middle of writing checkpoints; --init continues from a checkpoint; the run
 * directory holds metrics.jsonl, loss.svg and Hugging Face checkpoints; bad
 * input is reported naming the file; --help documents every flag. */
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../src/base/json_util.h"
#include "../src/base/metrics.h"
#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "../src/data/shards.h"
#include "../src/io/model_dir.h"
#include "../src/io/safetensors.h"
#include "test.h"
#include "test_pretrain_fixtures.h"

/* A small model that trains in milliseconds a step. */
#define SMALL_MODEL "--dim 32 --layers 2 --heads 2 --seq-len 32 --batch 4 --lr 3e-3 --eval-tokens 2048"

/* A corpus of made-up text and a tokenizer learnt from it by the CLI. */
typedef struct {
    char *dir, *text, *tokenizer;
} Corpus;

static Corpus make_corpus(const char *tag, int vocab_size) {
    Corpus c = {.dir = test_tmpdir(tag)};
    c.text = fixture_write_text(c.dir, "text.txt", 2500, 17);
    c.tokenizer = path_join(c.dir, "tokenizer");
    if (test_system("%s tokenizer train --vocab-size %d --out '%s' '%s' > /dev/null", lmforge_bin(), vocab_size,
                    c.tokenizer, c.text) != 0)
        test_fail(__FILE__, __LINE__, "lmforge tokenizer train failed");
    return c;
}

static void free_corpus(Corpus *c) {
    test_system("rm -rf '%s'", c->dir);
    free(c->dir);
    free(c->text);
    free(c->tokenizer);
}

/* "OMP_WAIT_POLICY=PASSIVE build/lmforge pretrain ARGS > LOG 2>&1" (caller frees). */
static char *pretrain_command(const char *log, const char *fmt, va_list ap) {
    char args[4096];
    vsnprintf(args, sizeof args, fmt, ap);
    return xsprintf("exec env %s %s pretrain %s > '%s' 2>&1", FIXTURE_ENV, lmforge_bin(), args, log);
}

/* Runs `lmforge pretrain ARGS` to the end; returns its exit status. */
__attribute__((format(printf, 2, 3))) static int pretrain(const char *log, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *cmd = pretrain_command(log, fmt, ap);
    va_end(ap);
    int rc = test_system("%s", cmd);
    free(cmd);
    return rc;
}

/* Starts `lmforge pretrain ARGS` in the background; returns its pid. */
__attribute__((format(printf, 2, 3))) static pid_t pretrain_start(const char *log, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *cmd = pretrain_command(log, fmt, ap);
    va_end(ap);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) die_errno("fork");
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL); /* exec: the pid becomes lmforge's */
        _exit(127);
    }
    free(cmd);
    return pid;
}

static int file_contains(const char *path, const char *needle) {
    char *text = read_file(path, NULL);
    int found = strstr(text, needle) != NULL;
    free(text);
    return found;
}

static int files_equal(const char *a, const char *b) {
    if (!file_exists(a) || !file_exists(b)) return 0;
    size_t la, lb;
    char *x = read_file(a, &la), *y = read_file(b, &lb);
    int same = la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

/* The step of the newest complete checkpoint in run_dir (-1: none), and
 * whether an unfinished checkpoint-N.tmp is there. */
static long newest_checkpoint(const char *run_dir, int *tmp_present) {
    long best = -1;
    if (tmp_present) *tmp_present = 0;
    DIR *d = opendir(run_dir);
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        long step;
        char rest;
        int fields = sscanf(e->d_name, "checkpoint-%ld%c", &step, &rest);
        if (fields == 2 && tmp_present && ends_with(e->d_name, ".tmp")) *tmp_present = 1;
        if (fields != 1) continue;
        char *state = xsprintf("%s/%s/trainer_state.json", run_dir, e->d_name);
        if (file_exists(state) && step > best) best = step;
        free(state);
    }
    closedir(d);
    return best;
}

/* Checks that DIR is a Hugging Face model directory. */
static void check_model_dir(const char *dir) {
    const char *files[] = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                           "generation_config.json"};
    for (size_t i = 0; i < LMF_ARRAY_LEN(files); i++) {
        char *p = path_join(dir, files[i]);
        CHECK_MSG(file_exists(p), "%s is missing", p);
        free(p);
    }
}

/* The run directory's metrics as series; *n gets the number of points. */
static double *series(const char *run_dir, const char *key, int *n) {
    char *path = path_join(run_dir, "metrics.jsonl");
    double *steps, *values;
    *n = metrics_read_series(path, key, &steps, &values);
    free(steps);
    free(path);
    return values;
}

/* ---- learning ---- */

/* Entropy in nats of the token frequencies of a shard: the loss of the best
 * model that ignores context, even one fitted to this very shard. */
static double unigram_entropy(const char *shard_path) {
    TokenShard s = shard_open(shard_path);
    long *counts = xcalloc((size_t)s.vocab_size, sizeof(long));
    for (size_t i = 0; i < s.n_tokens; i++) counts[shard_token(&s, i)]++;
    double h = 0;
    for (int v = 0; v < s.vocab_size; v++)
        if (counts[v]) {
            double p = (double)counts[v] / (double)s.n_tokens;
            h -= p * log(p);
        }
    free(counts);
    shard_close(&s);
    return h;
}

TEST_SLOW(pretrain_learns_real_text_to_well_below_the_unigram_entropy) {
    char *dir = test_tmpdir("learn");
    char *text = fixture_real_text(dir);
    if (!text) {
        test_system("rm -rf '%s'", dir);
        free(dir);
        SKIP("no real text: apt-get install bible-kjv (or fortunes)");
    }
    char *run = path_join(dir, "run"), *log = path_join(dir, "log");
    CHECK(test_system("%s tokenizer train --vocab-size 512 --out '%s/tok' '%s' > /dev/null", lmforge_bin(), dir,
                      text) == 0);
    int rc = pretrain(log, "--tokenizer '%s/tok' --out '%s' --preset tiny --seq-len 64 --batch 16 --steps 150 "
                           "--lr 3e-3 --eval-every 50 '%s'", dir, run, text);
    CHECK_MSG(rc == 0, "lmforge pretrain failed; see %s", log);
    if (rc == 0) {
        char *val = path_join(run, "shards/val.bin");
        double entropy = unigram_entropy(val);
        int n;
        double *eval = series(run, "eval/loss", &n); /* at steps 50, 100 and 150 */
        CHECK_EQ_INT(n, 3);
        if (n == 3) {
            printf("  unigram entropy of the validation tokens %.3f nats; validation loss %.3f, %.3f, %.3f\n",
                   entropy, eval[0], eval[1], eval[2]);
            CHECK_MSG(eval[2] < entropy - 1.0, "validation loss %.3f is not well below the unigram entropy %.3f",
                      eval[2], entropy);
            CHECK(eval[2] < eval[1] && eval[1] < eval[0]);
        }
        free(eval);
        free(val);
    }
    test_system("rm -rf '%s'", dir);
    free(run);
    free(log);
    free(text);
    free(dir);
}

/* ---- the run directory, and --init ---- */

TEST_SLOW(pretrain_writes_metrics_plot_and_checkpoints_and_init_continues) {
    Corpus c = make_corpus("run-dir", 300);
    char *a = path_join(c.dir, "a"), *b = path_join(c.dir, "b"), *log = path_join(c.dir, "log");
    int rc = pretrain(log, "--tokenizer '%s' --out '%s' " SMALL_MODEL " --steps 30 --warmup 5 --eval-every 10 "
                           "--save-every 10 '%s'", c.tokenizer, a, c.text);
    CHECK_MSG(rc == 0, "lmforge pretrain failed; see %s", log);

    /* metrics.jsonl: one line per step, each with loss, lr and grad_norm */
    char *metrics = path_join(a, "metrics.jsonl");
    char *lines = read_file(metrics, NULL);
    int n_lines = 0;
    for (char *p = lines; *p; p++) n_lines += *p == '\n';
    CHECK_EQ_INT(n_lines, 30);
    free(lines);
    int n_loss, n_lr, n_gnorm, n_eval;
    double *loss = series(a, "loss", &n_loss), *lr = series(a, "lr", &n_lr), *gnorm = series(a, "grad_norm", &n_gnorm);
    double *eval = series(a, "eval/loss", &n_eval);
    CHECK(n_loss == 30 && n_lr == 30 && n_gnorm == 30);
    CHECK_EQ_INT(n_eval, 3);
    for (int i = 0; i < n_loss && i < n_lr && i < n_gnorm; i++)
        CHECK_MSG(isfinite(loss[i]) && lr[i] > 0 && gnorm[i] > 0, "step %d: loss %g lr %g grad_norm %g", i + 1,
                  loss[i], lr[i], gnorm[i]);
    if (n_lr == 30) { /* 5 steps of warm-up to 3e-3, then the cosine decays towards 3e-4 (--min-lr-ratio 0.1) */
        CHECK_NEAR(lr[0], 3e-3 / 5, 1e-9);
        CHECK_NEAR(lr[4], 3e-3, 1e-9);
        CHECK_NEAR(lr[5], 3e-3, 1e-9);
        CHECK(lr[29] > 3e-4 && lr[29] < 3.2e-4);
    }
    CHECK(n_loss == 30 && loss[29] < loss[0] - 0.5);

    /* loss.svg, the checkpoints kept (--keep 2) and the final model */
    char *svg = path_join(a, "loss.svg");
    CHECK(file_exists(svg) && file_contains(svg, "<svg") && file_contains(svg, "</svg>"));
    char *ck10 = path_join(a, "checkpoint-10"), *ck20 = path_join(a, "checkpoint-20");
    char *ck30 = path_join(a, "checkpoint-30"), *final = path_join(a, "model");
    CHECK_MSG(!dir_exists(ck10), "checkpoint-10 should have been pruned (--keep 2)");
    check_model_dir(ck20);
    check_model_dir(ck30);
    check_model_dir(final);
    const char *state_files[] = {"trainer_state.json", "optimizer.safetensors"};
    for (int i = 0; i < 2; i++) {
        char *p = path_join(ck30, state_files[i]);
        CHECK_MSG(file_exists(p), "checkpoint-30 lacks %s", state_files[i]);
        free(p);
    }
    char *final_weights = path_join(final, "model.safetensors"), *ck_weights = path_join(ck30, "model.safetensors");
    CHECK(files_equal(final_weights, ck_weights));

    /* --init: a new run from the final model (its tokenizer too) starts where
     * the first one ended, far below a fresh model's loss */
    rc = pretrain(log, "--init '%s' --out '%s' --seq-len 32 --batch 4 --lr 1e-3 --steps 5 --shards '%s/shards' '%s'",
                  final, b, a, c.text);
    CHECK_MSG(rc == 0, "lmforge pretrain --init failed; see %s", log);
    CHECK(file_contains(log, "reusing the token shards"));
    int n_b;
    double *loss_b = series(b, "loss", &n_b);
    CHECK_EQ_INT(n_b, 5);
    if (n_b == 5 && n_loss == 30) {
        CHECK_MSG(loss_b[0] < loss[0] - 0.5 && fabs(loss_b[0] - loss[29]) < 0.3,
                  "--init run starts at loss %.3f; the first run went from %.3f to %.3f", loss_b[0], loss[0], loss[29]);
    }
    char *b_config = path_join(b, "model/config.json"), *a_config = path_join(final, "config.json");
    CHECK(files_equal(a_config, b_config)); /* the same architecture */

    free(b_config);
    free(a_config);
    free(loss_b);
    free(final_weights);
    free(ck_weights);
    free(ck10);
    free(ck20);
    free(ck30);
    free(final);
    free(svg);
    free(loss);
    free(lr);
    free(gnorm);
    free(eval);
    free(metrics);
    free(a);
    free(b);
    free(log);
    free_corpus(&c);
}

/* ---- resume ---- */

/* Both runs went through the same steps: the same metrics, weights and
 * optimizer state, bit for bit. */
static void check_runs_identical(const char *a, const char *b, long last_step) {
    const char *files[] = {"metrics.jsonl", "model/model.safetensors"};
    for (size_t i = 0; i < LMF_ARRAY_LEN(files); i++) {
        char *pa = path_join(a, files[i]), *pb = path_join(b, files[i]);
        CHECK_MSG(files_equal(pa, pb), "%s differs between the uninterrupted and the resumed run", files[i]);
        free(pa);
        free(pb);
    }
    char *pa = xsprintf("%s/checkpoint-%ld/optimizer.safetensors", a, last_step);
    char *pb = xsprintf("%s/checkpoint-%ld/optimizer.safetensors", b, last_step);
    CHECK_MSG(files_equal(pa, pb), "the AdamW moments differ between the uninterrupted and the resumed run");
    free(pa);
    free(pb);
}

static void sleep_ms(double ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(fmod(ms, 1000) * 1e6)};
    nanosleep(&ts, NULL);
}

TEST_SLOW(pretrain_resumed_run_equals_one_run_bit_for_bit) {
    Corpus c = make_corpus("resume", 300);
    char *one = path_join(c.dir, "one"), *two = path_join(c.dir, "two"), *log = path_join(c.dir, "log");
    const char *flags = SMALL_MODEL " --grad-accum 2 --steps 40 --eval-every 10 --save-every 4 --keep 3";
    CHECK(pretrain(log, "--tokenizer '%s' --out '%s' %s '%s'", c.tokenizer, one, flags, c.text) == 0);

    /* the same run, killed once its checkpoint at step 4 (or later) exists */
    pid_t pid = pretrain_start(log, "--tokenizer '%s' --out '%s' %s '%s'", c.tokenizer, two, flags, c.text);
    int status;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (newest_checkpoint(two, NULL) >= 4) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        sleep_ms(0.2);
    }
    CHECK_MSG(WIFSIGNALED(status), "the run ended before it could be killed");
    long stopped_at = newest_checkpoint(two, NULL);
    CHECK(stopped_at >= 4 && stopped_at < 40);
    int rc = pretrain(log, "--tokenizer '%s' --out '%s' %s --resume '%s'", c.tokenizer, two, flags, c.text);
    CHECK_MSG(rc == 0, "lmforge pretrain --resume failed; see %s", log);
    char *resumed = xsprintf("resumed from %s/checkpoint-%ld", two, stopped_at);
    CHECK(file_contains(log, resumed));
    CHECK(file_contains(log, "reusing the token shards"));
    check_runs_identical(one, two, 40);

    /* resuming a run that is already complete changes nothing */
    CHECK(pretrain(log, "--tokenizer '%s' --out '%s' %s --resume '%s'", c.tokenizer, two, flags, c.text) == 0);
    check_runs_identical(one, two, 40);
    /* and a run directory with checkpoints is not silently overwritten */
    CHECK(pretrain(log, "--tokenizer '%s' --out '%s' %s '%s'", c.tokenizer, two, flags, c.text) == 1);
    CHECK(file_contains(log, "already holds checkpoints: pass --resume"));

    free(resumed);
    free(one);
    free(two);
    free(log);
    free_corpus(&c);
}

/* Loads the newest complete checkpoint of run_dir in a child process (a
 * damaged one would end it through die()); returns 1 if that worked. */
static int newest_checkpoint_loads(const char *run_dir) {
    long step = newest_checkpoint(run_dir, NULL);
    if (step < 0) return 0;
    char *dir = xsprintf("%s/checkpoint-%ld", run_dir, step);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        lmf_quiet = 1;
        ModelDir c = model_dir_load(dir);
        char *state_path = path_join(dir, "trainer_state.json");
        cJSON *state = json_read_file(state_path);
        int ok = json_get_int64(state, "step", state_path) == step;
        char *opt_path = path_join(dir, "optimizer.safetensors");
        SafeTensors *st = st_open(opt_path);
        const StTensor *m = st_find(st, "adamw.exp_avg"), *v = st_find(st, "adamw.exp_avg_sq");
        ok = ok && m && v && st_numel(m) == c.model->n_params && st_numel(v) == c.model->n_params;
        _exit(ok ? 0 : 2);
    }
    int status;
    waitpid(pid, &status, 0);
    free(dir);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST_SLOW(pretrain_killed_while_writing_checkpoints_resumes_exactly) {
    Corpus c = make_corpus("kill", 300);
    char *ref = path_join(c.dir, "ref"), *run = path_join(c.dir, "run"), *log = path_join(c.dir, "log");
    const char *flags = SMALL_MODEL " --steps 30 --eval-every 10 --keep 2";
    CHECK(pretrain(log, "--tokenizer '%s' --out '%s' %s --save-every 30 '%s'", c.tokenizer, ref, flags, c.text) == 0);

    /* Kill -9 the run again and again while it writes a checkpoint after
     * every step (which is most of what it does): once it has saved one more
     * checkpoint, in odd rounds at a random moment within the next 40 ms,
     * in even ones as soon as a checkpoint-N.tmp shows a write in progress. */
    Rng r;
    rng_seed(&r, 8);
    int kills = 0, kills_mid_write = 0, finished = 0;
    for (int round = 0; round < 8 && !finished; round++) {
        long before = newest_checkpoint(run, NULL);
        pid_t pid = pretrain_start(log, "--tokenizer '%s' --out '%s' %s --save-every 1 %s '%s'", c.tokenizer, run,
                                   flags, before >= 0 ? "--resume" : "", c.text);
        int status, writing = 0;
        double deadline = INFINITY;
        while (waitpid(pid, &status, WNOHANG) == 0) {
            int progressed = newest_checkpoint(run, &writing) > before;
            if (progressed && isinf(deadline) && round % 2) deadline = now_seconds() + 0.040 * rng_uniform(&r);
            if (progressed && ((writing && round % 2 == 0) || now_seconds() >= deadline)) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                break;
            }
            sleep_ms(0.1);
        }
        if (!WIFSIGNALED(status)) {
            CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "round %d: the run failed; see %s", round, log);
            finished = 1;
            break;
        }
        kills++;
        newest_checkpoint(run, &writing);
        kills_mid_write += writing;
        CHECK_MSG(newest_checkpoint_loads(run), "round %d: the newest complete checkpoint (%ld) does not load", round,
                  newest_checkpoint(run, NULL));
    }
    printf("  %d kills, %d of them while a checkpoint was being written\n", kills, kills_mid_write);
    CHECK_MSG(kills >= 4, "only %d kills before the run ended", kills);
    CHECK_MSG(kills_mid_write > 0, "no kill landed while a checkpoint was being written");
    if (!finished) {
        int rc = pretrain(log, "--tokenizer '%s' --out '%s' %s --save-every 1 --resume '%s'", c.tokenizer, run, flags,
                          c.text);
        CHECK_MSG(rc == 0, "the last --resume failed; see %s", log);
    }
    check_runs_identical(ref, run, 30);
    free(ref);
    free(run);
    free(log);
    free_corpus(&c);
}

/* ---- bad input ---- */

/* s with every "DIR" replaced by dir (caller frees). */
static char *replace_dir(const char *s, const char *dir) {
    char *out = xstrdup("");
    for (const char *hit; (hit = strstr(s, "DIR")); s = hit + 3) {
        char *next = xsprintf("%s%.*s%s", out, (int)(hit - s), s, dir);
        free(out);
        out = next;
    }
    char *next = xsprintf("%s%s", out, s);
    free(out);
    return next;
}

TEST(pretrain_bad_input_is_reported_naming_the_file) {
    char *dir = test_tmpdir("bad-cli");
    char *text = fixture_write_text(dir, "text.txt", 300, 2), *log = path_join(dir, "log");
    Tokenizer *tok = fixture_tokenizer(text, 290);
    char *tok_dir = path_join(dir, "tok"), *big_tok_dir = path_join(dir, "big-tok");
    tokenizer_save(tok, tok_dir);
    Tokenizer *big_tok = fixture_tokenizer(text, 300);
    tokenizer_save(big_tok, big_tok_dir);
    tokenizer_free(big_tok);
    /* a checkpoint whose context is 32 tokens */
    ModelConfig cfg = config_default(tokenizer_vocab_size(tok), 16, 1, 2);
    cfg.max_seq_len = 32;
    Model *m = model_new(&cfg);
    model_init_random(m, 1);
    char *ckpt = path_join(dir, "ckpt");

    struct {
        const char *file, *content; /* written before the run, when file is not NULL */
        size_t len;                 /* of content; 0: strlen */
        const char *args, *expected;
    } cases[] = {
        {NULL, NULL, 0, "--tokenizer DIR/tok DIR/missing.txt", "DIR/missing.txt: no such file or folder"},
        {"empty.txt", "", 0, "--tokenizer DIR/tok DIR/empty.txt", "DIR/empty.txt: empty file"},
        {"bad.jsonl", "{\"text\": \"one\"}\n{\"text\" \"two\"}\n", 0, "--tokenizer DIR/tok DIR/bad.jsonl",
         "DIR/bad.jsonl:2: not valid JSON"},
        {"notext.jsonl", "{\"body\": \"one\"}\n", 0, "--tokenizer DIR/tok DIR/notext.jsonl",
         "DIR/notext.jsonl:1: field \"text\" is missing"},
        {NULL, NULL, 0, "--tokenizer DIR/missing-tok DIR/text.txt", "DIR/missing-tok: no such tokenizer file"},
        {NULL, NULL, 0, "--init DIR/ckpt --seq-len 64 DIR/text.txt",
         "--seq-len 64 is above the maximum 32 of the model in DIR/ckpt"},
        {NULL, NULL, 0, "--init DIR/ckpt --tokenizer DIR/big-tok DIR/text.txt",
         "the tokenizer DIR/big-tok has 300 tokens, more than the vocab_size 290 of the model in DIR/ckpt"},
        {"ckpt/config.json", "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 16}", 0,
         "--init DIR/ckpt DIR/text.txt", "DIR/ckpt/config.json: field \"vocab_size\" is missing"},
        {"ckpt/model.safetensors", "\x10\0\0\0\0\0\0\0{\"a\":", 13, "--init DIR/ckpt DIR/text.txt",
         "DIR/ckpt/model.safetensors: header length 16 exceeds the file size (13 bytes)"},
        {"shards/manifest.json", "{}", 0, "--tokenizer DIR/tok DIR/shards", "cannot open DIR/shards/train.bin"},
        {"shards/train.bin", "LMFTOKEN but not a whole header", 0, "--tokenizer DIR/tok DIR/shards",
         "DIR/shards/train.bin: 31 bytes, too short for a token shard header"},
        {NULL, NULL, 0, "--tokenizer DIR/tok --steps 0 DIR/text.txt", "--steps must be at least 1"},
        {NULL, NULL, 0, "--tokenizer DIR/tok --heads 3 DIR/text.txt", "dim 128 is not divisible by n_heads 3"},
    };
    test_system("mkdir -p '%s/shards'", dir);
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++) {
        model_dir_save(ckpt, m, tok, 0, 1); /* undamaged again */
        if (cases[i].file) {
            char *p = path_join(dir, cases[i].file);
            write_bytes(p, cases[i].content, cases[i].len ? cases[i].len : strlen(cases[i].content));
            free(p);
        }
        char *args = replace_dir(cases[i].args, dir), *expected = replace_dir(cases[i].expected, dir);
        char *out = path_join(dir, "out");
        int rc = pretrain(log, "--out '%s' %s", out, args);
        /* the error is the last line, after whatever the run reported before it */
        char *output = read_file(log, NULL), *end = output + strlen(output);
        while (end > output && end[-1] == '\n') *--end = 0;
        char *last_line = strrchr(output, '\n') ? strrchr(output, '\n') + 1 : output;
        CHECK_MSG(rc == 1 && strncmp(last_line, "lmforge: ", 9) == 0 && strstr(last_line, expected),
                  "pretrain %s: exit %d, expected \"lmforge: ...%s...\", got: %s", args, rc, expected, last_line);
        free(output);
        test_system("rm -rf '%s'", out);
        free(out);
        free(args);
        free(expected);
    }
    model_free(m);
    tokenizer_free(tok);
    test_system("rm -rf '%s'", dir);
    free(ckpt);
    free(tok_dir);
    free(big_tok_dir);
    free(text);
    free(log);
    free(dir);
}

/* Every flag declared in src/stages/pretrain.c, and in the rows every training stage shares that it splices in
 * (TRAIN_OPTIONS in src/train/train_options.h), appears in --help, explained. */
TEST(pretrain_help_documents_every_flag) {
    char *dir = test_tmpdir("help");
    char *help_path = path_join(dir, "help");
    CHECK(test_system("%s pretrain --help > '%s'", lmforge_bin(), help_path) == 0);
    char *help = read_file(help_path, NULL), *own = read_file("src/stages/pretrain.c", NULL);
    char *shared = read_file("src/train/train_options.h", NULL);
    char *rows = strstr(shared, "#define TRAIN_OPTIONS("), *rows_end = rows ? strstr(rows, "\n\n") : NULL;
    CHECK_MSG(rows && rows_end, "src/train/train_options.h has no TRAIN_OPTIONS block");
    if (rows_end) *rows_end = 0;
    char *source = xsprintf("%s\n%s", own, rows ? rows : "");
    free(own);
    free(shared);
    int n_flags = 0;
    for (char *p = strstr(source, "OPT_"); p; p = strstr(p + 1, "OPT_")) {
        char name[64];
        if (sscanf(p, "OPT_%*[A-Z](\"%63[a-z0-9-]\"", name) != 1) continue;
        n_flags++;
        char *flag = xsprintf("\n  --%s ", name);
        char *line = strstr(help, flag);
        CHECK_MSG(line != NULL, "--help does not mention --%s", name);
        /* the line goes on with an explanation, not just the flag */
        if (line) CHECK_MSG(strcspn(line + 1, "\n") > strlen(flag) + 12, "--%s has no explanation", name);
        free(flag);
    }
    CHECK_MSG(n_flags >= 30, "found only %d flags in src/stages/pretrain.c", n_flags);
    CHECK(strstr(help, "usage: lmforge pretrain") != NULL);
    free(help);
    free(source);
    test_system("rm -rf '%s'", dir);
    free(help_path);
    free(dir);
}

/* Two runs on one --out: the second is refused at once, naming the first's
 * PID; once the first has gone (Ctrl-C: it says how to resume, and its lock
 * goes with it), the folder is free again and --resume continues. */
TEST_SLOW(a_second_run_on_the_same_folder_is_refused_with_the_holders_pid) {
    Corpus c = make_corpus("lock", 300);
    char *out = path_join(c.dir, "run"), *log1 = path_join(c.dir, "log1"), *log2 = path_join(c.dir, "log2");
    pid_t first = pretrain_start(log1, "--tokenizer '%s' --out '%s' " SMALL_MODEL " --steps 100000 --save-every 5 '%s'",
                                 c.tokenizer, out, c.text);
    for (int i = 0; i < 600 && newest_checkpoint(out, NULL) < 5; i++) sleep_ms(50);
    CHECK(pretrain(log2, "--tokenizer '%s' --out '%s' " SMALL_MODEL " --steps 100000 --save-every 5 --resume '%s'",
                   c.tokenizer, out, c.text) == 1);
    char *expected = xsprintf("in use by another lmforge run (PID %ld)", (long)first);
    CHECK_MSG(file_contains(log2, expected), "the second run's log lacks \"%s\"", expected);
    kill(first, SIGINT);
    int status = 0;
    waitpid(first, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT); /* a pipeline runner tells an interruption so */
    CHECK(file_contains(log1, "interrupted; run the same command with --resume to continue from the last checkpoint in"));
    /* the run's settings are saved with its checkpoints: other ones that change the result are refused, by name */
    CHECK(pretrain(log2, "--tokenizer '%s' --out '%s' " SMALL_MODEL " --steps 20 --lr 1e-3 --seed 7 --resume '%s'",
                   c.tokenizer, out, c.text) == 1);
    CHECK(file_contains(log2, "--resume with other settings than the run saved in"));
    CHECK(file_contains(log2, "--steps 20 (the run's: 100000), --lr 0.0010000000474974513 (the run's: 0.0030000000260770321), "
                              "--seed 7 (the run's: 1)"));
    CHECK(file_contains(log2, "add --resume-override to continue with these"));
    /* ...unless asked for; and where it saves, how often and on how many threads may change freely */
    CHECK(pretrain(log2, "--tokenizer '%s' --out '%s' " SMALL_MODEL " --steps 100000 --save-every 7 --threads 1 --resume "
                         "--steps 20 --resume-override '%s'", c.tokenizer, out, c.text) == 0);
    CHECK(file_contains(log2, "continuing with other settings than the run's (--resume-override): --steps 20"));
    /* --resume before the first checkpoint was written: nothing to lose, the run starts from the beginning */
    char *fresh = path_join(c.dir, "fresh");
    CHECK(pretrain(log2, "--tokenizer '%s' --out '%s' " SMALL_MODEL " --steps 10 --resume '%s'", c.tokenizer, fresh,
                   c.text) == 0);
    CHECK(file_contains(log2, "yet; starting the run from the beginning"));
    free(fresh);
    free(expected);
    free(out);
    free(log1);
    free(log2);
    free_corpus(&c);
}
