/* chat.c — see chat.h.
 *
 * The whole conversation is rendered to one string and encoded once, so the
 * ids are exactly Hugging Face's for that string; the mask comes from the
 * byte offsets of the tokens and of each assistant turn. */
#include "chat.h"

#include <stdlib.h>
#include <string.h>

#include "../base/util.h"

typedef struct {
    char *text;
    size_t len, cap;
} Text;

static void text_add(Text *s, const char *part) {
    size_t n = strlen(part);
    if (s->len + n + 1 > s->cap) {
        s->cap = LMF_MAX(s->len + n + 1, 2 * s->cap + 256);
        s->text = xrealloc(s->text, s->cap);
    }
    memcpy(s->text + s->len, part, n + 1);
    s->len += n;
}

static void check_role(const char *role, int i) {
    if (!role || (strcmp(role, "system") != 0 && strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0))
        die("chat message %d: role \"%s\" is not system, user or assistant", i, role ? role : "(none)");
}

/* Renders the text; if spans is non-NULL, records [start, end) of each
 * assistant turn's content + <|im_end|> in it (2 entries per turn). */
static char *render(const ChatMessage *msgs, int n, int add_generation_prompt, IntVec *spans) {
    Text s = {0};
    text_add(&s, "");
    for (int i = 0; i < n; i++) {
        check_role(msgs[i].role, i);
        if (!msgs[i].content) die("chat message %d (%s) has no content", i, msgs[i].role);
        text_add(&s, "<|im_start|>");
        text_add(&s, msgs[i].role);
        text_add(&s, "\n");
        size_t start = s.len;
        text_add(&s, msgs[i].content);
        text_add(&s, "<|im_end|>");
        if (spans && strcmp(msgs[i].role, "assistant") == 0) {
            if (s.len > (size_t)0x7fffffff) die("chat of %zu bytes is too long", s.len);
            intvec_push(spans, (int)start);
            intvec_push(spans, (int)s.len);
        }
        text_add(&s, "\n");
    }
    if (add_generation_prompt) text_add(&s, "<|im_start|>assistant\n");
    return s.text;
}

char *chat_render_text(const ChatMessage *msgs, int n, int add_generation_prompt) {
    return render(msgs, n, add_generation_prompt, NULL);
}

void chat_render(const Tokenizer *t, const ChatMessage *msgs, int n, int add_generation_prompt, int last_only,
                 IntVec *ids, IntVec *mask) {
    if (tokenizer_token_id(t, "<|im_start|>") < 0 || tokenizer_token_id(t, "<|im_end|>") < 0)
        die("this tokenizer has no <|im_start|> or <|im_end|> token, which the ChatML template needs");
    IntVec spans = {0}, offsets = {0};
    char *text = render(msgs, n, add_generation_prompt, &spans);
    size_t len = strlen(text);
    tokenizer_encode_with_offsets(t, text, len, 1, ids, &offsets);
    if (mask) {
        int first_span = last_only && spans.len ? spans.len - 2 : 0;
        for (int k = 0; k < offsets.len; k++) {
            /* Token k covers [start, end) of the text. */
            int start = offsets.data[k], end = k + 1 < offsets.len ? offsets.data[k + 1] : (int)len, in = 0;
            for (int s = first_span; s < spans.len && !in; s += 2)
                in = start < spans.data[s + 1] && end > spans.data[s];
            intvec_push(mask, in);
        }
    }
    intvec_free(&spans);
    intvec_free(&offsets);
    free(text);
}
