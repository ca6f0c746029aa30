/* test_args.c — the flags every command takes: --threads. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/args.h"
#include "../src/base/util.h"
#include "test.h"

static int parse(int argc, char **argv) {
    int steps = 1;
    Option opts[] = {OPT_INT("steps", &steps, "steps"), OPT_END};
    char **positional = NULL;
    int npos = args_parse("test", "", "a test command", opts, argc, argv, &positional);
    free(positional);
    return npos * 1000 + steps;
}

TEST(threads_flag_sets_openmp_and_the_environment_children_inherit) {
    int before = omp_get_max_threads();
    const char *env = getenv("OMP_NUM_THREADS");
    char *saved = env ? xstrdup(env) : NULL;
    char *argv[] = {"test", "--threads", "3", "file", "--steps=7", NULL};
    CHECK_EQ_INT(parse(5, argv), 1007); /* the other flags and the positional argument still parse */
    CHECK_EQ_INT(omp_get_max_threads(), 3);
    CHECK(getenv("OMP_NUM_THREADS") && strcmp(getenv("OMP_NUM_THREADS"), "3") == 0);
    char *argv2[] = {"test", "--threads=1", NULL};
    parse(2, argv2);
    CHECK_EQ_INT(omp_get_max_threads(), 1);
    omp_set_num_threads(before);
    if (saved) setenv("OMP_NUM_THREADS", saved, 1);
    else unsetenv("OMP_NUM_THREADS");
    free(saved);
}

static void parse_threads(void *value) {
    char *argv[] = {"test", "--threads", value, NULL};
    parse(3, argv);
}
TEST(threads_flag_refuses_what_is_not_a_count) {
    CHECK_DIES(parse_threads, "0", "test: --threads expects a count of threads from 1 to 4096, got '0'");
    CHECK_DIES(parse_threads, "two", "got 'two'");
}

static void parse_flag(void *flag) {
    char *argv[] = {"test", flag, NULL};
    parse(2, argv);
}
TEST(unknown_flags_suggest_the_nearest) {
    CHECK_DIES(parse_flag, "--step", "test: unknown option --step; did you mean --steps? (see lmforge test --help)");
    CHECK_DIES(parse_flag, "--sTeps=3", "did you mean --steps?");
    CHECK_DIES(parse_flag, "--thread", "did you mean --threads?");
    CHECK_DIES(parse_flag, "--learning-rate", "test: unknown option --learning-rate (see lmforge test --help)");
    CHECK_DIES(parse_flag, "--x", "test: unknown option --x (see lmforge test --help)");
}
