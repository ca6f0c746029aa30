/* reward_program.h — a reward computed by the user's own program: a
 * long-lived child spoken to one JSON line per completion (child_process.h):
 *
 *   to its stdin     {"prompt": <string or messages>, "completion": "...", ...the example's other fields}
 *   from its stdout  {"reward": <number>}
 *
 * in order, one reply per line before the next is sent. A unit-test runner,
 * a math checker or a sentiment scorer fits behind it. */
#ifndef LMF_REWARD_PROGRAM_H
#define LMF_REWARD_PROGRAM_H

#include <cjson/cJSON.h>

typedef struct RewardProgram RewardProgram;

/* Starts `command` with /bin/sh -c; a reply later than timeout_seconds
 * (<= 0: none) is an error. */
RewardProgram *reward_program_start(const char *command, double timeout_seconds);
/* Sends requests[0..n) and reads their rewards. Returns NULL, or a message
 * naming the program and the request (malloc'ed): it exited, did not answer
 * in time (it is then stopped), or replied with anything but a JSON object
 * holding a finite number "reward". After an error the program is gone:
 * every later call returns an error too. */
char *reward_program_score(RewardProgram *p, cJSON *const *requests, int n, float *rewards);
/* The same, keeping each whole reply: replies[i] gets the parsed object
 * (caller deletes), for programs that say more than the reward. On an error
 * the replies already read are deleted and set to NULL. */
char *reward_program_score_replies(RewardProgram *p, cJSON *const *requests, int n, float *rewards, cJSON **replies);
/* Ends the program (closing its input, or killing it after an error). */
void reward_program_stop(RewardProgram *p);

#endif
