/* task_prompts.h — prompts with a gold answer: for RL with verifiable
 * rewards (lmforge grpo), and the data's own answers that pairs-from-data
 * sets against the model's. One JSON object per line,
 *
 *   {"prompt": "What is 17 + 25?", "answer": "42"}
 *   {"messages": [{"role": "system", ...}, {"role": "user", ...}], "answer": "#### 42", "level": 3}
 *
 * "answer" may be a string or a number; TRL's prompt-completion lines
 * ({"prompt", "completion"}) take the completion as the answer. A chat
 * that ends with an assistant turn and has no "answer" takes that turn's
 * text as its answer (the reference completion of an SFT file). Every other field ("level" above)
 * is passed on unchanged to reward programs. */
#ifndef LMF_TASK_PROMPTS_H
#define LMF_TASK_PROMPTS_H

#include <cjson/cJSON.h>

#include "chat_data.h"

typedef struct {
    Conversation prompt; /* without a final assistant turn */
    char *answer;        /* the gold answer, or NULL */
    cJSON *fields;       /* the line's other fields, an object (may be empty) */
} TaskPrompt;

/* Reads the file; with need_answer, a line without an answer is an error
 * naming the file, line and field. Dies on an empty file. *n gets the count. */
TaskPrompt *load_task_prompts(const char *path, int need_answer, int *n);
void task_prompts_free(TaskPrompt *p, int n);

/* What a reward program receives for one completion: {"prompt": string or
 * messages, "completion": "...", "answer": ... (when known), ...fields}
 * (caller owns). */
cJSON *task_reward_request(const TaskPrompt *t, const char *completion);

#endif
