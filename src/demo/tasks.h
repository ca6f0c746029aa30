/* tasks.h — the demo's instruction tasks: short questions with known right
 * answers, in families that each have one phrasing and one gold judge.
 *
 *   group        family          prompt                                 answer      judge
 *   knowledge    capital         What is the capital of Kenya?          Nairobi     exact (quiz files)
 *                element_symbol  What is the chemical symbol for gold?  Au          exact (quiz files)
 *                element_number  What is the atomic number of gold?     79          exact (quiz files)
 *                define          Define year.                           a period of time containing 365 days
 *                                                                                   f1 (WordNet)
 *   computation  addition        What is 17 + 25?                       42          digits
 *                reverse         Spell 'house' backwards.               esuoh       edit
 *                uppercase       Write 'house' in capital letters.      HOUSE       edit-case
 *                word_count      How many words are in: one house?      2           count
 *   sentiment    sentiment       Continue: A gift of a flower           will soon be made to you.
 *                                                                                   sentiment (VADER)
 *
 * The knowledge families ask for facts a small model cannot hold; the
 * computation families are skills it can learn, judged with partial credit
 * (judge.h); the sentiment family asks to continue the first words of a
 * sentence that the pretraining text leaves out, its reference answer the
 * sentence's real continuation and its gold the positivity of the answer
 * (Ziegler et al. 2019; the IMDb experiment of the DPO paper).
 *
 * Each family's tasks are split by subject: a held-out task asks about an
 * entity, word or pair of numbers that no training task asks about. The
 * split is a seeded hash of the subject, so families that share subjects
 * (the two element families, reverse and uppercase) hold out the same ones.
 * The fact families also render their facts as plain sentences for the
 * pretraining text ("The capital of Kenya is Nairobi."), for the training
 * and the held-out tasks alike, and their training tasks as question-answer
 * lines ("Question: What is the capital of Kenya? Answer: Nairobi."): a
 * model that reads some facts both ways learns to answer questions about
 * the facts it has only read as statements (Allen-Zhu & Li 2023, "Physics
 * of Language Models 3.1": without such mixed training, fine-tuning alone
 * does not teach a small model to retrieve what it read). */
#ifndef LMF_DEMO_TASKS_H
#define LMF_DEMO_TASKS_H

#include <stdint.h>

#include "judge.h"
#include "quiz.h"
#include "strutil.h"
#include "wordnet.h"

typedef struct {
    const char *family;
    const char *group; /* "knowledge", "computation" or "sentiment" */
    char *id;        /* "capital-12" */
    char *subject;   /* what the prompt asks about: "Kenya", "17 + 25", "house" */
    char *prompt;
    StrList answers; /* the reference answer first, then the other accepted ones */
    JudgeKind judge;
    int heldout;
} Task;

typedef struct {
    Task *items;
    int n, cap;
} TaskList;

/* What the families are built from. */
typedef struct {
    const char *quiz_dir;
    const QuizFile *quiz_index;
    const WordNet *wordnet;
    const StrList *sentences; /* for the sentiment family: sentences kept out of the pretraining text */
} TaskSources;

typedef struct {
    uint64_t seed;
    double heldout_frac;   /* share of each family's subjects held out */
    int max_per_family;    /* tasks per family, train and held-out together */
    int fact_repeats;      /* copies of each fact sentence in the pretraining text */
    int qa_repeats;        /* copies of each training task of a fact family as a question-answer line */
} TaskOptions;

int tasks_n_families(void);
const char *tasks_family_name(int i);
/* The index of a family, or -1. */
int tasks_family_index(const char *name);
/* The group of a family, or NULL for an unknown one. */
const char *tasks_family_group(const char *name);

/* Builds the families whose flag is set in wanted[] (by index), appending
 * their tasks to out (each family's held-out tasks marked) and their fact
 * sentences to facts. Dies naming the file and line on bad input. */
void tasks_build(const TaskSources *src, const int *wanted, const TaskOptions *o, TaskList *out, StrList *facts);
void tasks_free(TaskList *tasks);

#endif
