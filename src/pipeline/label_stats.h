/* label_stats.h — `lmforge label stats RANKINGS.jsonl`: what the people who
 * ranked answers did. For each labeler the rankings, the time spent and the
 * "all bad" ones; the time per prompt; and how often two labelers agree, as
 * InstructGPT measures it: over the prompts ranked by two people, the share
 * of the answer pairs both put in an order (not tied) that they put in the
 * same order. */
#ifndef LMF_LABEL_STATS_H
#define LMF_LABEL_STATS_H

#include <stdio.h>

typedef struct {
    long rankings, prompts, all_bad;
    double mean_seconds, median_seconds;
    long shared_prompts;      /* prompts ranked by two or more labelers */
    long pairs, agreed_pairs; /* answer pairs ordered by both of two labelers, and in the same order */
} LabelStats;

/* Reads the file (dies naming the line on a bad one) and prints the report
 * on `out`; returns the overall figures. */
LabelStats label_stats_report(const char *path, FILE *out);

#endif
