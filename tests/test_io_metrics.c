/* test_io_metrics.c — metrics.jsonl (lines, averaging, resume truncation,
 * reading series back) and the progress line. */
#include <stdlib.h>
#include <string.h>

#include "../src/base/metrics.h"
#include "../src/base/progress.h"
#include "../src/base/util.h"
#include "test.h"

static void log_steps(MetricsLog *m, long from, long to) {
    for (long step = from; step <= to; step++) {
        metrics_begin(m, step);
        metrics_add(m, "loss", 10.0 / (double)step);
        metrics_add(m, "lr", 3e-4);
        metrics_end(m);
    }
}

TEST(metrics_lines_and_averaging) {
    char *dir = test_tmpdir("metrics");
    char *run = path_join(dir, "run"); /* created by metrics_open */
    MetricsLog *m = metrics_open(run);
    metrics_begin(m, 1);
    metrics_add(m, "loss", 2.5);
    metrics_add(m, "dpo/margin", 1.0);
    metrics_add(m, "dpo/margin", 2.0); /* averaged with the previous one */
    metrics_add(m, "kl", NAN);
    metrics_add(m, "odd \"key\"", 0.1f); /* float values print exactly */
    metrics_end(m);
    metrics_begin(m, 2);
    metrics_add(m, "loss", 2.0);
    metrics_end(m);
    metrics_close(m);

    char *path = path_join(run, "metrics.jsonl");
    char *text = read_file(path, NULL);
    CHECK_MSG(strcmp(text, "{\"step\":1,\"loss\":2.5,\"dpo/margin\":1.5,\"kl\":null,\"odd \\\"key\\\"\":0.100000001}\n"
                           "{\"step\":2,\"loss\":2}\n") == 0,
              "metrics.jsonl is:\n%s", text);
    free(text);

    double *steps, *values;
    int n = metrics_read_series(path, "kl", &steps, &values);
    CHECK_EQ_INT(n, 1);
    CHECK(n == 1 && steps[0] == 1 && isnan(values[0]));
    free(steps);
    free(values);
    n = metrics_read_series(path, "loss", &steps, &values);
    CHECK(n == 2 && steps[1] == 2 && values[0] == 2.5 && values[1] == 2.0);
    free(steps);
    free(values);
    CHECK_EQ_INT(metrics_read_series(path, "absent", &steps, &values), 0);
    free(steps);
    free(values);
    test_system("rm -rf %s", dir);
    free(path);
    free(run);
    free(dir);
}

TEST(metrics_resume_drops_steps_after_the_checkpoint) {
    char *dir = test_tmpdir("metrics-resume");
    char *path = path_join(dir, "metrics.jsonl");
    MetricsLog *m = metrics_open(dir);
    log_steps(m, 1, 8); /* the run got to step 8, its last checkpoint was at 5 */
    metrics_close(m);
    FILE *f = xfopen(path, "ab");
    fputs("{\"step\":9,\"lo", f); /* and it crashed while writing step 9 */
    fclose(f);

    m = metrics_open_resume(dir, 5);
    log_steps(m, 6, 10);
    metrics_close(m);

    double *steps, *values;
    int n = metrics_read_series(path, "loss", &steps, &values);
    CHECK_EQ_INT(n, 10);
    for (int i = 0; i < n; i++) {
        CHECK_EQ_INT(steps[i], i + 1); /* each step once, in order */
        CHECK_NEAR(values[i], 10.0 / (i + 1), 1e-8);
    }
    free(steps);
    free(values);

    /* Resuming where no metrics exist yet starts the file. */
    char *fresh = path_join(dir, "fresh");
    m = metrics_open_resume(fresh, 3);
    log_steps(m, 4, 4);
    metrics_close(m);
    char *fresh_path = path_join(fresh, "metrics.jsonl");
    CHECK_EQ_INT(metrics_read_series(fresh_path, "lr", &steps, &values), 1);
    free(steps);
    free(values);
    test_system("rm -rf %s", dir);
    free(fresh_path);
    free(fresh);
    free(path);
    free(dir);
}

TEST(metrics_read_series_ignores_a_line_being_written) {
    char *dir = test_tmpdir("metrics-live");
    char *path = path_join(dir, "metrics.jsonl");
    const char *text = "{\"step\":1,\"loss\":3}\n{\"step\":2,\"loss\":2}\n{\"step\":3,\"lo";
    write_bytes(path, text, strlen(text));
    double *steps, *values;
    CHECK_EQ_INT(metrics_read_series(path, "loss", &steps, &values), 2);
    free(steps);
    free(values);
    test_system("rm -rf %s", dir);
    free(path);
    free(dir);
}

static void read_loss(void *path) {
    double *steps, *values;
    metrics_read_series(path, "loss", &steps, &values);
}

TEST(metrics_read_series_reports_bad_lines) {
    char *dir = test_tmpdir("metrics-bad");
    char *path = path_join(dir, "metrics.jsonl");
    const char *cases[][2] = {
        {"{\"step\":1,\"loss\":3}\nnot json\n", "metrics.jsonl:2: not a JSON object"},
        {"{\"step\":1,\"loss\":\"high\"}\n", "metrics.jsonl:1: field \"loss\" must be a number"},
        {"{\"loss\":1}\n", "metrics.jsonl:1: field \"step\" is missing"},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++) {
        write_bytes(path, cases[i][0], strlen(cases[i][0]));
        CHECK_DIES(read_loss, path, cases[i][1]);
    }
    test_system("rm -rf %s", dir);
    free(path);
    free(dir);
}

TEST(progress_formats_durations_and_counts) {
    char buf[32];
    progress_format_duration(5, buf, sizeof buf);
    CHECK(strcmp(buf, "5s") == 0);
    progress_format_duration(252, buf, sizeof buf);
    CHECK(strcmp(buf, "4m12s") == 0);
    progress_format_duration(3780, buf, sizeof buf);
    CHECK(strcmp(buf, "1h03m") == 0);
    progress_format_duration(1e12, buf, sizeof buf);
    CHECK(strcmp(buf, "277777778h") == 0);
    progress_format_duration(NAN, buf, sizeof buf);
    CHECK(strcmp(buf, "?") == 0);
    progress_format_count(850, buf, sizeof buf);
    CHECK(strcmp(buf, "850") == 0);
    progress_format_count(25300, buf, sizeof buf);
    CHECK(strcmp(buf, "25.3k") == 0);
    progress_format_count(1.5e6, buf, sizeof buf);
    CHECK(strcmp(buf, "1.5M") == 0);
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

TEST(progress_log_lines_when_not_a_terminal) {
    char *out = NULL;
    size_t len = 0;
    Progress p;
    progress_init(&p, "step", 0, 35);
    p.out = open_memstream(&out, &len);
    p.tty = 0;
    p.every_seconds = 1e9; /* lines by step count only, so the test does not depend on time */
    p.every_steps = 10;
    for (long step = 1; step <= 35; step++) {
        progress_add_tokens(&p, 1000);
        progress_update(&p, step, "loss %.4f", 4.0 - step * 0.1);
    }
    progress_finish(&p);
    fclose(p.out);
    /* The first step, every 10th, and the last. */
    CHECK_EQ_INT(count_lines(out), 5);
    CHECK(strncmp(out, "step 1/35 | loss 3.9000 | ", 26) == 0);
    CHECK(strstr(out, "\nstep 10/35 | loss 3.0000 | ") != NULL);
    CHECK(strstr(out, "\nstep 30/35 | ") != NULL);
    CHECK(strstr(out, "tok/s | ETA ") != NULL);
    const char *last = strstr(out, "\nstep 35/35 | loss 0.5000 | ");
    CHECK(last && strstr(last, " | took ") && !strstr(last, "ETA"));
    CHECK(strchr(out, '\r') == NULL);
    free(out);
}

TEST(progress_redraws_in_place_on_a_terminal) {
    char *out = NULL;
    size_t len = 0;
    Progress p;
    progress_init(&p, "sample", 10, 12); /* a resumed run: steps 11 and 12 remain */
    p.out = open_memstream(&out, &len);
    p.tty = 1;
    p.every_seconds = 0;
    progress_update(&p, 11, NULL);
    progress_note(&p, "eval loss %.2f", 1.25);
    progress_update(&p, 12, NULL);
    progress_finish(&p);
    fclose(p.out);
    CHECK_MSG(strncmp(out, "\rsample 11/12 | ETA ", 20) == 0, "output: %s", out);
    /* The note clears the progress line, takes a line of its own, and the
     * progress line is drawn again below it. */
    CHECK(strstr(out, "\r\033[Keval loss 1.25\nsample 11/12 | ETA") != NULL);
    CHECK(strstr(out, "\rsample 12/12 | took ") != NULL);
    CHECK(len > 0 && out[len - 1] == '\n');
    free(out);
}

TEST(progress_finish_shows_a_throttled_last_step) {
    char *out = NULL;
    size_t len = 0;
    Progress p;
    progress_init(&p, "step", 0, 100);
    p.out = open_memstream(&out, &len);
    p.tty = 0;
    p.every_seconds = 1e9;
    for (long step = 1; step <= 7; step++) progress_update(&p, step, "loss %d", (int)step); /* stopped early */
    progress_finish(&p);
    fclose(p.out);
    CHECK_EQ_INT(count_lines(out), 2);
    CHECK(strstr(out, "\nstep 7/100 | loss 7 | ETA ") != NULL);
    free(out);
}
