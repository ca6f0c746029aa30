/* test_chat_terminal.c — `lmforge chat` as a person uses it, in a terminal:
 * tmux runs it, and the test types a message with a left-arrow edit, calls
 * it back from the history with the up arrow, and ends with Ctrl-D. The
 * model must receive the edited line (its greedy reply is the one that a
 * piped chat gives for that line), no escape code may reach the screen or
 * the model, and the shell's next output must start on a line of its own.
 * On the toy SFT model of test_ppo_util.h, which answers with a word. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/base/util.h"
#include "test.h"
#include "test_ppo_util.h"
#include "test_pretrain_fixtures.h"

/* What the pane shows now, wrapped lines joined, spaces at line ends
 * dropped (the line editor redraws with them) (malloc'ed). */
static char *pane(const char *sock, const char *dir) {
    test_system("tmux -L %s capture-pane -p -J -t chat | sed 's/ *$//' > '%s/pane.txt' 2>/dev/null", sock, dir);
    char *path = path_join(dir, "pane.txt"), *text = file_exists(path) ? read_file(path, NULL) : xstrdup("");
    free(path);
    return text;
}

/* Waits up to 60 s for the pane to show `what`; returns the pane then. */
static char *wait_for(const char *sock, const char *dir, const char *what) {
    char *text = NULL;
    for (int i = 0; i < 600; i++) {
        free(text);
        text = pane(sock, dir);
        if (strstr(text, what)) break;
        usleep(100 * 1000);
    }
    return text;
}

TEST_SLOW(chat_in_a_terminal_edits_lines_keeps_history_and_ends_on_a_new_line) {
    if (test_system("command -v tmux >/dev/null 2>&1") != 0) SKIP("tmux is not installed (apt-get install tmux)");
    char *dir = test_tmpdir("chat-tty");
    char *sft = ppo_test_write_sft(dir, "sft");
    char bin[PATH_MAX];
    if (!realpath(lmforge_bin(), bin)) die_errno("%s", lmforge_bin());
    const char *flags = "--temperature 0 --max-new-tokens 6";

    /* the reply that the edited line must get, from a piped chat */
    CHECK(test_system(FIXTURE_ENV " %s chat '%s' %s < /dev/null > /dev/null 2>&1", bin, sft, flags) == 0);
    CHECK(test_system("printf 'Name a fruit.\\n' | " FIXTURE_ENV " %s chat '%s' %s > '%s/piped.txt' 2>&1", bin, sft,
                      flags, dir) == 0);
    char *path = path_join(dir, "piped.txt"), *reply = read_file(path, NULL);
    reply[strcspn(reply, "\n")] = 0;
    CHECK_MSG(*reply, "the piped chat gave no reply");

    /* a private tmux server (its own socket), killed at the end */
    char sock[64];
    snprintf(sock, sizeof sock, "lmforge-test-%d", (int)getpid());
    CHECK(test_system("tmux -L %s new-session -d -s chat -x 160 -y 40 \"" FIXTURE_ENV
                      " %s chat '%s' %s; echo CHAT-ENDED; sleep 60\"",
                      sock, bin, sft, flags) == 0);
    char *text = wait_for(sock, dir, "leaves.\n>"); /* the line editor waits */
    /* "Name fruit.", six steps left (before "fruit."), "a ": the line becomes "Name a fruit." */
    test_system("tmux -L %s send-keys -t chat 'Name fruit.' Left Left Left Left Left Left 'a ' Enter", sock);
    char *expect = xsprintf("> Name a fruit.\n%s\n>", reply);
    free(text);
    text = wait_for(sock, dir, expect);
    CHECK_MSG(strstr(text, expect), "the pane does not show the edited line and its reply \"%s\":\n%s", reply, text);
    /* the up arrow calls the message back */
    test_system("tmux -L %s send-keys -t chat Up Enter", sock);
    char *again = xsprintf("%s Name a fruit.\n", expect);
    free(text);
    text = wait_for(sock, dir, again);
    CHECK_MSG(strstr(text, again), "the up arrow did not bring the last message back:\n%s", text);
    /* Ctrl-D leaves, and what the shell prints next starts on its own line */
    test_system("tmux -L %s send-keys -t chat C-d", sock);
    free(text);
    text = wait_for(sock, dir, "CHAT-ENDED");
    CHECK_MSG(strstr(text, "\nCHAT-ENDED"), "after Ctrl-D the next output does not start on a new line:\n%s", text);
    CHECK_MSG(!strstr(text, "^[") && !strstr(text, "\x1b"), "an escape code reached the screen:\n%s", text);
    test_system("tmux -L %s kill-server 2>/dev/null", sock);

    free(text);
    free(expect);
    free(again);
    free(reply);
    free(path);
    free(sft);
    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(dir);
}
