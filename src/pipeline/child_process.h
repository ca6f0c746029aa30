/* child_process.h — a long-lived helper program spoken to one JSON line at a
 * time: a request line to its stdin, one reply line from its stdout, in
 * order. Annotators (annotator.h) and reward programs (reward_program.h) are
 * such programs.
 *
 * Every failure is returned as a message naming the program and the request
 * (its 1-based number: the line of the program's input), never a crash or a
 * hang: a program that exits, closes its output, or does not answer within
 * the timeout (it is then killed). */
#ifndef LMF_CHILD_PROCESS_H
#define LMF_CHILD_PROCESS_H

#include <cjson/cJSON.h>

typedef struct ChildProcess ChildProcess;

/* Starts `command` with /bin/sh -c; `what` names it in messages
 * ("annotator", "reward program"). */
ChildProcess *child_start(const char *what, const char *command);
/* Sends req as one line and reads one reply line. timeout_seconds <= 0
 * waits forever. Returns the reply, without its newline (malloc'ed), or
 * NULL with *error set (malloc'ed). */
char *child_ask(ChildProcess *c, const cJSON *req, double timeout_seconds, char **error);
/* Requests sent so far: the line number of the last one. */
long child_requests(const ChildProcess *c);
/* "reward program 'CMD'", for messages (owned by c). */
const char *child_name(const ChildProcess *c);
/* Closes its stdin and waits for it to exit. Returns NULL, or a message
 * (malloc'ed) when it failed. */
char *child_stop(ChildProcess *c);
/* Kills it (SIGKILL) and waits: after an error, when its replies no longer
 * matter. */
void child_kill(ChildProcess *c);

#endif
