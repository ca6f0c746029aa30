/* stages.h — the subcommands of lmforge, one per stage of the pipeline.
 * Each is `int cmd_NAME(int argc, char **argv)`, argv[0] being its name. */
#ifndef LMF_STAGES_H
#define LMF_STAGES_H

/* the stages, in pipeline order */
int cmd_tokenizer(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_sft(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_annotate(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_ppo(int argc, char **argv);
int cmd_rs(int argc, char **argv);
int cmd_dpo(int argc, char **argv);
int cmd_pipeline(int argc, char **argv);
/* using a model */
int cmd_generate(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_eval(int argc, char **argv);
/* the demo */
int cmd_demo_data(int argc, char **argv);
int cmd_gold(int argc, char **argv);

/* rs.c: the index of the best (best = 1) or worst of k scores; ties go to the earlier one. */
int rs_pick(const float *scores, int k, int best);

#endif
