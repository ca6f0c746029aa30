/* frontier_fit.c — see frontier_fit.h. */
#include "frontier_fit.h"

#include <math.h>

/* The two features of the form at distance d: R(d) = α f1 + β f2. */
static void features(FrontierForm form, double d, double *f1, double *f2) {
    *f1 = d;
    *f2 = form == FRONTIER_BEST_OF_N ? -d * d : -d * log(d);
}

static int usable(double kl, double gain) { return isfinite(kl) && isfinite(gain) && kl > 0; }

FrontierFit frontier_fit(FrontierForm form, const double *kl, const double *gain, int n) {
    FrontierFit f = {0, 0, NAN, NAN, NAN};
    /* normal equations [a b; b c] (α, β) = (u, v) */
    double a = 0, b = 0, c = 0, u = 0, v = 0, sum_y = 0;
    for (int i = 0; i < n; i++) {
        if (!usable(kl[i], gain[i])) continue;
        double f1, f2;
        features(form, sqrt(kl[i]), &f1, &f2);
        a += f1 * f1, b += f1 * f2, c += f2 * f2;
        u += f1 * gain[i], v += f2 * gain[i];
        sum_y += gain[i];
        f.n++;
    }
    double det = a * c - b * b;
    /* relative to the scale of the matrix: collinear features leave (α, β) undetermined */
    if (f.n < 2 || !(fabs(det) > 1e-12 * (a * c + 1e-300))) return f;
    f.ok = 1;
    f.alpha = (c * u - b * v) / det;
    f.beta = (a * v - b * u) / det;
    double mean = sum_y / f.n, ss_res = 0, ss_tot = 0;
    for (int i = 0; i < n; i++) {
        if (!usable(kl[i], gain[i])) continue;
        double r = gain[i] - frontier_eval(form, &f, kl[i]);
        ss_res += r * r;
        ss_tot += (gain[i] - mean) * (gain[i] - mean);
    }
    f.r2 = ss_tot > 0 ? 1 - ss_res / ss_tot : NAN;
    return f;
}

double frontier_eval(FrontierForm form, const FrontierFit *f, double kl) {
    if (!(kl > 0)) return 0;
    double f1, f2;
    features(form, sqrt(kl), &f1, &f2);
    return f->alpha * f1 + f->beta * f2;
}

const char *frontier_form_name(FrontierForm form) { return form == FRONTIER_BEST_OF_N ? "best-of-n" : "RL"; }

const char *frontier_form_formula(FrontierForm form) {
    return form == FRONTIER_BEST_OF_N ? "R(d) = d (α − β d)" : "R(d) = d (α − β log d)";
}
