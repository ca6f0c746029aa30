/* test_evaluate.c — `lmforge evaluate` end to end with a fake judge program
 * on tiny models made here: the SFT policy of the PPO tests and copies of it
 * with their weights jittered (a PPO run's, a GRPO run's checkpoints and two
 * --frontier models, at growing KL). The judge scores an answer by its
 * letters, so every judge score, mean, win rate and fit in report.json can
 * be recomputed from the answers the command wrote. Also: the families and
 * groups (the prompt line's first, then the judge's reply), and a judge that
 * dies or replies garbage, or bad arguments, stop it with a clear error.
 * The reference answers' log-likelihood (--references) is checked against
 * the held-out loss `lmforge sft` reports on the same file, and the Routes
 * table (--route) against the checkpoint table. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../src/base/json_util.h"
#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "../src/demo/frontier_fit.h"
#include "../src/io/model_dir.h"
#include "test.h"
#include "test_ppo_util.h"

/* The fake judge: (number of "e" + 2 × number of "a") mod 4, over 3; its
 * reply names the family "zzz" (which the prompt line's own family
 * overrides) and the group after the request's family. */
static const char *JUDGE_PY =
    "import sys, json\n"
    "for line in sys.stdin:\n"
    "    q = json.loads(line)\n"
    "    c = q['completion']\n"
    "    assert 'prompt' in q and q['id'] >= 0\n"
    "    r = ((c.count('e') + 2 * c.count('a')) % 4) / 3.0\n"
    "    print(json.dumps({'reward': r, 'family': 'zzz', 'group': 'grp-' + q.get('family', 'none')}), flush=True)\n";

static double judge(const char *c) {
    int e = 0, a = 0;
    for (const char *p = c; *p; p++) e += *p == 'e', a += *p == 'a';
    return ((e + 2 * a) % 4) / 3.0;
}

#define N_PROMPTS 8
/* prompts 0-2 are family "a", 3-5 "b", 6-7 have none (the judge's "zzz", group "grp-none") */
static const char *family_of(int i) { return i < 3 ? "a" : i < 6 ? "b" : NULL; }

static char *write_prompts(const char *dir) {
    char *path = path_join(dir, "prompts.jsonl");
    FILE *f = fopen(path, "w");
    for (int i = 0; i < N_PROMPTS; i++) {
        const char *ask = PPO_ASKS[i % PPO_N_ASKS], *fam = family_of(i);
        if (i == 7)
            fprintf(f, "{\"prompt\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"%s\"}], \"id\": %d}\n", ask, i);
        else if (fam)
            fprintf(f, "{\"prompt\": \"%s\", \"family\": \"%s\", \"id\": %d}\n", ask, fam, i);
        else
            fprintf(f, "{\"prompt\": \"%s\", \"id\": %d}\n", ask, i);
    }
    fclose(f);
    return path;
}

/* The SFT model with every weight moved by spread × N(0, 1): a policy at some KL from it. */
static void write_jittered(const char *sft, const char *out, float spread, uint64_t seed) {
    ModelDir m = model_dir_load(sft);
    Rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < m.model->n_params; i++) m.model->params[i] += spread * rng_normal(&r);
    model_dir_save(out, m.model, m.tokenizer, 0, 1);
    model_dir_free(&m);
}

static void write_text(const char *path, const char *text) { write_bytes(path, text, strlen(text)); }

/* A run directory with checkpoint-STEP[/policy] holding a jittered model. */
static void write_checkpoint(const char *run, long step, const char *sub, const char *sft, float spread) {
    char *ck = xsprintf("%s/checkpoint-%ld", run, step), *model = sub ? path_join(ck, sub) : xstrdup(ck);
    make_dirs(model);
    write_jittered(sft, model, spread, (uint64_t)step + 100);
    char *state = path_join(ck, "trainer_state.json");
    write_text(state, "{}\n");
    free(state);
    free(model);
    free(ck);
}

static const cJSON *checkpoint_named(const cJSON *report, const char *name, const char *path) {
    const cJSON *c;
    cJSON_ArrayForEach(c, json_get_array(report, "checkpoints", path)) if (strcmp(json_get_string(c, "name", path), name) == 0) return c;
    return NULL;
}

static const cJSON *series_named(const cJSON *report, const char *name, const char *path) {
    const cJSON *s;
    cJSON_ArrayForEach(s, json_get_array(report, "frontier", path)) if (strcmp(json_get_string(s, "series", path), name) == 0) return s;
    return NULL;
}

/* The judge's score of each greedy answer in OUT/answers/NAME.jsonl, checked against its "gold". */
static int answer_scores(const char *out, const char *name, double *gold) {
    char *path = xsprintf("%s/answers/%s.jsonl", out, name);
    int n;
    cJSON **lines = ppo_test_read_jsonl(path, &n);
    for (int i = 0; i < n && i < N_PROMPTS; i++) {
        gold[i] = judge(json_get_string(lines[i], "response", path));
        CHECK_NEAR(json_get_double(lines[i], "gold", path), gold[i], 1e-6);
    }
    ppo_test_free_jsonl(lines, n);
    free(path);
    return n;
}

TEST(evaluate_report_matches_what_the_fake_judge_implies) {
    char *dir = test_tmpdir("evaluate");
    char *sft = ppo_test_write_sft(dir, "sft"), *rm = ppo_test_write_reward_model(dir, "rm");
    char *prompts = write_prompts(dir), *judge_path = path_join(dir, "judge.py"), *text = path_join(dir, "heldout.txt");
    write_text(judge_path, JUDGE_PY);
    write_text(text, "Name a fruit. Apple. Say a tool name. Hammer. Which fruit do you like? Pear.\n");
    char *noisy = path_join(dir, "noisy"), *b1 = path_join(dir, "b1"), *b2 = path_join(dir, "b2");
    char *ppo = path_join(dir, "ppo"), *grpo = path_join(dir, "grpo"), *out = path_join(dir, "out");
    write_jittered(sft, noisy, 0.05f, 1);
    write_jittered(sft, b1, 0.01f, 2);
    write_jittered(sft, b2, 0.03f, 3);
    write_checkpoint(ppo, 1, "policy", sft, 0.01f);
    write_checkpoint(ppo, 2, "policy", sft, 0.03f);
    write_checkpoint(grpo, 4, NULL, sft, 0.02f);
    int rc = test_system(
        "OMP_WAIT_POLICY=passive %s evaluate --out %s --prompts %s --judge 'python3 %s' --model sft=%s --model noisy=%s "
        "--reward %s --heldout-text %s --ppl-tokens 64 --seq-len 16 --ppo-run %s --grpo-run %s --frontier b1=%s "
        "--frontier b2=%s --bon-n 4 --bon-prompts 8 --kl-prompts 8 --max-new-tokens 6 --target-group grp-a "
        "--target-group grp-none --win-target noisy --gain-target noisy --gain-group grp-b > %s/log 2>&1",
        lmforge_bin(), out, prompts, judge_path, sft, noisy, rm, text, ppo, grpo, b1, b2, dir);
    CHECK_MSG(rc == 0, "evaluate failed (exit %d); see %s/log", rc, dir);
    if (rc) goto done;

    char *report_path = path_join(out, "report.json");
    cJSON *report = json_read_file(report_path);
    double g_sft[N_PROMPTS], g_noisy[N_PROMPTS];
    CHECK_EQ_INT(answer_scores(out, "sft", g_sft), N_PROMPTS);
    CHECK_EQ_INT(answer_scores(out, "noisy", g_noisy), N_PROMPTS);
    const cJSON *c_sft = checkpoint_named(report, "sft", report_path), *c_noisy = checkpoint_named(report, "noisy", report_path);
    CHECK(c_sft && c_noisy);
    if (!c_sft || !c_noisy) goto free_report;

    /* gold: the mean judge score, overall, per family and per group */
    double sum = 0, fam_b = 0;
    for (int i = 0; i < N_PROMPTS; i++) sum += g_noisy[i], fam_b += i >= 3 && i < 6 ? g_noisy[i] : 0;
    CHECK_NEAR(json_get_double(c_noisy, "gold", report_path), sum / N_PROMPTS, 1e-6);
    const cJSON *by_family = cJSON_GetObjectItemCaseSensitive(c_noisy, "gold_by_family");
    CHECK_NEAR(json_get_double(by_family, "b", report_path), fam_b / 3, 1e-6);
    CHECK_NEAR(json_get_double(by_family, "zzz", report_path), (g_noisy[6] + g_noisy[7]) / 2, 1e-6);
    CHECK(cJSON_GetObjectItemCaseSensitive(by_family, "a") != NULL);
    const cJSON *by_group = cJSON_GetObjectItemCaseSensitive(c_noisy, "gold_by_group");
    CHECK_NEAR(json_get_double(by_group, "grp-none", report_path), (g_noisy[6] + g_noisy[7]) / 2, 1e-6);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(report, "groups")), 3);

    /* win rate of noisy against sft: on all prompts, and on the target groups (prompts 0-2 and 6-7) */
    int w = 0, t = 0, l = 0, tw = 0, tt = 0, tl = 0;
    for (int i = 0; i < N_PROMPTS; i++) {
        int win = g_noisy[i] > g_sft[i], loss = g_noisy[i] < g_sft[i], target = !(i >= 3 && i < 6);
        w += win, l += loss, t += !win && !loss;
        if (target) tw += win, tl += loss, tt += !win && !loss;
    }
    const cJSON *win = cJSON_GetObjectItemCaseSensitive(c_noisy, "win_rate");
    CHECK_EQ_INT(json_get_int(win, "wins", report_path), w);
    CHECK_EQ_INT(json_get_int(win, "ties", report_path), t);
    CHECK_EQ_INT(json_get_int(win, "losses", report_path), l);
    CHECK_NEAR(json_get_double(win, "rate", report_path), (w + 0.5 * t) / N_PROMPTS, 1e-9);
    const cJSON *twin = cJSON_GetObjectItemCaseSensitive(c_noisy, "target_win_rate");
    CHECK_EQ_INT(json_get_int(twin, "wins", report_path), tw);
    CHECK_NEAR(json_get_double(twin, "rate", report_path), (tw + 0.5 * tt) / 5, 1e-9);
    /* the baseline against itself: all ties, KL 0 */
    CHECK_EQ_INT(json_get_int(cJSON_GetObjectItemCaseSensitive(c_sft, "win_rate"), "ties", report_path), N_PROMPTS);
    CHECK_NEAR(json_get_double(c_sft, "kl", report_path), 0, 1e-3);
    CHECK(json_get_double(c_noisy, "perplexity", report_path) > 1);

    /* the frontier: best-of-n at its exact KLs, PPO 1 + 2 points, DPO 1 + 2, GRPO 1 + 1; every fit is the fit of its points */
    static const struct {
        const char *name;
        int points;
        FrontierForm form;
    } expect[] = {{"best-of-n", 3, FRONTIER_BEST_OF_N}, {"PPO", 3, FRONTIER_RL}, {"DPO", 3, FRONTIER_RL}, {"GRPO", 2, FRONTIER_RL}};
    for (size_t k = 0; k < LMF_ARRAY_LEN(expect); k++) {
        const cJSON *s = series_named(report, expect[k].name, report_path);
        CHECK_MSG(s != NULL, "no frontier series %s", expect[k].name);
        if (!s) continue;
        const cJSON *points = json_get_array(s, "points", report_path), *p;
        CHECK_EQ_INT(cJSON_GetArraySize(points), expect[k].points);
        double kl[8], gain[8];
        int n = 0;
        cJSON_ArrayForEach(p, points) {
            kl[n] = json_get_double(p, "kl", report_path);
            gain[n] = json_get_double(p, "gold_gain", report_path);
            if (k == 0) CHECK_NEAR(kl[n], log(1 << n) - (double)((1 << n) - 1) / (1 << n), 1e-9);
            n++;
        }
        CHECK_NEAR(kl[0], 0, 1e-3);
        CHECK_NEAR(gain[0], 0, 1e-12);
        FrontierFit f = frontier_fit(expect[k].form, kl, gain, n);
        const cJSON *fit = cJSON_GetObjectItemCaseSensitive(s, "fit");
        CHECK_EQ_INT(json_get_int(fit, "points", report_path), f.n);
        const cJSON *alpha = cJSON_GetObjectItemCaseSensitive(fit, "alpha");
        if (f.ok) CHECK_NEAR(alpha->valuedouble, f.alpha, 1e-6 + 1e-6 * fabs(f.alpha));
        else CHECK(cJSON_IsNull(alpha));
    }
    /* PPO's points are its checkpoints' steps; DPO's carry their names */
    const cJSON *dpo_points = json_get_array(series_named(report, "DPO", report_path), "points", report_path);
    CHECK(strcmp(json_get_string(cJSON_GetArrayItem(dpo_points, 2), "name", report_path), "b2") == 0);

    /* the targets: agreement, win rate (its value is the target-group rate), gain on grp-b, over-optimisation */
    const cJSON *targets = json_get_array(report, "targets", report_path), *row;
    int rows = 0;
    cJSON_ArrayForEach(row, targets) {
        const char *what = json_get_string(row, "target", report_path);
        if (strstr(what, "beats")) CHECK_NEAR(json_get_double(row, "value", report_path), (tw + 0.5 * tt) / 5, 1e-9);
        if (strstr(what, "gold over")) {
            double gain = json_get_double(cJSON_GetObjectItemCaseSensitive(c_noisy, "gold_by_group"), "grp-b", report_path) -
                          json_get_double(cJSON_GetObjectItemCaseSensitive(c_sft, "gold_by_group"), "grp-b", report_path);
            CHECK_NEAR(json_get_double(row, "gap", report_path), gain - 0.15, 1e-6);
        }
        rows++;
    }
    CHECK_EQ_INT(rows, 4);
    static const char *const files[] = {"report.md", "plots/frontier.svg", "plots/overoptimization.svg"};
    for (size_t i = 0; i < LMF_ARRAY_LEN(files); i++) {
        char *p = path_join(out, files[i]);
        CHECK_MSG(file_exists(p), "missing %s", p);
        free(p);
    }
    CHECK(test_system("grep -q 'Reward–KL frontier' %s/report.md && grep -q '### grp-a' %s/report.md", out, out) == 0);
    /* without --references and --route: no ref. log-lik column, no Routes table */
    CHECK(test_system("grep -q 'ref. log-lik' %s/report.md", out) != 0);
    CHECK(test_system("grep -q '## Routes' %s/report.md", out) != 0);
    CHECK(cJSON_GetObjectItemCaseSensitive(c_noisy, "reference_loglik") == NULL);
    CHECK(cJSON_GetObjectItemCaseSensitive(report, "routes") == NULL);

    /* without a reward model: no agreement, no best-of-n, the other series still on the frontier */
    char *out2 = path_join(dir, "out2");
    rc = test_system("OMP_WAIT_POLICY=passive %s evaluate --out %s --prompts %s --judge 'python3 %s' --model sft=%s "
                     "--frontier b1=%s --max-prompts 4 --bon-prompts 4 --kl-prompts 4 --max-new-tokens 6 > %s/log2 2>&1",
                     lmforge_bin(), out2, prompts, judge_path, sft, b1, dir);
    CHECK_MSG(rc == 0, "evaluate without --reward failed (exit %d); see %s/log2", rc, dir);
    char *report2_path = path_join(out2, "report.json");
    if (rc == 0) {
        cJSON *report2 = json_read_file(report2_path);
        CHECK_EQ_INT(json_get_int(report2, "heldout_prompts", report2_path), 4);
        CHECK(cJSON_GetObjectItemCaseSensitive(report2, "reward_model") == NULL);
        const cJSON *series = json_get_array(report2, "frontier", report2_path);
        CHECK_EQ_INT(cJSON_GetArraySize(series), 1);
        CHECK_EQ_INT(cJSON_GetArraySize(json_get_array(report2, "targets", report2_path)), 0);
        cJSON_Delete(report2);
    }
    free(report2_path);
    free(out2);
free_report:
    cJSON_Delete(report);
    free(report_path);
done:
    if (!test_failed() && !getenv("KEEP")) test_system("rm -rf %s", dir);
    free(dir), free(sft), free(rm), free(prompts), free(judge_path), free(text), free(noisy), free(b1), free(b2);
    free(ppo), free(grpo), free(out);
}

/* A judge that dies, or answers garbage, stops evaluate with a message naming it. */
TEST(evaluate_names_a_failing_judge) {
    char *dir = test_tmpdir("evaluate-judge");
    char *sft = ppo_test_write_sft(dir, "sft"), *prompts = write_prompts(dir);
    static const struct {
        const char *script, *body, *expected;
    } cases[] = {
        {"dies.sh", "exit 3\n", "exited"},
        {"garbage.sh", "while read l; do echo nonsense; done\n", "reply 1 must be"},
        {"no_reward.sh", "while read l; do echo '{\"score\": 1}'; done\n", "must be {\"reward\": a finite number}"},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++) {
        char *script = path_join(dir, cases[i].script);
        write_text(script, cases[i].body);
        CHECK_MSG(test_system("%s evaluate --out %s/out --prompts %s --model sft=%s --judge 'sh %s' --max-new-tokens 4 "
                              "> %s/log 2> %s/err; test $? -eq 1 && grep -qF -- '--judge program failed' %s/err && "
                              "grep -qF -- '%s' %s/err && grep -qF -- '%s' %s/err",
                              lmforge_bin(), dir, prompts, sft, script, dir, dir, dir, cases[i].script, dir,
                              cases[i].expected, dir) == 0,
                      "judge %s: expected a message naming it and \"%s\" (see %s/err)", cases[i].script,
                      cases[i].expected, dir);
        free(script);
    }
    if (!test_failed()) test_system("rm -rf %s", dir);
    free(dir), free(sft), free(prompts);
}

/* Bad arguments and a bad prompt line: a one-line reason and exit status 1. */
TEST(evaluate_rejects_bad_arguments) {
    char *dir = test_tmpdir("evaluate-args");
    char *bad = path_join(dir, "bad.jsonl");
    write_text(bad, "{\"prompt\": \"hi\"}\n{\"prompt\": \"yo\", \"family\": 3}\n");
    char *sft = ppo_test_write_sft(dir, "sft");
    char *bad_line = xsprintf("--out o --prompts %s --judge j --model a=%s", bad, sft);
    const struct {
        const char *args, *expected;
    } cases[] = {
        {"--prompts p --judge j --model a=b", "evaluate: --out, --prompts and --judge are required"},
        {"--out o --prompts p --judge j", "evaluate: no --model NAME=DIR to evaluate"},
        {"--out o --prompts p --judge j --model nodir", "evaluate: --model nodir: expected NAME=DIR"},
        {"--out o --prompts p --judge j --model a=b --baseline c", "evaluate: the baseline c is not one of the --model names"},
        {"--out o --prompts p --judge j --model a=b --win-target c", "evaluate: --win-target c is not one of the --model names"},
        {"--out o --prompts p --judge j --model a=b --temperature 0", "--temperature must be positive"},
        {bad_line, "bad.jsonl:2: field \"family\" must be a non-empty string"},
        {"--out o --prompts p --judge j --model a=b --route R", "evaluate: --route R: expected ROUTE=NAME1,NAME2,..."},
        {"--out o --prompts p --judge j --model a=b --route R=a,c", "evaluate: --route R=a,c: \"c\" is not one of the --model names"},
        {"--out o --prompts p --judge j --model a=b --references-limit -1", "--references-limit) and --temperature must be positive"},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++)
        CHECK_MSG(test_system("%s evaluate %s > %s/out 2> %s/err; test $? -eq 1 && grep -qF -- '%s' %s/err", lmforge_bin(),
                              cases[i].args, dir, dir, cases[i].expected, dir) == 0,
                  "evaluate %s: expected \"%s\"", cases[i].args, cases[i].expected);
    if (!test_failed()) test_system("rm -rf %s", dir);
    free(bad_line), free(sft), free(bad), free(dir);
}

/* SFT data in every format: chats (with a system turn, with two assistant
 * turns) and prompt/completion records (string and message forms). */
static const char *const REFERENCES[] = {
    "{\"messages\": [{\"role\": \"user\", \"content\": \"Name a fruit.\"}, {\"role\": \"assistant\", \"content\": \"apple\"}]}",
    "{\"prompt\": \"Say a fruit name.\", \"completion\": \"pear\"}",
    "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Which fruit "
    "do you like?\"}, {\"role\": \"assistant\", \"content\": \"plum\"}]}",
    "{\"prompt\": [{\"role\": \"user\", \"content\": \"Give me a fruit.\"}], \"completion\": [{\"role\": \"assistant\", "
    "\"content\": \"hammer\"}]}",
    "{\"messages\": [{\"role\": \"user\", \"content\": \"Name a fruit.\"}, {\"role\": \"assistant\", \"content\": "
    "\"grape\"}, {\"role\": \"user\", \"content\": \"Another.\"}, {\"role\": \"assistant\", \"content\": \"mango\"}]}",
};

/* REFERENCES[which[i]] for i < n into DIR/NAME. */
static char *write_references(const char *dir, const char *name, const int *which, int n) {
    char *path = path_join(dir, name);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < n; i++) fprintf(f, "%s\n", REFERENCES[which[i]]);
    fclose(f);
    return path;
}

/* The held-out losses `lmforge sft --eval FILE --eval-at-start --steps 1`
 * reports: before the step (of INIT; its log line, to 4 decimals) and after
 * it (of RUN/model; metrics.jsonl, to 9 digits); returns how many it found. */
static int sft_eval_losses(const char *init, const char *file, const char *run, double loss[2]) {
    int rc = test_system("OMP_WAIT_POLICY=passive %s sft --init %s --data %s --eval %s --eval-at-start --steps 1 "
                         "--eval-prompts 0 --out %s > %s.log 2>&1",
                         lmforge_bin(), init, file, file, run, run);
    CHECK_MSG(rc == 0, "sft failed (exit %d); see %s.log", rc, run);
    if (rc) return 0;
    char *log = xsprintf("%s.log", run), *text = read_file(log, NULL), *at = strstr(text, "eval at step 0: eval/loss ");
    int found = at && sscanf(at, "eval at step 0: eval/loss %lf", &loss[0]) == 1;
    double *v;
    if (ppo_test_metric(run, "eval/loss", &v) == 1) loss[1] = v[0], found++;
    free(v);
    free(text);
    free(log);
    return found;
}

TEST(evaluate_reference_loglik_is_minus_sft_eval_loss_and_routes_repeat_the_figures) {
    char *dir = test_tmpdir("evaluate-refs");
    char *sft = ppo_test_write_sft(dir, "sft"), *prompts = write_prompts(dir), *judge_path = path_join(dir, "judge.py");
    char *noisy = path_join(dir, "noisy"), *run = path_join(dir, "sft-run"), *run_sub = path_join(dir, "sft-run-sub");
    char *out = path_join(dir, "out"), *out_sub = path_join(dir, "out-sub");
    char *report_path = path_join(out, "report.json"), *md_path = path_join(out, "report.md");
    char *tuned = path_join(run, "model"), *md = NULL;
    cJSON *report = NULL;
    write_text(judge_path, JUDGE_PY);
    write_jittered(sft, noisy, 0.05f, 1);
    const int all[] = {0, 1, 2, 3, 4}, spread[] = {0, 2}; /* --references-limit 2 of 5: examples 0 and 2 */
    char *refs = write_references(dir, "refs.jsonl", all, 5), *refs_sub = write_references(dir, "sub.jsonl", spread, 2);

    /* SFT's held-out loss on the file: of the SFT model (step 0), and of the model after one step */
    double sft_loss[2], sub_loss[2];
    CHECK_EQ_INT(sft_eval_losses(sft, refs, run, sft_loss), 2);
    CHECK_EQ_INT(sft_eval_losses(sft, refs_sub, run_sub, sub_loss), 2);
    if (test_failed()) goto done;

    int rc = test_system("OMP_WAIT_POLICY=passive %s evaluate --out %s --prompts %s --judge 'python3 %s' --model sft=%s "
                         "--model noisy=%s --model tuned=%s --references %s --route SPIN=tuned,sft --route RS+DPO=noisy "
                         "--max-prompts 4 --kl-prompts 2 --max-new-tokens 4 > %s/log 2>&1",
                         lmforge_bin(), out, prompts, judge_path, sft, noisy, tuned, refs, dir);
    CHECK_MSG(rc == 0, "evaluate failed (exit %d); see %s/log", rc, dir);
    if (rc) goto done;
    report = json_read_file(report_path);
    const char *names[3] = {"sft", "noisy", "tuned"};
    const cJSON *c[3];
    double ll[3];
    for (int i = 0; i < 3; i++) {
        c[i] = checkpoint_named(report, names[i], report_path);
        CHECK(c[i] != NULL);
        if (!c[i]) goto done;
        ll[i] = json_get_double(c[i], "reference_loglik", report_path);
    }
    /* minus SFT's held-out loss, for the model SFT started from (logged to 4 decimals) and for the one it wrote */
    CHECK_NEAR(ll[0], -sft_loss[0], 6e-5);
    CHECK_NEAR(ll[2], -sft_loss[1], 1e-5);
    /* a log-probability, and one that tells models apart */
    CHECK(ll[0] < 0 && ll[1] < 0);
    CHECK(fabs(ll[1] - ll[0]) > 1e-3);
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(report, "references");
    CHECK(info && json_get_int(info, "examples", report_path) == 5);

    /* report.md: the column in the checkpoint table, and the Routes rows in order with the same figures */
    md = read_file(md_path, NULL);
    const char *routes = strstr(md, "## Routes"), *at = routes;
    CHECK_MSG(routes != NULL, "no Routes table in %s", md_path);
    if (!routes) goto done;
    CHECK(strstr(md, "| ref. log-lik |") != NULL);
    const char *route_of[3] = {"SPIN", "SPIN", "RS+DPO"};
    const int member[3] = {2, 0, 1};
    for (int k = 0; k < 3; k++) {
        const cJSON *ck = c[member[k]];
        double gold = json_get_double(ck, "gold", report_path), kl = json_get_double(ck, "kl", report_path);
        double win = json_get_double(cJSON_GetObjectItemCaseSensitive(ck, "win_rate"), "rate", report_path);
        char *row = xsprintf("| %s | %s | %.3f | %.3f | %.2f | %.4f |\n", route_of[k], names[member[k]], gold, win, kl,
                             ll[member[k]]);
        char *cells = xsprintf("| %s |", names[member[k]]); /* its checkpoint-table row: the same numbers */
        char *figures = xsprintf(" **%.3f** | %.3f (", gold, win), *tail = xsprintf(" %.2f | - | %.4f |\n", kl, ll[member[k]]);
        const char *found = strstr(at, row), *line = strstr(md, cells), *eol = line ? strchr(line, '\n') : NULL;
        CHECK_MSG(found != NULL, "Routes row %d, \"%s\", missing or out of order in %s", k, row, md_path);
        if (found) at = found + strlen(row);
        CHECK_MSG(line && line < routes && eol && strstr(line, figures) && strstr(line, figures) < eol &&
                      strncmp(eol + 1 - strlen(tail), tail, strlen(tail)) == 0,
                  "checkpoint row of %s does not show \"%s\" ... \"%s\"", names[member[k]], figures, tail);
        free(row), free(cells), free(figures), free(tail);
    }
    const cJSON *route_list = json_get_array(report, "routes", report_path);
    CHECK_EQ_INT(cJSON_GetArraySize(route_list), 2);

    /* --references-limit 2: the evenly spread examples 0 and 2, as SFT scores a file of just those */
    char *tuned_sub = path_join(run_sub, "model");
    rc = test_system("OMP_WAIT_POLICY=passive %s evaluate --out %s --prompts %s --judge 'python3 %s' --model sft=%s "
                     "--model tuned=%s --references %s --references-limit 2 --max-prompts 2 --kl-prompts 1 "
                     "--max-new-tokens 2 > %s/log2 2>&1",
                     lmforge_bin(), out_sub, prompts, judge_path, sft, tuned_sub, refs, dir);
    free(tuned_sub);
    CHECK_MSG(rc == 0, "evaluate --references-limit failed (exit %d); see %s/log2", rc, dir);
    if (rc == 0) {
        char *sub_path = path_join(out_sub, "report.json");
        cJSON *sub = json_read_file(sub_path);
        CHECK_NEAR(json_get_double(checkpoint_named(sub, "sft", sub_path), "reference_loglik", sub_path), -sub_loss[0], 6e-5);
        CHECK_NEAR(json_get_double(checkpoint_named(sub, "tuned", sub_path), "reference_loglik", sub_path), -sub_loss[1], 1e-5);
        CHECK_EQ_INT(json_get_int(cJSON_GetObjectItemCaseSensitive(sub, "references"), "examples", sub_path), 2);
        cJSON_Delete(sub);
        free(sub_path);
    }
done:
    if (!test_failed() && !getenv("KEEP")) test_system("rm -rf %s", dir);
    cJSON_Delete(report);
    free(md), free(dir), free(sft), free(prompts), free(judge_path), free(noisy), free(run), free(run_sub), free(out);
    free(out_sub), free(report_path), free(md_path), free(tuned), free(refs), free(refs_sub);
}
