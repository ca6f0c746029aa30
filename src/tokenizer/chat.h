/* chat.h — the ChatML chat template (Qwen's), rendered and tokenized:
 *
 *   <|im_start|>system\nYou are ...<|im_end|>\n
 *   <|im_start|>user\nHi<|im_end|>\n
 *   <|im_start|>assistant\nHello!<|im_end|>\n
 *
 * The same template, in Jinja, goes into tokenizer_config.json, so Hugging
 * Face's apply_chat_template() renders the same text. */
#ifndef LMF_CHAT_H
#define LMF_CHAT_H

#include "../base/intvec.h"
#include "tokenizer.h"

typedef struct {
    const char *role, *content;
} ChatMessage;

/* Renders msgs[0..n) in ChatML and encodes the text exactly as Hugging Face
 * encodes the rendered string (special tokens recognised), appending to ids.
 * If mask is non-NULL it gets one int per token: 1 for the tokens of
 * assistant content and of the assistant's closing <|im_end|> (not the "\n"
 * after it) — for every assistant turn, or only the last one if last_only —
 * and 0 for the rest. A token that straddles the start of the content
 * counts as content. add_generation_prompt appends "<|im_start|>assistant\n".
 * Roles other than system, user and assistant, and a tokenizer without
 * <|im_start|> and <|im_end|>, die with a clear message. */
void chat_render(const Tokenizer *t, const ChatMessage *msgs, int n, int add_generation_prompt, int last_only,
                 IntVec *ids, IntVec *mask);

/* The rendered text alone (malloc'ed, NUL-terminated). */
char *chat_render_text(const ChatMessage *msgs, int n, int add_generation_prompt);

#endif
