/* rm_loss.c — see rm_loss.h.
 *
 * With d = r_better − r_worse − m, the loss of a pair is −log σ(d) and
 * ∂/∂d = −σ(−d): the better response's score is pushed up and the worse
 * one's down by the same amount, which shrinks as the pair gets ordered
 * with room to spare. */
#include "rm_loss.h"

#include <math.h>

#include "../base/util.h"

double rm_neg_log_sigmoid(double x) {
    /* log(1 + e^−x) = max(−x, 0) + log(1 + e^−|x|) */
    return fmax(-x, 0.0) + log1p(exp(-fabs(x)));
}

double rm_pairs_loss(const float *scores, const RmPair *pairs, int n_pairs, double weight, float *dscores,
                     RmPairStats *stats) {
    if (n_pairs < 1) die("rm_pairs_loss: a prompt without pairs has no loss");
    double sum = 0;
    for (int p = 0; p < n_pairs; p++) {
        const RmPair *q = &pairs[p];
        double diff = (double)scores[q->better] - (double)scores[q->worse];
        double d = diff - q->margin;
        sum += rm_neg_log_sigmoid(d);
        if (dscores) {
            double push = weight / n_pairs / (1.0 + exp(d)); /* weight · σ(−d) / n_pairs */
            dscores[q->better] -= (float)push;
            dscores[q->worse] += (float)push;
        }
        if (stats) {
            stats->pairs++;
            stats->correct += diff > 0 ? 1.0 : diff == 0 ? 0.5 : 0.0;
            stats->margin_sum += diff;
        }
    }
    return sum / n_pairs;
}
