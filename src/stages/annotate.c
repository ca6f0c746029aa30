/* annotate.c — `lmforge annotate`: new preference data for a round of DPO
 * (or of reward modelling) from the current model's samples.
 *
 * Reads {"prompt","responses":[...]} lines (K sampled answers per prompt,
 * as `lmforge sample --n K` writes them), asks an annotator program
 * (pipeline/annotator.h) to rank each set, and writes
 * {"prompt","chosen","rejected"} pairs: the best against the worst answer
 * (the default), or every pair the ranking orders. Answers that are the same
 * text cannot be preferred to each other; such pairs are left out. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../base/args.h"
#include "../base/util.h"
#include "../base/jsonl.h"
#include "../data/preference_pairs.h"
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

int cmd_annotate(int argc, char **argv) {
    const char *annotator_cmd = NULL, *out = NULL, *pairs = "best-worst";
    Option opts[] = {
        OPT_STR("annotator", &annotator_cmd, "the program that ranks answers, run with sh -c (required)"),
        OPT_STR("out", &out, "the {\"prompt\",\"chosen\",\"rejected\"} JSONL file to write (required)"),
        OPT_STR("pairs", &pairs, "best-worst: one pair per prompt; all: every pair the ranking orders"),
        OPT_END};
    char **positional;
    int npos = args_parse("annotate", "SAMPLES.jsonl",
                          "Rank each line's sampled answers ({\"prompt\",\"responses\":[...]}) with an annotator "
                          "program ({\"prompt\",\"responses\"} in, {\"ranking\":[best,...,worst]} out, one JSON line "
                          "each) and write preference pairs for lmforge dpo.",
                          opts, argc, argv, &positional);
    if (npos != 1) die("annotate: expected one SAMPLES.jsonl file (see lmforge annotate --help)");
    if (!annotator_cmd) die("annotate: --annotator CMD is required (e.g. \"lmforge gold annotate --tasks FILE\")");
    if (!out) die("annotate: --out FILE is required");
    int all_pairs = strcmp(pairs, "all") == 0;
    if (!all_pairs && strcmp(pairs, "best-worst") != 0) die("annotate: --pairs %s: expected best-worst or all", pairs);

    Annotator *a = annotator_start(annotator_cmd);
    JsonlReader *r = jsonl_open(positional[0]);
    JsonlWriter *w = jsonl_writer_open(out);
    JsonlRecord rec;
    long prompts = 0, written = 0, same_text = 0, blank = 0;
    while (jsonl_next(r, &rec)) {
        const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(rec.json, "prompt");
        if (!cJSON_IsString(prompt) && !cJSON_IsArray(prompt))
            jsonl_die(&rec, "field \"prompt\" must be a string or a list of messages");
        const cJSON *list = jsonl_get_array(&rec, "responses");
        int k = cJSON_GetArraySize(list);
        if (k < 2) jsonl_die(&rec, "field \"responses\" must hold at least 2 answers to rank");
        const char **responses = xmalloc(sizeof(char *) * (size_t)k);
        for (int i = 0; i < k; i++) responses[i] = jsonl_array_string(&rec, "responses", i);
        int *ranking = xmalloc(sizeof(int) * (size_t)k);
        annotator_rank(a, prompt, responses, k, ranking);
        prompts++;
        for (int i = 0; i < k; i++)
            for (int j = i + 1; j < k; j++) {
                if (!all_pairs && !(i == 0 && j == k - 1)) continue;
                const char *better = responses[ranking[i]], *worse = responses[ranking[j]];
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
    }
    jsonl_close(r);
    jsonl_writer_close(w);
    annotator_stop(a);
    if (written == 0)
        die("annotate: no pair written: every ranked answer was empty or had the same text as the one it was ranked "
            "against");
    info("annotated %ld prompts: %ld pairs written to %s; left out: %ld pairs of identical answers, %ld with an empty "
         "answer",
         prompts, written, out, same_text, blank);
    free(positional);
    return 0;
}
