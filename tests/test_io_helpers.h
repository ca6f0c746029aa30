/* test_io_helpers.h — helpers shared by the I/O tests (tests/test_io_*.c).
 *
 * CHECK_DIES(fn, arg, "text") runs fn(arg) in a forked child and checks that
 * it ended through die(): exit status 1 and a stderr line "lmforge: ..."
 * containing "text". A crash, a sanitizer report or a normal return fails
 * the check. This is how the tests observe lmforge's error messages for bad
 * input without ending the test process. */
#ifndef LMF_TEST_IO_HELPERS_H
#define LMF_TEST_IO_HELPERS_H

#include <stddef.h>

typedef void (*DyingFn)(void *arg);
void check_dies(const char *file, int line, DyingFn fn, void *arg, const char *expected);
#define CHECK_DIES(fn, arg, expected) check_dies(__FILE__, __LINE__, (fn), (arg), (expected))

/* Writes len bytes to path (not atomically: tests build corrupt files). */
void write_bytes(const char *path, const void *data, size_t len);

#endif
