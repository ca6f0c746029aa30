/* demo_commands.h — the subcommands of the demo: its data, its gold judges and
 * the evaluation report. They live apart from the stages (src/demo/ is its own link
 * unit, build/libdemo.a): nothing in the training library depends on them. */
#ifndef LMF_DEMO_COMMANDS_H
#define LMF_DEMO_COMMANDS_H

int cmd_demo_data(int argc, char **argv);
int cmd_gold(int argc, char **argv);
int cmd_evaluate(int argc, char **argv);

#endif
