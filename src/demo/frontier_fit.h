/* frontier_fit.h — the reward–KL frontier of Gao et al. 2022 (Scaling Laws
 * for Reward Model Overoptimization): the gold reward R gained over the
 * initial policy as a function of d = √KL, the distance the policy moved:
 *
 *   best-of-n   R(d) = d (α − β d)
 *   RL          R(d) = d (α − β log d)
 *
 * Both are linear in (α, β) for known d, so a least-squares fit is the
 * 2×2 normal equations; R² = 1 − SS_res / SS_tot tells how well the form fits.
 *
 *   FrontierFit f = frontier_fit(FRONTIER_BEST_OF_N, kl, gain, n);
 *   if (f.ok) printf("α %.3f β %.3f R² %.3f\n", f.alpha, f.beta, f.r2);
 *   double y = frontier_eval(FRONTIER_BEST_OF_N, &f, kl_new); */
#ifndef LMF_DEMO_FRONTIER_FIT_H
#define LMF_DEMO_FRONTIER_FIT_H

typedef enum { FRONTIER_BEST_OF_N, FRONTIER_RL } FrontierForm;

typedef struct {
    int ok;                 /* 0: fewer than 2 usable points, or they do not pin (α, β) down */
    int n;                  /* points used: those with KL > 0 (at KL 0 both forms are 0 whatever α, β) */
    double alpha, beta, r2; /* NaN when !ok; r2 NaN also when the gains are all equal */
} FrontierFit;

/* Least-squares α, β of `form` through the points (kl[i], gain[i]), i < n;
 * points with KL <= 0 or non-finite values are left out. */
FrontierFit frontier_fit(FrontierForm form, const double *kl, const double *gain, int n);
/* The fitted gain at kl (0 at kl <= 0). */
double frontier_eval(FrontierForm form, const FrontierFit *f, double kl);
/* "best-of-n" or "RL", and the formula, for reports. */
const char *frontier_form_name(FrontierForm form);
const char *frontier_form_formula(FrontierForm form);

#endif
