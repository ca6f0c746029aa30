/* test.h — a tiny test framework.
 *
 *   TEST(rmsnorm_gradient) { ... CHECK(x > 0); CHECK_NEAR(a, b, 1e-5); }
 *
 * Every TEST in every tests/test_*.c file registers itself at start-up; the
 * runner (tests/runner.c) runs them all, or those whose name contains the
 * first argument, and ends with the line "N passed, N failed".
 * A test that needs something missing (python3-torch, npm) calls SKIP(why).
 * Tests marked TEST_SLOW are left out of the sanitizer build's run. */
#ifndef LMF_TEST_H
#define LMF_TEST_H

#include <math.h>
#include <stddef.h>
#include <stdio.h>

typedef void (*TestFn)(void);
void test_register(const char *name, TestFn fn, int slow);
void test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void test_skip(const char *why);
/* Non-zero once the running test has failed (CHECKs keep going after a failure). */
int test_failed(void);

#define TEST_WITH(name, slow)                                                                        \
    static void test_##name(void);                                                                   \
    __attribute__((constructor)) static void register_##name(void) { test_register(#name, test_##name, slow); } \
    static void test_##name(void)
#define TEST(name) TEST_WITH(name, 0)
#define TEST_SLOW(name) TEST_WITH(name, 1)

#define CHECK(cond)                                                   \
    do {                                                              \
        if (!(cond)) test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond); \
    } while (0)
#define CHECK_MSG(cond, ...)                                      \
    do {                                                          \
        if (!(cond)) test_fail(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)
#define CHECK_NEAR(a, b, tol)                                                                          \
    do {                                                                                               \
        double a_ = (double)(a), b_ = (double)(b);                                                     \
        if (!(fabs(a_ - b_) <= (tol)))                                                                 \
            test_fail(__FILE__, __LINE__, "%s = %.9g, %s = %.9g, differ by more than %g", #a, a_, #b, b_, \
                      (double)(tol));                                                                  \
    } while (0)
#define CHECK_EQ_INT(a, b)                                                                                 \
    do {                                                                                                   \
        long long a_ = (long long)(a), b_ = (long long)(b);                                                \
        if (a_ != b_) test_fail(__FILE__, __LINE__, "%s = %lld, expected %s = %lld", #a, a_, #b, b_);     \
    } while (0)
#define SKIP(why)         \
    do {                  \
        test_skip(why);   \
        return;           \
    } while (0)

/* Helpers shared by tests. */
/* Relative error of two float arrays: max|a-b| / max(max|b|, tiny). */
double rel_error(const float *a, const float *b, size_t n);
/* A fresh empty directory under $TMPDIR (or /tmp); caller frees the string. */
char *test_tmpdir(const char *tag);
/* Runs a shell command; returns its exit status (-1 if it could not run). */
int test_system(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* 1 if /usr/bin/python3 can import torch. */
int have_torch(void);
/* Path of the lmforge binary under test (build/lmforge unless LMFORGE is set). */
const char *lmforge_bin(void);


/* Runs fn(ctx) in a forked child and checks that it ended through die():
 * exit status 1 and a stderr message "lmforge: ..." containing `expected`
 * (NULL: any message). A crash, a sanitizer report or a normal return fails
 * the check. Returns 1 when it died as expected. */
int test_expect_death(void (*fn)(void *ctx), void *ctx, const char *expected, const char *file, int line);
#define CHECK_DIES(fn, ctx, expected) test_expect_death((fn), (ctx), (expected), __FILE__, __LINE__)
/* Writes len bytes to path (not atomically: tests build corrupt files). */
void write_bytes(const char *path, const void *data, size_t len);

#endif
