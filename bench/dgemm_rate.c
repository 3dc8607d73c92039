/* dgemm_rate.c — the reference FLOP rate for bench/mf.sh: OpenBLAS dgemm on
 * one thread, square N x N, best of several runs.  Prints GFLOP/s.
 *   cc -O2 bench/dgemm_rate.c -o dgemm_rate $(pkg-config --cflags --libs openblas)
 *   OPENBLAS_NUM_THREADS=1 ./dgemm_rate [N] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1024;
    if (n < 16 || n > 8192) {
        fprintf(stderr, "dgemm_rate: N must be in [16, 8192]\n");
        return 2;
    }
    double *a = malloc(sizeof(double) * (size_t)n * (size_t)n * 3);
    if (!a)
        return 1;
    double *b = a + (size_t)n * n, *c = b + (size_t)n * n;
    for (size_t i = 0; i < (size_t)n * n; i++) {
        a[i] = (double)(i % 97) / 97.0;
        b[i] = (double)(i % 89) / 89.0;
        c[i] = 0;
    }
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        double t = now();
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a, n, b, n, 0.0, c, n);
        t = now() - t;
        if (t < best)
            best = t;
    }
    printf("%.2f\n", 2.0 * n * (double)n * n / best / 1e9);
    int rc = c[0] < -1; /* keeps the product live */
    free(a);
    return rc;
}
