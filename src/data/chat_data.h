/* chat_data.h — prompts and responses from JSONL datasets, turned into token
 * sequences with the response tokens marked. Every stage after pretraining
 * reads its data through here: SFT, the reward model, DPO, rejection
 * sampling and PPO.
 *
 * A prompt field may be a string (one user message) or a list of
 * {"role": "system|user|assistant", "content": "..."} messages, as in TRL's
 * datasets. Responses are strings. Sequences are rendered with the ChatML
 * template (chat.h), so that a response is scored in exactly the context in
 * which the model generates it: after "<|im_start|>assistant\n". */
#ifndef LMF_CHAT_DATA_H
#define LMF_CHAT_DATA_H

#include "../base/intvec.h"
#include "../tokenizer/chat.h"
#include "../base/jsonl.h"

typedef struct {
    ChatMessage *msgs; /* strings owned by the conversation */
    int n;
} Conversation;

/* The field as a conversation: a string becomes one user message; a list
 * must hold objects with a known "role" and a string "content". Errors name
 * the file, line and field ("messages"[2]: unknown role "bot"). An empty list
 * is an error. */
Conversation jsonl_get_conversation(const JsonlRecord *rec, const char *field);
/* A copy of msgs[0..n). */
Conversation conversation_copy(const ChatMessage *msgs, int n);
/* Appends a copy of the message. */
void conversation_add(Conversation *c, const char *role, const char *content);
/* Removes msgs[from .. from+count). */
void conversation_drop(Conversation *c, int from, int count);
void conversation_free(Conversation *c);
/* The conversation as a JSON value: a string for a single user message, a
 * message list otherwise (for writing datasets back). */
cJSON *conversation_to_json(const Conversation *c);

/* Reads a prompt file: one {"prompt": string or messages} or {"messages":
 * [...]} object per line. A chat that ends with assistant turns is the
 * prompt up to them (a reference answer is not part of the prompt). Dies on
 * an empty file or a line without a user message. *n gets the count. */
Conversation *load_prompts(const char *path, int *n);

/* The prompt followed by the assistant's generation prompt: what a model continues. */
void render_prompt(const Tokenizer *t, const Conversation *prompt, IntVec *ids);

/* Prompts rendered by render_prompt, with the pointer and length arrays
 * that generate_batch takes. */
typedef struct {
    int n;
    IntVec *ids;        /* (n) each prompt's tokens */
    const int **tokens; /* (n) ids[i].data */
    int *lens;          /* (n) ids[i].len */
} RenderedPrompts;

/* Renders prompts[which[i]] for i < n, or prompts[0..n) when which is NULL. */
RenderedPrompts render_prompts(const Tokenizer *t, const Conversation *prompts, const int *which, int n);
void rendered_prompts_free(RenderedPrompts *r);
/* The prompt and an assistant response: ids, and mask = 1 on the response's
 * tokens and its closing <|im_end|>. */
void render_exchange(const Tokenizer *t, const Conversation *prompt, const char *response, IntVec *ids, IntVec *mask);

/* Plain text continued, with no chat template (pretraining text as
 * preference data): ids = tokens of prefix then of continuation, mask = 1 on
 * the continuation's tokens. */
void render_continuation(const Tokenizer *t, const char *prefix, const char *continuation, IntVec *ids, IntVec *mask);

/* The length policy, the same in every stage (sft, rm, dpo, pairs, and what
 * `lmforge data check` reports): a sequence longer than --seq-len loses
 * prompt tokens from the start, down to one (it predicts the answer's first
 * token), then answer tokens from the end. Nothing is refused unless nothing
 * of the answer (the marked tokens) would remain.
 *
 * fit_prompt_cut: how many tokens the start of this sequence gives up (a pair
 * of answers to one prompt takes the larger of its two, so that both follow
 * the same prompt). fit_seq_len: cuts prompt_cut tokens from the start, then
 * the end down to seq_len; returns the tokens dropped, or -1 (the sequence
 * unchanged) when no marked token would remain. */
typedef struct {
    int records;         /* records (sequences, or pairs) read */
    int truncated;       /* records that lost tokens */
    int answer_cut;      /* of those, records whose answer lost its end */
    long tokens_dropped; /* all the tokens they lost */
} LengthStats;

int fit_prompt_cut(const IntVec *ids, const IntVec *mask, int seq_len);
int fit_seq_len(IntVec *ids, IntVec *mask, int prompt_cut, int seq_len);
/* The same policy for a prompt that a model answers (ppo, grpo): a rendered
 * prompt that leaves no room for an answer in `context` tokens loses tokens
 * from its start, down to context - room (at least one), so that `room`
 * answer tokens fit; generation then cuts the answer at the context. A
 * prompt with room is left whole. Returns the tokens dropped. */
int fit_prompt(IntVec *ids, int context, int room);
/* fit_prompt on every rendered prompt (tokens and lens follow), with the
 * one warning below when what is not NULL (sample, rs). */
void fit_rendered_prompts(const char *what, RenderedPrompts *r, int context, int room);
/* Counts the prompts fit_prompt would cut and gives the one warning,
 * naming `what`: "N of M prompts cut from the start to fit the context C". */
void prompts_length_report(const char *what, const Tokenizer *t, const Conversation *prompts, int n, int context,
                           int room);

/* The one warning a loader gives, naming its data when anything was cut:
 * "WHAT: N of M records truncated to --seq-len L (K lost the end of an
 * answer)"; `unit` is "records", or "responses" where a record holds several. */
void length_report(const char *what, const char *unit, const LengthStats *s, int seq_len);

#endif
