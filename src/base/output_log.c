/* output_log.c — see output_log.h. */
#include "output_log.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "util.h"

static int saved_stdout = -1, saved_stderr = -1;
static char *death_note;
static void (*outer_on_die)(void);

static void restore(void) {
    fflush(stdout);
    fflush(stderr);
    dup2(saved_stdout, STDOUT_FILENO);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stdout);
    close(saved_stderr);
    saved_stdout = saved_stderr = -1;
}

/* die() has written its message to the log: the terminal gets the note */
static void on_die(void) {
    restore();
    fprintf(stderr, "lmforge: %s\n", death_note);
    if (outer_on_die) outer_on_die();
}

void output_log_begin(const char *path, const char *on_death) {
    if (saved_stdout >= 0) die("output_log_begin: output already goes to a log");
    fflush(stdout);
    fflush(stderr);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) die_errno("cannot write %s", path);
    saved_stdout = dup(STDOUT_FILENO);
    saved_stderr = dup(STDERR_FILENO);
    if (saved_stdout < 0 || saved_stderr < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
        die_errno("cannot send the output to %s", path);
    close(fd);
    death_note = xstrdup(on_death);
    outer_on_die = lmf_on_die;
    lmf_on_die = on_die;
}

void output_log_end(void) {
    lmf_on_die = outer_on_die;
    restore();
    free(death_note);
    death_note = NULL;
}
