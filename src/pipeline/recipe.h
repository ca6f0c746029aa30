/* recipe.h — recipe files for `lmforge pipeline`: the stages of a training
 * recipe, their arguments and outputs, in the order they run.
 *
 *   # lines starting with # are comments; a line ending in \ goes on
 *   set data = data/demo
 *   set model = ${run_dir}/pretrain/model
 *
 *   step pretrain
 *       lmforge pretrain --tokenizer ${run_dir}/tokenizer --out ${run_dir}/pretrain ${data}/pretrain/train.txt
 *       output ${run_dir}/pretrain/model/config.json
 *
 *   repeat 2
 *       step dpo
 *           lmforge dpo --init ${model} --data ${data}/pairs.jsonl --out ${run_dir}/round${round}/dpo
 *           output ${run_dir}/round${round}/dpo/model/config.json
 *       set model = ${run_dir}/round${round}/dpo/model
 *   end
 *
 * Statements:
 *   set NAME = VALUE    defines or redefines a variable; VALUE is expanded
 *                       when the line is reached, so a `set` at the end of a
 *                       round hands that round's model to the next one
 *   step NAME           a step, followed by exactly one command line and any
 *                       number of output lines:
 *     lmforge ARGS...   runs an lmforge subcommand; ARGS are split at spaces,
 *                       '...' or "..." keep spaces inside one argument
 *     shell COMMAND     runs COMMAND with /bin/sh -c
 *     output PATH       a file or directory the step makes; a step is complete
 *                       when it has succeeded and every output exists
 *   repeat N ... end    the statements between run N times (rounds), with
 *                       ${round} = 1..N and ${prev} = round - 1; blocks do not
 *                       nest, and a step inside one is named NAME.rROUND
 * Indentation is only for the reader. ${NAME} expands a variable anywhere
 * on a line (quoted or not); an unknown one is an error. A name may hold
 * variables, expanded first: with `set source = sft`, ${start_${source}}
 * is ${start_sft} (a choice made by one --set). */
#ifndef LMF_RECIPE_H
#define LMF_RECIPE_H

typedef enum { STEP_LMFORGE, STEP_SHELL } StepKind;

typedef struct {
    char *name;      /* as written after `step` */
    int round;       /* 1..N inside a repeat block; 0 outside */
    char *key;       /* unique in the plan: NAME, or NAME.rROUND in a round */
    StepKind kind;
    char **args;     /* lmforge: the subcommand and its arguments (n_args); NULL-terminated */
    int n_args;
    char *command;   /* the command as one line: for shell, what sh runs; for lmforge, for display */
    char **outputs;  /* (n_outputs) */
    int n_outputs;
    int line;        /* of the `step` line in the recipe */
} PlanStep;

/* The recipe expanded: every step of every round, in order. */
typedef struct {
    PlanStep *steps;
    int n;
} Plan;

/* A variable given to the recipe from outside. The recipe cannot change it:
 * its `set` lines for an override (--set NAME=VALUE) are skipped, so the
 * command line wins; a `set` of any other (run_dir) is an error. */
typedef struct {
    const char *name, *value;
    int is_override;
} RecipeVar;

/* Parses and expands the recipe at path with the given variables.
 * Dies with "RECIPE:LINE: ..." on any error. */
Plan recipe_load(const char *path, const RecipeVar *vars, int n_vars);
/* The same from text, `name` standing for the file in messages. */
Plan recipe_parse(const char *text, const char *name, const RecipeVar *vars, int n_vars);
void plan_free(Plan *p);

#endif
