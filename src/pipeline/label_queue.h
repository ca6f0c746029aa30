/* label_queue.h — the work of `lmforge label`: which prompt each person
 * ranks next, and the rankings written to the output file.
 *
 *   LabelQueue *q = label_queue_open("samples.jsonl", "rankings.jsonl", &opts);
 *   int i = label_queue_next(q, "ann", now_seconds());   // -1: nothing left for ann
 *   ... the person ranks label_queue_item(q, i) ...
 *   label_queue_record(q, i, "ann", ranking, 0, now_seconds(), err, sizeof err);
 *
 * A prompt is a line of SAMPLES ({"prompt","responses"}, as `lmforge sample`
 * writes it), with its distinct non-empty answers in the order sampled (rm
 * refuses an empty answer and cannot prefer a text to itself); a line left
 * with fewer than two is not shown. Each prompt wants one ranking, or two
 * from two different people for the share `overlap` of the prompts (chosen
 * by `seed`), which is what inter-labeler agreement is measured on.
 *
 * No two people hold the same prompt at once: a prompt is handed to one
 * person, who keeps getting it back (a reloaded page) until they rank or
 * skip it, or until `lease` seconds pass without a ranking (a closed tab),
 * when it goes back to the pool.
 *
 * Each ranking is appended to OUT as one complete line, written with one
 * write(2) and fsync'ed before label_queue_record returns, in the format
 * `lmforge rm` reads: {"prompt","responses","ranking","labeler","seconds"}.
 * Opening the queue again reads OUT and carries on: prompts with their
 * rankings are not handed out again.
 *
 * A stream (`lmforge label --from-stdin`) starts with no SAMPLES and no
 * prompts: a program adds them one at a time (label_queue_add) and waits
 * for each ranking (LabelItem.ranking). OUT is then optional, and the
 * prompts ranked in it are answered from it when asked again (a resumed
 * run asking the same). Not thread-safe: the caller locks. */
#ifndef LMF_LABEL_QUEUE_H
#define LMF_LABEL_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

typedef struct {
    double overlap; /* share of the prompts ranked by two people, 0..1 */
    uint64_t seed;  /* which prompts those are, and the order answers are shown in */
    double lease;   /* seconds a person holds a prompt without ranking it */
    int stream;     /* prompts come from label_queue_add; a skipped one comes back when nothing else is left */
} LabelQueueOptions;

typedef struct {
    cJSON *prompt;          /* a string or a list of messages */
    cJSON *responses;       /* an array of the distinct non-empty answers */
    int k;                  /* their count, >= 2 */
    char *key;              /* prompt and responses as compact JSON: a ranking's identity in OUT */
    uint64_t check;         /* a hash of key: the page sends it back, so a ranking lands on the prompt it was shown */
    int need;               /* rankings wanted: 1, or 2 for an overlap prompt */
    int n_ranked;           /* rankings in OUT, from the people in ranked_by */
    int *ranked_by;         /* labeler ids */
    int *skipped_by, n_skipped;
    cJSON *ranking;         /* the first ranking written (in OUT, or now), or NULL */
    int held_by;            /* the labeler id holding it, or -1 */
    double held_since;
} LabelItem;

typedef struct LabelQueue LabelQueue;

/* Reads SAMPLES and, if it exists, OUT (dies naming the file and line on a
 * bad one). A last line of OUT cut short by a crash is removed first.
 * SAMPLES NULL: no prompts yet (a stream); OUT NULL: rankings are kept in
 * memory only. */
LabelQueue *label_queue_open(const char *samples, const char *out, const LabelQueueOptions *o);

/* Adds a prompt (a string or messages) with its answers (a list of strings;
 * the caller has checked both) and returns its index, or the index it
 * already has; -1 when it has fewer than two distinct non-empty answers. */
int label_queue_add(LabelQueue *q, const cJSON *prompt, const cJSON *responses);
void label_queue_close(LabelQueue *q);

int label_queue_size(const LabelQueue *q);
const LabelItem *label_queue_item(const LabelQueue *q, int i);

/* 1 if name is acceptable as a labeler: 1 to 64 letters, digits or "_.-@". */
int label_name_ok(const char *name);

/* The prompt `labeler` should rank now: the one they hold, else the first
 * that wants a ranking, is held by no one, and that they have neither ranked
 * nor skipped; it is then theirs. -1 when there is none. */
int label_queue_next(LabelQueue *q, const char *labeler, double now);

/* Writes `labeler`'s ranking of prompt i (indices into its responses, best
 * first, a list for tied ones; or all_bad: every answer tied, marked
 * "all_bad": true) and releases the prompt. Returns 0, or an HTTP status
 * with a reason in err: 400 a ranking that is not a permutation, 409 already
 * ranked by this person, 500 the file could not be written (nothing is then
 * counted, and the line is not left half-written). */
int label_queue_record(LabelQueue *q, int i, const char *labeler, const cJSON *ranking, int all_bad, double now,
                       char *err, size_t err_len);

/* `labeler` passes on prompt i: someone else gets it. */
void label_queue_skip(LabelQueue *q, int i, const char *labeler);

/* The order to show prompt i's answers to `labeler` in: a permutation of
 * 0..k-1, the same every time they load it. */
void label_queue_order(const LabelQueue *q, int i, const char *labeler, int *order);

typedef struct {
    int prompts;     /* prompts to rank */
    long wanted;     /* rankings wanted in all (the overlap ones count twice) */
    long done;       /* of those, written */
    long mine;       /* rankings written by the labeler asked about */
    int left_out;    /* sample lines without two distinct non-empty answers */
} LabelProgress;
LabelProgress label_queue_progress(const LabelQueue *q, const char *labeler);

#endif
