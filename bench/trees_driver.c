/* trees_driver.c — mkt's boosted trees on LIBSVM files, for bench/trees.sh:
 * every rank reads its contiguous block of the training file (the lines
 * whose first byte falls in its share of the bytes) and of the test file,
 * trains with mkt_gbdt_train (fixed rounds, no early stopping, no
 * validation rows), predicts its test rows and rank 0 prints one JSON
 * object: the test AUC, the training seconds (sketch included, file reading
 * excluded), peak RSS per rank and the trainer's own share of it, the
 * estimate (binned rows + histograms) and a digest of the forest (the same
 * on any rank count).
 *
 *   mpirun -np 2 trees_driver TRAIN.svm TEST.svm [key=value ...]
 *   keys: features (default: the largest index seen), rounds, depth, eta,
 *   lambda, min_child_weight, bins, gamma, repeat (trainings on the rows
 *   read once; the fastest is reported, 1 by default)
 * An absent "index:value" is the value 0 (the export leaves zeros out).
 *
 * Owns nothing of mkt; must not be used by mkt itself (a benchmark tool). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "gbdt.h"
#include "gbdt_train.h"
#include "metrics.h"

typedef struct {
    double *x, *y;
    int64_t n, cap;
    int d;       /* columns of x */
    int maxcol;  /* largest index seen */
} rows;

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "trees_driver: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    MPI_Abort(MPI_COMM_WORLD, 2);
}

/* Parse one LIBSVM line into r (x row of r->d columns; indices > d grow d
 * only before the first row is stored, so a pass with d fixed fails). */
static void parse_line(rows *r, char *line, const char *path)
{
    char *p = line, *end;
    double y = strtod(p, &end);
    if (end == p)
        die("%s: a line without a label", path);
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 4096;
        r->x = realloc(r->x, (size_t)r->cap * (size_t)r->d * sizeof *r->x);
        r->y = realloc(r->y, (size_t)r->cap * sizeof *r->y);
        if (!r->x || !r->y)
            die("%s: out of memory", path);
    }
    double *x = r->x + r->n * r->d;
    memset(x, 0, (size_t)r->d * sizeof *x);
    r->y[r->n] = y;
    p = end;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\n' || *p == '\r' || *p == 0)
            break;
        long j = strtol(p, &end, 10);
        if (end == p || *end != ':' || j < 1)
            die("%s: a bad index:value pair", path);
        p = end + 1;
        double v = strtod(p, &end);
        if (end == p)
            die("%s: a bad value", path);
        p = end;
        if (j > r->maxcol)
            r->maxcol = (int)j;
        if (j <= r->d)
            x[j - 1] = v;
    }
    r->n++;
}

/* This rank's block of the lines of path: those starting in its share of
 * the bytes. */
static void read_block(const char *path, int d, rows *r, MPI_Comm comm)
{
    int rank, P;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &P);
    memset(r, 0, sizeof *r);
    r->d = d;
    struct stat sb;
    FILE *fp = fopen(path, "r");
    if (!fp || fstat(fileno(fp), &sb))
        die("cannot open %s", path);
    long long size = sb.st_size, begin = size * rank / P, end = size * (rank + 1) / P;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long long pos = begin;
    if (begin > 0) { /* the line holding byte begin − 1 belongs to the rank before */
        if (fseeko(fp, begin - 1, SEEK_SET))
            die("cannot seek in %s", path);
        len = getline(&line, &cap, fp);
        pos = begin - 1 + (len > 0 ? len : 0);
    }
    while (pos < end && (len = getline(&line, &cap, fp)) > 0) {
        pos += len;
        parse_line(r, line, path);
    }
    free(line);
    fclose(fp);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

/* VmRSS or VmHWM of this process in MB (NAN when /proc is not there). */
static double proc_mb(const char *key)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char buf[256];
    double v = NAN;
    size_t k = strlen(key);
    while (fp && fgets(buf, sizeof buf, fp))
        if (!strncmp(buf, key, k) && buf[k] == ':')
            v = strtod(buf + k + 1, NULL) / 1024.0;
    if (fp)
        fclose(fp);
    return v;
}

/* Reset the peak RSS (VmHWM) to the current RSS; 0 when done. */
static int reset_peak(void)
{
    FILE *fp = fopen("/proc/self/clear_refs", "w");
    if (!fp)
        return -1;
    int ok = fputs("5", fp) >= 0;
    return fclose(fp) == 0 && ok ? 0 : -1;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

static uint64_t forest_digest(const mkt_gbdt_model *m)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t n = (size_t)m->nodes;
    h = fnv(h, &m->base_score, sizeof m->base_score);
    h = fnv(h, m->tree_start, (size_t)(m->trees + 1) * sizeof *m->tree_start);
    h = fnv(h, m->feature, n * sizeof *m->feature);
    h = fnv(h, m->left, n * sizeof *m->left);
    h = fnv(h, m->right, n * sizeof *m->right);
    h = fnv(h, m->default_left, n * sizeof *m->default_left);
    h = fnv(h, m->threshold, n * sizeof *m->threshold);
    h = fnv(h, m->value, n * sizeof *m->value);
    return h;
}

/* The trainer's largest number of histograms alive at once: while a level
 * of depth-wise growth is merged, every parent of the level (up to
 * 2^(depth − 1)) holds its own histogram and one for its smaller child. */
static int64_t live_histograms(int depth) { return depth >= 1 ? INT64_C(2) << (depth - 1) : 1; }

/* Collective. The AUC of the model on every rank's test rows (on rank 0;
 * *nt: their number). */
static double test_auc(const mkt_gbdt_model *model, const rows *te, int64_t *nt, MPI_Comm comm)
{
    int rank, P;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &P);
    double *m = malloc((size_t)(te->n > 0 ? te->n : 1) * sizeof *m);
    mkt_gbdt_predict_margin(model, te->x, te->n, te->d, m);
    int n_local = (int)te->n, *counts = malloc((size_t)P * sizeof *counts), *displs = malloc((size_t)P * sizeof *displs);
    MPI_Gather(&n_local, 1, MPI_INT, counts, 1, MPI_INT, 0, comm);
    int64_t n = 0;
    for (int r = 0; rank == 0 && r < P; r++) {
        displs[r] = (int)n;
        n += counts[r];
    }
    double *sall = malloc((size_t)(n > 0 ? n : 1) * sizeof *sall), *yall = malloc((size_t)(n > 0 ? n : 1) * sizeof *yall);
    MPI_Gatherv(m, n_local, MPI_DOUBLE, sall, counts, displs, MPI_DOUBLE, 0, comm);
    MPI_Gatherv(te->y, n_local, MPI_DOUBLE, yall, counts, displs, MPI_DOUBLE, 0, comm);
    double auc = NAN;
    if (rank == 0) {
        int *lab = malloc((size_t)(n > 0 ? n : 1) * sizeof *lab);
        for (int64_t i = 0; i < n; i++)
            lab[i] = yall[i] > 0.5;
        auc = mkt_auc(sall, lab, n);
        free(lab);
    }
    *nt = n;
    free(m);
    free(counts);
    free(displs);
    free(sall);
    free(yall);
    return auc;
}

/* Collective. Histogram slots as the trainer lays them out: the bins and
 * the missing slot of every feature, and the total. */
static int64_t histogram_slots(const mkt_gbdt_config *c, const mkt_gbdt_data *train, MPI_Comm comm)
{
    double *cuts = malloc((size_t)train->d * (size_t)(c->max_bins - 1) * sizeof *cuts);
    int *ncuts = malloc((size_t)train->d * sizeof *ncuts);
    mkt_gbdt_sketch(c, train, cuts, ncuts, comm);
    int64_t slots = 1;
    for (int f = 0; f < train->d; f++)
        slots += ncuts[f] + 2;
    free(cuts);
    free(ncuts);
    return slots;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm comm = MPI_COMM_WORLD;
    int rank, P;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &P);
    if (argc < 3)
        die("%s", "usage: trees_driver TRAIN.svm TEST.svm [key=value ...]");
    mkt_gbdt_config c;
    mkt_gbdt_config_defaults(&c);
    c.early_stop = 0;
    int d = 0, repeat = 1;
    for (int a = 3; a < argc; a++) {
        char *eq = strchr(argv[a], '=');
        if (!eq)
            die("not key=value: %s", argv[a]);
        *eq = 0;
        const char *k = argv[a], *v = eq + 1;
        if (!strcmp(k, "features"))
            d = atoi(v);
        else if (!strcmp(k, "repeat"))
            repeat = atoi(v) > 0 ? atoi(v) : 1;
        else if (!strcmp(k, "rounds"))
            c.rounds = atoi(v);
        else if (!strcmp(k, "depth"))
            c.max_depth = atoi(v);
        else if (!strcmp(k, "eta"))
            c.eta = atof(v);
        else if (!strcmp(k, "lambda"))
            c.lambda = atof(v);
        else if (!strcmp(k, "gamma"))
            c.gamma = atof(v);
        else if (!strcmp(k, "min_child_weight"))
            c.min_child_weight = atof(v);
        else if (!strcmp(k, "bins"))
            c.max_bins = atoi(v);
        else
            die("unknown key %s", k);
    }
    const char *bad = mkt_gbdt_check_config(&c);
    if (bad)
        die("%s", bad);
    if (d <= 0) { /* the largest index of either file */
        rows probe;
        read_block(argv[1], 0, &probe, comm);
        int mx = probe.maxcol;
        free(probe.x);
        free(probe.y);
        read_block(argv[2], 0, &probe, comm);
        mx = probe.maxcol > mx ? probe.maxcol : mx;
        free(probe.x);
        free(probe.y);
        MPI_Allreduce(&mx, &d, 1, MPI_INT, MPI_MAX, comm);
    }
    double t_read = MPI_Wtime();
    rows tr, te;
    read_block(argv[1], d, &tr, comm);
    read_block(argv[2], d, &te, comm);
    t_read = MPI_Wtime() - t_read;
    double rss_data = proc_mb("VmRSS");
    int reset = reset_peak();

    mkt_gbdt_data train = {.x = tr.x, .y = tr.y, .n = tr.n, .d = d};
    mkt_gbdt_data none = {.x = NULL, .y = NULL, .n = 0, .d = d};
    mkt_gbdt_model model;
    mkt_gbdt_result res;
    double smax = INFINITY, cpumax = INFINITY;
    for (int rep = 0; rep < repeat; rep++) {
        if (rep > 0)
            mkt_gbdt_model_free(&model);
        MPI_Barrier(comm);
        double t0 = MPI_Wtime(), cpu0 = cpu_seconds();
        mkt_gbdt_train(&c, &train, &none, NULL, &model, &res, comm);
        double s[2] = {MPI_Wtime() - t0, cpu_seconds() - cpu0};
        MPI_Allreduce(MPI_IN_PLACE, s, 2, MPI_DOUBLE, MPI_MAX, comm);
        smax = s[0] < smax ? s[0] : smax;
        cpumax = s[1] < cpumax ? s[1] : cpumax;
    }
    double hwm = reset == 0 ? proc_mb("VmHWM") : NAN, peak = peak_rss_mb();

    int64_t nt;
    double auc = test_auc(&model, &te, &nt, comm);

    /* memory: this rank's figures, gathered */
    int64_t slots = histogram_slots(&c, &train, comm);
    double hist_mb = (double)live_histograms(c.max_depth) * (double)slots * sizeof(mkt_gbdt_stat) / 1048576.0;
    double mine[6] = {peak, hwm, rss_data, (double)tr.n * d / 1048576.0, hist_mb, (double)tr.n};
    double *all = malloc((size_t)P * 6 * sizeof *all);
    MPI_Gather(mine, 6, MPI_DOUBLE, all, 6, MPI_DOUBLE, 0, comm);
    if (rank == 0) {
        printf("{\"ranks\": %d, \"train_rows\": %" PRId64 ", \"test_rows\": %" PRId64 ", \"features\": %d, "
               "\"rounds\": %d, \"depth\": %d, \"eta\": %g, \"lambda\": %g, \"min_child_weight\": %g, \"bins\": %d, "
               "\"bins_max\": %d, \"histogram_slots\": %" PRId64 ", \"auc\": %.6f, \"seconds_train\": %.4f, "
               "\"cpu_seconds_train\": %.4f, "
               "\"seconds_sketch\": %.4f, \"seconds_read\": %.3f, \"trees\": %d, \"nodes\": %" PRId64 ", "
               "\"digest\": \"%016" PRIx64 "\", \"repeat\": %d, \"per_rank\": [",
               P, res.train_rows, nt, d, c.rounds, c.max_depth, c.eta, c.lambda, c.min_child_weight, c.max_bins,
               res.bins_max, slots, auc, smax, cpumax, res.seconds_sketch, t_read, model.trees, model.nodes,
               forest_digest(&model), repeat);
        for (int r = 0; r < P; r++) {
            const double *a = all + 6 * r;
            printf("%s{\"rows\": %.0f, \"peak_rss_mb\": %.1f, \"peak_rss_training_mb\": %.1f, \"rss_before_mb\": %.1f, "
                   "\"binned_mb\": %.2f, \"histograms_mb\": %.2f}",
                   r ? ", " : "", a[5], a[0], a[1], a[2], a[3], a[4]);
        }
        printf("]}\n");
    }
    mkt_gbdt_model_free(&model);
    free(all);
    free(tr.x);
    free(tr.y);
    free(te.x);
    free(te.y);
    MPI_Finalize();
    return 0;
}
