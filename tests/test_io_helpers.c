/* test_io_helpers.c — see test_io_helpers.h. */
#include "test_io_helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/base/util.h"
#include "test.h"

/* Reads everything from fd until EOF into a NUL-terminated buffer. */
static char *read_all(int fd) {
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = xrealloc(buf, cap *= 2);
        ssize_t got = read(fd, buf + n, cap - n - 1);
        if (got <= 0) break;
        n += (size_t)got;
    }
    buf[n] = 0;
    return buf;
}

void check_dies(const char *file, int line, DyingFn fn, void *arg, const char *expected) {
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) die_errno("pipe");
    fflush(NULL); /* or the child would print our buffered output again */
    pid_t pid = fork();
    if (pid < 0) die_errno("fork");
    if (pid == 0) {
        close(pipe_fds[0]);
        dup2(pipe_fds[1], STDERR_FILENO);
        fn(arg);
        _exit(0);
    }
    close(pipe_fds[1]);
    char *err = read_all(pipe_fds[0]);
    close(pipe_fds[0]);
    int status;
    waitpid(pid, &status, 0);
    int exited_1 = WIFEXITED(status) && WEXITSTATUS(status) == 1;
    if (!exited_1 || strncmp(err, "lmforge: ", 9) != 0 || !strstr(err, expected)) {
        if (WIFSIGNALED(status)) test_fail(file, line, "expected die(\"...%s...\"), child killed by signal %d", expected, WTERMSIG(status));
        else test_fail(file, line, "expected die(\"...%s...\"), child exited with %d, stderr: %s", expected,
                       WIFEXITED(status) ? WEXITSTATUS(status) : -1, err);
    }
    free(err);
}

void write_bytes(const char *path, const void *data, size_t len) {
    FILE *f = xfopen(path, "wb");
    if (len && fwrite(data, 1, len, f) != len) die_errno("cannot write %s", path);
    fclose(f);
}
