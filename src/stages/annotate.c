/* annotate.c — `lmforge annotate`: new preference data for a round of DPO
 * (or of reward modelling) from the current model's samples.
 *
 * Reads {"prompt","responses":[...]} lines (K sampled answers per prompt,
 * as `lmforge sample --n K` writes them), asks an annotator program
 * (pipeline/annotator.h) to rank each set, and writes what the ranking says:
 *
 *   --out FILE       {"prompt","chosen","rejected"} pairs for dpo (or rm): the
 *                    best against the worst answer (the default), or every
 *                    pair the ranking orders
 *   --rankings FILE  {"prompt","responses","ranking"} lines for rm, which
 *                    trains all C(K,2) pairs of a prompt in one step
 *
 * Answers that are the same text cannot be preferred to each other, and an
 * empty answer is refused by the readers: such pairs are left out, and a
 * ranking keeps each distinct non-empty text once, at its best place. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../base/args.h"
#include "../base/util.h"
#include "../base/jsonl.h"
#include "../data/preference_pairs.h"
#include "../data/selection.h"
#include "../pipeline/annotator.h"
#include "stages.h"

static void write_pair(JsonlWriter *w, const cJSON *prompt, const char *chosen, const char *rejected) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "prompt", cJSON_Duplicate(prompt, 1));
    cJSON_AddStringToObject(o, "chosen", chosen);
    cJSON_AddStringToObject(o, "rejected", rejected);
    jsonl_write(w, o);
    cJSON_Delete(o);
}

/* The ranking as rm reads it: the distinct non-empty answers (in the order
 * sampled) and their indices from best to worst. Returns 0, writing
 * nothing, when fewer than two such answers are left to rank. */
static int write_ranking(JsonlWriter *w, const cJSON *prompt, const char *const *responses, const int *ranking,
                         const int *tiers, int k) {
    int *index = xmalloc(sizeof(int) * (size_t)k); /* each answer's place in the written list, or -1 */
    int n = 0;
    cJSON *list = cJSON_CreateArray();
    for (int i = 0; i < k; i++) {
        index[i] = -1;
        if (preference_answer_is_blank(responses[i])) continue;
        for (int j = 0; j < i && index[i] < 0; j++)
            if (index[j] >= 0 && strcmp(responses[j], responses[i]) == 0) index[i] = index[j];
        if (index[i] < 0) {
            index[i] = n++;
            cJSON_AddItemToArray(list, cJSON_CreateString(responses[i]));
        }
    }
    int *placed = xcalloc((size_t)LMF_MAX(n, 1), sizeof(int));
    int *order_index = xmalloc(sizeof(int) * (size_t)k), *order_tier = xmalloc(sizeof(int) * (size_t)k), m = 0;
    for (int r = 0; r < k; r++) { /* a text ranked twice counts at its better place */
        int at = index[ranking[r]];
        if (at < 0 || placed[at]) continue;
        placed[at] = 1;
        order_index[m] = at;
        order_tier[m++] = tiers[r];
    }
    cJSON *order = ranking_json(order_index, order_tier, m);
    free(order_index);
    free(order_tier);
    if (n >= 2) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "prompt", cJSON_Duplicate(prompt, 1));
        cJSON_AddItemToObject(o, "responses", list);
        cJSON_AddItemToObject(o, "ranking", order);
        jsonl_write(w, o);
        cJSON_Delete(o);
    } else {
        cJSON_Delete(list);
        cJSON_Delete(order);
    }
    free(index);
    free(placed);
    return n >= 2;
}

/* The sample lines, checked, kept whole for --limit and --shuffle. */
typedef struct {
    cJSON **json;
    int n;
} Samples;

static Samples read_samples(const char *path) {
    Samples s = {0};
    JsonlReader *r = jsonl_open(path);
    JsonlRecord rec;
    int cap = 0;
    while (jsonl_next(r, &rec)) {
        const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(rec.json, "prompt");
        if (!cJSON_IsString(prompt) && !cJSON_IsArray(prompt))
            jsonl_die(&rec, "field \"prompt\" must be a string or a list of messages");
        int k = cJSON_GetArraySize(jsonl_get_array(&rec, "responses"));
        if (k < 2) jsonl_die(&rec, "field \"responses\" must hold at least 2 answers to rank");
        for (int i = 0; i < k; i++) jsonl_array_string(&rec, "responses", i);
        if (s.n == cap) {
            cap = cap ? 2 * cap : 64;
            s.json = xrealloc(s.json, sizeof(cJSON *) * (size_t)cap);
        }
        s.json[s.n++] = cJSON_Duplicate(rec.json, 1);
    }
    jsonl_close(r);
    return s;
}

int cmd_annotate(int argc, char **argv) {
    const char *annotator_cmd = NULL, *out = NULL, *rankings_out = NULL, *pairs = "best-worst";
    int limit = 0, shuffle = 0, seed = 1;
    Option opts[] = {
        OPT_STR("annotator", &annotator_cmd, "the program that ranks answers, run with sh -c (required)"),
        OPT_STR("out", &out, "the {\"prompt\",\"chosen\",\"rejected\"} JSONL file of pairs to write"),
        OPT_STR("pairs", &pairs, "best-worst: one pair per prompt; all: every pair the ranking orders"),
        OPT_STR("rankings", &rankings_out, "also (or, without --out, only) write {\"prompt\",\"responses\","
                                           "\"ranking\"} lines, the K-way rankings lmforge rm trains on"),
        SELECTION_OPTIONS(&limit, &shuffle, "sample lines"),
        OPT_INT("seed", &seed, "the seed of --shuffle"),
        OPT_END};
    char **positional;
    int npos = args_parse("annotate", "SAMPLES.jsonl",
                          "Rank each line's sampled answers ({\"prompt\",\"responses\":[...]}) with an annotator "
                          "program ({\"prompt\",\"responses\"} in, {\"ranking\":[best,...,worst]} out, one JSON line "
                          "each) and write preference pairs for lmforge dpo, or rankings for lmforge rm.",
                          opts, argc, argv, &positional);
    if (npos != 1) die("annotate: expected one SAMPLES.jsonl file (see lmforge annotate --help)");
    if (!annotator_cmd) die("annotate: --annotator CMD is required (e.g. \"lmforge gold annotate --tasks FILE\")");
    if (!out && !rankings_out) die("annotate: --out FILE (pairs) or --rankings FILE is required");
    int all_pairs = strcmp(pairs, "all") == 0;
    if (!all_pairs && strcmp(pairs, "best-worst") != 0) die("annotate: --pairs %s: expected best-worst or all", pairs);

    Samples samples = read_samples(positional[0]);
    int used;
    int *which = selection_make(samples.n, limit, shuffle, (uint64_t)seed, &used);
    Annotator *a = annotator_start(annotator_cmd);
    JsonlWriter *w = out ? jsonl_writer_open(out) : NULL, *wr = rankings_out ? jsonl_writer_open(rankings_out) : NULL;
    long prompts = 0, written = 0, same_text = 0, blank = 0, ranked = 0, tied = 0;
    for (int s = 0; s < used; s++) {
        const cJSON *json = samples.json[which[s]];
        const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(json, "prompt");
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(json, "responses");
        int k = cJSON_GetArraySize(list);
        const char **responses = xmalloc(sizeof(char *) * (size_t)k);
        for (int i = 0; i < k; i++) responses[i] = cJSON_GetArrayItem(list, i)->valuestring;
        int *ranking = xmalloc(sizeof(int) * (size_t)k), *tiers = xmalloc(sizeof(int) * (size_t)k);
        annotator_rank(a, prompt, responses, k, ranking, tiers);
        prompts++;
        if (wr) ranked += write_ranking(wr, prompt, responses, ranking, tiers, k);
        for (int i = 0; w && i < k; i++)
            for (int j = i + 1; j < k; j++) {
                if (!all_pairs && !(i == 0 && j == k - 1)) continue;
                const char *better = responses[ranking[i]], *worse = responses[ranking[j]];
                if (tiers[i] == tiers[j]) { /* the annotator finds them equally good: no preference */
                    tied++;
                    continue;
                }
                if (strcmp(better, worse) == 0) {
                    same_text++;
                    continue;
                }
                if (preference_answer_is_blank(better) || preference_answer_is_blank(worse)) {
                    blank++;
                    continue;
                }
                write_pair(w, prompt, better, worse);
                written++;
            }
        free(responses);
        free(ranking);
        free(tiers);
    }
    if (w) jsonl_writer_close(w);
    if (wr) jsonl_writer_close(wr);
    annotator_stop(a);
    if (w && written == 0)
        die("annotate: no pair written: every ranked answer was empty, tied with, or had the same text as the one it was "
            "ranked against");
    if (wr && ranked == 0) die("annotate: no ranking written: no prompt had two different non-empty answers");
    if (w)
        info("annotated %ld prompts: %ld pairs written to %s; left out: %ld pairs the annotator tied, %ld of identical "
             "answers, %ld with an empty answer",
             prompts, written, out, tied, same_text, blank);
    if (wr)
        info("annotated %ld prompts: %ld rankings written to %s (%ld prompts without two different non-empty answers "
             "left out)",
             prompts, ranked, rankings_out, prompts - ranked);
    for (int i = 0; i < samples.n; i++) cJSON_Delete(samples.json[i]);
    free(samples.json);
    free(which);
    free(positional);
    return 0;
}
