/* pipeline.c — `lmforge pipeline RECIPE`: runs the steps of a recipe file
 * (pipeline/recipe.h) in order, each as a child process: lmforge steps as
 * this same binary (/proc/self/exe), shell steps through /bin/sh.
 *
 * Resuming is the point. After a step succeeds and its outputs exist, the
 * runner writes a marker, RUN_DIR/.pipeline/KEY.done, holding the step's
 * command; a step with its marker and outputs is skipped on the next run.
 * So an interrupted pipeline, run again, starts at the step it stopped in.
 * That step starts over, or, when it is a training stage whose --out
 * directory holds a checkpoint, continues from it with --resume.
 *
 * Children die with the runner (PR_SET_PDEATHSIG), and a lock on
 * RUN_DIR/.pipeline/lock keeps two runs out of one directory. At the end (or
 * at a failure) a table of the steps with their status and wall time is
 * printed; RUN_DIR/pipeline.jsonl holds it too, rewritten after every step. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../base/args.h"
#include "../base/progress.h"
#include "../base/util.h"
#include "../pipeline/recipe.h"
#include "../train/run_dir.h"
#include "stages.h"

typedef enum { PENDING, SKIPPED, DONE, RESUMED, FAILED, INTERRUPTED, WOULD_RUN } StepStatus;
static const char *const STATUS_NAME[] = {"pending", "skipped", "done", "resumed", "failed", "interrupted", "to run"};

typedef struct {
    StepStatus status;
    double seconds;
    int exit_status; /* of a failed step */
} StepResult;

/* ---- completeness ---- */

static char *marker_path(const char *run_dir, const PlanStep *s) {
    return xsprintf("%s/.pipeline/%s.done", run_dir, s->key);
}

static int outputs_exist(const PlanStep *s, const char **missing) {
    for (int i = 0; i < s->n_outputs; i++)
        if (!file_exists(s->outputs[i]) && !dir_exists(s->outputs[i])) {
            if (missing) *missing = s->outputs[i];
            return 0;
        }
    return 1;
}

/* Complete: it succeeded before (its marker) and its outputs are all there.
 * Warns when the recipe now gives it another command. */
static int step_complete(const char *run_dir, const PlanStep *s) {
    char *path = marker_path(run_dir, s);
    int complete = file_exists(path) && outputs_exist(s, NULL);
    if (complete) {
        char *before = read_file(path, NULL);
        if (strcmp(before, s->command) != 0)
            warn("step %s is complete, but its command has changed since it ran; delete %s to run it again", s->key,
                 path);
        free(before);
    }
    free(path);
    return complete;
}

/* The value of --out in an lmforge step's arguments, or NULL. */
static const char *out_dir_of(const PlanStep *s) {
    for (int i = 0; i < s->n_args; i++) {
        if (strcmp(s->args[i], "--out") == 0 && i + 1 < s->n_args) return s->args[i + 1];
        if (strncmp(s->args[i], "--out=", 6) == 0) return s->args[i] + 6;
    }
    return NULL;
}

/* Whether DIR holds a complete checkpoint, which a step run again continues with --resume. */
static int has_checkpoint(const char *dir) {
    /* every training stage, PPO included, marks a complete checkpoint with the trainer's trainer_state.json */
    return dir && newest_checkpoint(dir, "trainer_state.json") >= 0;
}

static int has_arg(const PlanStep *s, const char *arg) {
    for (int i = 0; i < s->n_args; i++)
        if (strcmp(s->args[i], arg) == 0) return 1;
    return 0;
}

/* ---- running a step ---- */

/* Runs argv (argv[0] the program) in a child that dies with this process;
 * returns its wait status. While it runs, Ctrl-C reaches the child (the
 * terminal signals the whole process group) and the runner stays to report. */
static int run_child(const char *program, char *const *argv) {
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) die_errno("pipeline: fork");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(128 + SIGTERM); /* the runner died before prctl */
        signal(SIGINT, SIG_DFL);
        execv(program, argv);
        fprintf(stderr, "lmforge: pipeline: cannot run %s: %s\n", program, strerror(errno));
        _exit(127);
    }
    void (*old_int)(int) = signal(SIGINT, SIG_IGN);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) die_errno("pipeline: waitpid");
    signal(SIGINT, old_int);
    return status;
}

static StepResult run_step(const char *run_dir, const PlanStep *s) {
    StepResult r = {DONE, 0, 0};
    int resume = s->kind == STEP_LMFORGE && has_checkpoint(out_dir_of(s)) && !has_arg(s, "--resume");
    char **argv;
    const char *program;
    if (s->kind == STEP_LMFORGE) {
        program = "/proc/self/exe";
        argv = xcalloc((size_t)s->n_args + 3, sizeof(char *));
        argv[0] = "lmforge";
        for (int i = 0; i < s->n_args; i++) argv[i + 1] = s->args[i];
        if (resume) argv[s->n_args + 1] = "--resume";
    } else {
        program = "/bin/sh";
        argv = xcalloc(4, sizeof(char *));
        argv[0] = "sh";
        argv[1] = "-c";
        argv[2] = s->command;
    }
    char *marker = marker_path(run_dir, s);
    unlink(marker); /* whatever happens now, the old success no longer stands */
    double t0 = now_seconds();
    int status = run_child(program, argv);
    r.seconds = now_seconds() - t0;
    free(argv);
    const char *missing = NULL;
    if (WIFSIGNALED(status)) {
        r.status = WTERMSIG(status) == SIGINT ? INTERRUPTED : FAILED;
        r.exit_status = 128 + WTERMSIG(status);
    } else if (WEXITSTATUS(status) != 0) {
        r.status = FAILED;
        r.exit_status = WEXITSTATUS(status);
    } else if (!outputs_exist(s, &missing)) {
        warn("step %s succeeded but did not make its output %s", s->key, missing);
        r.status = FAILED;
    } else {
        r.status = resume ? RESUMED : DONE;
        atomic_write(marker, s->command, strlen(s->command));
    }
    free(marker);
    return r;
}

/* ---- the report ---- */

static void write_report(const char *run_dir, const Plan *plan, const StepResult *res) {
    char *path = path_join(run_dir, "pipeline.jsonl");
    AtomicFile f = atomic_open(path);
    for (int i = 0; i < plan->n; i++) {
        const PlanStep *s = &plan->steps[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "step", s->name);
        if (s->round) cJSON_AddNumberToObject(o, "round", s->round);
        cJSON_AddStringToObject(o, "status", STATUS_NAME[res[i].status]);
        if (res[i].status != PENDING && res[i].status != SKIPPED && res[i].status != WOULD_RUN)
            cJSON_AddNumberToObject(o, "seconds", res[i].seconds);
        if (res[i].exit_status) cJSON_AddNumberToObject(o, "exit_status", res[i].exit_status);
        cJSON_AddStringToObject(o, "command", s->command);
        cJSON *outs = cJSON_AddArrayToObject(o, "outputs");
        for (int k = 0; k < s->n_outputs; k++) cJSON_AddItemToArray(outs, cJSON_CreateString(s->outputs[k]));
        char *line = cJSON_PrintUnformatted(o);
        fprintf(f.f, "%s\n", line);
        free(line);
        cJSON_Delete(o);
    }
    atomic_commit(&f);
    free(path);
}

static void print_table(const Plan *plan, const StepResult *res) {
    int width = 4;
    for (int i = 0; i < plan->n; i++) width = LMF_MAX(width, (int)strlen(plan->steps[i].name));
    printf("\n%-*s  %5s  %-11s  %8s\n", width, "step", "round", "status", "time");
    double total = 0;
    for (int i = 0; i < plan->n; i++) {
        const PlanStep *s = &plan->steps[i];
        char round[16] = "-", time[32] = "-";
        if (s->round) snprintf(round, sizeof round, "%d", s->round);
        if (res[i].status != PENDING && res[i].status != SKIPPED && res[i].status != WOULD_RUN) {
            progress_format_duration(res[i].seconds, time, sizeof time);
            total += res[i].seconds;
        }
        printf("%-*s  %5s  %-11s  %8s\n", width, s->name, round, STATUS_NAME[res[i].status], time);
    }
    char time[32];
    progress_format_duration(total, time, sizeof time);
    printf("%-*s  %5s  %-11s  %8s\n", width, "total", "", "", time);
    fflush(stdout);
}

/* ---- the command ---- */

/* Holds RUN_DIR/.pipeline/lock for the life of this process and of its
 * children (they inherit the descriptor), or dies if another run holds it. */
static void lock_run_dir(const char *run_dir) {
    char *dir = path_join(run_dir, ".pipeline");
    make_dirs(dir);
    char *path = path_join(dir, "lock");
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0) die_errno("pipeline: cannot open %s", path);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0)
        die("pipeline: another lmforge pipeline (or a step it started) is running in %s", run_dir);
    free(path);
    free(dir);
}

/* "runs/NAME" for recipes/NAME.recipe. */
static char *default_run_dir(const char *recipe) {
    const char *base = strrchr(recipe, '/') ? strrchr(recipe, '/') + 1 : recipe;
    const char *dot = strrchr(base, '.');
    return xsprintf("runs/%.*s", (int)(dot && dot != base ? dot - base : (long)strlen(base)), base);
}

int cmd_pipeline(int argc, char **argv) {
    const char *run_dir_flag = NULL;
    OptList sets = {0};
    int dry_run = 0;
    Option opts[] = {
        OPT_STR("run-dir", &run_dir_flag, "${run_dir}: where the runner keeps its state (default runs/RECIPE_NAME)"),
        OPT_LIST("set", &sets, "NAME=VALUE: a variable, overriding the recipe's `set` of it"),
        OPT_FLAG("dry-run", &dry_run, "print the steps with their commands and status without running any"),
        OPT_END};
    char **positional;
    int npos = args_parse("pipeline", "RECIPE",
                          "Run a recipe: a chain of lmforge stages with their inputs and outputs, rounds included. "
                          "Steps already complete are skipped, so running an interrupted pipeline again resumes it. "
                          "Examples of the format: recipes/*.recipe.",
                          opts, argc, argv, &positional);
    if (npos != 1) die("pipeline: expected one RECIPE file (see lmforge pipeline --help)");
    const char *recipe = positional[0];
    char *run_dir = run_dir_flag ? xstrdup(run_dir_flag) : default_run_dir(recipe);
    char *self = realpath("/proc/self/exe", NULL);
    char *recipe_path = realpath(recipe, NULL);
    if (!recipe_path) die_errno("pipeline: cannot open %s", recipe);
    char *recipe_dir = xstrdup(recipe_path);
    *strrchr(recipe_dir, '/') = 0;

    RecipeVar *vars = xcalloc((size_t)sets.n + 3, sizeof(RecipeVar));
    vars[0] = (RecipeVar){"run_dir", run_dir, 0};
    vars[1] = (RecipeVar){"lmforge", self, 0};
    vars[2] = (RecipeVar){"recipe_dir", recipe_dir, 0};
    char **set_names = xcalloc((size_t)LMF_MAX(1, sets.n), sizeof(char *));
    for (int i = 0; i < sets.n; i++) {
        const char *eq = strchr(sets.items[i], '=');
        if (!eq || eq == sets.items[i]) die("pipeline: --set %s: expected NAME=VALUE", sets.items[i]);
        set_names[i] = xstrndup(sets.items[i], (size_t)(eq - sets.items[i]));
        for (int k = 0; k < 3; k++)
            if (strcmp(set_names[i], vars[k].name) == 0) die("pipeline: --set %s: ${%s} is not settable", set_names[i], set_names[i]);
        vars[3 + i] = (RecipeVar){set_names[i], eq + 1, 1};
    }
    Plan plan = recipe_load(recipe, vars, 3 + sets.n);
    StepResult *res = xcalloc((size_t)plan.n, sizeof(StepResult));

    if (!dry_run) lock_run_dir(run_dir);
    int failed = -1;
    for (int i = 0; i < plan.n && failed < 0; i++) {
        const PlanStep *s = &plan.steps[i];
        if (step_complete(run_dir, s)) {
            res[i].status = SKIPPED;
            continue;
        }
        if (dry_run) {
            res[i].status = WOULD_RUN;
            printf("[%s] %s\n", s->key, s->command);
            continue;
        }
        if (s->round) printf("\n== step %d/%d: %s (round %d)\n   %s\n", i + 1, plan.n, s->name, s->round, s->command);
        else printf("\n== step %d/%d: %s\n   %s\n", i + 1, plan.n, s->name, s->command);
        res[i] = run_step(run_dir, s);
        if (res[i].status == FAILED || res[i].status == INTERRUPTED) failed = i;
        write_report(run_dir, &plan, res);
    }
    print_table(&plan, res);
    if (!dry_run) write_report(run_dir, &plan, res);
    if (failed >= 0) {
        const PlanStep *s = &plan.steps[failed];
        die("pipeline: step %s (%s line %d) %s; run the same command again to resume from it", s->key, recipe, s->line,
            res[failed].status == INTERRUPTED ? "was interrupted" : "failed");
    }
    if (!dry_run) info("pipeline complete: %d steps; the table is in %s/pipeline.jsonl", plan.n, run_dir);

    free(res);
    plan_free(&plan);
    for (int i = 0; i < sets.n; i++) free(set_names[i]);
    free(set_names);
    free(vars);
    free(sets.items);
    free(positional);
    free(recipe_dir);
    free(recipe_path);
    free(self);
    free(run_dir);
    return 0;
}
