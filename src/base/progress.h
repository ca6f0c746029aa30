/* progress.h — one progress line for long work (training, sampling):
 *
 *   step 120/1000 | loss 3.2145 | lr 3.0e-04 | 25.3k tok/s | ETA 4m12s
 *
 * On a terminal the line is rewritten in place; in a log file (stdout not a
 * TTY) a full line is printed every `every_seconds` (and every `every_steps`
 * steps if set), plus the first and the last step, so logs stay readable.
 *
 *   Progress p;
 *   progress_init(&p, "step", start_step, total_steps);
 *   for (...) {
 *       progress_add_tokens(&p, tokens_this_step);
 *       progress_update(&p, step, "loss %.4f | lr %.1e", loss, lr);
 *   }
 *   progress_finish(&p);
 *
 * tok/s and the ETA are averages since progress_init, counting only the
 * steps done in this process (start_step > 0 for a resumed run). */
#ifndef LMF_PROGRESS_H
#define LMF_PROGRESS_H

#include <stdio.h>

typedef struct {
    const char *label;    /* the thing counted: "step", "sample" */
    long start_step, total_steps;
    FILE *out;            /* stdout */
    int tty;              /* rewrite the line in place (set from isatty) */
    double every_seconds; /* least time between two lines (or redraws on a TTY) */
    long every_steps;     /* not a TTY: also print each multiple of this; 0 = time only */
    double t_start, t_last_print;
    int printed_any;
    double tokens;        /* tokens processed since progress_init */
    int line_open;        /* a TTY line is showing, without its newline yet */
    char line[512];       /* the line of the last update */
    int line_shown;       /* ...and whether it was printed */
} Progress;

void progress_init(Progress *p, const char *label, long start_step, long total_steps);
void progress_add_tokens(Progress *p, double n_tokens);
/* step = steps completed (1..total). fmt, if not NULL, describes the values
 * shown after the count. */
void progress_update(Progress *p, long step, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prints a message on a line of its own (an eval result, a checkpoint saved)
 * without breaking the progress line on a terminal. */
void progress_note(Progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Shows the last step if it was throttled away, and ends the line. */
void progress_finish(Progress *p);

/* "42s", "4m12s", "1h03m" and "850", "25.3k", "1.5M" — used in the line. */
void progress_format_duration(double seconds, char *buf, size_t cap);
void progress_format_count(double n, char *buf, size_t cap);

#endif
