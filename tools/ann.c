/* ann - command-line tool for libann: train on CSV/TSV, predict, evaluate,
 * and describe model files.  See `ann --help` and README "Command-line tool".
 * SPDX-License-Identifier: MIT */
#include <ann.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK_ROWS 4096
#define MAX_TARGETS 256

/* ---- small utilities --------------------------------------------------- */

static void die_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ann: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        die_msg("out of memory");
        exit(1);
    }
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) {
        die_msg("out of memory");
        exit(1);
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

/* ---- CSV / TSV reader -------------------------------------------------- */

typedef struct csv {
    FILE *f;
    const char *name; /* for messages */
    char delim;
    size_t line;      /* 1-based line number of the last line read */
    char *buf;
    size_t cap;
    size_t ncols;
    char **names;
} csv;

/* Read one line into r->buf without the newline; 0 at EOF. */
static int read_line(csv *r)
{
    size_t len = 0;
    int c;
    if (!r->buf) {
        r->cap = 256;
        r->buf = xmalloc(r->cap);
    }
    while ((c = getc(r->f)) != EOF && c != '\n') {
        if (len + 2 > r->cap)
            r->buf = xrealloc(r->buf, r->cap *= 2);
        r->buf[len++] = (char)c;
    }
    if (c == EOF && len == 0)
        return 0;
    if (len && r->buf[len - 1] == '\r')
        len--;
    r->buf[len] = '\0';
    r->line++;
    return 1;
}

static char *trim(char *s)
{
    while (*s == ' ')
        s++;
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ')
        s[--n] = '\0';
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s[n - 1] = '\0';
        s++;
    }
    return s;
}

static void csv_close(csv *r)
{
    if (r->f && r->f != stdin)
        fclose(r->f);
    for (size_t j = 0; j < r->ncols; j++)
        free(r->names[j]);
    free(r->names);
    free(r->buf);
    memset(r, 0, sizeof *r);
}

/* Open path ("-" or NULL = stdin) and read the header.  0 on success. */
static int csv_open(csv *r, const char *path)
{
    memset(r, 0, sizeof *r);
    if (!path || strcmp(path, "-") == 0) {
        r->f = stdin;
        r->name = "<stdin>";
    } else {
        r->f = fopen(path, "r");
        r->name = path;
        if (!r->f) {
            die_msg("%s: %s", path, strerror(errno));
            return -1;
        }
    }
    if (!read_line(r) || r->buf[0] == '\0') {
        die_msg("%s:1:1: empty input (expected a header line)", r->name);
        return -1;
    }
    r->delim = strchr(r->buf, '\t') ? '\t' : ',';
    size_t n = 1;
    for (char *p = r->buf; *p; p++)
        n += *p == r->delim;
    r->names = xmalloc(n * sizeof *r->names);
    char *p = r->buf;
    for (size_t j = 0; j < n; j++) {
        char *end = strchr(p, r->delim);
        if (end)
            *end = '\0';
        r->names[j] = xstrdup(trim(p));
        r->ncols = j + 1;
        if (r->names[j][0] == '\0') {
            die_msg("%s:1:%zu: empty column name", r->name, j + 1);
            return -1;
        }
        p = end ? end + 1 : p + strlen(p);
    }
    return 0;
}

/* Read the next data row into vals (ncols doubles).  If raw is not NULL
 * it receives a malloc'ed copy of the line.  1 = row, 0 = end, -1 = error
 * (reported).  Blank lines are skipped. */
static int csv_row(csv *r, double *vals, char **raw)
{
    do {
        if (!read_line(r))
            return 0;
    } while (r->buf[0] == '\0');
    if (raw)
        *raw = xstrdup(r->buf);
    char *p = r->buf;
    size_t j = 0;
    for (;;) {
        char *end = strchr(p, r->delim);
        if (end)
            *end = '\0';
        if (j >= r->ncols) {
            die_msg("%s:%zu:%zu: ragged row: more than the header's %zu fields", r->name,
                    r->line, j + 1, r->ncols);
            goto fail;
        }
        char *cell = trim(p), *stop;
        errno = 0;
        double v = strtod(cell, &stop);
        if (cell[0] == '\0' || *stop != '\0') {
            die_msg("%s:%zu:%zu: column '%s': '%s' is not a number", r->name, r->line, j + 1,
                    r->names[j], cell);
            goto fail;
        }
        if (!isfinite(v)) {
            die_msg("%s:%zu:%zu: column '%s': '%s' is not a finite number", r->name, r->line,
                    j + 1, r->names[j], cell);
            goto fail;
        }
        vals[j++] = v;
        if (!end)
            break;
        p = end + 1;
    }
    if (j != r->ncols) {
        die_msg("%s:%zu:%zu: ragged row: %zu fields, the header has %zu", r->name, r->line,
                j + 1, j, r->ncols);
        goto fail;
    }
    return 1;
fail:
    if (raw) {
        free(*raw);
        *raw = NULL;
    }
    return -1;
}

/* Split "a,b,c" into column indices of r; -1 if a name is missing. */
static int find_columns(const csv *r, const char *list, size_t *idx, size_t *n)
{
    char *copy = xstrdup(list), *save = copy, *tok;
    *n = 0;
    while ((tok = strsep(&save, ",")) != NULL) {
        size_t j;
        for (j = 0; j < r->ncols && strcmp(r->names[j], tok) != 0; j++)
            ;
        if (j == r->ncols) {
            die_msg("%s:1: target column '%s' not found in the header", r->name, tok);
            free(copy);
            return -1;
        }
        if (*n == MAX_TARGETS) {
            die_msg("too many target columns");
            free(copy);
            return -1;
        }
        idx[(*n)++] = j;
    }
    free(copy);
    return 0;
}

/* A whole table split into features X and targets Y (row-major). */
typedef struct table {
    size_t rows, n_x, n_y;
    double *X, *Y;
    size_t *lines; /* input line of each row, for messages */
    const char *name;
} table;

static int is_target(const size_t *tidx, size_t nt, size_t j)
{
    for (size_t k = 0; k < nt; k++)
        if (tidx[k] == j)
            return 1;
    return 0;
}

static void split_row(const double *vals, size_t ncols, const size_t *tidx, size_t nt,
                      double *x, double *y)
{
    size_t a = 0;
    for (size_t j = 0; j < ncols; j++)
        if (!is_target(tidx, nt, j))
            x[a++] = vals[j];
    for (size_t k = 0; k < nt; k++)
        y[k] = vals[tidx[k]];
}

static int read_table(const char *path, const char *targets, table *t)
{
    csv r;
    size_t tidx[MAX_TARGETS], nt = 0;
    memset(t, 0, sizeof *t);
    t->name = (!path || strcmp(path, "-") == 0) ? "<stdin>" : path;
    if (csv_open(&r, path) != 0 || find_columns(&r, targets, tidx, &nt) != 0) {
        csv_close(&r);
        return -1;
    }
    t->n_y = nt;
    t->n_x = r.ncols - nt;
    if (t->n_x == 0) {
        die_msg("%s:1: no feature columns besides the targets", r.name);
        csv_close(&r);
        return -1;
    }
    double *vals = xmalloc(r.ncols * sizeof *vals);
    size_t cap = 0;
    int st;
    while ((st = csv_row(&r, vals, NULL)) == 1) {
        if (t->rows == cap) {
            cap = cap ? 2 * cap : 1024;
            t->X = xrealloc(t->X, cap * t->n_x * sizeof *t->X);
            t->Y = xrealloc(t->Y, cap * t->n_y * sizeof *t->Y);
            t->lines = xrealloc(t->lines, cap * sizeof *t->lines);
        }
        t->lines[t->rows] = r.line;
        split_row(vals, r.ncols, tidx, nt, t->X + t->rows * t->n_x, t->Y + t->rows * t->n_y);
        t->rows++;
    }
    if (st == 0 && t->rows == 0) {
        die_msg("%s:%zu: no data rows after the header", r.name, r.line + 1);
        st = -1;
    }
    free(vals);
    csv_close(&r);
    if (st < 0) {
        free(t->X);
        free(t->Y);
        free(t->lines);
        return -1;
    }
    return 0;
}

/* ---- option parsing ---------------------------------------------------- */

typedef struct opts {
    const char *input, *output, *model, *targets;
    const char *layers, *activation, *out_activation, *loss, *optimizer;
    double epochs, lr, batch, seed, l2, momentum, validation, patience;
    int classify, standardize, quiet, help;
} opts;

static int parse_args(int argc, char **argv, opts *o, int n_positional, const char **pos)
{
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            o->help = 1;
            continue;
        }
        if (a[0] != '-' || a[1] == '\0') {
            if (npos == n_positional) {
                die_msg("unexpected argument '%s' (see --help)", a);
                return -1;
            }
            pos[npos++] = a;
            continue;
        }
        static const char *const flags[] = {"--classify", "--standardize", "--quiet", "-q"};
        int is_flag = 0;
        for (size_t k = 0; k < sizeof flags / sizeof *flags; k++)
            is_flag |= strcmp(a, flags[k]) == 0;
        if (is_flag) {
            if (strcmp(a, "--classify") == 0)
                o->classify = 1;
            else if (strcmp(a, "--standardize") == 0)
                o->standardize = 1;
            else
                o->quiet = 1;
            continue;
        }
        char name[64];
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        if (nlen >= sizeof name) {
            die_msg("unknown option '%s' (see --help)", a);
            return -1;
        }
        memcpy(name, a, nlen);
        name[nlen] = '\0';
        if (eq)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        else {
            die_msg("option %s needs a value", a);
            return -1;
        }
        struct { const char *name; const char **s; double *d; } table[] = {
            {"--target", &o->targets, NULL},   {"-o", &o->output, NULL},
            {"--output", &o->output, NULL},    {"--layers", &o->layers, NULL},
            {"--activation", &o->activation, NULL},
            {"--output-activation", &o->out_activation, NULL},
            {"--loss", &o->loss, NULL},        {"--optimizer", &o->optimizer, NULL},
            {"--epochs", NULL, &o->epochs},    {"--lr", NULL, &o->lr},
            {"--batch", NULL, &o->batch},      {"--seed", NULL, &o->seed},
            {"--l2", NULL, &o->l2},            {"--momentum", NULL, &o->momentum},
            {"--validation", NULL, &o->validation},
            {"--patience", NULL, &o->patience},
        };
        size_t k;
        for (k = 0; k < sizeof table / sizeof *table; k++)
            if (strcmp(name, table[k].name) == 0)
                break;
        if (k == sizeof table / sizeof *table) {
            die_msg("unknown option '%s' (see --help)", name);
            return -1;
        }
        if (table[k].s) {
            *table[k].s = val;
        } else {
            char *end;
            double v = strtod(val, &end);
            if (*val == '\0' || *end != '\0' || !isfinite(v)) {
                die_msg("option %s: '%s' is not a number", name, val);
                return -1;
            }
            *table[k].d = v;
        }
    }
    return 0;
}

static int lookup(const char *what, const char *s, const char *const *names, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (names[k] && strcmp(s, names[k]) == 0)
            return (int)k;
    fprintf(stderr, "ann: unknown %s '%s'; one of:", what, s);
    for (size_t k = 0; k < n; k++)
        if (names[k])
            fprintf(stderr, " %s", names[k]);
    fputc('\n', stderr);
    return -1;
}

static const char *const act_names[] = {"identity", "step", "sigmoid", "tanh",
                                        "relu", "leaky_relu", "softmax"};
static const char *const loss_names[] = {"squared_error", "cross_entropy"};
static const char *const opt_names[] = {"sgd", "momentum", "adam"};

/* ---- help -------------------------------------------------------------- */

static const char usage_main[] =
    "usage: ann <command> [options]\n"
    "\n"
    "Train and use libann multi-layer perceptrons on CSV or TSV files.\n"
    "\n"
    "commands:\n"
    "  fit      train a network on a CSV/TSV file and save the model\n"
    "  predict  append the model's predictions to every row of a CSV/TSV file\n"
    "  eval     loss and accuracy (classification) or R^2 (regression)\n"
    "  info     architecture and parameters of a model file\n"
    "\n"
    "Input: a header line naming the columns, then one row per line; cells\n"
    "separated by tabs if the header holds a tab, else by commas; every cell a\n"
    "finite number.  FILE '-' or no FILE reads standard input.  Inputs are used\n"
    "as given (see fit --standardize).  Errors name the file, line and column\n"
    "and exit with status 1; usage errors exit with status 2.\n"
    "\n"
    "Run 'ann <command> --help' for a command's options.\n";

static const char usage_fit[] =
    "usage: ann fit [FILE] --target NAME[,NAME...] -o MODEL [options]\n"
    "\n"
    "Train a network on FILE (default: standard input) and write MODEL\n"
    "(libann's format, written crash-safely; untouched on failure).  The\n"
    "feature columns are all columns except the targets, in file order.\n"
    "\n"
    "  --target NAMES       target column(s), comma-separated (required)\n"
    "  -o, --output MODEL   model file to write (required)\n"
    "  --classify           one target column of integer class labels 0..k-1;\n"
    "                       softmax output (one sigmoid unit for k = 2) and\n"
    "                       cross-entropy.  Default: regression, identity\n"
    "                       output, squared error\n"
    "  --layers 16,8        hidden layer sizes (default 16; 0 = none)\n"
    "  --activation NAME    hidden activation: identity step sigmoid tanh relu\n"
    "                       leaky_relu (default relu)\n"
    "  --output-activation NAME   override the output layer's activation\n"
    "  --loss NAME          squared_error or cross_entropy\n"
    "  --optimizer NAME     sgd, momentum or adam (default adam)\n"
    "  --epochs N           default 100\n"
    "  --lr RATE            learning rate (default 0.001)\n"
    "  --batch N            mini-batch size; 0 = full batch (default 32)\n"
    "  --seed N             weights and shuffling (default 0)\n"
    "  --l2 L               L2 penalty (default 0)\n"
    "  --momentum M         momentum coefficient (default 0.9)\n"
    "  --validation F       hold out this fraction of rows (default 0)\n"
    "  --patience N         early stopping on the validation loss (default 0 = off)\n"
    "  --standardize        train on standardised features (and, for regression\n"
    "                       with an identity output, standardised targets), then\n"
    "                       fold the scaling into the first and last layers, so\n"
    "                       the saved model takes and returns raw values and\n"
    "                       stores nothing extra.  (The optimizer state refers\n"
    "                       to the scaled problem.)\n"
    "  -q, --quiet          no progress output\n"
    "\n"
    "Progress goes to standard error: a progress bar on a terminal, one line\n"
    "per epoch otherwise.\n";

static const char usage_predict[] =
    "usage: ann predict MODEL [FILE] [-o OUT] [--target NAMES]\n"
    "\n"
    "Read FILE (default: standard input) and write every line followed by\n"
    "the model's predictions: column 'predicted' (a class label for a\n"
    "classifier, else the single output) or 'predicted_1'..'predicted_k'.\n"
    "Rows are processed in blocks of 4096, so the input may exceed memory.\n"
    "\n"
    "  -o, --output OUT   write to OUT (default standard output); OUT is\n"
    "                     written to a temporary file renamed on success, so\n"
    "                     an error never leaves a partial OUT\n"
    "  --target NAMES     columns to ignore (e.g. the true targets); every\n"
    "                     other column is an input, in file order\n";

static const char usage_eval[] =
    "usage: ann eval MODEL [FILE] --target NAME[,NAME...]\n"
    "\n"
    "Evaluate MODEL on FILE (default: standard input): prints the rows, the\n"
    "loss (the model's loss function), and for a classifier the accuracy and\n"
    "the confusion matrix (rows = true class, columns = predicted), for a\n"
    "regression model R^2 and RMSE per target.\n"
    "\n"
    "  --target NAMES     the true target column(s) (required)\n";

static const char usage_info[] =
    "usage: ann info MODEL\n"
    "\n"
    "Print a model file's architecture (inputs, layers with units, fan-in\n"
    "and activation), parameter count, training parameters and the results\n"
    "of its last fit.\n";

/* ---- shared model helpers ---------------------------------------------- */

static ann *load_model(const char *path)
{
    ann *m = NULL;
    ann_status st = ann_load(&m, path);
    if (st != ANN_OK) {
        die_msg("%s: %s", path, ann_errmsg(NULL));
        return NULL;
    }
    return m;
}

static double getp(const ann *m, ann_param key)
{
    double v = NAN;
    ann_get_param(m, key, &v);
    return v;
}

/* A classifier: cross-entropy with a softmax or single sigmoid output. */
static int is_classifier(const ann *m)
{
    size_t n_layers = (size_t)getp(m, ANN_PARAM_N_LAYERS);
    ann_activation act;
    size_t units;
    ann_layer_info(m, n_layers - 1, &units, NULL, &act);
    return getp(m, ANN_PARAM_LOSS) == ANN_LOSS_CROSS_ENTROPY &&
           (act == ANN_ACT_SOFTMAX || (act == ANN_ACT_SIGMOID && units == 1));
}

/* ---- ann fit ----------------------------------------------------------- */

typedef struct progress_state {
    int tty;
    size_t epochs;
    size_t last; /* last epoch shown */
} progress_state;

static int on_epoch(void *user, size_t epoch, double train_loss, double val_loss)
{
    progress_state *p = user;
    p->last = epoch;
    if (p->tty) {
        int width = 30, done = (int)(width * (double)epoch / (double)p->epochs);
        fprintf(stderr, "\r[%.*s%*s] epoch %zu/%zu  loss %.6g", done,
                "##############################", width - done, "", epoch, p->epochs,
                train_loss);
        if (!isnan(val_loss))
            fprintf(stderr, "  val %.6g", val_loss);
        if (epoch == p->epochs)
            fputc('\n', stderr);
    } else {
        fprintf(stderr, "epoch %zu/%zu train_loss %.6g", epoch, p->epochs, train_loss);
        if (!isnan(val_loss))
            fprintf(stderr, " val_loss %.6g", val_loss);
        fputc('\n', stderr);
    }
    fflush(stderr);
    return 0;
}

static int set_param(ann *m, ann_param key, double v, const char *opt)
{
    if (ann_set_param(m, key, v) != ANN_OK) {
        die_msg("%s: %s", opt, ann_errmsg(m));
        return -1;
    }
    return 0;
}

static void column_stats(const double *A, size_t n, size_t d, double *mu, double *sd)
{
    for (size_t j = 0; j < d; j++) {
        double s = 0, q = 0;
        for (size_t i = 0; i < n; i++)
            s += A[i * d + j];
        mu[j] = s / (double)n;
        for (size_t i = 0; i < n; i++)
            q += (A[i * d + j] - mu[j]) * (A[i * d + j] - mu[j]);
        sd[j] = sqrt(q / (double)n);
        if (!(sd[j] > 0))
            sd[j] = 1;
    }
}

static void scale(double *A, size_t n, size_t d, const double *mu, const double *sd)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            A[i * d + j] = (A[i * d + j] - mu[j]) / sd[j];
}

/* Fold x' = (x - mu)/sd into layer 0 and y = sd_y*y' + mu_y into the last. */
static int fold_scaling(ann *m, size_t n_layers, const double *mu, const double *sd,
                        const double *mu_y, const double *sd_y)
{
    size_t units, fan_in;
    ann_layer_info(m, 0, &units, &fan_in, NULL);
    double *W = xmalloc(units * fan_in * sizeof *W), *b = xmalloc(units * sizeof *b);
    ann_get_weights(m, 0, W, b);
    for (size_t u = 0; u < units; u++)
        for (size_t j = 0; j < fan_in; j++) {
            W[u * fan_in + j] /= sd[j];
            b[u] -= W[u * fan_in + j] * mu[j];
        }
    ann_status st = ann_set_weights(m, 0, W, b);
    free(W);
    free(b);
    if (st == ANN_OK && mu_y) {
        size_t last = n_layers - 1;
        ann_layer_info(m, last, &units, &fan_in, NULL);
        W = xmalloc(units * fan_in * sizeof *W);
        b = xmalloc(units * sizeof *b);
        ann_get_weights(m, last, W, b);
        for (size_t u = 0; u < units; u++) {
            for (size_t j = 0; j < fan_in; j++)
                W[u * fan_in + j] *= sd_y[u];
            b[u] = b[u] * sd_y[u] + mu_y[u];
        }
        st = ann_set_weights(m, last, W, b);
        free(W);
        free(b);
    }
    if (st != ANN_OK)
        die_msg("--standardize: %s", ann_errmsg(m));
    return st == ANN_OK ? 0 : -1;
}

static int cmd_fit(int argc, char **argv)
{
    opts o = {0};
    o.epochs = 100;
    o.lr = 0.001;
    o.batch = 32;
    o.momentum = 0.9;
    const char *pos[1] = {NULL};
    if (parse_args(argc, argv, &o, 1, pos) != 0)
        return 2;
    if (o.help) {
        fputs(usage_fit, stdout);
        return 0;
    }
    if (!o.targets || !o.output) {
        die_msg("fit needs --target and -o MODEL (see ann fit --help)");
        return 2;
    }
    /* architecture */
    size_t units[64], n_layers = 0;
    ann_activation acts[64];
    int hidden_act = lookup("activation", o.activation ? o.activation : "relu", act_names, 7);
    if (hidden_act < 0)
        return 2;
    const char *layers = o.layers ? o.layers : "16";
    if (strcmp(layers, "0") != 0) {
        char *copy = xstrdup(layers), *save = copy, *tok;
        while ((tok = strsep(&save, ",")) != NULL) {
            char *end;
            long u = strtol(tok, &end, 10);
            if (*tok == '\0' || *end != '\0' || u <= 0 || u > 1000000 || n_layers == 63) {
                die_msg("--layers: '%s' is not a list of positive sizes", layers);
                free(copy);
                return 2;
            }
            units[n_layers] = (size_t)u;
            acts[n_layers++] = (ann_activation)hidden_act;
        }
        free(copy);
    }

    table t;
    if (read_table(pos[0], o.targets, &t) != 0)
        return 1;
    int rc = 1;
    ann *m = NULL;
    int32_t *labels = NULL;
    double *mu = NULL, *sd = NULL, *mu_y = NULL, *sd_y = NULL;
    ann_activation out_act;
    double loss;
    if (o.classify) {
        if (t.n_y != 1) {
            die_msg("--classify needs exactly one target column");
            goto done;
        }
        labels = xmalloc(t.rows * sizeof *labels);
        int32_t k = 0;
        for (size_t i = 0; i < t.rows; i++) {
            double v = t.Y[i];
            if (!(v >= 0 && v < 65536 && v == floor(v))) {
                die_msg("%s:%zu: target '%s' = %g is not a class label 0, 1, 2, ...",
                        t.name, t.lines[i], o.targets, v);
                goto done;
            }
            labels[i] = (int32_t)v;
            if (labels[i] + 1 > k)
                k = labels[i] + 1;
        }
        if (k < 2) {
            die_msg("--classify: the target holds only one class");
            goto done;
        }
        units[n_layers] = k == 2 ? 1 : (size_t)k;
        out_act = k == 2 ? ANN_ACT_SIGMOID : ANN_ACT_SOFTMAX;
        loss = ANN_LOSS_CROSS_ENTROPY;
    } else {
        units[n_layers] = t.n_y;
        out_act = ANN_ACT_IDENTITY;
        loss = ANN_LOSS_SQUARED_ERROR;
    }
    if (o.out_activation) {
        int a = lookup("output activation", o.out_activation, act_names, 7);
        if (a < 0)
            goto done;
        out_act = (ann_activation)a;
    }
    if (o.loss) {
        int l = lookup("loss", o.loss, loss_names, 2);
        if (l < 0)
            goto done;
        loss = l;
    }
    acts[n_layers++] = out_act;
    if (ann_create(&m, t.n_x, n_layers, units, acts) != ANN_OK) {
        die_msg("%s", ann_errmsg(NULL));
        goto done;
    }
    int opt = lookup("optimizer", o.optimizer ? o.optimizer : "adam", opt_names, 3);
    if (opt < 0 || set_param(m, ANN_PARAM_INIT, ANN_INIT_XAVIER, "init") ||
        set_param(m, ANN_PARAM_SEED, o.seed, "--seed") ||
        set_param(m, ANN_PARAM_LOSS, loss, "--loss") ||
        set_param(m, ANN_PARAM_OPTIMIZER, opt, "--optimizer") ||
        set_param(m, ANN_PARAM_EPOCHS, o.epochs, "--epochs") ||
        set_param(m, ANN_PARAM_LEARNING_RATE, o.lr, "--lr") ||
        set_param(m, ANN_PARAM_BATCH_SIZE, o.batch, "--batch") ||
        set_param(m, ANN_PARAM_L2, o.l2, "--l2") ||
        set_param(m, ANN_PARAM_MOMENTUM, o.momentum, "--momentum") ||
        set_param(m, ANN_PARAM_VALIDATION_FRACTION, o.validation, "--validation") ||
        set_param(m, ANN_PARAM_PATIENCE, o.patience, "--patience"))
        goto done;
    if (o.standardize) {
        mu = xmalloc(t.n_x * sizeof *mu);
        sd = xmalloc(t.n_x * sizeof *sd);
        column_stats(t.X, t.rows, t.n_x, mu, sd);
        scale(t.X, t.rows, t.n_x, mu, sd);
        if (!o.classify && out_act == ANN_ACT_IDENTITY) {
            mu_y = xmalloc(t.n_y * sizeof *mu_y);
            sd_y = xmalloc(t.n_y * sizeof *sd_y);
            column_stats(t.Y, t.rows, t.n_y, mu_y, sd_y);
            scale(t.Y, t.rows, t.n_y, mu_y, sd_y);
        }
    }
    progress_state ps = {isatty(STDERR_FILENO), (size_t)o.epochs, 0};
    if (!o.quiet)
        ann_set_progress(m, on_epoch, &ps);
    ann_status st = o.classify ? ann_fit_labels(m, t.X, labels, t.rows)
                               : ann_fit(m, t.X, t.Y, t.rows);
    if (ps.tty && ps.last > 0 && ps.last != ps.epochs)
        fputc('\n', stderr); /* a bar left open by early stopping or an error */
    if (st != ANN_OK) {
        die_msg("training failed: %s", ann_errmsg(m));
        goto done;
    }
    if (o.standardize && fold_scaling(m, n_layers, mu, sd, mu_y, sd_y) != 0)
        goto done;
    if (ann_save(m, o.output) != ANN_OK) {
        die_msg("%s: %s", o.output, ann_errmsg(m));
        goto done;
    }
    if (!o.quiet)
        fprintf(stderr, "saved %s (%zu rows, %zu inputs, %.0f epochs, final loss %.6g)\n",
                o.output, t.rows, t.n_x, getp(m, ANN_PARAM_EPOCHS_RUN),
                getp(m, ANN_PARAM_TRAIN_LOSS));
    rc = 0;
done:
    ann_destroy(m);
    free(labels);
    free(mu);
    free(sd);
    free(mu_y);
    free(sd_y);
    free(t.X);
    free(t.Y);
    free(t.lines);
    return rc;
}

/* ---- ann predict ------------------------------------------------------- */

static int cmd_predict(int argc, char **argv)
{
    opts o = {0};
    const char *pos[2] = {NULL, NULL};
    if (parse_args(argc, argv, &o, 2, pos) != 0)
        return 2;
    if (o.help) {
        fputs(usage_predict, stdout);
        return 0;
    }
    if (!pos[0]) {
        die_msg("predict needs a MODEL (see ann predict --help)");
        return 2;
    }
    ann *m = load_model(pos[0]);
    if (!m)
        return 1;
    csv r;
    size_t tidx[MAX_TARGETS], nt = 0;
    int rc = 1;
    FILE *out = stdout;
    char *tmp = NULL;
    double *vals = NULL, *X = NULL, *Y = NULL;
    int32_t *lab = NULL;
    char **raw = NULL;
    size_t n_in = (size_t)getp(m, ANN_PARAM_N_INPUTS);
    size_t n_out = (size_t)getp(m, ANN_PARAM_N_OUTPUTS);
    int clf = is_classifier(m);
    if (csv_open(&r, pos[1]) != 0 || (o.targets && find_columns(&r, o.targets, tidx, &nt)))
        goto done;
    if (r.ncols - nt != n_in) {
        die_msg("%s:1: %zu input columns, the model expects %zu", r.name, r.ncols - nt, n_in);
        goto done;
    }
    if (o.output) {
        size_t n = strlen(o.output) + 32;
        tmp = xmalloc(n);
        snprintf(tmp, n, "%s.tmp-%ld", o.output, (long)getpid());
        out = fopen(tmp, "w");
        if (!out) {
            die_msg("%s: %s", tmp, strerror(errno));
            out = stdout;
            free(tmp);
            tmp = NULL;
            goto done;
        }
    }
    /* header */
    for (size_t j = 0; j < r.ncols; j++)
        fprintf(out, "%s%c", r.names[j], r.delim);
    if (clf || n_out == 1)
        fputs("predicted\n", out);
    else
        for (size_t k = 0; k < n_out; k++)
            fprintf(out, "predicted_%zu%c", k + 1, k + 1 < n_out ? r.delim : '\n');
    vals = xmalloc(r.ncols * sizeof *vals);
    X = xmalloc(BLOCK_ROWS * n_in * sizeof *X);
    Y = xmalloc(BLOCK_ROWS * n_out * sizeof *Y);
    lab = xmalloc(BLOCK_ROWS * sizeof *lab);
    raw = xmalloc(BLOCK_ROWS * sizeof *raw);
    size_t total = 0;
    for (;;) {
        size_t n = 0;
        int st = 1;
        double ydummy[MAX_TARGETS];
        while (n < BLOCK_ROWS && (st = csv_row(&r, vals, &raw[n])) == 1) {
            split_row(vals, r.ncols, tidx, nt, X + n * n_in, ydummy);
            n++;
        }
        if (st < 0) {
            for (size_t i = 0; i < n; i++)
                free(raw[i]);
            goto done;
        }
        if (n > 0) {
            ann_status s = clf ? ann_predict_labels(m, X, n, lab) : ann_predict(m, X, n, Y);
            if (s != ANN_OK) {
                die_msg("predict: %s", ann_errmsg(m));
                for (size_t i = 0; i < n; i++)
                    free(raw[i]);
                goto done;
            }
            for (size_t i = 0; i < n; i++) {
                fprintf(out, "%s%c", raw[i], r.delim);
                free(raw[i]);
                if (clf)
                    fprintf(out, "%d\n", (int)lab[i]);
                else
                    for (size_t k = 0; k < n_out; k++)
                        fprintf(out, "%.17g%c", Y[i * n_out + k],
                                k + 1 < n_out ? r.delim : '\n');
            }
            total += n;
        }
        if (st == 0)
            break;
    }
    if (total == 0) {
        die_msg("%s:%zu: no data rows after the header", r.name, r.line + 1);
        goto done;
    }
    if (fflush(out) != 0 || ferror(out)) {
        die_msg("writing output: %s", strerror(errno));
        goto done;
    }
    rc = 0;
done:
    if (tmp) {
        if (fclose(out) != 0 && rc == 0) {
            die_msg("%s: %s", tmp, strerror(errno));
            rc = 1;
        }
        if (rc == 0 && rename(tmp, o.output) != 0) {
            die_msg("%s: %s", o.output, strerror(errno));
            rc = 1;
        }
        if (rc != 0)
            remove(tmp);
        free(tmp);
    }
    csv_close(&r);
    free(vals);
    free(X);
    free(Y);
    free(lab);
    free(raw);
    ann_destroy(m);
    return rc;
}

/* ---- ann eval ---------------------------------------------------------- */

static int cmd_eval(int argc, char **argv)
{
    opts o = {0};
    const char *pos[2] = {NULL, NULL};
    if (parse_args(argc, argv, &o, 2, pos) != 0)
        return 2;
    if (o.help) {
        fputs(usage_eval, stdout);
        return 0;
    }
    if (!pos[0] || !o.targets) {
        die_msg("eval needs MODEL and --target (see ann eval --help)");
        return 2;
    }
    ann *m = load_model(pos[0]);
    if (!m)
        return 1;
    table t;
    if (read_table(pos[1], o.targets, &t) != 0) {
        ann_destroy(m);
        return 1;
    }
    int rc = 1;
    size_t n_in = (size_t)getp(m, ANN_PARAM_N_INPUTS);
    size_t n_out = (size_t)getp(m, ANN_PARAM_N_OUTPUTS);
    int clf = is_classifier(m);
    double *Yt = NULL, *P = NULL;
    int32_t *lab = NULL;
    size_t *conf = NULL;
    if (t.n_x != n_in) {
        die_msg("%zu input columns, the model expects %zu", t.n_x, n_in);
        goto done;
    }
    size_t k = clf ? (n_out == 1 ? 2 : n_out) : 0;
    if (clf) {
        if (t.n_y != 1) {
            die_msg("a classifier needs one target column of labels");
            goto done;
        }
        Yt = calloc(t.rows * n_out, sizeof *Yt);
        if (!Yt)
            goto done;
        for (size_t i = 0; i < t.rows; i++) {
            double v = t.Y[i];
            if (!(v >= 0 && v < (double)k && v == floor(v))) {
                die_msg("%s:%zu: target %g is not a class label in 0..%zu", t.name,
                        t.lines[i], v, k - 1);
                goto done;
            }
            if (n_out == 1)
                Yt[i] = v;
            else
                Yt[i * n_out + (size_t)v] = 1;
        }
    } else if (t.n_y != n_out) {
        die_msg("%zu target columns, the model has %zu outputs", t.n_y, n_out);
        goto done;
    }
    double loss;
    if (ann_evaluate(m, t.X, clf ? Yt : t.Y, t.rows, &loss) != ANN_OK) {
        die_msg("evaluate: %s", ann_errmsg(m));
        goto done;
    }
    printf("rows      %zu\nloss      %.6g (%s)\n", t.rows, loss,
           loss_names[(int)getp(m, ANN_PARAM_LOSS)]);
    if (clf) {
        lab = xmalloc(t.rows * sizeof *lab);
        conf = calloc(k * k, sizeof *conf);
        if (!conf || ann_predict_labels(m, t.X, t.rows, lab) != ANN_OK) {
            die_msg("predict: %s", ann_errmsg(m));
            goto done;
        }
        size_t right = 0;
        for (size_t i = 0; i < t.rows; i++) {
            size_t truth = (size_t)t.Y[i];
            right += (size_t)lab[i] == truth;
            conf[truth * k + (size_t)lab[i]]++;
        }
        printf("accuracy  %.6g\nconfusion matrix (rows: true, columns: predicted)\n%8s",
               (double)right / (double)t.rows, "");
        for (size_t c = 0; c < k; c++)
            printf(" %7zu", c);
        putchar('\n');
        for (size_t a = 0; a < k; a++) {
            printf("%8zu", a);
            for (size_t c = 0; c < k; c++)
                printf(" %7zu", conf[a * k + c]);
            putchar('\n');
        }
    } else {
        P = xmalloc(t.rows * n_out * sizeof *P);
        if (ann_predict(m, t.X, t.rows, P) != ANN_OK) {
            die_msg("predict: %s", ann_errmsg(m));
            goto done;
        }
        for (size_t c = 0; c < n_out; c++) {
            double mean = 0, ss_tot = 0, ss_res = 0;
            for (size_t i = 0; i < t.rows; i++)
                mean += t.Y[i * n_out + c];
            mean /= (double)t.rows;
            for (size_t i = 0; i < t.rows; i++) {
                double y = t.Y[i * n_out + c], e = y - P[i * n_out + c];
                ss_res += e * e;
                ss_tot += (y - mean) * (y - mean);
            }
            printf("target %zu  R^2 %.6g  RMSE %.6g\n", c + 1,
                   ss_tot > 0 ? 1 - ss_res / ss_tot : (ss_res == 0 ? 1.0 : 0.0),
                   sqrt(ss_res / (double)t.rows));
        }
    }
    rc = 0;
done:
    free(Yt);
    free(P);
    free(lab);
    free(conf);
    free(t.X);
    free(t.Y);
    free(t.lines);
    ann_destroy(m);
    return rc;
}

/* ---- ann info ---------------------------------------------------------- */

static int cmd_info(int argc, char **argv)
{
    opts o = {0};
    const char *pos[1] = {NULL};
    if (parse_args(argc, argv, &o, 1, pos) != 0)
        return 2;
    if (o.help) {
        fputs(usage_info, stdout);
        return 0;
    }
    if (!pos[0]) {
        die_msg("info needs a MODEL (see ann info --help)");
        return 2;
    }
    ann *m = load_model(pos[0]);
    if (!m)
        return 1;
    size_t n_layers = (size_t)getp(m, ANN_PARAM_N_LAYERS);
    printf("model       %s\n", pos[0]);
    printf("kind        %s\n", is_classifier(m) ? "classifier" : "regression");
    printf("inputs      %.0f\n", getp(m, ANN_PARAM_N_INPUTS));
    for (size_t l = 0; l < n_layers; l++) {
        size_t units, fan_in;
        ann_activation act;
        ann_layer_info(m, l, &units, &fan_in, &act);
        printf("layer %-5zu %zu units, fan-in %zu, %s\n", l + 1, units, fan_in,
               (unsigned)act < 7 ? act_names[act] : "?");
    }
    printf("parameters  %.0f\n", getp(m, ANN_PARAM_N_PARAMETERS));
    static const struct { ann_param key; const char *name; } keys[] = {
        {ANN_PARAM_LOSS, "loss"}, {ANN_PARAM_OPTIMIZER, "optimizer"},
        {ANN_PARAM_PRECISION, "precision"}, {ANN_PARAM_LEARNING_RATE, "learning_rate"},
        {ANN_PARAM_BATCH_SIZE, "batch_size"}, {ANN_PARAM_EPOCHS, "epochs"},
        {ANN_PARAM_SHUFFLE, "shuffle"}, {ANN_PARAM_SEED, "seed"}, {ANN_PARAM_INIT, "init"},
        {ANN_PARAM_LEAKY_SLOPE, "leaky_slope"}, {ANN_PARAM_MOMENTUM, "momentum"},
        {ANN_PARAM_NESTEROV, "nesterov"}, {ANN_PARAM_ADAM_BETA1, "adam_beta1"},
        {ANN_PARAM_ADAM_BETA2, "adam_beta2"}, {ANN_PARAM_ADAM_EPSILON, "adam_epsilon"},
        {ANN_PARAM_L2, "l2"}, {ANN_PARAM_LR_DECAY, "lr_decay"},
        {ANN_PARAM_VALIDATION_FRACTION, "validation_fraction"},
        {ANN_PARAM_PATIENCE, "patience"}, {ANN_PARAM_EPOCHS_RUN, "epochs_run"},
        {ANN_PARAM_TRAIN_LOSS, "train_loss"}, {ANN_PARAM_VALIDATION_LOSS, "validation_loss"},
        {ANN_PARAM_BEST_EPOCH, "best_epoch"}, {ANN_PARAM_STEPS, "steps"},
    };
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        double v = getp(m, keys[k].key);
        if (keys[k].key == ANN_PARAM_LOSS && (v == 0 || v == 1))
            printf("%-20s %s\n", keys[k].name, loss_names[(int)v]);
        else if (keys[k].key == ANN_PARAM_OPTIMIZER && v >= 0 && v <= 2)
            printf("%-20s %s\n", keys[k].name, opt_names[(int)v]);
        else if (keys[k].key == ANN_PARAM_PRECISION)
            printf("%-20s %s\n", keys[k].name, v == 1 ? "float32" : "float64");
        else
            printf("%-20s %.10g\n", keys[k].name, v);
    }
    ann_destroy(m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_main, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("ann (libann) %s\n", ann_version_string());
        return 0;
    }
    static const struct { const char *name; int (*fn)(int, char **); } cmds[] = {
        {"fit", cmd_fit}, {"predict", cmd_predict}, {"eval", cmd_eval}, {"info", cmd_info}};
    for (size_t k = 0; k < sizeof cmds / sizeof *cmds; k++)
        if (strcmp(argv[1], cmds[k].name) == 0)
            return cmds[k].fn(argc - 2, argv + 2);
    die_msg("unknown command '%s' (see ann --help)", argv[1]);
    return 2;
}
