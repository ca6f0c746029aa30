/* child_process.c — see child_process.h.
 *
 * Replies are read with read(2) into our own buffer, after poll(2) says
 * there is something to read, so that a program that never answers costs
 * at most the timeout; stdio's getline could block forever. */
#include "child_process.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../base/jsonl.h"
#include "../base/util.h"

struct ChildProcess {
    char *name;       /* "annotator 'CMD'" */
    pid_t pid;
    FILE *to;         /* its stdin */
    int from;         /* its stdout */
    char *buf;        /* bytes read past the last reply */
    size_t len, cap;
    long asked;
};

ChildProcess *child_start(const char *what, const char *command) {
    int in[2], out[2]; /* in: we write, it reads; out: it writes, we read */
    if (pipe(in) != 0 || pipe(out) != 0) die_errno("%s: pipe", what);
    /* a dead child must be an error message, not a SIGPIPE */
    signal(SIGPIPE, SIG_IGN);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) die_errno("%s: fork", what);
    if (pid == 0) {
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        signal(SIGPIPE, SIG_DFL);
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    ChildProcess *c = xcalloc(1, sizeof(ChildProcess));
    c->name = xsprintf("%s '%s'", what, command);
    c->pid = pid;
    c->to = fdopen(in[1], "w");
    c->from = out[0];
    if (!c->to) die_errno("%s: fdopen", what);
    return c;
}

long child_requests(const ChildProcess *c) { return c->asked; }
const char *child_name(const ChildProcess *c) { return c->name; }

static double monotonic_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* How the child ended, if it has: "exit status 3", "signal 9"; else NULL. */
static char *exit_reason(ChildProcess *c) {
    int status;
    if (c->pid <= 0 || waitpid(c->pid, &status, WNOHANG) != c->pid) return NULL;
    c->pid = 0;
    return WIFEXITED(status) ? xsprintf("exit status %d", WEXITSTATUS(status))
                             : xsprintf("signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static char *exited_error(ChildProcess *c) {
    char *why = NULL;
    for (int i = 0; i < 50 && !why; i++) { /* it has closed its output; give it a moment to exit */
        why = exit_reason(c);
        if (!why) usleep(2000);
    }
    char *msg = xsprintf("%s exited without answering request %ld%s%s%s", c->name, c->asked, why ? " (" : "",
                         why ? why : "", why ? ")" : "");
    free(why);
    return msg;
}

char *child_ask(ChildProcess *c, const cJSON *req, double timeout_seconds, char **error) {
    *error = NULL;
    c->asked++;
    /* jsonl_print: texts may end inside a character, and the child reads valid UTF-8 only.
     * A write to a child that has exited fails (EPIPE), and so does the read. */
    jsonl_print(c->to, req);
    if (ferror(c->to) || fflush(c->to) != 0) {
        *error = exited_error(c);
        return NULL;
    }
    double deadline = monotonic_seconds() + timeout_seconds;
    for (;;) {
        char *newline = c->len ? memchr(c->buf, '\n', c->len) : NULL;
        if (newline) {
            size_t n = (size_t)(newline - c->buf);
            char *reply = xmalloc(n + 1);
            memcpy(reply, c->buf, n);
            reply[n] = 0;
            c->len -= n + 1;
            memmove(c->buf, newline + 1, c->len);
            return reply;
        }
        int wait_ms = -1;
        if (timeout_seconds > 0) {
            double left = deadline - monotonic_seconds();
            if (left <= 0) {
                *error = xsprintf("%s did not answer request %ld within %g s; it was stopped", c->name, c->asked,
                                  timeout_seconds);
                child_kill(c);
                return NULL;
            }
            wait_ms = (int)(left * 1000) + 1;
        }
        struct pollfd p = {c->from, POLLIN, 0};
        int ready = poll(&p, 1, wait_ms);
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) die_errno("%s: poll", c->name);
        if (ready == 0) continue; /* the deadline check above reports it */
        if (c->cap - c->len < 4096) c->buf = xrealloc(c->buf, c->cap = 2 * c->cap + 4096);
        ssize_t got = read(c->from, c->buf + c->len, c->cap - c->len);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            *error = exited_error(c);
            return NULL;
        }
        c->len += (size_t)got;
    }
}

static void child_free(ChildProcess *c) {
    if (c->to) fclose(c->to);
    if (c->from >= 0) close(c->from);
    free(c->buf);
    free(c->name);
    free(c);
}

char *child_stop(ChildProcess *c) {
    fclose(c->to);
    c->to = NULL;
    char *error = NULL;
    if (c->pid > 0) {
        int status;
        while (waitpid(c->pid, &status, 0) < 0)
            if (errno != EINTR) die_errno("%s: waitpid", c->name);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            error = xsprintf("%s failed (%s %d)", c->name, WIFEXITED(status) ? "exit status" : "signal",
                             WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    }
    child_free(c);
    return error;
}

void child_kill(ChildProcess *c) {
    if (c->pid > 0) {
        kill(c->pid, SIGKILL);
        while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR) {
        }
        c->pid = 0;
    }
}
