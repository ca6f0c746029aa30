/* run_dir.c — see run_dir.h. */
#include "run_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "../base/util.h"

void remove_tree(const char *path) {
    if (strchr(path, '\'')) die("cannot remove %s: the path holds a quote", path);
    char *cmd = xsprintf("rm -rf '%s'", path);
    if (system(cmd) != 0) die("cannot remove %s", path);
    free(cmd);
}

void run_dir_lock(const char *run_dir, const char *command) {
    char *path = path_join(run_dir, ".lock");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) die_errno("%s: cannot open %s", command, path);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) die_errno("%s: cannot lock %s", command, path);
        char holder[32] = {0};
        ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
        long pid = n > 0 ? strtol(holder, NULL, 10) : 0;
        if (pid > 0) die("%s: %s is in use by another lmforge run (PID %ld); wait for it, or choose another --out", command, run_dir, pid);
        die("%s: %s is in use by another process (it holds %s); wait for it, or choose another --out", command, run_dir, path);
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) die_errno("%s: cannot write %s", command, path);
    free(path); /* fd stays open: the lock lasts as long as the process */
}

static char interrupt_message[4096];

static void on_interrupt(int sig) {
    /* only async-signal-safe calls here: write, signal, raise */
    ssize_t ignored = write(STDERR_FILENO, interrupt_message, strlen(interrupt_message));
    (void)ignored;
    signal(sig, SIG_DFL);
    raise(sig);
}

void run_dir_hint_resume_on_interrupt(const char *run_dir) {
    snprintf(interrupt_message, sizeof interrupt_message,
             "\nlmforge: interrupted; run the same command with --resume to continue from the last checkpoint in %s\n",
             run_dir);
    signal(SIGINT, on_interrupt);
}

long newest_checkpoint(const char *run_dir, const char *marker) {
    DIR *d = opendir(run_dir);
    if (!d) return -1;
    long best = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        long step;
        char rest;
        if (sscanf(e->d_name, "checkpoint-%ld%c", &step, &rest) != 1) continue; /* skips checkpoint-N.tmp */
        char *state = xsprintf("%s/%s/%s", run_dir, e->d_name, marker);
        if (file_exists(state) && step > best) best = step;
        free(state);
    }
    closedir(d);
    return best;
}

char *checkpoint_begin(const char *run_dir, long step) {
    char *tmp = xsprintf("%s/checkpoint-%ld.tmp", run_dir, step);
    remove_tree(tmp);
    make_dirs(tmp);
    return tmp;
}

/* Removes checkpoints beyond the newest `keep`, and unfinished .tmp ones. */
static void prune(const char *run_dir, int keep) {
    DIR *d = opendir(run_dir);
    if (!d) return;
    long steps[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long step;
        char rest;
        int fields = sscanf(e->d_name, "checkpoint-%ld%c", &step, &rest);
        if (fields == 2 && ends_with(e->d_name, ".tmp")) {
            char *p = path_join(run_dir, e->d_name);
            remove_tree(p);
            free(p);
        } else if (fields == 1 && n < 4096) {
            steps[n++] = step;
        }
    }
    closedir(d);
    for (int i = 0; i < n; i++) {
        int newer = 0;
        for (int j = 0; j < n; j++) newer += steps[j] > steps[i];
        if (newer < keep) continue;
        char *p = xsprintf("%s/checkpoint-%ld", run_dir, steps[i]);
        remove_tree(p);
        free(p);
    }
}

void checkpoint_commit(const char *run_dir, long step, int keep) {
    char *tmp = xsprintf("%s/checkpoint-%ld.tmp", run_dir, step);
    char *final = xsprintf("%s/checkpoint-%ld", run_dir, step);
    remove_tree(final);
    if (rename(tmp, final) != 0) die_errno("cannot rename %s to %s", tmp, final);
    prune(run_dir, keep < 1 ? 1 : keep);
    free(tmp);
    free(final);
}
