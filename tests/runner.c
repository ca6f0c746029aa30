/* runner.c — runs every registered test; see test.h. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../src/base/util.h"
#include "../src/kernels/kernels.h"
#include "test.h"

typedef struct {
    const char *name;
    TestFn fn;
    int slow;
} TestCase;

static TestCase tests[1024];
static int n_tests;
static int current_failed, current_skipped;

void test_register(const char *name, TestFn fn, int slow) {
    if (n_tests == (int)LMF_ARRAY_LEN(tests)) die("too many tests");
    tests[n_tests++] = (TestCase){name, fn, slow};
}

void test_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "    %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    current_failed++;
}

int test_failed(void) { return current_failed > 0; }

void test_skip(const char *why) {
    printf("  skip: %s\n", why);
    current_skipped = 1;
}

double rel_error(const float *a, const float *b, size_t n) {
    double maxdiff = 0, maxref = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > maxdiff || d != d) maxdiff = d != d ? INFINITY : d;
        if (fabs((double)b[i]) > maxref) maxref = fabs((double)b[i]);
    }
    return maxdiff / maxref;
}

char *test_tmpdir(const char *tag) {
    const char *base = getenv("TMPDIR");
    char *tmpl = xsprintf("%s/lmforge-test-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    if (!mkdtemp(tmpl)) die_errno("mkdtemp %s", tmpl);
    return tmpl;
}

int test_system(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char cmd[8192];
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    fflush(stdout);
    fflush(stderr);
    int rc = system(cmd);
    if (rc == -1) return -1;
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

int have_torch(void) {
    static int cached = -1;
    if (cached < 0) cached = test_system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
    return cached;
}

const char *lmforge_bin(void) {
    const char *b = getenv("LMFORGE");
    return b && *b ? b : "build/lmforge";
}

int main(int argc, char **argv) {
    blas_prefer_fast_kernels(argv); /* the kernels build/lmforge runs with too: results compared bit for bit */
    const char *filter = argc > 1 ? argv[1] : NULL;
    int skip_slow = getenv("LMF_TEST_FAST") != NULL;
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < n_tests; i++) {
        if (filter && !strstr(tests[i].name, filter)) continue;
        if (skip_slow && tests[i].slow) continue;
        current_failed = current_skipped = 0;
        double t = now_seconds();
        printf("%s\n", tests[i].name);
        fflush(stdout);
        tests[i].fn();
        t = now_seconds() - t;
        if (current_failed) {
            printf("  FAILED (%.2fs)\n", t);
            failed++;
        } else if (current_skipped) {
            skipped++;
        } else {
            printf("  ok (%.2fs)\n", t);
            passed++;
        }
        fflush(stdout);
    }
    if (skipped) printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    else printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

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

int test_expect_death(void (*fn)(void *ctx), void *ctx, const char *expected, const char *file, int line) {
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) die_errno("pipe");
    fflush(NULL); /* or the child would print our buffered output again */
    pid_t pid = fork();
    if (pid < 0) die_errno("fork");
    if (pid == 0) {
        close(pipe_fds[0]);
        dup2(pipe_fds[1], STDERR_FILENO);
        fn(ctx);
        _exit(0);
    }
    close(pipe_fds[1]);
    char *err = read_all(pipe_fds[0]);
    close(pipe_fds[0]);
    int status;
    waitpid(pid, &status, 0);
    int exited_1 = WIFEXITED(status) && WEXITSTATUS(status) == 1;
    int ok = exited_1 && strncmp(err, "lmforge: ", 9) == 0 && (!expected || strstr(err, expected));
    if (!ok) {
        if (WIFSIGNALED(status))
            test_fail(file, line, "expected die(\"...%s...\"), child killed by signal %d", expected ? expected : "",
                      WTERMSIG(status));
        else
            test_fail(file, line, "expected die(\"...%s...\"), child exited with %d, stderr: %s",
                      expected ? expected : "", WIFEXITED(status) ? WEXITSTATUS(status) : -1, err);
    }
    free(err);
    return ok;
}

void write_bytes(const char *path, const void *data, size_t len) {
    FILE *f = xfopen(path, "wb");
    if (len && fwrite(data, 1, len, f) != len) die_errno("cannot write %s", path);
    fclose(f);
}
