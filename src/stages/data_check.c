/* data_check.c — `lmforge data check FILE...`: what the training stages
 * would make of a data file, before any compute is spent on it.
 *
 * For each file: its format (from its extension and the fields of its first
 * record), the number of records, their lengths in tokens (p50, p90, p99,
 * max), and, at --seq-len, what the stages that read the format would
 * truncate, skip or refuse. Refused records are listed with FILE:LINE and
 * the reader's own message; the others are counted.
 *
 * The verdicts are the stage readers' own: each reader (sft_data_load,
 * pref_pairs_load, preference_set_load, load_prompts, ...) runs on a copy of
 * the file in a child process. A reader dies on the first record it refuses;
 * the checker notes the record, blanks its line in the copy (blank lines are
 * skipped, so the other records keep their line numbers) and runs the reader
 * again, until it accepts what is left. The lengths and counts then come
 * from the readers too, on the accepted copy. So the checker cannot drift
 * from the stages, and no bad record can crash it.
 *
 * Without --tokenizer, a byte-level tokenizer with no merges stands in:
 * lengths are then in bytes (ChatML's markers one each), and no length
 * limit is checked. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../base/args.h"
#include "../base/util.h"
#include "../data/chat_data.h"
#include "../data/preference_pairs.h"
#include "../data/rm_data.h"
#include "../data/sft_data.h"
#include "../data/task_prompts.h"
#include "../data/text_data.h"
#include "../tokenizer/tokenizer.h"
#include "stages.h"

enum { MAX_LISTED = 20 }; /* refused records listed per file; the checker stops looking after these */
#define NO_LIMIT (INT_MAX / 4) /* --seq-len 0: lengths only */

typedef enum { FMT_TEXT, FMT_SFT, FMT_PAIRS, FMT_PREFIX_PAIRS, FMT_RANKINGS, FMT_PROMPTS, FMT_TASKS, FMT_UNKNOWN } Format;

static const char *const FORMAT_NAME[] = {"text", "sft", "pairs", "pairs", "rankings", "prompts", "tasks", "unknown"};
static const char *const FORMAT_WHAT[] = {
    "pretraining text (pretrain, tokenizer train)",
    "SFT examples, chats or prompt/completion (sft)",
    "preference pairs {\"prompt\",\"chosen\",\"rejected\"} (dpo, rm)",
    "preference pairs of plain text {\"prefix\",\"chosen\",\"rejected\"} (dpo)",
    "K-way rankings {\"prompt\",\"responses\",\"ranking\"} (rm)",
    "prompts (sample, rs, ppo, generate)",
    "prompts with answers {\"prompt\",\"answer\"} (grpo, pairs-from-data)",
    "unknown"};

/* What a check works on: the copy of the file, and the settings. */
typedef struct {
    const char *copy, *original;
    const char *tokenizer_dir; /* or NULL: bytes */
    int seq_len;               /* NO_LIMIT when not given */
} Check;

/* ---- the format, from the first record's fields ---- */

static int has(const cJSON *o, const char *field) { return cJSON_GetObjectItemCaseSensitive(o, field) != NULL; }

static Format format_of_record(const cJSON *o) {
    if (has(o, "text")) return FMT_TEXT;
    if (has(o, "chosen") || has(o, "rejected")) return has(o, "prefix") ? FMT_PREFIX_PAIRS : FMT_PAIRS;
    if (has(o, "ranking") || has(o, "responses")) return FMT_RANKINGS;
    if (has(o, "completion")) return FMT_SFT;
    if (has(o, "answer")) return FMT_TASKS;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "messages");
    if (cJSON_IsArray(m)) { /* a chat that ends with the assistant's turn is an SFT example */
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(m, cJSON_GetArraySize(m) - 1), "role");
        return cJSON_IsString(role) && strcmp(role->valuestring, "assistant") == 0 ? FMT_SFT : FMT_PROMPTS;
    }
    if (has(o, "prompt")) return FMT_PROMPTS;
    return FMT_UNKNOWN;
}

/* .jsonl: the first line that is a JSON object decides; anything else is text. */
static Format detect_format(const char *path) {
    if (!ends_with(path, ".jsonl")) return FMT_TEXT;
    FILE *f = xfopen(path, "rb");
    char *line = NULL;
    size_t cap = 0;
    Format fmt = FMT_UNKNOWN;
    while (fmt == FMT_UNKNOWN && getline(&line, &cap, f) >= 0) {
        cJSON *o = cJSON_Parse(line);
        if (cJSON_IsObject(o)) fmt = format_of_record(o);
        cJSON_Delete(o);
        if (fmt == FMT_UNKNOWN && o) break; /* an object of no known format: say so */
    }
    free(line);
    fclose(f);
    return fmt;
}

/* ---- running a reader in a child process ---- */

/* Runs fn(c) in a child. Returns 1 if it finished; else 0 with the last
 * message it died with in why (without "lmforge: "). With `report`, the
 * child's standard output is ours (it prints the report); otherwise it is
 * dropped, and so are the readers' warnings. */
static int run_child(void (*fn)(const Check *), const Check *c, int report, char *why, size_t cap) {
    int fds[2];
    if (pipe(fds) != 0) die_errno("data check: pipe");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) die_errno("data check: fork");
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        if (!report) freopen("/dev/null", "w", stdout);
        lmf_quiet = 1;
        fn(c);
        fflush(stdout);
        _exit(0);
    }
    close(fds[1]);
    /* keep the last "lmforge: " line that is not a warning */
    FILE *in = fdopen(fds[0], "r");
    char *line = NULL;
    size_t lcap = 0;
    ssize_t n;
    why[0] = 0;
    while ((n = getline(&line, &lcap, in)) >= 0) {
        while (n > 0 && line[n - 1] == '\n') line[--n] = 0;
        if (strncmp(line, "lmforge: ", 9) == 0 && strncmp(line, "lmforge: warning: ", 18) != 0)
            snprintf(why, cap, "%s", line + 9);
    }
    free(line);
    fclose(in);
    int status;
    if (waitpid(pid, &status, 0) < 0) die_errno("data check: waitpid");
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 1;
    if (!why[0]) snprintf(why, cap, "the reader crashed (status %d)", status);
    return 0;
}

static Tokenizer *check_tokenizer(const Check *c) {
    if (c->tokenizer_dir) return tokenizer_load(c->tokenizer_dir);
    /* bytes: the 256 byte tokens and ChatML's markers, no merges, learnt from no text */
    BpeTrainOptions o = {.vocab_size = 256 + 3};
    return tokenizer_train(NULL, 0, &o);
}

/* The line numbers of the file's records (its non-blank lines, as jsonl.c skips blank ones); *n their count. */
static int *record_lines(const char *path, int *n) {
    FILE *f = xfopen(path, "rb");
    char *line = NULL;
    size_t cap = 0;
    int *lines = NULL, count = 0, at = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        at++;
        if ((size_t)len == strlen(line) && jsonl_text_is_blank(line)) continue;
        lines = xrealloc(lines, sizeof(int) * (size_t)(count + 1));
        lines[count++] = at;
    }
    free(line);
    fclose(f);
    *n = count;
    return lines;
}

/* Blanks line `line` of the file (spaces keep the other lines where they are). */
static void blank_line(const char *path, int line) {
    size_t len;
    char *data = read_file(path, &len);
    int at = 1;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n') at++;
        else if (at == line) data[i] = ' ';
    }
    atomic_write(path, data, len);
    free(data);
}

/* ---- the readers, as the stages call them (each dies on what it refuses) ---- */

static void read_text(const Check *c) {
    Tokenizer *t = check_tokenizer(c);
    IntVec ids = tokenize_inputs(&c->copy, 1, t);
    intvec_free(&ids);
    tokenizer_free(t);
}

static void read_sft(const Check *c) {
    Tokenizer *t = check_tokenizer(c);
    SftOptions o = {c->seq_len, 0};
    sft_data_free(sft_data_load(&c->copy, 1, t, &o));
    tokenizer_free(t);
}

static void read_dpo(const Check *c) {
    Tokenizer *t = check_tokenizer(c);
    PrefPairs p = pref_pairs_load(&c->copy, 1, t, c->seq_len);
    pref_pairs_free(&p);
    tokenizer_free(t);
}

static void read_rm(const Check *c) {
    Tokenizer *t = check_tokenizer(c);
    preference_set_free(preference_set_load(&c->copy, 1, t, c->seq_len, 0.0f));
    tokenizer_free(t);
}

/* A prompt too long for --seq-len is cut, not refused (fit_prompt): the
 * readers refuse only what is malformed. */
static void read_prompts(const Check *c) {
    int n;
    Conversation *p = load_prompts(c->copy, &n);
    for (int i = 0; i < n; i++) conversation_free(&p[i]);
    free(p);
}

static void read_tasks(const Check *c) {
    int n;
    TaskPrompt *tasks = load_task_prompts(c->copy, 1, &n);
    task_prompts_free(tasks, n);
}

typedef struct {
    const char *stage;
    void (*read)(const Check *);
} Reader;

/* The readers of a format, the strictest first. */
static int readers_of(Format f, Reader out[2]) {
    switch (f) {
    case FMT_TEXT: out[0] = (Reader){"pretrain", read_text}; return 1;
    case FMT_SFT: out[0] = (Reader){"sft", read_sft}; return 1;
    case FMT_PAIRS: out[0] = (Reader){"dpo", read_dpo}; out[1] = (Reader){"rm", read_rm}; return 2;
    case FMT_PREFIX_PAIRS: out[0] = (Reader){"dpo", read_dpo}; return 1;
    case FMT_RANKINGS: out[0] = (Reader){"rm", read_rm}; return 1;
    case FMT_PROMPTS: out[0] = (Reader){"prompts", read_prompts}; return 1;
    case FMT_TASKS: out[0] = (Reader){"prompts", read_tasks}; return 1;
    default: return 0;
    }
}

/* ---- the report, printed by a child on the accepted copy ---- */

static int cmp_int(const void *a, const void *b) { return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b); }

/* "p50 84, p90 150, p99 230, max 310" (nearest rank) */
static void print_lengths(const char *what, int *len, int n, const Check *c) {
    if (n == 0) return;
    qsort(len, (size_t)n, sizeof(int), cmp_int);
    const double q[3] = {0.5, 0.9, 0.99};
    printf("  %s per %s:", c->tokenizer_dir ? "tokens" : "bytes", what);
    for (int i = 0; i < 3; i++) {
        int k = (int)(q[i] * n + 0.999999) - 1;
        printf(" p%d %d,", (int)(q[i] * 100), len[LMF_MAX(k, 0)]);
    }
    printf(" max %d\n", len[n - 1]);
}

static int count_above(const int *len, int n, int limit) {
    int k = 0;
    for (int i = 0; i < n; i++) k += len[i] > limit;
    return k;
}

static int limited(const Check *c) { return c->seq_len != NO_LIMIT; }

static void report_text(const Check *c) {
    Tokenizer *t = check_tokenizer(c);
    IntVec ids = tokenize_inputs(&c->copy, 1, t);
    int eos = tokenizer_eos_id(t), *len = NULL, n = 0, run = 0;
    for (int i = 0; i < ids.len; i++) { /* each document ends with end-of-text */
        if (ids.data[i] != eos) {
            run++;
            continue;
        }
        len = xrealloc(len, sizeof(int) * (size_t)(n + 1));
        len[n++] = run;
        run = 0;
    }
    printf("  %d document%s, %d tokens with their end-of-text\n", n, n == 1 ? "" : "s", ids.len);
    print_lengths("document", len, n, c);
    if (limited(c))
        printf("  at --seq-len %d: %d of %d documents are longer and go on across windows (pretraining cuts "
               "nothing)\n", c->seq_len, count_above(len, n, c->seq_len), n);
    free(len);
    intvec_free(&ids);
    tokenizer_free(t);
}

static void report_sft(const Check *c) {
    Tokenizer *t = check_tokenizer(c);
    SftOptions whole = {NO_LIMIT, 0}, cut = {c->seq_len, 0};
    SftData *d = sft_data_load(&c->copy, 1, t, &whole);
    int *len = xmalloc(sizeof(int) * (size_t)d->n);
    for (int i = 0; i < d->n; i++) len[i] = d->items[i].len;
    printf("  %d records accepted\n", d->stats.n_records);
    print_lengths("example (prompt and answer in ChatML)", len, d->n, c);
    if (limited(c)) {
        SftData *s = sft_data_load(&c->copy, 1, t, &cut);
        printf("  at --seq-len %d: sft truncates %d of %d records (%d lose the end of an answer)\n", c->seq_len,
               s->stats.n_truncated, s->stats.n_records, s->stats.n_response_cut);
        sft_data_free(s);
    }
    free(len);
    sft_data_free(d);
    tokenizer_free(t);
}

static void report_pairs(const Check *c, int with_rm) {
    Tokenizer *t = check_tokenizer(c);
    PrefPairs p = pref_pairs_load(&c->copy, 1, t, NO_LIMIT);
    int n_records, *lines = record_lines(c->copy, &n_records);
    int *len = xmalloc(sizeof(int) * (size_t)LMF_MAX(p.n, 1));
    for (int i = 0; i < p.n; i++) len[i] = LMF_MAX(p.pairs[i].ids[CHOSEN].len, p.pairs[i].ids[REJECTED].len);
    printf("  %d records accepted: %d pairs, %d skipped (the same chosen and rejected answer)\n", n_records, p.n,
           n_records - p.n);
    print_lengths("pair (its longer sequence)", len, p.n, c);
    if (limited(c)) {
        PrefPairs cut = pref_pairs_load(&c->copy, 1, t, c->seq_len);
        printf("  at --seq-len %d: dpo truncates %d of %d records (%d lose the end of an answer)", c->seq_len,
               cut.lengths.truncated, cut.lengths.records, cut.lengths.answer_cut);
        pref_pairs_free(&cut);
        if (with_rm) {
            PreferenceSet *s = preference_set_load(&c->copy, 1, t, c->seq_len, 0.0f);
            printf("; rm truncates %d of %d responses (%d lose the end of an answer)", s->seqs.truncated, s->seqs.n,
                   s->seqs.answer_cut);
            preference_set_free(s);
        }
        printf("\n");
    }
    free(len);
    free(lines);
    pref_pairs_free(&p);
    tokenizer_free(t);
}

static void report_prefix_pairs(const Check *c) { report_pairs(c, 0); }
static void report_prompt_pairs(const Check *c) { report_pairs(c, 1); }

static void report_rankings(const Check *c) {
    Tokenizer *t = check_tokenizer(c);
    PreferenceSet *s = preference_set_load(&c->copy, 1, t, NO_LIMIT, 0.0f);
    int n_records, *lines = record_lines(c->copy, &n_records);
    printf("  %d records accepted: %d prompts, %d responses, %d pairs; %d identical pairs dropped, %d records skipped (no two "
           "responses ranked apart)\n",
           n_records, s->n_groups, s->seqs.n, s->n_pairs, s->identical_pairs, s->empty_records);
    print_lengths("response (with its prompt in ChatML)", s->seqs.len, s->seqs.n, c);
    if (limited(c)) {
        PreferenceSet *cut = preference_set_load(&c->copy, 1, t, c->seq_len, 0.0f);
        printf("  at --seq-len %d: rm truncates %d of %d responses (%d lose the end of an answer)\n", c->seq_len,
               cut->seqs.truncated, cut->seqs.n, cut->seqs.answer_cut);
        preference_set_free(cut);
    }
    free(lines);
    preference_set_free(s);
    tokenizer_free(t);
}

static void report_prompt_list(const Check *c, const Tokenizer *t, const Conversation *p, int n) {
    int *len = xmalloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) {
        IntVec ids = {0};
        render_prompt(t, &p[i], &ids);
        len[i] = ids.len;
        intvec_free(&ids);
    }
    printf("  %d prompts accepted\n", n);
    print_lengths("prompt (ChatML, with the assistant's generation prompt)", len, n, c);
    if (limited(c)) {
        /* fit_prompt's rule, with room for one answer token: ppo and grpo leave --max-new-tokens */
        int cut = 0;
        for (int i = 0; i < n; i++) cut += len[i] + 1 >= c->seq_len;
        qsort(len, (size_t)n, sizeof(int), cmp_int);
        if (cut)
            printf("  at --seq-len %d: %d of %d prompts leave no room for an answer: ppo and grpo cut them from the "
                   "start\n", c->seq_len, cut, n);
        else
            printf("  at --seq-len %d: every prompt leaves room for an answer of %d tokens or more\n", c->seq_len,
                   c->seq_len - len[n - 1]);
    }
    free(len);
}

static void report_prompts(const Check *c) {
    Tokenizer *t = check_tokenizer(c);
    int n;
    Conversation *p = load_prompts(c->copy, &n);
    report_prompt_list(c, t, p, n);
    for (int i = 0; i < n; i++) conversation_free(&p[i]);
    free(p);
    tokenizer_free(t);
}

static void report_tasks(const Check *c) {
    Tokenizer *t = check_tokenizer(c);
    int n;
    TaskPrompt *tasks = load_task_prompts(c->copy, 1, &n);
    Conversation *p = xmalloc(sizeof(Conversation) * (size_t)n);
    for (int i = 0; i < n; i++) p[i] = tasks[i].prompt;
    report_prompt_list(c, t, p, n);
    free(p);
    task_prompts_free(tasks, n);
    tokenizer_free(t);
}

static void (*const REPORT[])(const Check *) = {report_text,     report_sft,     report_prompt_pairs, report_prefix_pairs,
                                                report_rankings, report_prompts, report_tasks};

/* ---- one file ---- */

/* A message about the copy, about the original instead. */
static char *rename_copy(const char *msg, const Check *c) {
    const char *at = strstr(msg, c->copy);
    if (!at) return xstrdup(msg);
    return xsprintf("%.*s%s%s", (int)(at - msg), msg, c->original, at + strlen(c->copy));
}

/* Checks one file; returns the number of problems (refused records, or 1 for a file refused whole). */
static int check_file(Check *c, Format fmt) {
    printf("%s: %s\n", c->original, FORMAT_WHAT[fmt]);
    Reader readers[2];
    int n_readers = readers_of(fmt, readers);
    if (n_readers == 0) {
        printf("  refused: no record says which format it is (expected \"text\", \"messages\", \"prompt\" with "
               "\"completion\", \"chosen\"/\"rejected\", \"responses\"/\"ranking\" or \"answer\")\n");
        return 1;
    }
    int refused = 0, whole = 0, more = 0;
    char why[2048];
    for (int r = 0; r < n_readers && !whole && !more; r++)
        while (!run_child(readers[r].read, c, 0, why, sizeof why)) {
            /* "COPY:LINE: message": that record; anything else: the whole file */
            size_t n = strlen(c->copy);
            char *end;
            long line = strncmp(why, c->copy, n) == 0 && why[n] == ':' ? strtol(why + n + 1, &end, 10) : 0;
            char *msg = rename_copy(why, c);
            printf("  refused by %s: %s\n", readers[r].stage, msg);
            free(msg);
            if (line <= 0 || strncmp(end, ": ", 2) != 0) {
                whole = 1;
                break;
            }
            refused++;
            if (refused == MAX_LISTED) {
                printf("  (stopped after %d refused records; there may be more)\n", MAX_LISTED);
                more = 1;
                break;
            }
            blank_line(c->copy, (int)line);
        }
    if (!whole && !more && !run_child(REPORT[fmt], c, 1, why, sizeof why)) {
        char *msg = rename_copy(why, c);
        printf("  refused: %s\n", msg);
        free(msg);
        whole = 1;
    }
    if (refused && !whole) printf("  %d record%s refused (listed above)\n", refused, refused == 1 ? "" : "s");
    return refused + whole;
}

static int cmd_data_check(int argc, char **argv) {
    const char *tokenizer_dir = NULL, *format = "auto";
    int seq_len = 0, truncate_prompt = 0; /* the old dpo flag, accepted and ignored */
    Option opts[] = {
        OPT_STR("tokenizer", &tokenizer_dir, "the tokenizer the stages will use (a directory or tokenizer.json); "
                                             "without it, lengths are in bytes"),
        OPT_INT("seq-len", &seq_len, "the stages' --max-len / --seq-len, in tokens: what is cut, skipped or refused "
                                     "there (0: lengths only; needs --tokenizer)"),
        OPT_STR("format", &format, "auto (from the fields of the first record), text, sft, pairs, rankings, prompts "
                                   "or tasks"),
        OPT_FLAG("truncate-prompt", &truncate_prompt, "deprecated, no effect: every stage cuts prompts to fit --seq-len"),
        OPT_END};
    char **files;
    int n_files = args_parse("data check", "FILE...",
                             "What the training stages would make of data files, before any compute is spent: each "
                             "file's format, its records, their lengths in tokens (p50/p90/p99/max), and what would be "
                             "truncated, skipped or refused at --seq-len. Exits 1 if any record would be refused.",
                             opts, argc, argv, &files);
    if (n_files < 1) die("data check: expected one or more FILEs (see lmforge data check --help)");
    if (truncate_prompt) warn("data check: --truncate-prompt is deprecated and does nothing: long prompts are always cut");
    if (seq_len < 0 || seq_len == 1) die("data check: --seq-len must be 0 (lengths only) or at least 2");
    if (seq_len && !tokenizer_dir) die("data check: --seq-len counts tokens: give the --tokenizer too");
    Format forced = FMT_UNKNOWN;
    if (strcmp(format, "auto") != 0) {
        for (int f = 0; f < FMT_UNKNOWN; f++)
            if (strcmp(format, FORMAT_NAME[f]) == 0 && forced == FMT_UNKNOWN) forced = (Format)f;
        if (forced == FMT_UNKNOWN)
            die("data check: --format %s: expected auto, text, sft, pairs, rankings, prompts or tasks", format);
    }
    if (tokenizer_dir && !file_exists(tokenizer_dir) && !dir_exists(tokenizer_dir))
        die("data check: --tokenizer %s: no such file or directory", tokenizer_dir);

    for (int i = 0; i < n_files; i++)
        if (!file_exists(files[i]) || dir_exists(files[i])) die("data check: %s: no such file", files[i]);
    /* the copies, whose lines are blanked as their records are refused */
    const char *tmp_base = getenv("TMPDIR");
    char *tmp = xsprintf("%s/lmforge-data-check-XXXXXX", tmp_base && *tmp_base ? tmp_base : "/tmp");
    if (!mkdtemp(tmp)) die_errno("data check: cannot create a folder in %s", tmp);
    int problems = 0, bad_files = 0;
    for (int i = 0; i < n_files; i++) {
        const char *base = strrchr(files[i], '/') ? strrchr(files[i], '/') + 1 : files[i];
        char *copy = xsprintf("%s/%d-%s", tmp, i, base); /* the same extension: readers go by it */
        size_t len;
        char *data = read_file(files[i], &len);
        atomic_write(copy, data, len);
        free(data);
        Format fmt = forced;
        if (fmt == FMT_UNKNOWN) fmt = detect_format(files[i]);
        if (fmt == FMT_PAIRS && forced != FMT_UNKNOWN && detect_format(files[i]) == FMT_PREFIX_PAIRS)
            fmt = FMT_PREFIX_PAIRS;
        Check c = {copy, files[i], tokenizer_dir, seq_len ? seq_len : NO_LIMIT};
        int p = check_file(&c, fmt);
        problems += p;
        bad_files += p > 0;
        unlink(copy);
        free(copy);
    }
    rmdir(tmp);
    free(tmp);
    free(files);
    fflush(stdout);
    if (problems)
        die("data check: %d of %d file%s would be refused, in whole or in part (see above)", bad_files, n_files,
            n_files == 1 ? "" : "s");
    return 0;
}

int cmd_data(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "check") == 0) return cmd_data_check(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: lmforge data check FILE... [--tokenizer DIR] [--seq-len N]\n\n"
               "  check   what the training stages would make of data files (lmforge data check --help)\n");
        return 0;
    }
    die("data: expected `data check FILE...` (see lmforge data --help)");
}
