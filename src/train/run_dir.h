/* run_dir.h — the checkpoints of a run directory: RUN_DIR/checkpoint-STEP/,
 * each written as checkpoint-STEP.tmp/ and renamed when complete, so that a
 * run killed while saving keeps its previous checkpoint. A checkpoint is
 * complete when its marker file (the state written last) exists. */
#ifndef LMF_RUN_DIR_H
#define LMF_RUN_DIR_H

/* Locks RUN_DIR/.lock (flock) for the life of this process, writing its PID
 * there, or dies naming the process that holds it: two runs on one folder
 * would overwrite each other's checkpoints and metrics. The lock goes with
 * its process, so a killed run's lock is free again; commands this process
 * starts do not inherit it. */
void run_dir_lock(const char *run_dir, const char *command);
/* On Ctrl-C (SIGINT), says that --resume continues the run from its last
 * checkpoint in run_dir, then dies of the signal as before (a pipeline
 * runner reads it so). */
void run_dir_hint_resume_on_interrupt(const char *run_dir);
/* The command's settings (base/args.h's args_settings) that change what it
 * computes, to save with each checkpoint; NULL when no flags were parsed.
 * Caller owns. */
struct cJSON *run_settings_to_save(void);
/* --resume with settings that change what the run computes (--lr, --seed,
 * --steps, the data...) stops and lists each with the run's value, unless
 * the command's --resume-override is on (then it only warns). Where and how
 * often a run saves and evaluates, its threads and its annotator command may
 * change. saved may be NULL (a checkpoint from before settings were saved). */
void run_settings_check(const struct cJSON *saved, const char *state_path, const char *command);
/* The step of the newest complete checkpoint-STEP in run_dir, or -1. */
long newest_checkpoint(const char *run_dir, const char *marker);
/* Makes RUN_DIR/checkpoint-STEP.tmp/ afresh and returns its path (malloc'ed). */
char *checkpoint_begin(const char *run_dir, long step);
/* Renames the .tmp directory to checkpoint-STEP, replacing any older one of
 * that step, then keeps only the newest `keep` checkpoints and removes
 * unfinished .tmp ones. */
void checkpoint_commit(const char *run_dir, long step, int keep);
/* rm -rf path; dies if it fails. */
void remove_tree(const char *path);

#endif
