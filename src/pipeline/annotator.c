/* annotator.c — see annotator.h. */
#include "annotator.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../base/util.h"
#include "../base/jsonl.h"
#include "../data/preference_pairs.h"

struct Annotator {
    char *command;
    pid_t pid;
    FILE *to, *from; /* its stdin, its stdout */
    long asked;      /* requests sent, for messages */
};

Annotator *annotator_start(const char *command) {
    int in[2], out[2]; /* in: we write, it reads; out: it writes, we read */
    if (pipe(in) != 0 || pipe(out) != 0) die_errno("annotator: pipe");
    /* a dead annotator must be an error message, not a SIGPIPE */
    signal(SIGPIPE, SIG_IGN);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) die_errno("annotator: fork");
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
    Annotator *a = xcalloc(1, sizeof(Annotator));
    a->command = xstrdup(command);
    a->pid = pid;
    a->to = fdopen(in[1], "w");
    a->from = fdopen(out[0], "r");
    if (!a->to || !a->from) die_errno("annotator: fdopen");
    return a;
}

void annotator_rank(Annotator *a, const cJSON *prompt, const char *const *responses, int k, int *ranking) {
    cJSON *req = cJSON_CreateObject();
    cJSON_AddItemToObject(req, "prompt", cJSON_Duplicate(prompt, 1));
    cJSON_AddItemToObject(req, "responses", cJSON_CreateStringArray(responses, k));
    a->asked++;
    char *reply = NULL;
    size_t cap = 0;
    /* jsonl_print: sampled answers may end inside a character, and the annotator reads valid UTF-8 only.
     * A write to an annotator that has exited fails (EPIPE), and so does the read. */
    jsonl_print(a->to, req);
    cJSON_Delete(req);
    if (ferror(a->to) || fflush(a->to) != 0 || getline(&reply, &cap, a->from) < 0)
        die("annotator '%s' exited without answering request %ld", a->command, a->asked);
    cJSON *j = cJSON_Parse(reply);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "ranking");
    int ok = cJSON_IsArray(list) && cJSON_GetArraySize(list) == k;
    char *seen = xcalloc((size_t)k, 1);
    for (int i = 0; ok && i < k; i++) {
        const cJSON *v = cJSON_GetArrayItem(list, i);
        ok = cJSON_IsNumber(v) && v->valuedouble == (int)v->valuedouble && v->valueint >= 0 && v->valueint < k &&
             !seen[v->valueint];
        if (ok) seen[ranking[i] = v->valueint] = 1;
    }
    if (!ok) {
        reply[strcspn(reply, "\n")] = 0;
        die("annotator '%s': reply %ld must be {\"ranking\": [...]} holding each of 0..%d once, got: %.200s", a->command,
            a->asked, k - 1, reply);
    }
    free(seen);
    cJSON_Delete(j);
    free(reply);
}

void annotator_stop(Annotator *a) {
    fclose(a->to);
    fclose(a->from);
    int status;
    while (waitpid(a->pid, &status, 0) < 0)
        if (errno != EINTR) die_errno("annotator: waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("annotator '%s' failed (%s %d)", a->command, WIFEXITED(status) ? "exit status" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    free(a->command);
    free(a);
}

void annotator_write_comparisons(const char *command, const cJSON *const *prompts, int n,
                                 const char *const *answers, int K, const char *path) {
    JsonlWriter *w = jsonl_writer_open(path);
    Annotator *a = annotator_start(command);
    const char **kept = xmalloc(sizeof(char *) * (size_t)K);
    int *ranking = xmalloc(sizeof(int) * (size_t)K), *new_index = xmalloc(sizeof(int) * (size_t)K);
    int *kept_ranking = xmalloc(sizeof(int) * (size_t)K), blank = 0, dropped = 0;
    for (int i = 0; i < n; i++) {
        const char *const *texts = answers + (size_t)i * K;
        annotator_rank(a, prompts[i], texts, K, ranking);
        int n_kept = 0;
        for (int k = 0; k < K; k++) {
            new_index[k] = preference_answer_is_blank(texts[k]) ? -1 : n_kept;
            if (new_index[k] < 0) blank++;
            else kept[n_kept++] = texts[k];
        }
        for (int r = 0, j = 0; r < K; r++)
            if (new_index[ranking[r]] >= 0) kept_ranking[j++] = new_index[ranking[r]];
        if (n_kept < 2) {
            dropped++;
            continue;
        }
        cJSON *line = cJSON_CreateObject();
        cJSON_AddItemToObject(line, "prompt", cJSON_Duplicate(prompts[i], 1));
        cJSON_AddItemToObject(line, "responses", cJSON_CreateStringArray(kept, n_kept));
        cJSON_AddItemToObject(line, "ranking", cJSON_CreateIntArray(kept_ranking, n_kept));
        jsonl_write(w, line);
        cJSON_Delete(line);
    }
    if (blank)
        info("%d blank answers left out of the comparisons (%d prompts with fewer than 2 others dropped)", blank,
             dropped);
    annotator_stop(a);
    jsonl_writer_close(w);
    free(kept);
    free(ranking);
    free(new_index);
    free(kept_ranking);
}
