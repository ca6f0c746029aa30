/* progress.c — see progress.h. */
#include "progress.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* A terminal redraw costs little, but more than ~10 a second is flicker. */
#define TTY_REDRAW_SECONDS 0.1
#define LOG_LINE_SECONDS 10.0

void progress_init(Progress *p, const char *label, long start_step, long total_steps) {
    memset(p, 0, sizeof *p);
    p->label = label;
    p->start_step = start_step;
    p->total_steps = total_steps;
    p->out = stdout;
    p->tty = isatty(fileno(stdout));
    p->every_seconds = p->tty ? TTY_REDRAW_SECONDS : LOG_LINE_SECONDS;
    p->t_start = now_seconds();
}

void progress_add_tokens(Progress *p, double n_tokens) { p->tokens += n_tokens; }

void progress_format_duration(double seconds, char *buf, size_t cap) {
    if (!isfinite(seconds) || seconds < 0) snprintf(buf, cap, "?");
    else if (seconds < 60) snprintf(buf, cap, "%.0fs", seconds);
    else if (seconds < 3600) snprintf(buf, cap, "%dm%02ds", (int)seconds / 60, (int)seconds % 60);
    else if (seconds < 100 * 3600) snprintf(buf, cap, "%dh%02dm", (int)(seconds / 3600), (int)seconds % 3600 / 60);
    else snprintf(buf, cap, "%.0fh", seconds / 3600);
}

void progress_format_count(double n, char *buf, size_t cap) {
    if (n < 1e3) snprintf(buf, cap, "%.0f", n);
    else if (n < 1e6) snprintf(buf, cap, "%.1fk", n / 1e3);
    else if (n < 1e9) snprintf(buf, cap, "%.1fM", n / 1e6);
    else snprintf(buf, cap, "%.1fG", n / 1e9);
}

/* Prints p->line: over the previous one on a terminal, as a new line otherwise. */
static void show_line(Progress *p) {
    if (p->tty) {
        fprintf(p->out, "\r%s\033[K", p->line); /* \033[K clears what a longer line left */
        p->line_open = 1;
    } else {
        fprintf(p->out, "%s\n", p->line);
    }
    fflush(p->out);
    p->t_last_print = now_seconds();
    p->printed_any = 1;
    p->line_shown = 1;
}

static int due(const Progress *p, long step) {
    if (!p->printed_any || step >= p->total_steps) return 1;
    if (!p->tty && p->every_steps > 0 && step % p->every_steps == 0) return 1;
    return now_seconds() - p->t_last_print >= p->every_seconds;
}

/* Every update builds its line, shown or not, so that progress_finish can
 * show the last state of a loop that stopped between two printed lines. */
void progress_update(Progress *p, long step, const char *fmt, ...) {
    size_t cap = sizeof p->line, len = (size_t)snprintf(p->line, cap, "%s %ld/%ld", p->label, step, p->total_steps);
    if (fmt && len < cap) {
        len += (size_t)snprintf(p->line + len, cap - len, " | ");
        va_list ap;
        va_start(ap, fmt);
        if (len < cap) len += (size_t)vsnprintf(p->line + len, cap - len, fmt, ap);
        va_end(ap);
    }
    double elapsed = now_seconds() - p->t_start;
    char text[32];
    if (p->tokens > 0 && elapsed > 0 && len < cap) {
        progress_format_count(p->tokens / elapsed, text, sizeof text);
        len += (size_t)snprintf(p->line + len, cap - len, " | %s tok/s", text);
    }
    long done = step - p->start_step;
    if (step >= p->total_steps && len < cap) {
        progress_format_duration(elapsed, text, sizeof text);
        snprintf(p->line + len, cap - len, " | took %s", text);
    } else if (done > 0 && len < cap) {
        progress_format_duration(elapsed / (double)done * (double)(p->total_steps - step), text, sizeof text);
        snprintf(p->line + len, cap - len, " | ETA %s", text);
    }
    p->line_shown = 0;
    if (due(p, step)) show_line(p);
}

void progress_note(Progress *p, const char *fmt, ...) {
    if (p->line_open) fputs("\r\033[K", p->out);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->out, fmt, ap);
    va_end(ap);
    fputc('\n', p->out);
    if (p->line_open) fputs(p->line, p->out);
    fflush(p->out);
}

void progress_finish(Progress *p) {
    if (p->line[0] && !p->line_shown) show_line(p);
    if (p->line_open) fputc('\n', p->out);
    p->line_open = 0;
    fflush(p->out);
}
