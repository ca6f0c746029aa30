/* rope.c — rotary position embedding (Su et al. 2021) in Hugging Face's
 * "rotate half" layout: within a head of size HS, element i (i < HS/2) is
 * paired with element i + HS/2, and the pair is rotated by pos · theta^(-2i/HS).
 * Public Llama/Qwen checkpoints expect exactly this pairing. A rotation's
 * gradient is the opposite rotation, so one kernel serves both passes. */
#include <math.h>

#include "../kernels.h"

void rope_tables(float *cos_table, float *sin_table, int max_T, int HS, float theta) {
    int half = HS / 2;
    for (int i = 0; i < half; i++) {
        /* inv_freq in float32 as Hugging Face computes it, angles in double. */
        float inv_freq = (float)(1.0 / pow((double)theta, (double)(2 * i) / HS));
        for (int p = 0; p < max_T; p++) {
            double a = (double)p * inv_freq;
            cos_table[(size_t)p * half + i] = (float)cos(a);
            sin_table[(size_t)p * half + i] = (float)sin(a);
        }
    }
}

void rope_tables_freq(float *cos_table, float *sin_table, int max_T, int HS, const float *inv_freq) {
    int half = HS / 2;
    for (int i = 0; i < half; i++)
        for (int p = 0; p < max_T; p++) {
            double a = (double)p * inv_freq[i];
            cos_table[(size_t)p * half + i] = (float)cos(a);
            sin_table[(size_t)p * half + i] = (float)sin(a);
        }
}

void rope_apply(float *x, int N, int row_stride, int n_heads, int HS, const int *pos, const float *cos_table,
                const float *sin_table, int inverse) {
    int half = HS / 2;
    float sign = inverse ? -1.0f : 1.0f;
#pragma omp parallel for schedule(static) if ((size_t)N * n_heads * HS >= SMALL_WORK)
    for (int n = 0; n < N; n++) {
        const float *cs = cos_table + (size_t)pos[n] * half, *sn = sin_table + (size_t)pos[n] * half;
        for (int h = 0; h < n_heads; h++) {
            float *a = x + (size_t)n * row_stride + (size_t)h * HS, *b = a + half;
#pragma omp simd
            for (int i = 0; i < half; i++) {
                float s = sign * sn[i], c = cs[i];
                float ai = a[i], bi = b[i];
                a[i] = ai * c - bi * s;
                b[i] = bi * c + ai * s;
            }
        }
    }
}
