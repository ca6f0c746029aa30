/* label.c — `lmforge label`: people rank the model's answers in a browser,
 * the human step of RLHF.
 *
 *   lmforge label SAMPLES.jsonl --out RANKINGS.jsonl [--port 8080] [--host 127.0.0.1]
 *   lmforge label stats RANKINGS.jsonl
 *   lmforge ppo ... --annotator "lmforge label --from-stdin --port 8080"
 *
 * Serves a page (pipeline/label_page.h) that shows each prompt of SAMPLES
 * (as `lmforge sample` writes them) with its answers in a random order; a
 * person ranks them and each ranking is appended to RANKINGS in the format
 * `lmforge rm` reads (pipeline/label_queue.h). Started again, it carries on
 * where the labelers stopped. On an address other than loopback every
 * request must carry a random token, printed at start in the URL.
 *
 * --from-stdin makes it an annotator program (pipeline/annotator.h): each
 * request line on stdin goes onto the page, and the ranking a person gives
 * it is the reply line on stdout; everything else goes to stderr. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "../base/args.h"
#include "../base/util.h"
#include "../pipeline/annotator.h"
#include "../pipeline/label_queue.h"
#include "../pipeline/label_server.h"
#include "../pipeline/label_stats.h"
#include "stages.h"

/* 128 random bits as hex: the token a remote page must carry. */
static void random_token(char out[33]) {
    unsigned char bytes[16];
    if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) die_errno("label: getrandom");
    for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", bytes[i]);
}

static int cmd_label_stats(int argc, char **argv) {
    Option opts[] = {OPT_END};
    char **positional;
    int npos = args_parse("label stats", "RANKINGS.jsonl",
                          "Report on the rankings `lmforge label` wrote: rankings and time per labeler, time per "
                          "prompt, and inter-labeler agreement (the share of answer pairs that two labelers of one "
                          "prompt put in the same order, over the pairs both ordered).",
                          opts, argc, argv, &positional);
    if (npos != 1) die("label stats: expected one RANKINGS.jsonl file");
    label_stats_report(positional[0], stdout);
    free(positional);
    return 0;
}

/* The reply to an annotator request: every index of the k answers asked
 * about, best first. The page ranked the distinct non-empty ones; answers
 * the person tied share a list, each repeat is tied with its first copy, and
 * the blank ones come last, tied with each other. */
static cJSON *full_ranking(const cJSON *asked, const cJSON *ranked) {
    const cJSON *distinct = cJSON_GetObjectItemCaseSensitive(ranked, "responses");
    int k = cJSON_GetArraySize(asked), n = 0, tier = 0;
    char *used = xcalloc((size_t)k + 1, 1);
    int *order = xmalloc(sizeof(int) * ((size_t)k + 1)), *tiers = xmalloc(sizeof(int) * ((size_t)k + 1));
    const cJSON *group;
    cJSON_ArrayForEach(group, cJSON_GetObjectItemCaseSensitive(ranked, "ranking")) {
        int size = cJSON_IsArray(group) ? cJSON_GetArraySize(group) : 1;
        for (int g = 0; g < size; g++) {
            const cJSON *d = cJSON_IsArray(group) ? cJSON_GetArrayItem(group, g) : group;
            const char *text = cJSON_GetArrayItem(distinct, d->valueint)->valuestring;
            for (int j = 0; j < k; j++)
                if (!used[j] && strcmp(cJSON_GetArrayItem(asked, j)->valuestring, text) == 0) {
                    used[j] = 1;
                    order[n] = j;
                    tiers[n++] = tier;
                }
        }
        tier++;
    }
    for (int j = 0; j < k; j++)
        if (!used[j]) {
            order[n] = j;
            tiers[n++] = tier;
        }
    cJSON *out = ranking_json(order, tiers, n);
    free(used);
    free(order);
    free(tiers);
    return out;
}

/* One request line: {"prompt": a string or messages, "responses": strings}.
 * NULL with the reason in err when it is not one. */
static cJSON *parse_request(const char *line, char *err, size_t err_len) {
    cJSON *j = cJSON_Parse(line);
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(j, "prompt");
    const cJSON *responses = cJSON_GetObjectItemCaseSensitive(j, "responses"), *r;
    const char *bad = NULL;
    if (!cJSON_IsObject(j)) bad = "expected a JSON object {\"prompt\", \"responses\"}";
    else if (!cJSON_IsString(prompt) && !cJSON_IsArray(prompt))
        bad = "field \"prompt\" must be a string or a list of messages";
    else if (!cJSON_IsArray(responses) || cJSON_GetArraySize(responses) < 1)
        bad = "field \"responses\" must be a list of strings";
    if (!bad) {
        cJSON_ArrayForEach(r, responses) if (!cJSON_IsString(r)) bad = "field \"responses\" must be a list of strings";
    }
    if (!bad) return j;
    snprintf(err, err_len, "%s", bad);
    cJSON_Delete(j);
    return NULL;
}

/* --from-stdin: answers annotator requests, one line at a time, with the
 * rankings people give on the page. Ends at the end of stdin. */
static void serve_stdin(LabelServer *s, FILE *replies) {
    char *line = NULL, err[160];
    size_t cap = 0;
    long n = 0, asked = 0;
    while (getline(&line, &cap, stdin) >= 0) {
        n++;
        cJSON *req = parse_request(line, err, sizeof err);
        if (!req) die("label --from-stdin: stdin line %ld: %s", n, err);
        const cJSON *responses = cJSON_GetObjectItemCaseSensitive(req, "responses");
        int i = label_server_add(s, cJSON_GetObjectItemCaseSensitive(req, "prompt"), responses);
        cJSON *ranked = NULL;
        if (i >= 0) { /* else nothing for a person to choose: fewer than two distinct non-empty answers */
            ranked = label_server_wait_ranking(s, i);
            asked++;
        }
        cJSON *reply = cJSON_CreateObject();
        cJSON_AddItemToObject(reply, "ranking", full_ranking(responses, ranked));
        char *text = cJSON_PrintUnformatted(reply);
        fprintf(replies, "%s\n", text);
        fflush(replies);
        free(text);
        cJSON_Delete(reply);
        cJSON_Delete(ranked);
        cJSON_Delete(req);
    }
    free(line);
    info("label --from-stdin: end of input after %ld requests (%ld with answers to rank)", n, asked);
}

int cmd_label(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "stats") == 0) return cmd_label_stats(argc - 1, argv + 1);
    const char *out = NULL, *host = "127.0.0.1";
    int port = 8080, seed = 1, rate = 50, max_body = 64 * 1024, exit_when_done = 0, min = 0, from_stdin = 0;
    float overlap = 0, lease = 1800;
    Option opts[] = {
        OPT_STR("out", &out, "the JSONL file the rankings are appended to (required but with --from-stdin); read "
                             "first, to carry on"),
        OPT_INT("port", &port, "the TCP port (0: any free one, printed)"),
        OPT_STR("host", &host, "the address to listen on; any but loopback (127.0.0.1, ::1, localhost) requires "
                               "the token printed at start on every request"),
        OPT_FLOAT("overlap", &overlap, "share of the prompts ranked by two labelers, for agreement (0..1)"),
        OPT_FLOAT("lease", &lease, "seconds a labeler holds a prompt without ranking it before another gets it"),
        OPT_INT("rate", &rate, "requests per second per client address (more get 429; 0: no bound)"),
        OPT_INT("max-body", &max_body, "bytes of a request body (more get 413)"),
        OPT_FLAG("exit-when-done", &exit_when_done, "stop once every prompt has its rankings"),
        OPT_INT("min", &min, "stop once --out holds N rankings of these samples (a recipe step waiting for enough; with "
                             "--exit-when-done, whichever comes first; 0: no such bound)"),
        OPT_FLAG("from-stdin", &from_stdin, "be an annotator program (ppo --annotator): rank each "
                                            "{\"prompt\",\"responses\"} line of stdin on the page, reply "
                                            "{\"ranking\"} on stdout; no SAMPLES; ends with stdin"),
        OPT_INT("seed", &seed, "which prompts overlap, and the order each labeler sees the answers in"),
        OPT_END};
    char **positional;
    int npos = args_parse("label", "SAMPLES.jsonl | --from-stdin | stats RANKINGS.jsonl",
                          "Serve a web page where people rank each prompt's sampled answers ({\"prompt\","
                          "\"responses\":[...]}, as lmforge sample writes them; ties, all bad and skip too), "
                          "appending each ranking to --out as {\"prompt\",\"responses\",\"ranking\",\"labeler\","
                          "\"seconds\"}, the format lmforge rm trains on. Several labelers at once each get prompts "
                          "no one else is ranking. Ctrl-C stops it; run it again to carry on. `lmforge label stats "
                          "RANKINGS.jsonl` reports agreement and time per labeler. With --from-stdin it is an "
                          "annotator program instead: `lmforge ppo --annotator \"lmforge label --from-stdin\"` puts "
                          "people in PPO's reward-model refreshes.",
                          opts, argc, argv, &positional);
    if (from_stdin && npos != 0) die("label: --from-stdin reads the prompts from stdin: no SAMPLES file");
    if (from_stdin && (exit_when_done || min || overlap > 0))
        die("label: --from-stdin ends with its input: --exit-when-done, --min and --overlap do not apply");
    if (!from_stdin && npos != 1) die("label: expected one SAMPLES.jsonl file (see lmforge label --help)");
    if (!from_stdin && !out) die("label: --out RANKINGS.jsonl is required");
    if (min < 0) die("label: --min %d: expected a count of rankings", min);
    if (!(overlap >= 0 && overlap <= 1)) die("label: --overlap %g: expected a share from 0 to 1", (double)overlap);
    if (port < 0 || port > 65535) die("label: --port %d: expected 0 to 65535", port);
    if (!(lease > 0)) die("label: --lease must be positive");
    if (max_body < 1024) die("label: --max-body %d: expected at least 1024", max_body);

    /* with --from-stdin stdout is the protocol's: the replies get a descriptor of their own, and
     * everything else written to stdout (info(), from anywhere) goes to stderr */
    FILE *replies = NULL;
    if (from_stdin) {
        int fd = dup(STDOUT_FILENO);
        if (fd < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0 || !(replies = fdopen(fd, "w")))
            die_errno("label: --from-stdin: cannot set up stdout");
    }
    LabelQueueOptions qo = {.overlap = overlap, .seed = (uint64_t)seed, .lease = lease, .stream = from_stdin};
    LabelQueue *q = label_queue_open(from_stdin ? NULL : positional[0], out, &qo);
    LabelProgress p = label_queue_progress(q, NULL);
    if (min > p.wanted)
        die("label: --min %d: %s wants only %ld rankings (%d prompts)", min, positional[0], p.wanted, p.prompts);
    char token[33];
    int loopback = label_host_is_loopback(host);
    if (!loopback) random_token(token);
    LabelServerOptions so = {.host = host, .port = port, .token = loopback ? NULL : token,
                             .max_body = (size_t)max_body, .rate = rate, .stream = from_stdin};

    /* Ctrl-C and SIGTERM are taken by sigwait below, in this thread: blocked
     * before the server's thread starts, so that it inherits the mask and a
     * request under way is never cut short by a handler. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    LabelServer *s = label_server_start(q, &so);
    const char *shown = strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ? "THIS-MACHINE" : host;
    int v6 = strchr(shown, ':') != NULL;
    if (from_stdin)
        printf("label: ranking the requests on stdin as they come, replies on stdout\n");
    else
        printf("label: %d prompts (%ld rankings wanted, %ld done); %d sample lines without two different answers "
               "left out\n",
               p.prompts, p.wanted, p.done, p.left_out);
    printf("label: open http://%s%s%s:%d/%s%s\n", v6 ? "[" : "", shown, v6 ? "]" : "", label_server_port(s),
           loopback ? "" : "?token=", loopback ? "" : token);
    printf("label: port %d; rankings go to %s; Ctrl-C stops\n", label_server_port(s),
           out ? out : "the program asking (stdout)");
    if (min) printf("label: stops once %s holds %d rankings\n", out, min);
    fflush(stdout);

    if (from_stdin) {
        /* blocked in getline or on a ranking, it ends at Ctrl-C (its caller stops too); a line of --out cut
         * short by that is removed on the next start */
        pthread_sigmask(SIG_UNBLOCK, &stop, NULL);
        serve_stdin(s, replies);
        fclose(replies);
    } else {
        for (;;) {
            if (exit_when_done && label_server_all_done(s)) break;
            if (min && label_server_done(s) >= min) break;
            struct timespec wait = {0, 200 * 1000 * 1000};
            int sig = sigtimedwait(&stop, NULL, &wait);
            if (sig == SIGINT || sig == SIGTERM) break;
        }
    }
    label_server_stop(s);
    p = label_queue_progress(q, NULL);
    label_queue_close(q);
    if (!from_stdin) info("label: stopped; %ld of %ld rankings done, in %s", p.done, p.wanted, out);
    free(positional);
    return 0;
}
