/* lmforge.c — the command line: one subcommand per stage.
 *
 * Each subcommand is a function `int cmd_NAME(int argc, char **argv)` in
 * src/stages/, called with argv[0] = the subcommand's name. Under mpirun
 * (the MPI build) every rank runs the same command; see base/dist.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/dist.h"
#include "base/util.h"
#include "demo/demo_commands.h"
#include "kernels/kernels.h"
#include "stages/stages.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} Command;

static const Command commands[] = {
    /* the stages, in pipeline order */
    {"data", cmd_data, "data check FILE...: formats, record counts, token lengths and what the stages would cut or "
                       "refuse, before training"},
    {"tokenizer", cmd_tokenizer, "train a byte-level BPE tokenizer; encode and decode text"},
    {"pretrain", cmd_pretrain, "pretrain a model on raw text (next-token prediction)"},
    {"sft", cmd_sft, "supervised fine-tuning on chats or prompt/completion pairs (full or LoRA)"},
    {"merge", cmd_merge, "fold a LoRA adapter into its base model: a full checkpoint"},
    {"sample", cmd_sample, "K answers per prompt as JSONL, ready for annotation"},
    {"annotate", cmd_annotate, "rank sampled answers with an annotator program and write preference pairs"},
    {"label", cmd_label, "people rank sampled answers in a browser -> rankings for rm; label stats: agreement"},
    {"rm", cmd_rm, "train a reward model on rankings and chosen/rejected pairs; score responses (rm score)"},
    {"ppo", cmd_ppo, "RLHF with PPO: policy and critic learn from the reward model (InstructGPT)"},
    {"grpo", cmd_grpo, "RL with verifiable rewards: G answers per prompt checked by programs, no critic (GRPO, DAPO)"},
    {"rs", cmd_rs, "rejection sampling: best of K answers by the reward model -> SFT data and preference pairs"},
    {"dpo", cmd_dpo, "Direct Preference Optimization on chosen/rejected pairs (DPO, IPO, conservative DPO)"},
    {"pairs-from-data", cmd_pairs_from_data, "preference pairs from SFT or pretraining data alone: the data's answer "
                                             "chosen, the model's rejected (SPIN)"},
    {"pipeline", cmd_pipeline, "run a recipe of stages (rounds included), resuming where it stopped"},
    /* using a model */
    {"generate", cmd_generate, "sample continuations of prompts (batched, KV cache); text or JSONL out"},
    {"chat", cmd_chat, "chat with a model in ChatML, streaming its replies"},
    {"eval", cmd_eval, "loss and perplexity of a model on text"},
    {"evaluate", cmd_evaluate, "measure checkpoints against a judge program: report.md, frontier plots, report.json"},
    {"export", cmd_export, "write a model as one GGUF file for llama.cpp and ollama (f32, f16, q8_0)"},
    /* the demo's data and judges */
    {"demo-data", cmd_demo_data, "build the demo's pretraining text, tasks, SFT data and prompts from Debian packages"},
    {"gold", cmd_gold, "gold judges of the demo tasks: score answers, or rank them as a simulated annotator"},
};

static void print_help(void) {
    printf("lmforge — the whole LLM training pipeline in C\n\n"
           "usage: lmforge COMMAND [options] [arguments]\n\ncommands:\n");
    for (size_t i = 0; i < LMF_ARRAY_LEN(commands); i++) printf("  %-16s %s\n", commands[i].name, commands[i].summary);
    printf("\n`lmforge COMMAND --help` documents every flag of a command.\n");
}

/* At exit: what was printed must have reached standard output. A full disk
 * or a closed pipe is a failure, not a success (--help included). */
static void check_standard_output(void) {
    if (fflush(stdout) == 0 && !ferror(stdout)) return;
    fprintf(stderr, "lmforge: cannot write to standard output: %s\n", strerror(errno));
    _exit(1);
}

int main(int argc, char **argv) {
    blas_prefer_fast_kernels(argv);
    atexit(check_standard_output);
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        if (argc >= 3 && strcmp(argv[1], "help") == 0) {
            for (size_t i = 0; i < LMF_ARRAY_LEN(commands); i++)
                if (strcmp(argv[2], commands[i].name) == 0) {
                    char *args[] = {argv[2], "--help", NULL};
                    return commands[i].run(2, args);
                }
            die("unknown command '%s' (see lmforge help)", argv[2]);
        }
        print_help();
        return argc < 2 ? 1 : 0;
    }
    for (size_t i = 0; i < LMF_ARRAY_LEN(commands); i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            dist_init(&argc, &argv);
            return commands[i].run(argc - 1, argv + 1);
        }
    die("unknown command '%s' (see lmforge help)", argv[1]);
}
