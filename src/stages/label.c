/* label.c — `lmforge label`: people rank the model's answers in a browser,
 * the human step of RLHF.
 *
 *   lmforge label SAMPLES.jsonl --out RANKINGS.jsonl [--port 8080] [--host 127.0.0.1]
 *   lmforge label stats RANKINGS.jsonl
 *
 * Serves a page (pipeline/label_page.h) that shows each prompt of SAMPLES
 * (as `lmforge sample` writes them) with its answers in a random order; a
 * person ranks them and each ranking is appended to RANKINGS in the format
 * `lmforge rm` reads (pipeline/label_queue.h). Started again, it carries on
 * where the labelers stopped. On an address other than loopback every
 * request must carry a random token, printed at start in the URL. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "../base/args.h"
#include "../base/util.h"
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

int cmd_label(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "stats") == 0) return cmd_label_stats(argc - 1, argv + 1);
    const char *out = NULL, *host = "127.0.0.1";
    int port = 8080, seed = 1, rate = 50, max_body = 64 * 1024, exit_when_done = 0;
    float overlap = 0, lease = 1800;
    Option opts[] = {
        OPT_STR("out", &out, "the JSONL file the rankings are appended to (required); read first, to carry on"),
        OPT_INT("port", &port, "the TCP port (0: any free one, printed)"),
        OPT_STR("host", &host, "the address to listen on; any but loopback (127.0.0.1, ::1, localhost) requires "
                               "the token printed at start on every request"),
        OPT_FLOAT("overlap", &overlap, "share of the prompts ranked by two labelers, for agreement (0..1)"),
        OPT_FLOAT("lease", &lease, "seconds a labeler holds a prompt without ranking it before another gets it"),
        OPT_INT("rate", &rate, "requests per second per client address (more get 429; 0: no bound)"),
        OPT_INT("max-body", &max_body, "bytes of a request body (more get 413)"),
        OPT_FLAG("exit-when-done", &exit_when_done, "stop once every prompt has its rankings"),
        OPT_INT("seed", &seed, "which prompts overlap, and the order each labeler sees the answers in"),
        OPT_END};
    char **positional;
    int npos = args_parse("label", "SAMPLES.jsonl | stats RANKINGS.jsonl",
                          "Serve a web page where people rank each prompt's sampled answers ({\"prompt\","
                          "\"responses\":[...]}, as lmforge sample writes them; ties, all bad and skip too), "
                          "appending each ranking to --out as {\"prompt\",\"responses\",\"ranking\",\"labeler\","
                          "\"seconds\"}, the format lmforge rm trains on. Several labelers at once each get prompts "
                          "no one else is ranking. Ctrl-C stops it; run it again to carry on. `lmforge label stats "
                          "RANKINGS.jsonl` reports agreement and time per labeler.",
                          opts, argc, argv, &positional);
    if (npos != 1) die("label: expected one SAMPLES.jsonl file (see lmforge label --help)");
    if (!out) die("label: --out RANKINGS.jsonl is required");
    if (!(overlap >= 0 && overlap <= 1)) die("label: --overlap %g: expected a share from 0 to 1", (double)overlap);
    if (port < 0 || port > 65535) die("label: --port %d: expected 0 to 65535", port);
    if (!(lease > 0)) die("label: --lease must be positive");
    if (max_body < 1024) die("label: --max-body %d: expected at least 1024", max_body);

    LabelQueueOptions qo = {.overlap = overlap, .seed = (uint64_t)seed, .lease = lease};
    LabelQueue *q = label_queue_open(positional[0], out, &qo);
    char token[33];
    int loopback = label_host_is_loopback(host);
    if (!loopback) random_token(token);
    LabelServerOptions so = {.host = host, .port = port, .token = loopback ? NULL : token,
                             .max_body = (size_t)max_body, .rate = rate};

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
    LabelProgress p = label_queue_progress(q, NULL);
    const char *shown = strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ? "THIS-MACHINE" : host;
    int v6 = strchr(shown, ':') != NULL;
    printf("label: %d prompts (%ld rankings wanted, %ld done); %d sample lines without two different answers left "
           "out\n",
           p.prompts, p.wanted, p.done, p.left_out);
    printf("label: open http://%s%s%s:%d/%s%s\n", v6 ? "[" : "", shown, v6 ? "]" : "", label_server_port(s),
           loopback ? "" : "?token=", loopback ? "" : token);
    printf("label: port %d; rankings go to %s; Ctrl-C stops\n", label_server_port(s), out);
    fflush(stdout);

    for (;;) {
        struct timespec second = {1, 0};
        int sig = sigtimedwait(&stop, NULL, &second);
        if (sig == SIGINT || sig == SIGTERM) break;
        if (exit_when_done && label_server_all_done(s)) break;
    }
    label_server_stop(s);
    p = label_queue_progress(q, NULL);
    label_queue_close(q);
    info("label: stopped; %ld of %ld rankings done, in %s", p.done, p.wanted, out);
    free(positional);
    return 0;
}
