/* test_verifiers.c — the built-in verifiable rewards, and reward programs:
 * answers in order, and a program that dies, hangs or writes garbage gives
 * a message naming it and the request, within the timeout. */
#include <stdlib.h>
#include <string.h>

#include "../src/base/util.h"
#include "../src/data/task_prompts.h"
#include "../src/pipeline/reward_program.h"
#include "../src/train/verifiers.h"
#include "test.h"

TEST(verifiers_exact_number_regex_length) {
    char *n = normalize_answer("  \"Paris.\"  ");
    CHECK(strcmp(n, "paris") == 0);
    free(n);
    n = normalize_answer("The   Quick\nFox!?");
    CHECK(strcmp(n, "the quick fox") == 0);
    free(n);
    CHECK(verify_exact("  paris!", "Paris") == 1);
    CHECK(verify_exact("paris is", "Paris") == 0);
    CHECK(verify_exact("", "") == 1);

    double v;
    CHECK(last_number("no digits here", &v) == 0);
    CHECK(last_number("3 apples and 1,234.5 pears", &v) == 1 && v == 1234.5);
    CHECK(last_number("it is -7.", &v) == 1 && v == -7);
    CHECK(last_number("x-y 12-3", &v) == 1 && v == -3); /* a minus right before digits belongs to them */
    CHECK(verify_number("so the answer is 42", "#### 42") == 1);
    CHECK(verify_number("so the answer is 42.0", "42") == 1);
    CHECK(verify_number("41 or 42? 41", "42") == 0);
    CHECK(verify_number("nothing", "42") == 0);

    Regex *r = regex_compile("^Answer: \\d+$", "test");
    CHECK(verify_regex(r, "Answer: 12", 10) == 1);
    CHECK(verify_regex(r, "Answer: twelve", 14) == 0);
    CHECK(verify_regex(r, "Answer: 1\xff", 10) == 0); /* invalid UTF-8 is text, not an error */
    regex_free(r);
    CHECK(verify_length(1) == 0 && verify_length(0) == -1);
    CHECK(verifier_kind("number") == VERIFY_NUMBER && verifier_kind("numbers") == -1);
}

static cJSON *request(const char *completion, int id) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "prompt", "What is 2+2?");
    cJSON_AddStringToObject(j, "completion", completion);
    cJSON_AddNumberToObject(j, "id", id);
    return j;
}

TEST(reward_program_answers_in_order) {
    /* rewards the length of the completion plus the extra field "id", so order and fields both show */
    RewardProgram *p = reward_program_start(
        "/usr/bin/python3 -c 'import json,sys\n"
        "for l in sys.stdin:\n"
        "  d=json.loads(l); print(json.dumps({\"reward\": len(d[\"completion\"]) + 100*d[\"id\"]}), flush=True)'",
        10);
    cJSON *req[3] = {request("four", 0), request("4", 1), request("", 2)};
    float r[3];
    char *error = reward_program_score(p, req, 3, r);
    CHECK_MSG(error == NULL, "%s", error);
    CHECK(r[0] == 4 && r[1] == 101 && r[2] == 200);
    error = reward_program_score(p, req, 1, r); /* the same program keeps answering */
    CHECK(error == NULL && r[0] == 4);
    reward_program_stop(p);
    for (int i = 0; i < 3; i++) cJSON_Delete(req[i]);
}

/* The program `command` fails on its first request with a message containing `expect`. */
static void check_failure(const char *command, double timeout, const char *expect) {
    RewardProgram *p = reward_program_start(command, timeout);
    cJSON *req = request("x", 0);
    float r;
    double start = now_seconds();
    char *error = reward_program_score(p, &req, 1, &r);
    CHECK_MSG(error && strstr(error, expect), "'%s': got %s, expected a message with \"%s\"", command,
              error ? error : "no error", expect);
    CHECK_MSG(now_seconds() - start < timeout + 5, "'%s' took %.1f s", command, now_seconds() - start);
    if (error) CHECK(strstr(error, command) != NULL); /* it names the program */
    free(error);
    error = reward_program_score(p, &req, 1, &r); /* and stays failed */
    CHECK(error != NULL);
    free(error);
    reward_program_stop(p);
    cJSON_Delete(req);
}

TEST(reward_program_failures_are_clear) {
    check_failure("true", 10, "exited without answering request 1");
    check_failure("exit 3", 10, "exit status 3");
    check_failure("sleep 30", 0.5, "did not answer request 1 within 0.5 s");
    check_failure("echo garbage; sleep 30", 10, "reply 1 must be {\"reward\": a finite number}, got: garbage");
    check_failure("echo '{\"reward\": \"high\"}'", 10, "got: {\"reward\": \"high\"}");
    check_failure("echo '{\"score\": 1}'", 10, "reply 1 must be");
}

TEST(task_prompts_read_answers_and_pass_other_fields_on) {
    char *dir = test_tmpdir("tasks"), *path = path_join(dir, "tasks.jsonl");
    const char *text = "{\"prompt\": \"What is 17 + 25?\", \"answer\": \"42\"}\n"
                       "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", "
                       "\"content\": \"2+2?\"}, {\"role\": \"assistant\", \"content\": \"4\"}], \"level\": 3}\n"
                       "{\"prompt\": \"Half of 9?\", \"answer\": 4.5, \"tags\": [\"x\"]}\n";
    write_bytes(path, text, strlen(text));
    int n;
    TaskPrompt *t = load_task_prompts(path, 1, &n);
    CHECK(n == 3);
    CHECK(strcmp(t[0].answer, "42") == 0 && t[0].prompt.n == 1);
    CHECK(strcmp(t[1].answer, "4") == 0 && t[1].prompt.n == 2); /* the closing assistant turn is the answer */
    CHECK(strcmp(t[2].answer, "4.5") == 0);
    cJSON *req = task_reward_request(&t[1], "four");
    char *s = cJSON_PrintUnformatted(req);
    CHECK_MSG(strstr(s, "\"completion\":\"four\"") && strstr(s, "\"answer\":\"4\"") && strstr(s, "\"level\":3") &&
                  strstr(s, "\"role\":\"system\"") && !strstr(s, "\"content\":\"4\""),
              "%s", s);
    free(s);
    cJSON_Delete(req);
    task_prompts_free(t, n);
    test_system("rm -rf %s", dir);
    free(dir);
    free(path);
}
