/* train_tiny.c — placeholder replaced by the training core. */
#include "stages.h"
#include <stdio.h>
int cmd_train_tiny(int argc, char **argv) {
    (void)argc; (void)argv;
    printf("not built yet\n");
    return 0;
}
