/* util.h — the small things every file needs: dying with a clear message,
 * allocation that cannot return NULL, files, timing.
 *
 * lmforge's error policy: bad input from a user is reported with die() and a
 * message naming the file, line and field; the process exits with status 1.
 * Nothing is silently repaired. */
#ifndef LMF_UTIL_H
#define LMF_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>

#define LMF_MIN(a, b) ((a) < (b) ? (a) : (b))
#define LMF_MAX(a, b) ((a) > (b) ? (a) : (b))
#define LMF_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Prints "lmforge: <message>" on stderr and exits with status 1. */
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* die("FILE:LINE: message"): bad input at a line of a file. */
_Noreturn void die_at(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
_Noreturn void vdie_at(const char *file, int line, const char *fmt, va_list ap);
/* Like die(), with ": <strerror(errno)>" appended. */
_Noreturn void die_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* When set, die() calls it after printing its message, instead of exiting:
 * under MPI it stops every rank of the job (dist.h). */
extern void (*lmf_on_die)(void);

/* Quiet mode silences info() (progress lines are separate). */
extern int lmf_quiet;
void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* They never return NULL (they die instead): saying so keeps gcc's fortified
 * string checks from warning about NULL destinations at low optimisation. */
#define LMF_NONNULL_RESULT __attribute__((returns_nonnull))
void *xmalloc(size_t n) LMF_NONNULL_RESULT;
void *xcalloc(size_t count, size_t size) LMF_NONNULL_RESULT;
void *xrealloc(void *p, size_t n) LMF_NONNULL_RESULT;
char *xstrdup(const char *s) LMF_NONNULL_RESULT;
char *xstrndup(const char *s, size_t n);
/* 64-byte aligned, zeroed; free with free(). For tensors (AVX-512 lines). */
float *xalloc_floats(size_t n) LMF_NONNULL_RESULT;
char *xsprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2), nonnull(1))) LMF_NONNULL_RESULT;

FILE *xfopen(const char *path, const char *mode);
/* Reads a whole file; dies naming the file if it cannot. *len may be NULL.
 * The buffer is NUL-terminated (one byte beyond *len). */
char *read_file(const char *path, size_t *len);
int file_exists(const char *path);
int dir_exists(const char *path);
/* mkdir -p; dies on failure. */
void make_dirs(const char *path);
/* Joins two path parts with one '/'. Caller frees. */
char *path_join(const char *dir, const char *name);
int ends_with(const char *s, const char *suffix);
/* Whether a and b are the same text once white space is trimmed from both ends (an answer against its reference). */
int same_trimmed_text(const char *a, const char *b);

/* Atomic file write: data goes to PATH.tmp, is fsync'ed, then renamed over
 * PATH, and the directory is fsync'ed. A crash leaves the old PATH intact;
 * a write error dies naming the file, and die() removes the PATH.tmp files
 * not yet committed. Missing folders on the way to PATH are created. A PATH
 * that exists and is not a regular file (/dev/stdout, a pipe) is written in
 * place, with every write checked (tmp_path is then NULL). */
typedef struct {
    FILE *f;
    char *path, *tmp_path;
} AtomicFile;
AtomicFile atomic_open(const char *path);
void atomic_commit(AtomicFile *af);
void atomic_write(const char *path, const void *data, size_t len);

/* Monotonic wall-clock seconds. */
double now_seconds(void);

/* Peak resident set size of this process in bytes (from getrusage). */
size_t peak_rss_bytes(void);

#endif
