/* test_label.c — `lmforge label` as its users meet it: the command started
 * in the background on a free port, its JSON API driven over a socket the
 * way the page's script drives it (rankings appended in rm's format and
 * trained on, a restart carrying on, two labelers never on one prompt,
 * --overlap and `label stats`, the token off loopback, model outputs kept
 * inert, bad requests refused while the server keeps serving), and the page
 * itself loaded in a headless chromium when there is one. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../src/base/util.h"
#include "../src/io/model_dir.h"
#include "test.h"
#include "test_ppo_util.h"
#include "test_rm_util.h"

typedef struct {
    pid_t pid;
    int port;
    char token[64];
    char *log;
} Server;

/* The number after the last "label: port " in a log, or 0. */
static int last_port(const char *log) {
    char *text = file_exists(log) ? read_file(log, NULL) : NULL;
    int port = 0;
    for (const char *at = text; at && (at = strstr(at, "label: port ")); at++) port = atoi(at + strlen("label: port "));
    free(text);
    return port;
}

/* Runs `sh -c CMD` in dir (CMD writes its output to dir/LOG) and waits
 * for the line that gives the label server's port. Returns 0 if it did not
 * come up. */
static int start_command(Server *s, const char *dir, const char *cmd, const char *log) {
    memset(s, 0, sizeof *s);
    s->log = path_join(dir, log);
    char *full = xsprintf("cd '%s' && exec %s", dir, cmd);
    unlink(s->log);
    fflush(stdout);
    fflush(stderr);
    s->pid = fork();
    if (s->pid == 0) {
        execl("/bin/sh", "sh", "-c", full, (char *)NULL);
        _exit(127);
    }
    free(full);
    for (int i = 0; i < 600 && !s->port; i++) {
        usleep(50 * 1000);
        s->port = last_port(s->log);
        char *text = file_exists(s->log) ? read_file(s->log, NULL) : NULL;
        const char *tok = text ? strstr(text, "?token=") : NULL;
        if (tok) sscanf(tok + 7, "%63[0-9a-f]", s->token);
        free(text);
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            break;
        }
    }
    return s->port > 0;
}

/* Starts `lmforge label ARGS` in dir, its output in dir/label.log. */
static int start_server(Server *s, const char *dir, const char *args) {
    char *bin = realpath(lmforge_bin(), NULL);
    char *cmd = xsprintf("'%s' label %s > label.log 2>&1", bin ? bin : "lmforge", args);
    int ok = start_command(s, dir, cmd, "label.log");
    free(cmd);
    free(bin);
    return ok;
}

/* Waits up to `seconds` for the command to exit by itself; its exit status,
 * or -1 (then it is killed). */
static int wait_exit(Server *s, double seconds) {
    int status = -1;
    double t0 = now_seconds();
    while (s->pid > 0) {
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) break;
        if (now_seconds() - t0 > seconds) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
            status = -1;
            break;
        }
        usleep(50 * 1000);
    }
    s->pid = 0;
    free(s->log);
    s->log = NULL;
    return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Ctrl-C; returns the exit status (-1 if it did not stop within 10 s). */
static int stop_server(Server *s) {
    int status = -1;
    if (s->pid > 0) {
        kill(s->pid, SIGINT);
        for (int i = 0; i < 200; i++) {
            if (waitpid(s->pid, &status, WNOHANG) == s->pid) break;
            usleep(50 * 1000);
            if (i == 199) {
                kill(s->pid, SIGKILL);
                waitpid(s->pid, NULL, 0);
                status = -1;
            }
        }
    }
    free(s->log);
    s->log = NULL;
    return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int raw_request_ex(int port, const char *req, size_t len, char **body, int short_wait);
static int raw_request(int port, const char *req, size_t len, char **body) {
    return raw_request_ex(port, req, len, body, 0);
}

static int server_alive(const Server *s) { return s->pid > 0 && waitpid(s->pid, NULL, WNOHANG) == 0; }

/* Sends raw bytes to the server and reads the reply until it closes.
 * Returns the HTTP status (0: no reply); *body (if asked) gets the body.
 * short_wait: a reply must come within 0.3 s; a request cut short, or one
 * whose end of headers was corrupted, gets none: the server waits for the
 * rest (until its 30 s timeout). */
static int raw_request_ex(int port, const char *req, size_t len, char **body, int short_wait) {
    if (body) *body = NULL;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {short_wait ? 0 : 10, short_wait ? 300 * 1000 : 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return 0;
    }
    for (size_t sent = 0; sent < len;) {
        ssize_t w = send(fd, req + sent, len - sent, MSG_NOSIGNAL);
        if (w <= 0) break; /* the server may refuse before reading it all */
        sent += (size_t)w;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        if (n == cap) buf = xrealloc(buf, (cap *= 2) + 1);
        ssize_t r = recv(fd, buf + n, cap - n, 0);
        if (r <= 0) break;
        n += (size_t)r;
        buf[n] = 0;
        /* a whole reply is in: done, even when the server keeps the connection open (a request whose
         * "Connection: close" was corrupted) */
        const char *end = strstr(buf, "\r\n\r\n"), *length = strcasestr(buf, "\r\nContent-Length:");
        if (end && length && length < end && n >= (size_t)(end + 4 - buf) + strtoul(length + 17, NULL, 10)) break;
    }
    buf[n] = 0;
    close(fd);
    int status = 0;
    sscanf(buf, "HTTP/1.%*d %d", &status);
    const char *start = strstr(buf, "\r\n\r\n");
    if (body) *body = xstrdup(start ? start + 4 : "");
    free(buf);
    return status;
}

/* One request the way the page sends it: a JSON body for a POST. */
static int request(const Server *s, const char *method, const char *path, const char *json, char **body) {
    char token[96] = "";
    if (s->token[0]) snprintf(token, sizeof token, "X-Lmforge-Token: %s\r\n", s->token);
    char *req = xsprintf("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s%s"
                         "Content-Length: %zu\r\n\r\n%s",
                         method, path, s->port, json ? "Content-Type: application/json\r\n" : "", token,
                         json ? strlen(json) : 0, json ? json : "");
    int status = raw_request(s->port, req, strlen(req), body);
    free(req);
    return status;
}

/* GET /api/next for a labeler: the prompt's id (-1: none), its check, and the reply. */
static int next_prompt(const Server *s, const char *labeler, char check[32], cJSON **reply) {
    char *path = xsprintf("/api/next?labeler=%s", labeler), *body;
    int status = request(s, "GET", path, NULL, &body);
    free(path);
    cJSON *j = status == 200 ? cJSON_Parse(body) : NULL;
    free(body);
    int id = -2;
    const cJSON *v = cJSON_GetObjectItem(j, "id");
    if (cJSON_IsNumber(v)) id = v->valueint;
    else if (cJSON_IsNull(v)) id = -1;
    const cJSON *c = cJSON_GetObjectItem(j, "check");
    if (check) snprintf(check, 32, "%s", cJSON_IsString(c) ? c->valuestring : "");
    if (reply) *reply = j;
    else cJSON_Delete(j);
    return id;
}

static int rank(const Server *s, const char *labeler, int id, const char *check, const char *ranking) {
    char *json = xsprintf("{\"labeler\":\"%s\",\"id\":%d,\"check\":\"%s\",\"ranking\":%s}", labeler, id, check, ranking);
    int status = request(s, "POST", "/api/rank", json, NULL);
    free(json);
    return status;
}

static int count_lines(const char *path) {
    if (!file_exists(path)) return 0;
    char *text = read_file(path, NULL);
    int n = 0;
    for (const char *p = text; *p; p++) n += *p == '\n';
    free(text);
    return n;
}

/* The n-th line of a JSONL file, parsed. */
static cJSON *line_json(const char *path, int n) {
    char *text = read_file(path, NULL), *line = strtok(text, "\n");
    for (int i = 0; i < n && line; i++) line = strtok(NULL, "\n");
    cJSON *j = line ? cJSON_Parse(line) : NULL;
    free(text);
    return j;
}

static char *json_compact(const cJSON *j) { return j ? cJSON_PrintUnformatted(j) : xstrdup("(none)"); }

/* Three prompts: a string, a chat with a system turn, and one whose answers
 * hold markup, a repeat and an empty one; and a line with nothing to rank. */
static void write_samples(const char *dir, int n_extra) {
    char *path = path_join(dir, "samples.jsonl");
    FILE *f = xfopen(path, "w");
    fprintf(f, "{\"prompt\": \"What is the capital of France?\", \"responses\": [\"Paris\", \"Rome\", \"Lyon\"]}\n");
    fprintf(f, "{\"prompt\": [{\"role\": \"system\", \"content\": \"Answer in one word.\"}, {\"role\": \"user\", "
               "\"content\": \"What is the capital of Spain?\"}], \"responses\": [\"Madrid\", \"Paris\", \"Lima\"]}\n");
    fprintf(f, "{\"prompt\": \"Say hello.\", \"responses\": [\"hello\", \"<script>alert(1)</script>\", \"hello\", "
               "\"\", \"bye\"]}\n");
    fprintf(f, "{\"prompt\": \"Nothing to rank\", \"responses\": [\"same\", \"same\"]}\n");
    for (int i = 0; i < n_extra; i++)
        fprintf(f, "{\"prompt\": \"What is %d plus %d?\", \"responses\": [\"%d\", \"%d\", \"%d\"]}\n", i, i, 2 * i,
                2 * i + 1, i);
    fclose(f);
    free(path);
}

static void write_language_model(const char *dir) {
    ModelConfig c = config_default(tokenizer_vocab_size(rm_test_tokenizer()), 64, 2, 4);
    c.max_seq_len = 64;
    Model *m = model_new(&c);
    model_init_random(m, 11);
    model_dir_save(dir, m, rm_test_tokenizer(), 0, 1);
    model_free(m);
}

TEST(label_rankings_in_rm_format_and_rm_trains_on_them) {
    char *dir = test_tmpdir("label");
    write_samples(dir, 0);
    Server s;
    if (!start_server(&s, dir, "samples.jsonl --out ranks.jsonl --port 0 --rate 0")) {
        CHECK_MSG(0, "lmforge label did not start; see %s/label.log", dir);
        return;
    }
    char *out = path_join(dir, "ranks.jsonl"), check[32];
    /* the first prompt: three answers, ranked with a tie */
    cJSON *reply;
    int id = next_prompt(&s, "ann", check, &reply);
    CHECK_EQ_INT(id, 0);
    CHECK_EQ_INT(cJSON_GetObjectItem(reply, "left")->valueint, 3);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(reply, "order")), 3);
    cJSON_Delete(reply);
    CHECK_EQ_INT(rank(&s, "ann", id, check, "[2,[0,1]]"), 200);
    CHECK_EQ_INT(count_lines(out), 1); /* written before the reply */
    cJSON *line = line_json(out, 0);
    char *text = json_compact(line);
    CHECK_MSG(line && strstr(text, "\"prompt\":\"What is the capital of France?\"") &&
                  strstr(text, "\"responses\":[\"Paris\",\"Rome\",\"Lyon\"]") && strstr(text, "\"ranking\":[2,[0,1]]") &&
                  strstr(text, "\"labeler\":\"ann\""),
              "line 1: %s", text);
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(line, "seconds")) && cJSON_GetObjectItem(line, "seconds")->valuedouble >= 0);
    free(text);
    cJSON_Delete(line);

    /* the chat prompt, whole; then the one whose repeat and empty answer are left out */
    id = next_prompt(&s, "ann", check, &reply);
    CHECK_EQ_INT(id, 1);
    char *shown = json_compact(cJSON_GetObjectItem(reply, "prompt"));
    CHECK_MSG(strstr(shown, "Answer in one word.") && strstr(shown, "\"role\":\"system\""), "prompt %s", shown);
    free(shown);
    cJSON_Delete(reply);
    CHECK_EQ_INT(rank(&s, "ann", id, check, "[0,2,1]"), 200);
    id = next_prompt(&s, "ann", check, &reply);
    CHECK_EQ_INT(id, 2);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(reply, "responses")), 3);
    cJSON_Delete(reply);
    char *json = xsprintf("{\"labeler\":\"ann\",\"id\":%d,\"check\":\"%s\",\"all_bad\":true}", id, check);
    CHECK_EQ_INT(request(&s, "POST", "/api/rank", json, NULL), 200);
    free(json);
    CHECK_EQ_INT(next_prompt(&s, "ann", NULL, NULL), -1); /* the fourth line had nothing to rank */
    CHECK_EQ_INT(stop_server(&s), 0);
    CHECK_EQ_INT(count_lines(out), 3);
    line = line_json(out, 2);
    text = json_compact(line);
    CHECK_MSG(strstr(text, "\"ranking\":[[0,1,2]]") && strstr(text, "\"all_bad\":true"), "line 3: %s", text);
    free(text);
    cJSON_Delete(line);

    /* rm trains on the file as it is */
    write_language_model(path_join(dir, "sft"));
    int rc = test_system("cd '%s' && OMP_NUM_THREADS=1 '%s' rm --init sft --out rm --data ranks.jsonl --steps 2 "
                         "--eval-fraction 0 --batch 2 > rm.log 2>&1",
                         dir, realpath(lmforge_bin(), NULL));
    CHECK_MSG(rc == 0, "lmforge rm on the rankings failed; see %s/rm.log", dir);
    free(out);
    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(dir);
}

TEST(label_restart_carries_on_where_the_labelers_stopped) {
    char *dir = test_tmpdir("label-resume");
    write_samples(dir, 0);
    Server s;
    CHECK(start_server(&s, dir, "samples.jsonl --out ranks.jsonl --port 0 --rate 0"));
    char check[32];
    int first = next_prompt(&s, "ann", check, NULL);
    CHECK_EQ_INT(rank(&s, "ann", first, check, "[0,1,2]"), 200);
    int held = next_prompt(&s, "ann", NULL, NULL); /* held when the server stops: not ranked, so shown again */
    CHECK_EQ_INT(stop_server(&s), 0);
    char *out = path_join(dir, "ranks.jsonl");
    CHECK_EQ_INT(count_lines(out), 1);
    /* a crash in the middle of a write: a line cut short at the end */
    FILE *f = fopen(out, "a");
    fputs("{\"prompt\": \"What is", f);
    fclose(f);

    CHECK(start_server(&s, dir, "samples.jsonl --out ranks.jsonl --port 0 --rate 0"));
    cJSON *reply;
    int id = next_prompt(&s, "bob", check, &reply);
    CHECK_MSG(id >= 0 && id != first, "bob got prompt %d, ranked before the restart", id);
    CHECK_EQ_INT(cJSON_GetObjectItem(reply, "done")->valueint, 1);
    cJSON_Delete(reply);
    CHECK_EQ_INT(rank(&s, "bob", id, check, "[1,0,2]"), 200);
    int id2 = next_prompt(&s, "ann", check, NULL);
    CHECK_MSG(id2 >= 0 && id2 != first && id2 != id, "ann got %d (ranked: %d and %d)", id2, first, id);
    CHECK(held == id || held == id2);
    CHECK_EQ_INT(rank(&s, "ann", id2, check, "[1,0,2]"), 200);
    CHECK_EQ_INT(next_prompt(&s, "carol", NULL, NULL), -1);
    CHECK_EQ_INT(stop_server(&s), 0);
    CHECK_EQ_INT(count_lines(out), 3);
    char *log = read_file(path_join(dir, "label.log"), NULL);
    CHECK_MSG(strstr(log, "incomplete line"), "no warning about the cut line: %s", log);
    free(log);
    for (int i = 0; i < 3; i++) { /* every line whole */
        cJSON *j = line_json(out, i);
        CHECK_MSG(j && cJSON_GetObjectItem(j, "ranking"), "line %d is not a ranking", i + 1);
        cJSON_Delete(j);
    }
    free(out);
    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(dir);
}

TEST(label_two_labelers_never_get_the_same_prompt_at_once) {
    char *dir = test_tmpdir("label-two");
    write_samples(dir, 2); /* 5 prompts */
    Server s;
    CHECK(start_server(&s, dir, "samples.jsonl --out ranks.jsonl --port 0 --rate 0"));
    const char *names[] = {"ann", "bob", "carol", "dave", "eve"};
    int got[5], check_ok = 1;
    char check[32];
    for (int i = 0; i < 5; i++) {
        got[i] = next_prompt(&s, names[i], NULL, NULL);
        for (int j = 0; j < i; j++) check_ok &= got[i] != got[j];
        CHECK(got[i] >= 0);
    }
    CHECK_MSG(check_ok, "two labelers hold one prompt: %d %d %d %d %d", got[0], got[1], got[2], got[3], got[4]);
    CHECK_EQ_INT(next_prompt(&s, "frank", NULL, NULL), -1); /* all five held */
    CHECK_EQ_INT(next_prompt(&s, "bob", check, NULL), got[1]); /* a reload: the same prompt */
    char *json = xsprintf("{\"labeler\":\"bob\",\"id\":%d,\"check\":\"%s\"}", got[1], check);
    CHECK_EQ_INT(request(&s, "POST", "/api/skip", json, NULL), 200);
    free(json);
    CHECK_EQ_INT(next_prompt(&s, "frank", NULL, NULL), got[1]); /* bob's skip goes to someone else */
    CHECK_EQ_INT(next_prompt(&s, "bob", NULL, NULL), -1);
    CHECK_EQ_INT(stop_server(&s), 0);
    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(dir);
}

TEST(label_overlap_shares_prompts_and_stats_report_agreement) {
    char *dir = test_tmpdir("label-overlap");
    write_samples(dir, 0);
    Server s;
    CHECK(start_server(&s, dir, "samples.jsonl --out ranks.jsonl --port 0 --rate 0 --overlap 1"));
    char check[32];
    /* ann ranks the three prompts best first in order; bob agrees on two and reverses the third */
    int ann[3], bob[3];
    for (int i = 0; i < 3; i++) {
        ann[i] = next_prompt(&s, "ann", check, NULL);
        CHECK_EQ_INT(rank(&s, "ann", ann[i], check, "[0,1,2]"), 200);
    }
    CHECK_EQ_INT(next_prompt(&s, "ann", NULL, NULL), -1); /* never the same prompt twice to one person */
    for (int i = 0; i < 3; i++) {
        bob[i] = next_prompt(&s, "bob", check, NULL);
        CHECK(bob[i] >= 0);
        CHECK_EQ_INT(rank(&s, "bob", bob[i], check, i < 2 ? "[0,1,2]" : "[2,1,0]"), 200);
    }
    CHECK_EQ_INT(rank(&s, "bob", bob[0], check, "[0,1,2]"), 409); /* once each */
    cJSON *reply;
    CHECK_EQ_INT(next_prompt(&s, "carol", NULL, &reply), -1);
    CHECK_EQ_INT(cJSON_GetObjectItem(reply, "wanted")->valueint, 6);
    CHECK_EQ_INT(cJSON_GetObjectItem(reply, "left")->valueint, 0);
    cJSON_Delete(reply);
    CHECK_EQ_INT(stop_server(&s), 0);
    CHECK_EQ_INT(test_system("cd '%s' && '%s' label stats ranks.jsonl > stats.txt 2>&1", dir,
                             realpath(lmforge_bin(), NULL)), 0);
    char *stats = read_file(path_join(dir, "stats.txt"), NULL);
    /* 3 pairs a prompt; the reversed one disagrees on all 3: 6 of 9 */
    CHECK_MSG(strstr(stats, "agreement: 66.7 % of 9 answer pairs") && strstr(stats, "(3 prompts ranked by two)"),
              "stats: %s", stats);
    CHECK_MSG(strstr(stats, "6 rankings of 3 prompts by 2 labelers") && strstr(stats, "labeler ann: 3 rankings") &&
                  strstr(stats, "labeler bob: 3 rankings") && strstr(stats, "time per prompt: mean"),
              "stats: %s", stats);
    free(stats);

    /* a share of the prompts: --overlap 0.5 of 4 wants 2 of them twice */
    test_system("rm -f '%s/ranks.jsonl'", dir);
    write_samples(dir, 1);
    CHECK(start_server(&s, dir, "samples.jsonl --out ranks.jsonl --port 0 --rate 0 --overlap 0.5"));
    CHECK_EQ_INT(next_prompt(&s, "ann", NULL, &reply), 0);
    CHECK_EQ_INT(cJSON_GetObjectItem(reply, "wanted")->valueint, 6);
    cJSON_Delete(reply);
    CHECK_EQ_INT(stop_server(&s), 0);
    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(dir);
}

TEST(label_off_loopback_requires_the_token) {
    char *dir = test_tmpdir("label-token");
    write_samples(dir, 0);
    Server s;
    CHECK(start_server(&s, dir, "samples.jsonl --out ranks.jsonl --port 0 --host 0.0.0.0 --rate 0"));
    CHECK_MSG(strlen(s.token) == 32, "no 32-digit token in the URL printed (%s)", s.token);
    char token[64];
    snprintf(token, sizeof token, "%s", s.token);
    s.token[0] = 0; /* requests without it */
    CHECK_EQ_INT(request(&s, "GET", "/", NULL, NULL), 403);
    CHECK_EQ_INT(request(&s, "GET", "/api/next?labeler=ann", NULL, NULL), 403);
    CHECK_EQ_INT(request(&s, "POST", "/api/rank", "{\"labeler\":\"ann\",\"id\":0,\"ranking\":[0,1,2]}", NULL), 403);
    char path[160];
    snprintf(path, sizeof path, "/api/next?labeler=ann&token=%.31s0", token); /* one digit off */
    CHECK_EQ_INT(request(&s, "GET", path, NULL, NULL), token[31] == '0' ? 200 : 403);
    snprintf(path, sizeof path, "/?token=%s", token); /* as in the printed URL */
    CHECK_EQ_INT(request(&s, "GET", path, NULL, NULL), 200);
    snprintf(s.token, sizeof s.token, "%s", token); /* in the header */
    CHECK_EQ_INT(next_prompt(&s, "ann", NULL, NULL), 0);
    CHECK_EQ_INT(stop_server(&s), 0);
    CHECK_EQ_INT(count_lines(path_join(dir, "ranks.jsonl")), 0);

    /* on loopback no token, but a page elsewhere reaching the port by DNS rebinding names another host */
    CHECK(start_server(&s, dir, "samples.jsonl --out ranks.jsonl --port 0 --rate 0"));
    CHECK_EQ_INT(request(&s, "GET", "/", NULL, NULL), 200);
    const char *rebound = "GET /api/next?labeler=ann HTTP/1.1\r\nHost: evil.example:80\r\nConnection: close\r\n\r\n";
    CHECK_EQ_INT(raw_request(s.port, rebound, strlen(rebound), NULL), 403);
    CHECK_EQ_INT(stop_server(&s), 0);
    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(dir);
}

TEST(label_model_output_is_never_markup) {
    char *dir = test_tmpdir("label-xss");
    write_samples(dir, 0);
    Server s;
    CHECK(start_server(&s, dir, "samples.jsonl --out ranks.jsonl --port 0 --rate 0"));
    char check[32], *body;
    for (int i = 0; i < 2; i++) {
        int id = next_prompt(&s, "ann", check, NULL);
        CHECK_EQ_INT(rank(&s, "ann", id, check, "[0,1,2]"), 200);
    }
    CHECK_EQ_INT(request(&s, "GET", "/api/next?labeler=ann", NULL, &body), 200);
    CHECK_MSG(strstr(body, "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e") && !strstr(body, "<script"),
              "the answer with markup came back as %s", body);
    cJSON *j = cJSON_Parse(body); /* and means the same text once parsed */
    CHECK(j && strcmp(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "responses"), 1)->valuestring,
                      "<script>alert(1)</script>") == 0);
    cJSON_Delete(j);
    free(body);
    /* the page writes texts with textContent, never as HTML, and forbids other scripts' sources */
    char *req = xsprintf("GET / HTTP/1.1\r\nHost: localhost:%d\r\nConnection: close\r\n\r\n", s.port), *reply;
    int fd_status = raw_request(s.port, req, strlen(req), &reply);
    CHECK_EQ_INT(fd_status, 200);
    CHECK(strstr(reply, "textContent") && !strstr(reply, "innerHTML") && !strstr(reply, "outerHTML") &&
          !strstr(reply, "insertAdjacentHTML") && !strstr(reply, "document.write"));
    free(reply);
    free(req);
    CHECK_EQ_INT(stop_server(&s), 0);
    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(dir);
}

TEST(label_bad_requests_get_4xx_and_the_server_keeps_serving) {
    char *dir = test_tmpdir("label-bad");
    write_samples(dir, 0);
    Server s;
    CHECK(start_server(&s, dir, "samples.jsonl --out ranks.jsonl --port 0 --rate 0"));
    char check[32];
    int id = next_prompt(&s, "ann", check, NULL);
    CHECK_EQ_INT(id, 0);
    /* a body over 64 KB: announced, and sent in chunks without a length */
    char *big = xmalloc(100001);
    memset(big, 'x', 100000);
    big[100000] = 0;
    CHECK_EQ_INT(request(&s, "POST", "/api/rank", big, NULL), 413);
    char *chunked = xsprintf("POST /api/rank HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: "
                             "application/json\r\nTransfer-Encoding: chunked\r\n\r\n186a0\r\n%s\r\n0\r\n\r\n", big);
    CHECK_EQ_INT(raw_request(s.port, chunked, strlen(chunked), NULL), 413);
    free(chunked);
    free(big);
    /* malformed bodies and rankings */
    const char *bodies[] = {"{", "[1,2]", "\"ann\"", "{\"labeler\":\"ann\"}",
                            "{\"labeler\":\"a n\",\"id\":0,\"ranking\":[0,1,2]}",
                            "{\"labeler\":\"ann\",\"id\":99,\"check\":\"x\",\"ranking\":[0,1,2]}",
                            "{\"labeler\":\"ann\",\"id\":-1,\"ranking\":[0,1,2]}",
                            "{\"labeler\":\"ann\",\"id\":0.5,\"ranking\":[0,1,2]}"};
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        int st = request(&s, "POST", "/api/rank", bodies[i], NULL);
        CHECK_MSG(st >= 400 && st < 500, "body %s: status %d", bodies[i], st);
    }
    const char *rankings[] = {"[0,1]", "[0,1,1]", "[0,1,3]", "[0,[1],[]]", "[0,1,-1]", "[0,1,2.5]", "\"0,1,2\"",
                              "[0,1,2,0]", "{}", "[[0,1,2,2]]"};
    for (size_t i = 0; i < sizeof rankings / sizeof *rankings; i++)
        CHECK_MSG(rank(&s, "ann", id, check, rankings[i]) == 400, "ranking %s was not refused", rankings[i]);
    CHECK_EQ_INT(rank(&s, "ann", id, "0000000000000000", "[0,1,2]"), 409);
    CHECK_EQ_INT(request(&s, "GET", "/api/rank", NULL, NULL), 405);
    CHECK_EQ_INT(request(&s, "GET", "/api/next", NULL, NULL), 400);
    CHECK_EQ_INT(request(&s, "GET", "/api/next?labeler=%3Cb%3E", NULL, NULL), 400);
    CHECK_EQ_INT(request(&s, "GET", "/etc/passwd", NULL, NULL), 404);
    /* not JSON: what a form on another site would send */
    const char *form = "POST /api/rank HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: "
                       "text/plain\r\nContent-Length: 2\r\n\r\n{}";
    CHECK_EQ_INT(raw_request(s.port, form, strlen(form), NULL), 415);
    /* not HTTP at all, and a bounded fuzz of cut and corrupted requests */
    const char garbage[] = "\x01\x02\xff\xfe GARBAGE \x00\r\n\r\n";
    int st = raw_request(s.port, garbage, sizeof garbage - 1, NULL);
    CHECK_MSG(st == 0 || (st >= 400 && st < 500), "garbage: status %d", st);
    const char *json = "{\"labeler\":\"ann\",\"id\":0,\"ranking\":[0,1,2]}";
    char *base = xsprintf("POST /api/rank HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen(json), json);
    size_t len = strlen(base);
    char *fuzz = xmalloc(len + 1);
    srand(7);
    double t0 = now_seconds();
    for (int i = 0; i < 150 && now_seconds() - t0 < 20; i++) {
        memcpy(fuzz, base, len);
        size_t cut = (size_t)rand() % (len + 1);
        for (int m = 0; m < 1 + rand() % 4; m++) fuzz[(size_t)rand() % len] = (char)(rand() % 256);
        st = raw_request_ex(s.port, fuzz, i % 10 == 0 ? cut : len, NULL, 1);
        CHECK_MSG(st == 0 || (st >= 400 && st < 500), "fuzz %d: status %d", i, st);
        if (!server_alive(&s)) break;
    }
    free(fuzz);
    free(base);
    CHECK_MSG(server_alive(&s), "the server stopped");
    CHECK_EQ_INT(count_lines(path_join(dir, "ranks.jsonl")), 0); /* nothing written by any of it */
    /* and it still serves */
    CHECK_EQ_INT(next_prompt(&s, "ann", check, NULL), id);
    CHECK_EQ_INT(rank(&s, "ann", id, check, "[1,0,2]"), 200);
    CHECK_EQ_INT(count_lines(path_join(dir, "ranks.jsonl")), 1);
    CHECK_EQ_INT(stop_server(&s), 0);

    /* the rate bound: past 5 requests a second from one address, 429 */
    CHECK(start_server(&s, dir, "samples.jsonl --out ranks.jsonl --port 0 --rate 5"));
    int refused = 0;
    for (int i = 0; i < 12; i++) refused += request(&s, "GET", "/api/next?labeler=ann", NULL, NULL) == 429;
    CHECK_MSG(refused >= 4, "%d of 12 quick requests refused with --rate 5", refused);
    usleep(1100 * 1000);
    CHECK_EQ_INT(request(&s, "GET", "/api/next?labeler=ann", NULL, NULL), 200);
    CHECK_EQ_INT(stop_server(&s), 0);
    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(dir);
}

/* The page in a real browser: Debian's chromium, headless, loads it, runs its
 * script against the server, and dumps the DOM it built. */
TEST(label_page_in_headless_chromium) {
    if (test_system("command -v chromium > /dev/null 2>&1") != 0)
        SKIP("no chromium (apt-get install chromium) to load the page in");
    char *dir = test_tmpdir("label-chromium");
    write_samples(dir, 0);
    Server s;
    CHECK(start_server(&s, dir, "samples.jsonl --out ranks.jsonl --port 0 --rate 0"));
    char check[32];
    int id = next_prompt(&s, "ann", check, NULL); /* on to the chat prompt, the system turn in it */
    CHECK_EQ_INT(rank(&s, "ann", id, check, "[0,1,2]"), 200);
    /* --virtual-time-budget: chromium waits for the script's requests before dumping */
    const char *chromium = "timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage "
                           "--user-data-dir='%s/profile' --virtual-time-budget=10000";
    char *flags = xsprintf(chromium, dir);
    CHECK_EQ_INT(test_system("%s --dump-dom 'http://127.0.0.1:%d/?labeler=ann' > '%s/dom.html' 2> '%s/chromium.log'",
                             flags, s.port, dir, dir), 0);
    char *dom = read_file(path_join(dir, "dom.html"), NULL);
    CHECK_MSG(strstr(dom, ">Answer in one word.<") && strstr(dom, ">What is the capital of Spain?<") &&
                  strstr(dom, ">system<") && strstr(dom, ">Madrid<") && strstr(dom, ">Lima<") &&
                  strstr(dom, "of 3 rankings done"),
              "the page did not show the chat and its answers; see %s/dom.html", dir);
    free(dom);
    /* the next prompt: the markup answer shown as its characters, no element made of it */
    id = next_prompt(&s, "ann", check, NULL);
    CHECK_EQ_INT(rank(&s, "ann", id, check, "[0,1,2]"), 200);
    CHECK_EQ_INT(test_system("%s --dump-dom 'http://127.0.0.1:%d/?labeler=ann' > '%s/dom.html' 2>> '%s/chromium.log'",
                             flags, s.port, dir, dir), 0);
    dom = read_file(path_join(dir, "dom.html"), NULL);
    CHECK_MSG(strstr(dom, ">&lt;script&gt;alert(1)&lt;/script&gt;<") && !strstr(dom, "<script>alert"),
              "the <script> answer was not shown as text; see %s/dom.html", dir);
    CHECK(strstr(dom, ">hello<") && strstr(dom, ">bye<"));
    free(dom);
    /* a phone-sized screenshot renders */
    CHECK_EQ_INT(test_system("cd '%s' && %s --window-size=390,844 --screenshot=phone.png "
                             "'http://127.0.0.1:%d/?labeler=ann' > /dev/null 2>> chromium.log && test -s phone.png",
                             dir, flags, s.port), 0);
    free(flags);
    CHECK_EQ_INT(stop_server(&s), 0);
    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(dir);
}

/* A recipe step that waits for people: `lmforge label --min 2` holds the
 * pipeline until two rankings are in (posted here over HTTP while it
 * waits), then the next step trains a reward model on them. */
TEST(label_recipe_step_waits_for_rankings_then_rm_trains_on_them) {
    char *dir = test_tmpdir("label-recipe");
    write_samples(dir, 0);
    write_language_model(path_join(dir, "sft"));
    char *recipe = path_join(dir, "human.recipe");
    FILE *f = xfopen(recipe, "w");
    fprintf(f, "step label\n"
               "    lmforge label ${run_dir}/samples.jsonl --out ${run_dir}/ranks.jsonl --port 0 --rate 0 --min 2 "
               "--exit-when-done\n"
               "    output ${run_dir}/ranks.jsonl\n"
               "step rm\n"
               "    lmforge rm --init ${run_dir}/sft --out ${run_dir}/rm --data ${run_dir}/ranks.jsonl --steps 2 "
               "--eval-fraction 0 --batch 2\n"
               "    output ${run_dir}/rm/model/config.json\n");
    fclose(f);
    char *bin = realpath(lmforge_bin(), NULL);
    char *cmd = xsprintf("env OMP_NUM_THREADS=1 '%s' pipeline human.recipe --run-dir . > pipeline.log 2>&1", bin);
    Server s;
    if (!start_command(&s, dir, cmd, "pipeline.log")) {
        CHECK_MSG(0, "the label step did not start; see %s/pipeline.log", dir);
        return;
    }
    char check[32], *rm_config = path_join(dir, "rm/model/config.json"), *out = path_join(dir, "ranks.jsonl");
    int id = next_prompt(&s, "ann", check, NULL);
    CHECK_EQ_INT(rank(&s, "ann", id, check, "[2,[0,1]]"), 200);
    usleep(800 * 1000); /* one ranking of the two wanted: the pipeline still waits */
    CHECK_MSG(server_alive(&s) && !dir_exists(path_join(dir, "rm")), "the pipeline went on after one ranking");
    id = next_prompt(&s, "bob", check, NULL);
    CHECK_EQ_INT(rank(&s, "bob", id, check, "[0,1,2]"), 200);
    CHECK_MSG(wait_exit(&s, 120) == 0, "the pipeline failed; see %s/pipeline.log", dir);
    CHECK_EQ_INT(count_lines(out), 2);
    CHECK_MSG(file_exists(rm_config), "rm did not train on the rankings; see %s/pipeline.log", dir);
    char *log = read_file(path_join(dir, "pipeline.log"), NULL);
    CHECK_MSG(strstr(log, "stops once") && strstr(log, "pipeline complete: 2 steps"), "log: %s", log);
    free(log);
    /* run again: both steps complete, nothing waits */
    CHECK_EQ_INT(test_system("cd '%s' && '%s' pipeline human.recipe --run-dir . > again.log 2>&1", dir, bin), 0);
    /* more than the samples can give would never end: refused at once */
    CHECK(test_system("cd '%s' && '%s' label samples.jsonl --out more.jsonl --port 0 --min 4 > min.log 2>&1", dir,
                      bin) != 0);
    log = read_file(path_join(dir, "min.log"), NULL);
    CHECK_MSG(strstr(log, "--min 4: samples.jsonl wants only 3 rankings (3 prompts)"), "--min 4: %s", log);
    free(log);
    free(rm_config);
    free(out);
    free(cmd);
    free(bin);
    free(recipe);
    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(dir);
}

/* `lmforge label --from-stdin` as an annotator program: each request line
 * shows up on the page only once the one before is ranked, and the reply on
 * stdout is the person's ranking over every answer asked about. */
TEST(label_from_stdin_answers_annotator_requests_with_the_pages_rankings) {
    char *dir = test_tmpdir("label-stdin");
    char *requests = path_join(dir, "requests.jsonl");
    FILE *f = xfopen(requests, "w");
    fprintf(f, "{\"prompt\": \"Say hi.\", \"responses\": [\"hi\", \"\", \"<b>yo</b>\", \"hi\"]}\n"); /* a repeat, a blank */
    fprintf(f, "{\"prompt\": [{\"role\": \"user\", \"content\": \"Count.\"}], \"responses\": [\"1\", \"2\", \"3\"]}\n");
    fprintf(f, "{\"prompt\": \"Same?\", \"responses\": [\"x\", \"x\"]}\n"); /* nothing to choose: no person asked */
    fprintf(f, "{\"prompt\": \"Say hi.\", \"responses\": [\"hi\", \"\", \"<b>yo</b>\", \"hi\"]}\n"); /* asked again */
    fclose(f);
    Server s;
    char *bin = realpath(lmforge_bin(), NULL);
    char *cmd = xsprintf("'%s' label --from-stdin --port 0 --rate 0 --out ranks.jsonl < requests.jsonl "
                         "> replies.jsonl 2> label.log", bin);
    CHECK(start_command(&s, dir, cmd, "label.log"));
    char check[32];
    cJSON *reply;
    /* the first request: its two distinct non-empty answers, and only it */
    int id = -1;
    for (int i = 0; i < 100 && id < 0; i++, usleep(50 * 1000)) {
        id = next_prompt(&s, "ann", check, &reply);
        if (id < 0) cJSON_Delete(reply);
    }
    CHECK_EQ_INT(id, 0);
    CHECK_EQ_INT(cJSON_GetObjectItem(reply, "prompts")->valueint, 1);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(reply, "waiting")));
    const cJSON *shown = cJSON_GetObjectItem(reply, "responses");
    CHECK_EQ_INT(cJSON_GetArraySize(shown), 2);
    int yo = strcmp(cJSON_GetArrayItem(shown, 1)->valuestring, "<b>yo</b>") == 0 ? 1 : 0;
    cJSON_Delete(reply);
    /* a skip: with nobody else there it comes back, since a program waits on it */
    char *json = xsprintf("{\"labeler\":\"ann\",\"id\":0,\"check\":\"%s\"}", check);
    CHECK_EQ_INT(request(&s, "POST", "/api/skip", json, NULL), 200);
    free(json);
    CHECK_EQ_INT(next_prompt(&s, "ann", check, NULL), 0);
    char ranking[16];
    snprintf(ranking, sizeof ranking, "[%d,%d]", yo, 1 - yo); /* "<b>yo</b>" best */
    CHECK_EQ_INT(rank(&s, "ann", 0, check, ranking), 200);
    /* the second request reaches the page after the first is answered */
    id = -1;
    for (int i = 0; i < 100 && id < 0; i++, usleep(50 * 1000)) id = next_prompt(&s, "ann", check, NULL);
    CHECK_EQ_INT(id, 1);
    CHECK_EQ_INT(rank(&s, "ann", 1, check, "[2,[0,1]]"), 200); /* a tie: a tie in the reply too */
    CHECK_MSG(wait_exit(&s, 20) == 0, "label --from-stdin did not end with its input; see %s/label.log", dir);
    char *replies = read_file(path_join(dir, "replies.jsonl"), NULL);
    /* "<b>yo</b>" (2), then "hi" tied with its repeat (0, 3), the blank (1) last; the tie as ranked; nothing to
     * choose between: all tied; the fourth asked again is answered from the first ranking */
    CHECK_MSG(strcmp(replies, "{\"ranking\":[2,[0,3],1]}\n{\"ranking\":[2,[0,1]]}\n{\"ranking\":[[0,1]]}\n"
                              "{\"ranking\":[2,[0,3],1]}\n") == 0,
              "stdout: %s", replies);
    free(replies);
    CHECK_EQ_INT(count_lines(path_join(dir, "ranks.jsonl")), 2);
    char *log = read_file(path_join(dir, "label.log"), NULL);
    CHECK_MSG(strstr(log, "label: open http://127.0.0.1:"), "the URL is not on stderr: %s", log);
    free(log);

    /* run again on the same --out: both answered from it, with no one on the page */
    free(cmd);
    cmd = xsprintf("cd '%s' && head -n 2 requests.jsonl | timeout 20 '%s' label --from-stdin --port 0 --out ranks.jsonl "
                   "> again.jsonl 2> again.log", dir, bin);
    CHECK_EQ_INT(test_system("%s", cmd), 0);
    replies = read_file(path_join(dir, "again.jsonl"), NULL);
    CHECK_MSG(strcmp(replies, "{\"ranking\":[2,[0,3],1]}\n{\"ranking\":[2,[0,1]]}\n") == 0, "again: %s", replies);
    free(replies);
    /* a bad request: an error naming the line, non-zero */
    CHECK(test_system("cd '%s' && printf '{\"prompt\": \"a\", \"responses\": [1, 2]}\\n' | '%s' label --from-stdin "
                      "--port 0 > /dev/null 2> bad.log", dir, bin) != 0);
    log = read_file(path_join(dir, "bad.log"), NULL);
    CHECK_MSG(strstr(log, "stdin line 1: field \"responses\" must be a list of strings"), "bad: %s", log);
    free(log);
    /* a ranking in --out that is not one, which it would answer with: an error naming the file and line */
    test_system("cd '%s' && echo '{\"prompt\": \"Q\", \"responses\": [\"a\", \"b\"], \"ranking\": [0, 5]}' >> ranks.jsonl",
                dir);
    CHECK(test_system("cd '%s' && echo '{\"prompt\": \"Q\", \"responses\": [\"a\", \"b\"]}' | '%s' label "
                      "--from-stdin --port 0 --out ranks.jsonl > /dev/null 2> bad.log", dir, bin) != 0);
    log = read_file(path_join(dir, "bad.log"), NULL);
    CHECK_MSG(strstr(log, "ranks.jsonl:3: \"ranking\" must hold each answer index 0..1 once"), "bad: %s", log);
    free(log);
    free(cmd);
    free(bin);
    free(requests);
    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(dir);
}

/* People in PPO's reward-model refresh loop, with no change to ppo:
 * `--annotator "lmforge label --from-stdin"` puts each refresh's answers on
 * the page, and a labeler here (ranking a fruit above a tool, over HTTP)
 * gives the rankings the refresh trains on. */
TEST_SLOW(label_page_ranks_the_answers_of_a_ppo_refresh) {
    char *dir = test_tmpdir("label-ppo");
    char *sft = ppo_test_write_sft(dir, "sft"), *rm = ppo_test_write_reward_model(dir, "rm");
    char *prompts = ppo_test_write_prompts(dir), *bin = realpath(lmforge_bin(), NULL);
    char *cmd = xsprintf("env OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 '%s' ppo --policy '%s' --reward '%s' --prompts "
                         "'%s' --out run --rollout-prompts 8 --minibatch 8 --epochs 1 --max-new-tokens 6 "
                         "--iterations 2 --refresh-every 1 --refresh-prompts 3 --refresh-k 4 --refresh-lr 1e-3 "
                         "--annotator \"'%s' label --from-stdin --port 0 --rate 0\" > ppo.log 2>&1",
                         bin, sft, rm, prompts, bin);
    Server s;
    CHECK_MSG(start_command(&s, dir, cmd, "ppo.log"), "no label page came up; see %s/ppo.log", dir);
    int ranked = 0, status = -1;
    double t0 = now_seconds();
    while (s.pid > 0 && now_seconds() - t0 < 180) {
        if (waitpid(s.pid, &status, WNOHANG) == s.pid) {
            s.pid = 0;
            break;
        }
        s.port = last_port(s.log); /* each refresh starts the annotator, and its server, afresh */
        char check[32];
        cJSON *reply = NULL;
        int id = next_prompt(&s, "ann", check, &reply);
        if (id >= 0) { /* the fruits first */
            const cJSON *responses = cJSON_GetObjectItem(reply, "responses");
            char order[64] = "[";
            for (int pass = 0; pass < 2; pass++)
                for (int i = 0; i < cJSON_GetArraySize(responses); i++)
                    if (ppo_test_is_fruit(cJSON_GetArrayItem(responses, i)->valuestring) == (pass == 0))
                        snprintf(order + strlen(order), sizeof order - strlen(order), "%s%d", strlen(order) > 1 ? "," : "", i);
            strcat(order, "]");
            ranked += rank(&s, "ann", id, check, order) == 200;
        } else {
            usleep(100 * 1000);
        }
        cJSON_Delete(reply);
    }
    if (s.pid > 0) kill(s.pid, SIGKILL), waitpid(s.pid, NULL, 0);
    free(s.log);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "ppo failed; see %s/ppo.log", dir);
    CHECK_MSG(ranked >= 1, "no answers of the refreshes reached the page; see %s/ppo.log", dir);
    /* the comparisons each refresh trained on are the page's rankings: a fruit first wherever there is one */
    int n_lines = 0, fruit_first = 0, with_fruit = 0;
    for (int it = 1; it <= 2; it++) {
        char *path = xsprintf("%s/run/comparisons-%d.jsonl", dir, it);
        int n;
        cJSON **lines = ppo_test_read_jsonl(path, &n);
        for (int i = 0; i < n; i++) {
            const cJSON *responses = cJSON_GetObjectItem(lines[i], "responses");
            int best = cJSON_GetArrayItem(cJSON_GetObjectItem(lines[i], "ranking"), 0)->valueint, any = 0;
            for (int k = 0; k < cJSON_GetArraySize(responses); k++)
                any |= ppo_test_is_fruit(cJSON_GetArrayItem(responses, k)->valuestring);
            with_fruit += any;
            fruit_first += any && ppo_test_is_fruit(cJSON_GetArrayItem(responses, best)->valuestring);
        }
        n_lines += n;
        ppo_test_free_jsonl(lines, n);
        free(path);
    }
    CHECK_MSG(n_lines >= 1 && fruit_first == with_fruit, "%d comparisons, %d of the %d with a fruit rank one first",
              n_lines, fruit_first, with_fruit);
    free(cmd);
    free(bin);
    free(sft);
    free(rm);
    free(prompts);
    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(dir);
}

/* The page in Debian's chromium driven through the DevTools protocol
 * (puppeteer-core, fetched once into the npm cache; tests/label/
 * browser_test.js): keys, a drag, a reload, two labelers at once, a <script>
 * answer kept inert; then --out holds exactly what was clicked. */
TEST(label_page_in_chromium_through_the_devtools_protocol) {
    if (test_system("command -v chromium > /dev/null 2>&1 && command -v node > /dev/null 2>&1") != 0)
        SKIP("no chromium or node (apt-get install chromium nodejs npm) to drive the page with");
    const char *env = getenv("LMF_NPM_CACHE"), *home = getenv("HOME");
    char *cache = env && *env ? xsprintf("%s/label-browser", env)
                              : xsprintf("%s/.cache/lmforge-npm/label-browser", home && *home ? home : "/tmp");
    if (test_system("sh tests/label/fetch_puppeteer.sh '%s' > /dev/null 2>&1", cache) != 0) {
        free(cache);
        SKIP("puppeteer-core unavailable: no npm registry reachable and none cached (tests/label/fetch_puppeteer.sh)");
    }
    char *dir = test_tmpdir("label-devtools");
    char *samples = path_join(dir, "samples.jsonl");
    FILE *f = xfopen(samples, "w");
    fprintf(f, "{\"prompt\": \"What is the capital of France?\", \"responses\": [\"Paris\", \"Rome\", \"Lyon\"]}\n");
    fprintf(f, "{\"prompt\": [{\"role\": \"system\", \"content\": \"Answer in one word.\"}, {\"role\": \"user\", "
               "\"content\": \"What is the capital of Spain?\"}], \"responses\": [\"Madrid\", \"Paris\", \"Lima\"]}\n");
    fprintf(f, "{\"prompt\": \"Say hello.\", \"responses\": [\"hello\", \"<script>window.pwned=1</script><img src=x "
               "onerror=window.pwned=2>\", \"bye\"]}\n");
    for (int i = 0; i < 2; i++)
        fprintf(f, "{\"prompt\": \"What is %d plus %d?\", \"responses\": [\"%d\", \"%d\", \"%d\"]}\n", i, i, 2 * i,
                2 * i + 1, i + 7);
    fclose(f);
    Server s;
    CHECK(start_server(&s, dir, "samples.jsonl --out ranks.jsonl --port 0 --rate 0"));
    const char *shots = getenv("LMF_LABEL_SCREENSHOTS"); /* a directory: the README's screenshots are taken there */
    int rc = test_system("NODE_PATH='%s/node_modules' timeout 120 node tests/label/browser_test.js "
                         "'http://127.0.0.1:%d/' '%s' '%s' > '%s/browser.log' 2>&1",
                         cache, s.port, dir, shots ? shots : "", dir);
    CHECK_EQ_INT(stop_server(&s), 0);
    char *log = read_file(path_join(dir, "browser.log"), NULL);
    CHECK_MSG(rc == 0, "the browser test failed: %s", log);
    free(log);
    /* --out holds what was clicked: each prompt once, its answers in the order ranked */
    char *out = path_join(dir, "ranks.jsonl"), *clicked = path_join(dir, "clicked.jsonl");
    int n_out = count_lines(out), n_clicked = count_lines(clicked), matched = 0;
    CHECK_EQ_INT(n_out, 5);
    CHECK_EQ_INT(n_clicked, 5);
    for (int c = 0; c < n_clicked; c++) {
        cJSON *want = line_json(clicked, c);
        const char *prompt = cJSON_GetObjectItem(want, "prompt")->valuestring;
        const cJSON *ranked = cJSON_GetObjectItem(want, "ranked");
        for (int i = 0; i < n_out; i++) {
            cJSON *got = line_json(out, i);
            const cJSON *p = cJSON_GetObjectItem(got, "prompt");
            if (cJSON_IsArray(p)) p = cJSON_GetObjectItem(cJSON_GetArrayItem(p, cJSON_GetArraySize(p) - 1), "content");
            const cJSON *responses = cJSON_GetObjectItem(got, "responses"), *ranking = cJSON_GetObjectItem(got, "ranking");
            if (cJSON_IsString(p) && strcmp(p->valuestring, prompt) == 0) {
                int same = cJSON_GetArraySize(ranking) == cJSON_GetArraySize(ranked) && cJSON_GetArraySize(ranked) == 3;
                for (int k = 0; same && k < 3; k++) {
                    const cJSON *r = cJSON_GetArrayItem(ranking, k);
                    same = cJSON_IsNumber(r) && strcmp(cJSON_GetArrayItem(responses, r->valueint)->valuestring,
                                                       cJSON_GetArrayItem(ranked, k)->valuestring) == 0;
                }
                char *a = json_compact(got), *b = json_compact(want);
                CHECK_MSG(same, "written %s, clicked %s", a, b);
                free(a);
                free(b);
                matched += same;
            }
            cJSON_Delete(got);
        }
        cJSON_Delete(want);
    }
    CHECK_EQ_INT(matched, 5);

    /* --from-stdin: the page, open before any request, gets one when it comes and ranks it */
    f = xfopen(path_join(dir, "request.jsonl"), "w");
    fprintf(f, "{\"prompt\": \"Pick one.\", \"responses\": [\"red\", \"green\", \"blue\"]}\n");
    fclose(f);
    char *bin = realpath(lmforge_bin(), NULL);
    char *cmd = xsprintf("sh -c 'while [ ! -e go ]; do sleep 0.1; done; cat request.jsonl; while [ ! -e done ]; do sleep 0.1; done' | timeout 120 '%s' label "
                         "--from-stdin --port 0 --rate 0 > replies.jsonl 2> label.log", bin);
    CHECK(start_command(&s, dir, cmd, "label.log"));
    rc = test_system("NODE_PATH='%s/node_modules' timeout 120 node tests/label/browser_test.js --stream "
                     "'http://127.0.0.1:%d/' '%s' > '%s/browser.log' 2>&1", cache, s.port, dir, dir);
    log = read_file(path_join(dir, "browser.log"), NULL);
    CHECK_MSG(rc == 0, "the browser test (--stream) failed: %s", log);
    free(log);
    fclose(xfopen(path_join(dir, "done"), "w")); /* the input ends, whatever happened in the browser */
    CHECK_EQ_INT(wait_exit(&s, 20), 0);
    cJSON *want = line_json(clicked, 0);
    char *ranked = json_compact(cJSON_GetObjectItem(want, "ranked")), *replies = read_file(path_join(dir, "replies.jsonl"), NULL);
    /* the reply ranks the answers as clicked: red 0, green 1, blue 2 */
    char expect[64] = "{\"ranking\":[";
    const char *names[] = {"red", "green", "blue"};
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < 3; j++)
            if (strcmp(cJSON_GetArrayItem(cJSON_GetObjectItem(want, "ranked"), k)->valuestring, names[j]) == 0)
                snprintf(expect + strlen(expect), sizeof expect - strlen(expect), "%s%d", k ? "," : "", j);
    strcat(expect, "]}\n");
    CHECK_MSG(strcmp(replies, expect) == 0, "clicked %s, replied %s", ranked, replies);
    free(ranked);
    free(replies);
    cJSON_Delete(want);
    free(cmd);
    free(bin);
    free(out);
    free(clicked);
    free(samples);
    free(cache);
    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(dir);
}
