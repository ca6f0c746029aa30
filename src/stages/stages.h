/* stages.h — the subcommands of lmforge, one per stage of the pipeline. */
#ifndef LMF_STAGES_H
#define LMF_STAGES_H

int cmd_train_tiny(int argc, char **argv);
int cmd_demo_data(int argc, char **argv);
int cmd_gold(int argc, char **argv);
int cmd_tokenizer(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_dpo(int argc, char **argv);
int cmd_pipeline(int argc, char **argv);
int cmd_annotate(int argc, char **argv);

#endif
