/* test_persist.c - save/load: bitwise round trips, training resumes exactly,
 * every hostile input (each truncation, each bit flip, forged headers and
 * sections with valid checksums, odd files), crash-safe saves.
 * Black-box: links the shared library; the CRC-32C here is an independent
 * bitwise implementation used to forge files with valid checksums. */
#include "common.h"
#include "persist_models.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];
static const char *source_dir; /* for the committed corpus */

/* ---- helpers ----------------------------------------------------------- */
static uint32_t crc_ref(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
    }
    return ~c;
}
static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const unsigned char *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void wr64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Recompute the header CRC only. */
static void fix_header(unsigned char *b) { wr32(b + 20, crc_ref(b, 20)); }
/* Make b[0..n) self-consistent: payload length, header CRC, trailer CRC. */
static void fix_all(unsigned char *b, size_t n)
{
    wr64(b + 12, n - 28);
    fix_header(b);
    wr32(b + n - 4, crc_ref(b, n - 4));
}

/* Load from a heap copy of exactly n bytes (so ASan sees any overread). */
static ann_status load_exact(const unsigned char *b, size_t n, ann **out)
{
    unsigned char *c = malloc(n ? n : 1);
    if (n) memcpy(c, b, n);
    ann_status st = ann_load_buffer(out, n ? c : NULL, n);
    free(c);
    return st;
}

static void expect_bad(const unsigned char *b, size_t n, ann_status want, const char *what)
{
    ann *m = (ann *)0x1;
    ann_status st = load_exact(b, n, &m);
    if (st != want)
        fail_msg("%s: got %s (%s), want %s", what, ann_status_str(st), ann_errmsg(NULL),
                 ann_status_str(want));
    assert_null(m);
    assert_true(strlen(ann_errmsg(NULL)) > 0);
}

static void write_file(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}
static unsigned char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}
static void tpath(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmpdir, name);
}
/* Entries of a directory other than . and .. */
static int dir_count(const char *dir)
{
    DIR *d = opendir(dir);
    int c = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            c++;
    closedir(d);
    return c;
}
static void rm_rf(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            rm_rf(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* Every readable key: settable ones (found by ann_param_bounds) and facts. */
static void assert_same_params(const ann *a, const ann *b)
{
    static const ann_param facts[] = {ANN_PARAM_EPOCHS_RUN, ANN_PARAM_TRAIN_LOSS,
        ANN_PARAM_VALIDATION_LOSS, ANN_PARAM_BEST_EPOCH, ANN_PARAM_STEPS,
        ANN_PARAM_N_INPUTS, ANN_PARAM_N_OUTPUTS, ANN_PARAM_N_LAYERS, ANN_PARAM_N_PARAMETERS};
    for (int k = 0; k < 1000; k++) {
        double va, vb;
        if (ann_param_bounds((ann_param)k, NULL, NULL, NULL) != ANN_OK) continue;
        ASSERT_OK(ann_get_param(a, (ann_param)k, &va));
        ASSERT_OK(ann_get_param(b, (ann_param)k, &vb));
        if (memcmp(&va, &vb, sizeof va) != 0)
            fail_msg("key %d: %.17g != %.17g", k, va, vb);
    }
    for (size_t i = 0; i < sizeof facts / sizeof facts[0]; i++) {
        double va, vb;
        ASSERT_OK(ann_get_param(a, facts[i], &va));
        ASSERT_OK(ann_get_param(b, facts[i], &vb));
        if (!(va == vb || (isnan(va) && isnan(vb))))
            fail_msg("fact %d: %.17g != %.17g", (int)facts[i], va, vb);
    }
    double nl;
    ann_get_param(a, ANN_PARAM_N_LAYERS, &nl);
    for (size_t l = 0; l < (size_t)nl; l++) {
        size_t ua, fa, ub, fb;
        ann_activation aa, ab;
        ASSERT_OK(ann_layer_info(a, l, &ua, &fa, &aa));
        ASSERT_OK(ann_layer_info(b, l, &ub, &fb, &ab));
        assert_int_equal(ua, ub);
        assert_int_equal(fa, fb);
        assert_int_equal(aa, ab);
    }
}

static ann *trained(int precision, int optimizer, size_t epochs)
{
    static const size_t units[] = {5, 4, 3};
    static const ann_activation acts[] = {ANN_ACT_TANH, ANN_ACT_RELU, ANN_ACT_SOFTMAX};
    ann *m = make_net(4, 3, units, acts);
    ASSERT_OK(ann_set_param(m, ANN_PARAM_SEED, 11));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_PRECISION, precision));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_OPTIMIZER, optimizer));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, 7));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, (double)epochs));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LR_DECAY, 0.1));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_L2, 1e-3));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_VALIDATION_FRACTION, 0.2));
    if (optimizer == ANN_OPTIMIZER_MOMENTUM)
        ASSERT_OK(ann_set_param(m, ANN_PARAM_NESTEROV, 1));
    return m;
}

#define NROWS 50
static double DX[NROWS * 4], DY[NROWS * 3];

/* ---- round trips ------------------------------------------------------- */
static void roundtrip(int precision, int optimizer)
{
    ann *a = trained(precision, optimizer, 3);
    ASSERT_OK(ann_fit(a, DX, DY, NROWS));
    size_t n;
    unsigned char *b = t_save_mem(a, &n);
    /* the trailer is the CRC-32C of everything before it */
    assert_int_equal(rd32(b + n - 4), crc_ref(b, n - 4));
    ann *c = NULL;
    ASSERT_OK(load_exact(b, n, &c));
    assert_same_params(a, c);
    assert_true(weights_same(a, c));
    double ya[NROWS * 3], yc[NROWS * 3];
    ASSERT_OK(ann_predict(a, DX, NROWS, ya));
    ASSERT_OK(ann_predict(c, DX, NROWS, yc));
    assert_memory_equal(ya, yc, sizeof ya);
    /* deterministic and canonical: the loaded model saves the same bytes */
    t_assert_saves_as(c, b, n);
    /* the file holds exactly the buffer's bytes */
    char p[512];
    tpath(p, sizeof p, "rt.ann");
    ASSERT_OK(ann_save(a, p));
    size_t nf = 0;
    unsigned char *bf = read_file(p, &nf);
    assert_int_equal(nf, n);
    assert_memory_equal(bf, b, n);
    ann *d = NULL;
    ASSERT_OK(ann_load(&d, p));
    assert_true(weights_same(a, d));
    assert_same_params(a, d);
    unlink(p);
    free(b);
    free(bf);
    ann_destroy(a);
    ann_destroy(c);
    ann_destroy(d);
}
static void test_roundtrip_f64(void **state)
{
    (void)state;
    for (int o = 0; o <= 2; o++) roundtrip(ANN_PRECISION_F64, o);
}
static void test_roundtrip_f32(void **state)
{
    (void)state;
    for (int o = 0; o <= 2; o++) roundtrip(ANN_PRECISION_F32, o);
}

/* Fresh, untrained model: NaN losses, no optimizer state. */
static void test_roundtrip_fresh(void **state)
{
    (void)state;
    size_t u[] = {1};
    ann_activation a[] = {ANN_ACT_STEP};
    ann *m = make_net(2, 1, u, a);
    size_t n;
    unsigned char *b = t_save_mem(m, &n);
    ann *c = NULL;
    ASSERT_OK(load_exact(b, n, &c));
    assert_same_params(m, c);
    assert_true(weights_same(m, c));
    free(b);
    ann_destroy(m);
    ann_destroy(c);
}

/* ---- resuming training ------------------------------------------------- */
/* A: fit, fit.  B: fit, save, load, fit.  Bitwise the same. */
static void resume(int precision, int optimizer, int via_file)
{
    ann *a = trained(precision, optimizer, 2), *b = trained(precision, optimizer, 2);
    ASSERT_OK(ann_fit(a, DX, DY, NROWS));
    ASSERT_OK(ann_fit(a, DX, DY, NROWS));
    ASSERT_OK(ann_fit(b, DX, DY, NROWS));
    ann *c = NULL;
    if (via_file) {
        char p[512];
        tpath(p, sizeof p, "resume.ann");
        ASSERT_OK(ann_save(b, p));
        ASSERT_OK(ann_load(&c, p));
        unlink(p);
    } else {
        size_t n;
        unsigned char *buf = t_save_mem(b, &n);
        ASSERT_OK(ann_load_buffer(&c, buf, n));
        free(buf);
    }
    ann_destroy(b);
    ASSERT_OK(ann_fit(c, DX, DY, NROWS));
    if (!weights_same(a, c))
        fail_msg("precision %d optimizer %d: resumed weights differ", precision, optimizer);
    assert_same_params(a, c);
    ann_destroy(a);
    ann_destroy(c);
}
static void test_resume_exact(void **state)
{
    (void)state;
    for (int p = 0; p <= 1; p++)
        for (int o = 0; o <= 2; o++) {
            resume(p, o, 0);
            resume(p, o, 1);
        }
}

/* Every settable key, at a non-default value, survives.  A key added to
 * ann_param but not to the format fails here. */
static void test_every_key(void **state)
{
    (void)state;
    size_t u[] = {3, 2};
    ann_activation a[] = {ANN_ACT_SIGMOID, ANN_ACT_SOFTMAX};
    ann *m = make_net(2, 2, u, a);
    int n_keys = 0;
    for (int k = 0; k < 1000; k++) {
        double lo, hi, def;
        if (ann_param_bounds((ann_param)k, &lo, &hi, &def) != ANN_OK) continue;
        double v = hi != def ? hi : lo;
        ASSERT_OK(ann_set_param(m, (ann_param)k, v));
        n_keys++;
    }
    assert_true(n_keys >= 19);
    size_t n;
    unsigned char *b = t_save_mem(m, &n);
    ann *c = NULL;
    ASSERT_OK(load_exact(b, n, &c));
    assert_same_params(m, c);
    for (int k = 0; k < 1000; k++) {
        double lo, hi, def, v;
        if (ann_param_bounds((ann_param)k, &lo, &hi, &def) != ANN_OK) continue;
        ASSERT_OK(ann_get_param(c, (ann_param)k, &v));
        assert_true(v == (hi != def ? hi : lo));
    }
    free(b);
    ann_destroy(m);
    ann_destroy(c);
}

/* ---- buffer API -------------------------------------------------------- */
static void test_buffer_api(void **state)
{
    (void)state;
    ann *m = pm_golden(ANN_PRECISION_F64);
    size_t need = 0, got = 12345;
    ASSERT_OK(ann_save_buffer(m, NULL, 0, &need));
    assert_true(need > 28);
    unsigned char *b = malloc(need + 8);
    memset(b, 0xAB, need + 8);
    assert_int_equal(ann_save_buffer(m, b, need - 1, &got), ANN_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(got, need);
    assert_non_null(strstr(ann_errmsg(NULL), "capacity"));
    for (size_t i = 0; i < need + 8; i++) assert_int_equal(b[i], 0xAB); /* untouched */
    assert_int_equal(ann_save_buffer(m, b, 1, &got), ANN_ERR_BUFFER_TOO_SMALL);
    ASSERT_OK(ann_save_buffer(m, b, need + 8, &got));
    assert_int_equal(got, need);
    assert_int_equal(b[need], 0xAB);
    assert_int_equal(ann_save_buffer(NULL, b, need, &got), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_save_buffer(m, b, need, NULL), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_save_buffer(m, NULL, 10, &got), ANN_ERR_INVALID_ARGUMENT);
    ann *c = (ann *)0x1;
    assert_int_equal(ann_load_buffer(NULL, b, need), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_load_buffer(&c, NULL, need), ANN_ERR_INVALID_ARGUMENT);
    assert_null(c);
    c = (ann *)0x1;
    assert_int_equal(ann_load_buffer(&c, NULL, 0), ANN_ERR_BAD_FORMAT);
    assert_null(c);
    assert_int_equal(ann_save(NULL, "x"), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_save(m, NULL), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_save(m, ""), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_load(NULL, "x"), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_load(&c, NULL), ANN_ERR_INVALID_ARGUMENT);
    free(b);
    ann_destroy(m);
}

/* ---- the committed corpus: older files keep loading -------------------- */
static void test_golden_and_corpus(void **state)
{
    (void)state;
    if (!source_dir) skip();
    /* golden_f64/f32: weights from a formula, so the bytes pin the format */
    for (int p = 0; p <= 1; p++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/fuzz/corpus/load/golden_%s.ann", source_dir,
                 p ? "f32" : "f64");
        size_t n;
        unsigned char *file = read_file(path, &n);
        if (!file) fail_msg("missing %s", path);
        ann *g = pm_golden(p), *c = NULL;
        ASSERT_OK(ann_load(&c, path));
        assert_true(weights_same(g, c));
        assert_same_params(g, c);
        t_assert_saves_as(g, file, n);
        free(file);
        ann_destroy(g);
        ann_destroy(c);
    }
    /* every committed model loads and re-saves to the identical bytes */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/load", source_dir);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int count = 0;
    while ((e = readdir(d))) {
        if (!strstr(e->d_name, ".ann")) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t n;
        unsigned char *file = read_file(path, &n);
        ann *c = NULL;
        if (ann_load(&c, path) != ANN_OK) fail_msg("%s: %s", path, ann_errmsg(NULL));
        t_assert_saves_as(c, file, n);
        free(file);
        ann_destroy(c);
        count++;
    }
    closedir(d);
    assert_true(count >= 4);
}

/* ---- hostile bytes ----------------------------------------------------- */
static unsigned char *sample_file(size_t *n)
{
    ann *m = trained(ANN_PRECISION_F64, ANN_OPTIMIZER_ADAM, 1);
    ASSERT_OK(ann_fit(m, DX, DY, NROWS));
    unsigned char *b = t_save_mem(m, n);
    ann_destroy(m);
    return b;
}

static void test_every_truncation(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = sample_file(&n);
    for (size_t len = 0; len < n; len++) {
        ann *m = (ann *)0x1;
        ann_status st = load_exact(b, len, &m);
        if (st != ANN_ERR_BAD_FORMAT) fail_msg("length %zu: %s", len, ann_status_str(st));
        assert_null(m);
        assert_true(strlen(ann_errmsg(NULL)) > 0);
    }
    free(b);
}

static void test_every_bit_flip(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = sample_file(&n);
    for (size_t i = 0; i < n; i++)
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (unsigned char)(1u << bit);
            ann *m = (ann *)0x1;
            ann_status st = ann_load_buffer(&m, b, n);
            if (st != ANN_ERR_BAD_FORMAT)
                fail_msg("byte %zu bit %d: %s", i, bit, ann_status_str(st));
            assert_null(m);
            b[i] ^= (unsigned char)(1u << bit);
        }
    ann *m = NULL;
    ASSERT_OK(ann_load_buffer(&m, b, n));
    ann_destroy(m);
    free(b);
}

static void test_header_fields(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = sample_file(&n), *c = malloc(n);
    static const uint32_t vals[] = {0, 0xffffffffu};
    /* offsets 8 version, 12/16 payload length (lo/hi), 20 header CRC; and
     * each byte of the magic */
    for (size_t off = 8; off <= 20; off += 4)
        for (int v = 0; v < 2; v++) {
            if (rd32(b + off) == vals[v]) continue; /* already that value */
            memcpy(c, b, n);
            wr32(c + off, vals[v]);
            expect_bad(c, n, ANN_ERR_BAD_FORMAT, "header word");
            if (off == 20) continue;
            fix_header(c); /* a forged, self-consistent header */
            ann_status want = off == 8 && vals[v] ? ANN_ERR_UNSUPPORTED : ANN_ERR_BAD_FORMAT;
            expect_bad(c, n, want, "forged header word");
        }
    for (size_t i = 0; i < 8; i++) {
        memcpy(c, b, n);
        c[i] = 0;
        expect_bad(c, n, ANN_ERR_BAD_FORMAT, "magic");
        assert_non_null(strstr(ann_errmsg(NULL), "magic"));
    }
    /* version 2 (PREP, issue 5) is a superset: version-1 content stamped
     * 2 still loads */
    memcpy(c, b, n);
    wr32(c + 8, 2);
    fix_all(c, n);
    {
        ann *v2 = NULL;
        ASSERT_OK(ann_load_buffer(&v2, c, n));
        ann_destroy(v2);
    }
    /* a newer version: refused as unsupported, with a clear message */
    memcpy(c, b, n);
    wr32(c + 8, 3);
    fix_all(c, n);
    expect_bad(c, n, ANN_ERR_UNSUPPORTED, "version 3");
    assert_non_null(strstr(ann_errmsg(NULL), "newer"));
    /* a header promising 2^40 bytes, or 2^64-1 */
    memcpy(c, b, n);
    wr64(c + 12, (uint64_t)1 << 40);
    fix_header(c);
    expect_bad(c, n, ANN_ERR_BAD_FORMAT, "2^40 payload");
    wr64(c + 12, UINT64_MAX);
    fix_header(c);
    expect_bad(c, n, ANN_ERR_BAD_FORMAT, "2^64-1 payload");
    free(b);
    free(c);
}

static void test_trailing_garbage(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = sample_file(&n);
    unsigned char *c = calloc(n + 1000, 1);
    memcpy(c, b, n);
    expect_bad(c, n + 1, ANN_ERR_BAD_FORMAT, "1 trailing byte");
    expect_bad(c, n + 1000, ANN_ERR_BAD_FORMAT, "1000 trailing bytes");
    assert_non_null(strstr(ann_errmsg(NULL), "trailing"));
    /* garbage inside a consistent envelope: a cut-short section header */
    memcpy(c, b, n);
    memmove(c + n - 4 + 5, c + n - 4, 4);
    memset(c + n - 4, 0x5a, 5);
    fix_all(c, n + 5);
    expect_bad(c, n + 5, ANN_ERR_BAD_FORMAT, "garbage section");
    free(b);
    free(c);
}

/* A model file split into its sections, to forge variants with valid
 * checksums and so reach the checks behind them. */
typedef struct {
    uint32_t tag, flags;
    unsigned char *data;
    uint64_t len;
} fsec;
typedef struct {
    fsec s[16];
    int n;
    unsigned char head[24];
} forged;

static uint32_t tag_of(const char *t) { return rd32((const unsigned char *)t); }

static void split(const unsigned char *b, size_t n, forged *f)
{
    memcpy(f->head, b, 24);
    f->n = 0;
    for (size_t pos = 24; pos < n - 4;) {
        fsec *s = &f->s[f->n++];
        s->tag = rd32(b + pos);
        s->flags = rd32(b + pos + 4);
        s->len = rd64(b + pos + 8);
        s->data = malloc(s->len + 1);
        memcpy(s->data, b + pos + 16, s->len);
        pos += 16 + s->len;
    }
}
static fsec *find_sec(forged *f, const char *t)
{
    for (int i = 0; i < f->n; i++)
        if (f->s[i].tag == tag_of(t)) return &f->s[i];
    return NULL;
}
static void drop_sec(forged *f, const char *t)
{
    fsec *s = find_sec(f, t);
    free(s->data);
    *s = f->s[f->n - 1];
    f->n--;
}
static void dup_sec(forged *f, const char *t)
{
    fsec *s = find_sec(f, t), *d = &f->s[f->n++];
    *d = *s;
    d->data = malloc(s->len + 1);
    memcpy(d->data, s->data, s->len);
}
static unsigned char *join(const forged *f, size_t *n)
{
    size_t total = 28;
    for (int i = 0; i < f->n; i++) total += 16 + f->s[i].len;
    unsigned char *b = malloc(total);
    memcpy(b, f->head, 24);
    size_t pos = 24;
    for (int i = 0; i < f->n; i++) {
        wr32(b + pos, f->s[i].tag);
        wr32(b + pos + 4, f->s[i].flags);
        wr64(b + pos + 8, f->s[i].len);
        memcpy(b + pos + 16, f->s[i].data, f->s[i].len);
        pos += 16 + f->s[i].len;
    }
    fix_all(b, total);
    *n = total;
    return b;
}
static void unsplit(forged *f)
{
    for (int i = 0; i < f->n; i++) free(f->s[i].data);
}
/* Load a forged variant, expect `want`. */
static void expect_forged(const forged *f, ann_status want, const char *what)
{
    size_t n;
    unsigned char *b = join(f, &n);
    ann *m = NULL;
    ann_status st = load_exact(b, n, &m);
    if (st != want)
        fail_msg("%s: got %s (%s), want %s", what, ann_status_str(st), ann_errmsg(NULL),
                 ann_status_str(want));
    if (st != ANN_OK) {
        assert_null(m);
        assert_true(strlen(ann_errmsg(NULL)) > 0);
    }
    ann_destroy(m);
    free(b);
}

#define FORGE(setup, want)                                     \
    do {                                                       \
        forged f_;                                             \
        split(base, nbase, &f_);                               \
        forged *f = &f_;                                       \
        setup;                                                 \
        expect_forged(f, want, #setup);                        \
        unsplit(f);                                            \
    } while (0)

/* index of a PARM record by key */
static unsigned char *parm_rec(forged *f, uint32_t key)
{
    fsec *p = find_sec(f, "PARM");
    uint32_t cnt = rd32(p->data);
    for (uint32_t i = 0; i < cnt; i++)
        if (rd32(p->data + 4 + 12 * i) == key) return p->data + 4 + 12 * i;
    return NULL;
}
static void set_f64(unsigned char *p, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    wr64(p, u);
}

static void test_forged_sections(void **state)
{
    (void)state;
    size_t nbase;
    unsigned char *base = sample_file(&nbase); /* f64, Adam: 5 sections + OPTV */
    /* the unmodified split/join is the identity */
    FORGE((void)0, ANN_OK);
    /* ARCH */
    FORGE(wr32(find_sec(f, "ARCH")->data, 2), ANN_ERR_BAD_FORMAT);          /* precision */
    FORGE(wr32(find_sec(f, "ARCH")->data, 0xffffffffu), ANN_ERR_BAD_FORMAT);
    FORGE(wr32(find_sec(f, "ARCH")->data + 4, 0), ANN_ERR_BAD_FORMAT);      /* n_inputs */
    FORGE(wr32(find_sec(f, "ARCH")->data + 4, 0xffffffffu), ANN_ERR_BAD_FORMAT);
    FORGE(wr32(find_sec(f, "ARCH")->data + 4, 5), ANN_ERR_BAD_FORMAT);      /* WGHT size */
    FORGE(wr32(find_sec(f, "ARCH")->data + 8, 0), ANN_ERR_BAD_FORMAT);      /* n_layers */
    FORGE(wr32(find_sec(f, "ARCH")->data + 8, 0xffffffffu), ANN_ERR_BAD_FORMAT);
    FORGE(wr32(find_sec(f, "ARCH")->data + 8, 2), ANN_ERR_BAD_FORMAT);
    FORGE(wr32(find_sec(f, "ARCH")->data + 12, 0), ANN_ERR_BAD_FORMAT);     /* units */
    FORGE(wr32(find_sec(f, "ARCH")->data + 12, 0xffffffffu), ANN_ERR_BAD_FORMAT);
    FORGE(wr32(find_sec(f, "ARCH")->data + 12, 0x7fffffffu), ANN_ERR_BAD_FORMAT);
    FORGE(wr32(find_sec(f, "ARCH")->data + 16, 7), ANN_ERR_BAD_FORMAT);     /* activation */
    FORGE(wr32(find_sec(f, "ARCH")->data + 16, 0xffffffffu), ANN_ERR_BAD_FORMAT);
    FORGE(wr32(find_sec(f, "ARCH")->data + 16, ANN_ACT_SOFTMAX), ANN_ERR_BAD_FORMAT); /* hidden */
    FORGE(find_sec(f, "ARCH")->len = 11, ANN_ERR_BAD_FORMAT);
    FORGE(find_sec(f, "ARCH")->len -= 1, ANN_ERR_BAD_FORMAT);
    /* the section table */
    FORGE(f->s[0].flags = 3, ANN_ERR_BAD_FORMAT);                            /* reserved flag */
    FORGE(dup_sec(f, "ARCH"), ANN_ERR_BAD_FORMAT);                          /* twice */
    FORGE(dup_sec(f, "OPTV"), ANN_ERR_BAD_FORMAT);
    FORGE(f->s[0].tag = tag_of("XTRA"); f->s[0].flags = 0, ANN_ERR_BAD_FORMAT); /* ARCH missing */
    FORGE(f->s[3].tag = tag_of("XTRA"), ANN_ERR_UNSUPPORTED);                /* unknown, required */
    FORGE(f->s[f->n].tag = tag_of("NOTE"); f->s[f->n].flags = 0;
          f->s[f->n].len = 3; f->s[f->n].data = malloc(3); memcpy(f->s[f->n].data, "hi!", 3);
          f->n++, ANN_OK);                                                   /* unknown, optional */
    FORGE(f->s[f->n].tag = tag_of("NOTE"); f->s[f->n].flags = 1;
          f->s[f->n].len = 0; f->s[f->n].data = malloc(1); f->n++, ANN_ERR_UNSUPPORTED);
    FORGE(fsec t = f->s[0]; f->s[0] = f->s[3]; f->s[3] = t, ANN_OK);         /* order is free */
    FORGE(drop_sec(f, "WGHT"), ANN_ERR_BAD_FORMAT);
    FORGE(drop_sec(f, "STAT"), ANN_ERR_BAD_FORMAT);
    FORGE(drop_sec(f, "PARM"), ANN_ERR_BAD_FORMAT);
    FORGE(drop_sec(f, "OPTM"), ANN_ERR_BAD_FORMAT);                         /* OPTV alone */
    FORGE(drop_sec(f, "OPTV"), ANN_ERR_BAD_FORMAT);                         /* Adam, OPTM alone */
    FORGE(drop_sec(f, "OPTV"); drop_sec(f, "OPTM"), ANN_OK);                /* no state */
    /* WGHT / OPTM / OPTV values */
    FORGE(set_f64(find_sec(f, "WGHT")->data + 8, NAN), ANN_ERR_BAD_FORMAT);
    FORGE(set_f64(find_sec(f, "WGHT")->data, INFINITY), ANN_ERR_BAD_FORMAT);
    FORGE(set_f64(find_sec(f, "WGHT")->data + find_sec(f, "WGHT")->len - 8, -INFINITY),
          ANN_ERR_BAD_FORMAT);
    FORGE(set_f64(find_sec(f, "OPTM")->data, NAN), ANN_ERR_BAD_FORMAT);
    FORGE(set_f64(find_sec(f, "OPTV")->data, -1.0), ANN_ERR_BAD_FORMAT);
    FORGE(find_sec(f, "WGHT")->len -= 8, ANN_ERR_BAD_FORMAT);
    /* PARM */
    FORGE(wr32(parm_rec(f, ANN_PARAM_LEARNING_RATE), 999), ANN_ERR_BAD_FORMAT); /* unknown key */
    FORGE(wr32(parm_rec(f, ANN_PARAM_LEARNING_RATE), ANN_PARAM_PRECISION), ANN_ERR_BAD_FORMAT);
    FORGE(wr32(parm_rec(f, ANN_PARAM_LEARNING_RATE), ANN_PARAM_EPOCHS), ANN_ERR_BAD_FORMAT); /* dup */
    FORGE(set_f64(parm_rec(f, ANN_PARAM_LEARNING_RATE) + 4, -1), ANN_ERR_BAD_FORMAT);
    FORGE(set_f64(parm_rec(f, ANN_PARAM_LEARNING_RATE) + 4, NAN), ANN_ERR_BAD_FORMAT);
    FORGE(set_f64(parm_rec(f, ANN_PARAM_EPOCHS) + 4, 2.5), ANN_ERR_BAD_FORMAT);
    FORGE(set_f64(parm_rec(f, ANN_PARAM_BATCH_SIZE) + 4, 1e300), ANN_ERR_BAD_FORMAT);
    FORGE(set_f64(parm_rec(f, ANN_PARAM_OPTIMIZER) + 4, 7), ANN_ERR_BAD_FORMAT);
    FORGE(set_f64(parm_rec(f, ANN_PARAM_OPTIMIZER) + 4, ANN_OPTIMIZER_SGD), ANN_ERR_BAD_FORMAT);
    FORGE(set_f64(parm_rec(f, ANN_PARAM_OPTIMIZER) + 4, ANN_OPTIMIZER_MOMENTUM),
          ANN_ERR_BAD_FORMAT);                                               /* OPTV w/o Adam */
    FORGE(wr32(find_sec(f, "PARM")->data, 0xffffffffu), ANN_ERR_BAD_FORMAT); /* count */
    FORGE(wr32(find_sec(f, "PARM")->data, 0); find_sec(f, "PARM")->len = 4;
          /* an empty PARM means defaults: SGD, so the state must go too */
          drop_sec(f, "OPTV"); drop_sec(f, "OPTM"), ANN_OK);
    /* cross-entropy needs a softmax/sigmoid output: make the output identity */
    FORGE(wr32(find_sec(f, "ARCH")->data + 12 + 8 * 2 + 4, ANN_ACT_IDENTITY), ANN_ERR_BAD_FORMAT);
    /* STAT */
    FORGE(memset(find_sec(f, "STAT")->data, 0, 32), ANN_ERR_BAD_FORMAT);    /* rng all zero */
    FORGE(wr64(find_sec(f, "STAT")->data + 48, 0xffffffffffffffffull), ANN_ERR_BAD_FORMAT);
    FORGE(wr64(find_sec(f, "STAT")->data + 56, 1000), ANN_ERR_BAD_FORMAT);  /* best > run */
    FORGE(set_f64(find_sec(f, "STAT")->data + 64, -1.0), ANN_ERR_BAD_FORMAT);
    FORGE(set_f64(find_sec(f, "STAT")->data + 72, -INFINITY), ANN_ERR_BAD_FORMAT);
    FORGE(find_sec(f, "STAT")->len = 79, ANN_ERR_BAD_FORMAT);
    FORGE(wr64(find_sec(f, "STAT")->data + 32, UINT64_MAX), ANN_OK);       /* any step count */
    free(base);
}

/* Section lengths that lie about the bytes present (checksums valid). */
static void test_forged_lengths(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = sample_file(&n), *c = malloc(n);
    static const uint64_t lens[] = {0, 1, 0xffffffffu, 0x100000000ull, UINT64_MAX,
                                    UINT64_MAX - 15};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        memcpy(c, b, n);
        wr64(c + 24 + 8, lens[i]); /* the first section's length */
        fix_all(c, n);
        /* the bytes after a short length parse as a junk section header,
         * which may carry the "required" flag: unsupported, also fine */
        ann *m = (ann *)0x1;
        ann_status st = load_exact(c, n, &m);
        if (st != ANN_ERR_BAD_FORMAT && st != ANN_ERR_UNSUPPORTED)
            fail_msg("length %llu: %s", (unsigned long long)lens[i], ann_status_str(st));
        assert_null(m);
    }
    free(b);
    free(c);
}

/* ---- files ------------------------------------------------------------- */
static void test_odd_files(void **state)
{
    (void)state;
    char p[512];
    ann *m = (ann *)0x1;
    /* empty file */
    tpath(p, sizeof p, "empty.ann");
    write_file(p, "", 0);
    assert_int_equal(ann_load(&m, p), ANN_ERR_BAD_FORMAT);
    assert_null(m);
    assert_non_null(strstr(ann_errmsg(NULL), "short"));
    /* a text file */
    write_file(p, "hello, world, not a model at all\n", 33);
    assert_int_equal(ann_load(&m, p), ANN_ERR_BAD_FORMAT);
    assert_non_null(strstr(ann_errmsg(NULL), "magic"));
    unlink(p);
    /* a directory */
    assert_int_equal(ann_load(&m, tmpdir), ANN_ERR_IO);
    assert_non_null(strstr(ann_errmsg(NULL), "directory"));
    /* /dev/zero: refused before reading (no endless read, no huge buffer) */
    assert_int_equal(ann_load(&m, "/dev/zero"), ANN_ERR_IO);
    assert_non_null(strstr(ann_errmsg(NULL), "device"));
    /* a FIFO with no writer: no hang */
    tpath(p, sizeof p, "fifo");
    assert_int_equal(mkfifo(p, 0600), 0);
    assert_int_equal(ann_load(&m, p), ANN_ERR_IO);
    assert_non_null(strstr(ann_errmsg(NULL), "FIFO"));
    unlink(p);
    /* missing paths */
    tpath(p, sizeof p, "no-such-file.ann");
    assert_int_equal(ann_load(&m, p), ANN_ERR_IO);
    assert_non_null(strstr(ann_errmsg(NULL), "No such file"));
    assert_int_equal(ann_load(&m, ""), ANN_ERR_IO);
    /* a path through a regular file (ENOTDIR) */
    tpath(p, sizeof p, "plain");
    write_file(p, "x", 1);
    char q[600];
    snprintf(q, sizeof q, "%s/model.ann", p);
    assert_int_equal(ann_load(&m, q), ANN_ERR_IO);
    /* unreadable: only meaningful when not root */
    if (geteuid() != 0) {
        ann *g = pm_golden(0);
        ASSERT_OK(ann_save(g, p));
        ann_destroy(g);
        chmod(p, 0);
        assert_int_equal(ann_load(&m, p), ANN_ERR_IO);
        assert_non_null(strstr(ann_errmsg(NULL), "denied"));
    }
    unlink(p);
    assert_null(m);
}

static void test_file_truncations(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = sample_file(&n);
    char p[512];
    tpath(p, sizeof p, "trunc.ann");
    /* every length within the header and the first section, then a sample */
    for (size_t len = 0; len < n; len += len < 64 ? 1 : 37) {
        write_file(p, b, len);
        ann *m = (ann *)0x1;
        ann_status st = ann_load(&m, p);
        if (st != ANN_ERR_BAD_FORMAT) fail_msg("file length %zu: %s", len, ann_status_str(st));
        assert_null(m);
    }
    /* trailing garbage in a file */
    unsigned char *c = calloc(n + 7, 1);
    memcpy(c, b, n);
    write_file(p, c, n + 7);
    ann *m = NULL;
    assert_int_equal(ann_load(&m, p), ANN_ERR_BAD_FORMAT);
    assert_non_null(strstr(ann_errmsg(NULL), "trailing"));
    /* a forged header promising 2^40 bytes: refused before any allocation */
    memcpy(c, b, n);
    wr64(c + 12, (uint64_t)1 << 40);
    fix_header(c);
    write_file(p, c, n);
    assert_int_equal(ann_load(&m, p), ANN_ERR_BAD_FORMAT);
    unlink(p);
    free(b);
    free(c);
}

/* ---- crash-safe save --------------------------------------------------- */
static void test_save_failures(void **state)
{
    (void)state;
    char p[512];
    ann *m = pm_golden(0);
    /* a missing directory: nothing created anywhere */
    tpath(p, sizeof p, "no-such-dir/model.ann");
    int before = dir_count(tmpdir);
    assert_int_equal(ann_save(m, p), ANN_ERR_IO);
    assert_non_null(strstr(ann_errmsg(NULL), "No such file"));
    assert_int_equal(dir_count(tmpdir), before);
    /* a directory that refuses new files even for root */
    assert_int_equal(ann_save(m, "/proc/libann-test.ann"), ANN_ERR_IO);
    /* the target is a directory: rename fails, the temporary is removed */
    tpath(p, sizeof p, "adir");
    assert_int_equal(mkdir(p, 0700), 0);
    before = dir_count(tmpdir);
    assert_int_equal(ann_save(m, p), ANN_ERR_IO);
    assert_non_null(strstr(ann_errmsg(NULL), "renam"));
    assert_int_equal(dir_count(tmpdir), before);
    rmdir(p);
    /* a 255-byte file name (NAME_MAX): the temporary's name must still fit */
    char longname[256];
    memset(longname, 'n', 255);
    longname[255] = '\0';
    tpath(p, sizeof p, longname);
    ASSERT_OK(ann_save(m, p));
    ann *c = NULL;
    ASSERT_OK(ann_load(&c, p));
    ann_destroy(c);
    unlink(p);
    /* a read-only directory (root ignores the mode, so only when not root) */
    if (geteuid() != 0) {
        tpath(p, sizeof p, "ro");
        mkdir(p, 0500);
        char q[600];
        snprintf(q, sizeof q, "%s/model.ann", p);
        assert_int_equal(ann_save(m, q), ANN_ERR_IO);
        assert_int_equal(dir_count(p), 0);
        rmdir(p);
    }
    ann_destroy(m);
}

/* RLIMIT_FSIZE (SIGXFSZ ignored) makes the write fail part-way: the old
 * file must survive intact and no temporary stay behind.  In a child, so
 * the limit does not leak into the test process. */
static void test_save_fsize_limit(void **state)
{
    (void)state;
    char dir[512], p[600];
    tpath(dir, sizeof dir, "fsize");
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(p, sizeof p, "%s/model.ann", dir);
    ann *small = pm_golden(0);
    ASSERT_OK(ann_save(small, p));
    size_t n_old = 0;
    unsigned char *old = read_file(p, &n_old);
    /* the child reports through a pipe, not its exit status (which tools
     * such as valgrind may replace) */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char r = 'x';
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {(rlim_t)n_old + 100, (rlim_t)n_old + 100};
        size_t u[] = {200, 3};
        ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_SOFTMAX};
        ann *big = NULL;
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            r = 'L';
        else if (ann_create(&big, 50, 2, u, a) != ANN_OK)
            r = 'C';
        else if (ann_save(big, p) != ANN_ERR_IO)
            r = 'S';
        else if (!strstr(ann_errmsg(NULL), "too large"))
            r = 'M';
        else
            r = '0';
        ann_destroy(big);
        if (write(fds[1], &r, 1) != 1) r = 'W';
        _exit(0);
    }
    close(fds[1]);
    char r = '?';
    assert_int_equal(read(fds[0], &r, 1), 1);
    close(fds[0]);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    if (r != '0') fail_msg("child: %c (%s)", r, ann_errmsg(NULL));
    size_t n_now;
    unsigned char *now = read_file(p, &n_now);
    assert_int_equal(n_now, n_old);
    assert_memory_equal(now, old, n_old);
    assert_int_equal(dir_count(dir), 1); /* no temporary left */
    ann *c = NULL;
    ASSERT_OK(ann_load(&c, p));
    assert_true(weights_same(small, c));
    ann_destroy(c);
    ann_destroy(small);
    free(old);
    free(now);
    rm_rf(dir);
}

/* A child saves two different models over one path, alternately, as fast
 * as it can; it is SIGKILLed at random moments.  The path must always hold
 * one complete model, A or B. */
static void test_save_kill_loop(void **state)
{
    (void)state;
    char dir[512], p[600];
    tpath(dir, sizeof dir, "kill");
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(p, sizeof p, "%s/model.ann", dir);
    size_t u[] = {64, 32, 4};
    ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_RELU, ANN_ACT_SOFTMAX};
    ann *ma = make_net(100, 3, u, a), *mb = make_net(100, 3, u, a);
    ASSERT_OK(ann_set_param(mb, ANN_PARAM_SEED, 99));
    ASSERT_OK(ann_set_param(mb, ANN_PARAM_OPTIMIZER, ANN_OPTIMIZER_ADAM));
    size_t na, nb;
    unsigned char *ba = t_save_mem(ma, &na), *bb = t_save_mem(mb, &nb);
    /* kill within ~3 save durations, whatever the speed (valgrind, ASan) */
    struct timespec s0, s1;
    clock_gettime(CLOCK_MONOTONIC, &s0);
    ASSERT_OK(ann_save(mb, p));
    ASSERT_OK(ann_save(ma, p));
    clock_gettime(CLOCK_MONOTONIC, &s1);
    uint64_t window = (uint64_t)((s1.tv_sec - s0.tv_sec) * 1000000000ll +
                                 (s1.tv_nsec - s0.tv_nsec)) * 2 + 2000000;
    uint64_t rs = 12345;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rounds = 0, saw_b = 0;
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double el = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        if ((el > 4.0 && rounds >= 20) || rounds >= 200) break;
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            for (unsigned i = 0;; i++)
                if (ann_save(i & 1 ? ma : mb, p) != ANN_OK) _exit(1);
        }
        uint64_t ns = t_next(&rs) % window;
        struct timespec d = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
        nanosleep(&d, NULL);
        kill(pid, SIGKILL);
        int ws;
        waitpid(pid, &ws, 0);
        assert_true(WIFSIGNALED(ws)); /* it was saving, not failing */
        size_t nf = 0;
        unsigned char *bf = read_file(p, &nf);
        assert_non_null(bf);
        int is_a = nf == na && memcmp(bf, ba, na) == 0;
        int is_b = nf == nb && memcmp(bf, bb, nb) == 0;
        if (!is_a && !is_b) fail_msg("round %d: the file is neither model (%zu bytes)", rounds, nf);
        saw_b |= is_b;
        ann *c = NULL;
        ASSERT_OK(ann_load(&c, p));
        ann_destroy(c);
        free(bf);
        /* a kill may leave a temporary: remove it, keep the target */
        DIR *dd = opendir(dir);
        struct dirent *e;
        char q[1200];
        while ((e = readdir(dd)))
            if (strstr(e->d_name, ".tmp-")) {
                snprintf(q, sizeof q, "%s/%s", dir, e->d_name);
                unlink(q);
            }
        closedir(dd);
        rounds++;
    }
    print_message("%d kills, the file always held a complete model\n", rounds);
    assert_true(saw_b);
    free(ba);
    free(bb);
    ann_destroy(ma);
    ann_destroy(mb);
    rm_rf(dir);
}

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/ann_persist_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) return -1;
    pm_data(NROWS, 4, 3, 5, DX, DY);
    return 0;
}
static int teardown(void **state)
{
    (void)state;
    rm_rf(tmpdir);
    return 0;
}

int main(int argc, char **argv)
{
    source_dir = argc > 1 ? argv[1] : getenv("ANN_SOURCE_DIR");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_f64),
        cmocka_unit_test(test_roundtrip_f32),
        cmocka_unit_test(test_roundtrip_fresh),
        cmocka_unit_test(test_resume_exact),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_buffer_api),
        cmocka_unit_test(test_golden_and_corpus),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_every_bit_flip),
        cmocka_unit_test(test_header_fields),
        cmocka_unit_test(test_trailing_garbage),
        cmocka_unit_test(test_forged_sections),
        cmocka_unit_test(test_forged_lengths),
        cmocka_unit_test(test_odd_files),
        cmocka_unit_test(test_file_truncations),
        cmocka_unit_test(test_save_failures),
        cmocka_unit_test(test_save_fsize_limit),
        cmocka_unit_test(test_save_kill_loop),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
