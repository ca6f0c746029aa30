/* util.c — see util.h. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int lmf_quiet = 0;
void (*lmf_on_die)(void) = NULL;

/* The temporary files of atomic writes not yet committed, removed when the
 * process dies so that a failed write leaves nothing behind. Each remembers
 * its process: a forked child that dies must not remove its parent's. */
#define MAX_PENDING 64
static struct {
    char *path;
    pid_t pid;
} pending[MAX_PENDING];

static void pending_add(char *path) {
    for (int i = 0; i < MAX_PENDING; i++)
        if (!pending[i].path) {
            pending[i].path = path;
            pending[i].pid = getpid();
            return;
        }
}

static void pending_remove(const char *path) {
    for (int i = 0; i < MAX_PENDING; i++)
        if (pending[i].path == path) pending[i].path = NULL;
}

static void remove_pending_files(void) {
    for (int i = 0; i < MAX_PENDING; i++)
        if (pending[i].path && pending[i].pid == getpid()) unlink(pending[i].path);
}

static void vreport(const char *prefix, const char *fmt, va_list ap, int with_errno, int err) {
    fflush(stdout);
    fprintf(stderr, "lmforge: %s", prefix);
    vfprintf(stderr, fmt, ap);
    if (with_errno) fprintf(stderr, ": %s", strerror(err));
    fputc('\n', stderr);
}

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport("", fmt, ap, 0, 0);
    va_end(ap);
    if (lmf_on_die) lmf_on_die();
    remove_pending_files();
    exit(1);
}

void vdie_at(const char *file, int line, const char *fmt, va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    die("%s:%d: %s", file, line, msg);
}

void die_at(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vdie_at(file, line, fmt, ap);
}

void die_errno(const char *fmt, ...) {
    int err = errno;
    va_list ap;
    va_start(ap, fmt);
    vreport("", fmt, ap, 1, err);
    va_end(ap);
    if (lmf_on_die) lmf_on_die();
    remove_pending_files();
    exit(1);
}

void warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport("warning: ", fmt, ap, 0, 0);
    va_end(ap);
}

void info(const char *fmt, ...) {
    if (lmf_quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory allocating %zu bytes", n);
    return p;
}

void *xcalloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) die("out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) die("out of memory reallocating %zu bytes", n);
    return q;
}

char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

char *xstrndup(const char *s, size_t n) {
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

float *xalloc_floats(size_t n) {
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p) die("out of memory allocating %zu floats (%.1f MB)", n, n * 4.0 / 1e6);
    memset(p, 0, bytes);
    return p;
}

char *xsprintf(const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return s;
}

FILE *xfopen(const char *path, const char *mode) {
    FILE *f = fopen(path, mode);
    if (!f) die_errno("cannot open %s", path);
    return f;
}

char *read_file(const char *path, size_t *len) {
    FILE *f = xfopen(path, "rb");
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = xrealloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) die_errno("cannot read %s", path);
    fclose(f);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int dir_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

void make_dirs(const char *path) {
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) die_errno("cannot create directory %s", p);
        *s = '/';
    }
    if (mkdir(p, 0755) != 0 && errno != EEXIST) die_errno("cannot create directory %s", p);
    if (!dir_exists(p)) die("%s exists and is not a directory", p);
    free(p);
}

char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir);
    if (n && dir[n - 1] == '/') return xsprintf("%s%s", dir, name);
    return xsprintf("%s/%s", dir, name);
}

int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

int same_trimmed_text(const char *a, const char *b) {
    while (isspace((unsigned char)*a)) a++;
    while (isspace((unsigned char)*b)) b++;
    size_t la = strlen(a), lb = strlen(b);
    while (la && isspace((unsigned char)a[la - 1])) la--;
    while (lb && isspace((unsigned char)b[lb - 1])) lb--;
    return la == lb && memcmp(a, b, la) == 0;
}

AtomicFile atomic_open(const char *path) {
    AtomicFile af;
    af.path = xstrdup(path);
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        /* a device, a pipe, /dev/stdout: written in place, since renaming a file over it would replace it */
        af.tmp_path = NULL;
        af.f = xfopen(path, "wb");
        return af;
    }
    af.tmp_path = xsprintf("%s.tmp", path);
    char *copy = xstrdup(path), *parent = dirname(copy);
    if (!dir_exists(parent)) make_dirs(parent);
    free(copy);
    af.f = xfopen(af.tmp_path, "wb");
    pending_add(af.tmp_path);
    return af;
}

static void fsync_parent_dir(const char *path) {
    char *copy = xstrdup(path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

void atomic_commit(AtomicFile *af) {
    if (!af->tmp_path) {
        if (fflush(af->f) != 0 || ferror(af->f)) die_errno("cannot write %s", af->path);
        if (fclose(af->f) != 0) die_errno("cannot close %s", af->path);
        free(af->path);
        af->f = NULL;
        return;
    }
    if (fflush(af->f) != 0 || ferror(af->f)) die_errno("cannot write %s", af->tmp_path);
    if (fsync(fileno(af->f)) != 0) die_errno("cannot fsync %s", af->tmp_path);
    if (fclose(af->f) != 0) die_errno("cannot close %s", af->tmp_path);
    if (rename(af->tmp_path, af->path) != 0) die_errno("cannot rename %s to %s", af->tmp_path, af->path);
    pending_remove(af->tmp_path);
    fsync_parent_dir(af->path);
    free(af->path);
    free(af->tmp_path);
    af->f = NULL;
}

void atomic_write(const char *path, const void *data, size_t len) {
    AtomicFile af = atomic_open(path);
    if (len && fwrite(data, 1, len, af.f) != len) die_errno("cannot write %s", af.tmp_path);
    atomic_commit(&af);
}

double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

size_t peak_rss_bytes(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (size_t)ru.ru_maxrss * 1024;
}
