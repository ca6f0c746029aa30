/* args.h — command-line flags, declared once, parsed and documented from the
 * same table.
 *
 *   int steps = 100; const char *out = "run";
 *   Option opts[] = {
 *       OPT_INT("steps", &steps, "optimizer steps"),
 *       OPT_STR("out", &out, "run directory"),
 *       OPT_END};
 *   int npos = args_parse("pretrain", "FILES...", "Pretrain a model.", opts, argc, argv, &positional);
 *
 * Flags are --name VALUE or --name=VALUE; OPT_FLAG takes no value (--name sets
 * it to 1, --no-name to 0). OPT_LIST may be given many times; each value is
 * appended to an OptList. --help prints the table with the defaults, which
 * are the values the variables hold before parsing. Every command also takes
 * --threads N (OpenMP's and OpenBLAS's thread count, passed on to the
 * commands it starts through OMP_NUM_THREADS).
 *
 * A renamed flag keeps its old spelling for one release with an alias row,
 * OPT_ALIAS("max-len", "seq-len"): the old name (and --no-OLD for a flag)
 * sets the new one's variable and prints a deprecation line on stderr. */
#ifndef LMF_ARGS_H
#define LMF_ARGS_H

typedef enum { OPT_KIND_INT, OPT_KIND_LONG, OPT_KIND_FLOAT, OPT_KIND_STR, OPT_KIND_FLAG, OPT_KIND_LIST, OPT_KIND_ALIAS, OPT_KIND_END } OptKind;

/* The values of a repeatable flag, in the order given. */
typedef struct {
    const char **items;
    int n;
} OptList;

typedef struct {
    const char *name;
    OptKind kind;
    void *value;
    const char *help;
} Option;

#define OPT_INT(n, p, h) {(n), OPT_KIND_INT, (int *)(p), (h)}
#define OPT_LONG(n, p, h) {(n), OPT_KIND_LONG, (long *)(p), (h)}
#define OPT_FLOAT(n, p, h) {(n), OPT_KIND_FLOAT, (float *)(p), (h)}
#define OPT_STR(n, p, h) {(n), OPT_KIND_STR, (const char **)(p), (h)}
#define OPT_FLAG(n, p, h) {(n), OPT_KIND_FLAG, (int *)(p), (h)}
#define OPT_LIST(n, p, h) {(n), OPT_KIND_LIST, (OptList *)(p), (h)}
/* old name -> the name of a row of the same table; the help field holds the new name */
#define OPT_ALIAS(old, new) {(old), OPT_KIND_ALIAS, 0, (new)}
#define OPT_END {0, OPT_KIND_END, 0, 0}

/* Parses argv[1..argc-1] (argv[0] is the subcommand). Positional arguments
 * are returned in *positional (a NULL-terminated array owned by the caller:
 * free it, not its strings); their count is the return value. Unknown flags,
 * missing or malformed values die with a one-line reason. --help prints usage
 * and exits 0. */
int args_parse(const char *command, const char *usage, const char *description, Option *opts, int argc,
               char **argv, char ***positional);

void args_print_help(const char *command, const char *usage, const char *description, const Option *opts);

/* The settings of the last args_parse: {"flag name": value, ...} for every option, defaults included, as the
 * parsed values (so 1e-3 and 0.001 are one), and "files": the positional arguments. A training run saves them
 * with each checkpoint, and --resume compares (train/run_dir.h). Owned here; valid until the next parse. */
struct cJSON;
const struct cJSON *args_settings(void);

/* The name a flag has now in the last parsed table: the new name for an alias, else name itself. Settings saved
 * before a rename are keyed by the old names; --resume reads them through this. */
const char *args_canonical_name(const char *name);

#endif
