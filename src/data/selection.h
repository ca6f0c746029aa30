/* selection.h — which records of a file a command uses, as every command
 * that reads prompts (sample, rs, generate, annotate, pairs-from-data) is
 * told with --limit N, --shuffle and --seed: all of them in file order, the
 * first N, or N drawn at random by the seed (--shuffle alone: all of them,
 * in a random order). A short run on a large file then costs what it uses. */
#ifndef LMF_SELECTION_H
#define LMF_SELECTION_H

#include <stdint.h>

/* The indices of the records to use, in the order to use them (malloc'ed);
 * *n_used gets their count. limit 0 means all. The same n, shuffle and seed
 * give the same order, whatever the limit: --limit 10 takes the first 10 of
 * the order --limit 20 would take. */
int *selection_make(int n, int limit, int shuffle, uint64_t seed, int *n_used);

#endif
