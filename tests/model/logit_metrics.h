/* logit_metrics.h: how close rows of logits are to a reference, as the
 * fixtures' tolerance rule measures it (shared/fixtures/README): the
 * normalized RMS error over all T x V values, and the share of the T rows
 * whose argmax agrees. Used by the model tests that compare logits. */
#ifndef AG_TEST_LOGIT_METRICS_H
#define AG_TEST_LOGIT_METRICS_H

#include <math.h>

static void metrics(const float *test, const float *ref, int T, int V, double *nrmse, double *top1)
{
    double se = 0, ee = 0;
    int agree = 0;
    for (int t = 0; t < T; t++) {
        int at = 0, ae = 0;
        for (int v = 0; v < V; v++) {
            double d = (double)test[t * V + v] - ref[t * V + v];
            se += d * d;
            ee += (double)ref[t * V + v] * ref[t * V + v];
            if (test[t * V + v] > test[t * V + at]) at = v;
            if (ref[t * V + v] > ref[t * V + ae]) ae = v;
        }
        agree += at == ae;
    }
    *nrmse = sqrt(se / ee);
    *top1 = (double)agree / T;
}

#endif
