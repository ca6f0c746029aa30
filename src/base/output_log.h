/* output_log.h — this process's output sent to a log file for a while, so
 * that a command run in process writes its log as it would as a child
 * process (PPO's reward-model refreshes run lmforge rm's training so). */
#ifndef LMF_OUTPUT_LOG_H
#define LMF_OUTPUT_LOG_H

/* Sends stdout and stderr to path (truncated) until output_log_end. If the
 * process dies meanwhile, die()'s message goes to the log, and the terminal
 * gets "lmforge: <on_death>" (say which log to read). Not nested. */
void output_log_begin(const char *path, const char *on_death);
void output_log_end(void);

#endif
