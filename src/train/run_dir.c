/* run_dir.c — see run_dir.h. */
#include "run_dir.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../base/args.h"
#include "../base/util.h"

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st, (void)type, (void)ftw;
    if (remove(path) != 0) die_errno("cannot remove %s", path);
    return 0;
}

/* In-process, not system("rm -rf"): system() ignores SIGINT while its child
 * runs, and a run rotates its checkpoints often enough that Ctrl-C was lost. */
void remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return; /* nothing there */
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) die_errno("cannot remove %s", path);
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
        if (pid > 0)
            die("%s: %s is in use by another lmforge run (PID %ld); wait for it, or choose another --out", command,
                run_dir, pid);
        die("%s: %s is in use by another process (it holds %s); wait for it, or choose another --out", command,
            run_dir, path);
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
        die_errno("%s: cannot write %s", command, path);
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

/* Settings that do not change what a run computes. The annotator may change
 * because a resumed PPO run redoes the refresh its broken annotator failed;
 * --grad-accum and --zero because a run may resume on another number of MPI
 * ranks (the trainer checks that the global batch stays the same). */
static const char *const HARMLESS_SETTINGS[] = {
    "out",           "resume",       "resume-override", "threads",    "save-every", "keep", "eval-every",
    "eval-at-start", "eval-prompts", "annotator",       "grad-accum", "zero",       NULL};

static int harmless_setting(const char *name) {
    for (int i = 0; HARMLESS_SETTINGS[i]; i++)
        if (strcmp(name, HARMLESS_SETTINGS[i]) == 0) return 1;
    return 0;
}

cJSON *run_settings_to_save(void) {
    const cJSON *now = args_settings();
    if (!now) return NULL;
    cJSON *s = cJSON_CreateObject();
    for (const cJSON *item = now->child; item; item = item->next)
        if (!harmless_setting(item->string)) cJSON_AddItemToObject(s, item->string, cJSON_Duplicate(item, 1));
    return s;
}

/* The saved value of the flag now called name: a checkpoint written before a flag was renamed has it under its old
 * name (an alias of the command's table, base/args.h). */
static const cJSON *saved_setting(const cJSON *saved, const char *name) {
    const cJSON *was = cJSON_GetObjectItemCaseSensitive(saved, name);
    for (const cJSON *item = saved->child; item && !was; item = item->next)
        if (strcmp(args_canonical_name(item->string), name) == 0) was = item;
    return was;
}

void run_settings_check(const cJSON *saved, const char *state_path, const char *command) {
    const cJSON *now = args_settings();
    if (!saved || !now) return;
    char *list = xstrdup(""), *missing = xstrdup("");
    int n = 0, n_missing = 0;
    for (const cJSON *item = now->child; item; item = item->next) {
        const cJSON *was = saved_setting(saved, item->string);
        if (!was && !harmless_setting(item->string) && strcmp(item->string, "files") != 0) {
            /* a flag added since the checkpoint was written: its value now is all there is to go by */
            char *v = cJSON_PrintUnformatted(item), *longer = xsprintf("%s%s--%s %s", missing, n_missing++ ? ", " : "",
                                                                        item->string, v);
            free(missing);
            missing = longer;
            cJSON_free(v);
        }
        if (!was || harmless_setting(item->string) || cJSON_Compare(item, was, 1)) continue;
        char *a = cJSON_PrintUnformatted(item), *b = cJSON_PrintUnformatted(was);
        char *longer = xsprintf("%s%s--%s %s (the run's: %s)", list, n++ ? ", " : "", item->string, a, b);
        free(list);
        list = longer;
        cJSON_free(a);
        cJSON_free(b);
    }
    const cJSON *override = cJSON_GetObjectItemCaseSensitive(now, "resume-override");
    if (n && !cJSON_IsTrue(override))
        die("%s: --resume with other settings than the run saved in %s: %s; give the run's flags again, or add "
            "--resume-override to continue with these", command, state_path, list);
    if (n) warn("%s: continuing with other settings than the run's (--resume-override): %s", command, list);
    if (n_missing)
        warn("%s: %s was saved before these flags existed; continuing with %s", command, state_path, missing);
    free(list);
    free(missing);
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
