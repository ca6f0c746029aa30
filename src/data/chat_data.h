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

/* Shortens a sequence to max_len tokens by dropping tokens from the start
 * (the prompt side). If the marked tokens alone are longer than max_len, the
 * end is cut instead, keeping the first max_len tokens. Returns the number of
 * tokens dropped (0 when it fitted). */
int truncate_sequence(IntVec *ids, IntVec *mask, int max_len);

#endif
