/* test_mpi.c — data-parallel training under mpirun, against one process.
 *
 * The test binary is not an MPI program: it starts `mpirun -np N
 * build/lmforge-mpi pretrain ...` on a tiny model and a text made here, and
 * compares metrics.jsonl with a run of build/lmforge taking the same global
 * batch (grad_accum × N micro-batches) in one process. It also runs the
 * communication checks of tests/mpi/dist_checks.c on 2 and 3 ranks. The
 * tests skip, saying why, when mpirun or the MPI build is missing; as root
 * they pass --allow-run-as-root. */
#include <stdlib.h>
#include <string.h>

#include "../src/base/metrics.h"
#include "../src/base/util.h"
#include "../src/io/safetensors.h"
#include "test.h"

static const char *mpi_bin(void) {
    const char *env = getenv("LMFORGE_MPI");
    return env && *env ? env : "build/lmforge-mpi";
}

/* mpirun as these tests use it: any user (root too), more ranks than cores,
 * one OpenMP thread per rank. */
#define MPIRUN "OMP_NUM_THREADS=1 timeout 120 mpirun --allow-run-as-root --oversubscribe --bind-to none"

/* Why the MPI tests cannot run here, or NULL. */
static const char *mpi_missing(void) {
    if (test_system("command -v mpirun >/dev/null 2>&1") != 0)
        return "mpirun not found: install openmpi-bin and libopenmpi-dev (scripts/deps.sh)";
    if (!file_exists(mpi_bin())) return "the MPI build is not there: run make mpi (make test does when mpicc exists)";
    if (!file_exists("build/mpi-dist-checks")) return "build/mpi-dist-checks not built: run make mpi";
    return NULL;
}

/* A text of 400 lines of words in a fixed pseudo-random order, and a
 * 300-token tokenizer trained on it, in dir. */
static void make_corpus(const char *dir) {
    static const char *words[] = {"the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "and",
                                  "then", "runs", "to", "its", "home", "where", "it", "sleeps", "until", "morning"};
    char *path = xsprintf("%s/text.txt", dir);
    FILE *f = xfopen(path, "w");
    unsigned state = 12345;
    for (int line = 0; line < 400; line++) {
        for (int w = 0; w < 12; w++) {
            state = state * 1103515245u + 12345u;
            fprintf(f, "%s%s", w ? " " : "", words[(state >> 16) % LMF_ARRAY_LEN(words)]);
        }
        fprintf(f, ".\n");
    }
    fclose(f);
    free(path);
    CHECK(test_system("%s tokenizer train --vocab-size 300 --out %s/tok %s/text.txt > /dev/null 2>&1", lmforge_bin(),
                      dir, dir) == 0);
}

/* The flags every run shares: 4 steps of a 2-layer model, evaluation and a
 * checkpoint every 2 steps, shards prepared once in dir/shards. */
#define PRETRAIN_FLAGS                                                                                        \
    "--tokenizer %s/tok --shards %s/shards --dim 32 --layers 2 --heads 2 --seq-len 16 --batch 2 --steps 4 " \
    "--eval-every 2 --save-every 2 --lr 1e-2 --warmup 0 %s/text.txt"

static int run_single(const char *dir, const char *out, int grad_accum, const char *extra) {
    return test_system("OMP_NUM_THREADS=1 %s pretrain --out %s/%s --grad-accum %d %s " PRETRAIN_FLAGS
                       " > %s/%s.log 2>&1",
                       lmforge_bin(), dir, out, grad_accum, extra, dir, dir, dir, dir, out);
}

/* env: variables set for the ranks ("" for none); flags: added to the command. */
static int run_mpi(const char *dir, const char *out, int ranks, int grad_accum, const char *env, const char *flags) {
    return test_system("%s %s -np %d %s pretrain --out %s/%s --grad-accum %d %s " PRETRAIN_FLAGS " > %s/%s.log 2>&1",
                       env, MPIRUN, ranks, mpi_bin(), dir, out, grad_accum, flags, dir, dir, dir, dir, out);
}

/* The values of `key` in dir/run/metrics.jsonl; returns their number (at most cap). */
static int read_series(const char *dir, const char *run, const char *key, double *values, int cap) {
    char *path = xsprintf("%s/%s/metrics.jsonl", dir, run);
    double *steps, *v;
    int n = metrics_read_series(path, key, &steps, &v);
    for (int i = 0; i < n && i < cap; i++) values[i] = v[i];
    free(steps);
    free(v);
    free(path);
    return n;
}

/* Checks that run's losses, gradient norms and evaluations are reference's,
 * step for step, up to float rounding (the ranks add in another order). */
static void check_same_curves(const char *dir, const char *run, const char *reference) {
    static const char *keys[] = {"loss", "grad_norm", "eval/loss"};
    for (size_t k = 0; k < LMF_ARRAY_LEN(keys); k++) {
        double a[16], b[16];
        int na = read_series(dir, run, keys[k], a, 16), nb = read_series(dir, reference, keys[k], b, 16);
        CHECK_MSG(na == nb && na > 0, "%s: %d values of %s, %s has %d", run, na, keys[k], reference, nb);
        for (int i = 0; i < na && i < nb; i++)
            CHECK_MSG(fabs(a[i] - b[i]) <= 1e-5 * fabs(b[i]), "%s: %s[%d] = %.9g, one process: %.9g", run, keys[k], i,
                      a[i], b[i]);
    }
}

/* The largest difference between the final models' parameters. */
static double model_difference(const char *dir, const char *run, const char *reference) {
    char *pa = xsprintf("%s/%s/model/model.safetensors", dir, run), *pb = xsprintf("%s/%s/model/model.safetensors", dir, reference);
    SafeTensors *a = st_open(pa), *b = st_open(pb);
    double worst = st_count(a) == st_count(b) ? 0 : INFINITY;
    for (int i = 0; i < st_count(a) && isfinite(worst); i++) {
        const StTensor *ta = st_tensor(a, i), *tb = st_find(b, ta->name);
        if (!tb || st_numel(tb) != st_numel(ta)) {
            worst = INFINITY;
            break;
        }
        size_t n = st_numel(ta);
        float *x = xmalloc(n * sizeof(float)), *y = xmalloc(n * sizeof(float));
        st_read_f32(ta, x, n);
        st_read_f32(tb, y, n);
        for (size_t j = 0; j < n; j++) worst = fmax(worst, fabs((double)x[j] - (double)y[j]));
        free(x);
        free(y);
    }
    st_close(a);
    st_close(b);
    free(pa);
    free(pb);
    return worst;
}

TEST_SLOW(mpi_dist_primitives) {
    const char *why = mpi_missing();
    if (why) SKIP(why);
    char *dir = test_tmpdir("mpi-dist");
    for (int ranks = 2; ranks <= 3; ranks++) {
        int rc = test_system("%s -np %d build/mpi-dist-checks %s > %s/checks.log 2>&1", MPIRUN, ranks, dir, dir);
        char *log = xsprintf("%s/checks.log", dir), *text = read_file(log, NULL);
        char *expected = xsprintf("dist checks on %d ranks: 0 failed", ranks);
        CHECK_MSG(rc == 0 && strstr(text, expected), "%d ranks: exit %d, log:\n%s", ranks, rc, text);
        free(expected);
        free(text);
        free(log);
    }
    /* die() on one rank while the other waits stops the whole job, with the message */
    int rc = test_system("%s -np 2 build/mpi-dist-checks die > %s/die.log 2>&1", MPIRUN, dir);
    char *log = xsprintf("%s/die.log", dir), *text = read_file(log, NULL);
    CHECK_MSG(rc != 0 && rc != 124, "a rank's die() should end the job with an error, not exit %d", rc);
    CHECK(strstr(text, "lmforge: rank 1 stops on purpose") != NULL);
    free(text);
    free(log);
    test_system("rm -rf %s", dir);
    free(dir);
}

TEST_SLOW(mpi_pretrain_matches_one_process) {
    const char *why = mpi_missing();
    if (why) SKIP(why);
    char *dir = test_tmpdir("mpi-pretrain");
    make_corpus(dir);
    /* the global batch of every run: 6 micro-batches */
    CHECK(run_single(dir, "one", 6, "") == 0);
    CHECK(run_mpi(dir, "two", 2, 3, "", "") == 0);
    CHECK(run_mpi(dir, "two-zero", 2, 3, "", "--zero 1") == 0);
    CHECK(run_mpi(dir, "three-no-overlap", 3, 2, "LMF_OVERLAP=0", "") == 0);
    CHECK(run_mpi(dir, "three-zero", 3, 2, "", "--zero 1") == 0);
    if (test_failed()) {
        test_system("tail -n 5 %s/*.log >&2", dir);
        return;
    }
    const char *runs[] = {"two", "two-zero", "three-no-overlap", "three-zero"};
    for (size_t i = 0; i < LMF_ARRAY_LEN(runs); i++) {
        check_same_curves(dir, runs[i], "one");
        double diff = model_difference(dir, runs[i], "one");
        CHECK_MSG(diff < 1e-5, "%s: the final model differs from one process's by %g", runs[i], diff);
    }
    /* a different global batch gives a different run: the comparison can fail */
    CHECK(run_mpi(dir, "two-smaller", 2, 2, "", "") == 0);
    double a[4], b[4];
    read_series(dir, "two-smaller", "loss", a, 4);
    read_series(dir, "one", "loss", b, 4);
    CHECK(fabs(a[0] - b[0]) > 1e-4);
    test_system("rm -rf %s", dir);
    free(dir);
}

/* Reads "rank R: AdamW moments of X of N parameters" from a run's log. */
static int moments_per_rank(const char *dir, const char *run, size_t *moments, int max_ranks, size_t *n_params) {
    char *path = xsprintf("%s/%s.log", dir, run), *text = read_file(path, NULL);
    int found = 0;
    for (char *p = strstr(text, "rank "); p; p = strstr(p + 1, "rank ")) {
        int r;
        size_t x, n;
        if (sscanf(p, "rank %d: AdamW moments of %zu of %zu parameters", &r, &x, &n) == 3 && r >= 0 && r < max_ranks) {
            moments[r] = x;
            *n_params = n;
            found++;
        }
    }
    free(text);
    free(path);
    return found;
}

TEST_SLOW(mpi_zero1_shards_the_optimizer) {
    const char *why = mpi_missing();
    if (why) SKIP(why);
    char *dir = test_tmpdir("mpi-zero");
    make_corpus(dir);
    CHECK(run_mpi(dir, "full", 3, 1, "", "") == 0);
    CHECK(run_mpi(dir, "zero", 3, 1, "", "--zero 1") == 0);
    size_t full[3], zero[3], n_full = 0, n_zero = 0;
    CHECK_EQ_INT(moments_per_rank(dir, "full", full, 3, &n_full), 3);
    CHECK_EQ_INT(moments_per_rank(dir, "zero", zero, 3, &n_zero), 3);
    CHECK(n_full > 0 && n_full == n_zero);
    size_t sum = 0;
    for (int r = 0; r < 3 && n_full > 0; r++) {
        CHECK(full[r] == n_full);                              /* without ZeRO each rank holds all */
        CHECK(zero[r] == n_full / 3 || zero[r] == n_full / 3 + 1); /* with it, a third */
        sum += zero[r];
    }
    CHECK(sum == n_full);
    test_system("rm -rf %s", dir);
    free(dir);
}

TEST_SLOW(mpi_resume_on_other_rank_counts) {
    const char *why = mpi_missing();
    if (why) SKIP(why);
    char *dir = test_tmpdir("mpi-resume");
    make_corpus(dir);
    /* a 2-rank ZeRO-1 run of 4 steps, checkpoints at 2 and 4 */
    CHECK(run_mpi(dir, "two", 2, 3, "", "--zero 1") == 0);
    /* two copies stopped after step 2, resumed on 1 process and on 3 ranks */
    CHECK(test_system("cd %s && for d in one three bad; do cp -r two $d && rm -rf $d/checkpoint-4 $d/model; done", dir) == 0);
    CHECK(run_single(dir, "one", 6, "--resume") == 0);
    CHECK(run_mpi(dir, "three", 3, 2, "", "--zero 1 --resume") == 0);
    if (test_failed()) {
        test_system("tail -n 5 %s/*.log >&2", dir);
        return;
    }
    check_same_curves(dir, "one", "two");
    check_same_curves(dir, "three", "two");
    /* a resume that would change the global batch is refused, naming the numbers */
    CHECK(run_single(dir, "bad", 3, "--resume") == 1);
    char *log = xsprintf("%s/bad.log", dir), *text = read_file(log, NULL);
    CHECK(strstr(text, "took 6 micro-batches per step (--grad-accum 3 on 2 rank(s))") != NULL);
    free(text);
    free(log);
    test_system("rm -rf %s", dir);
    free(dir);
}
