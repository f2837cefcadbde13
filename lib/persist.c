/* persist.c - the model file format (docs/FORMAT.md): save and load, to a
 * file or a caller buffer, crash-safe saves, a loader that trusts nothing.
 *
 * Every multi-byte value is written and read byte by byte, little-endian,
 * through the helpers below: no struct or array is ever memcpy'd to or from
 * the file, so the format is the same on every host.
 *
 * The loader validates in an order that never spends memory or time the
 * input has not paid for: magic, header checksum, version, the total length
 * against the bytes actually present, the whole-file checksum, then the
 * section table, then the architecture and the byte count it implies for
 * every array, and only then allocates (through ann_create, so the
 * architecture obeys exactly the rules of the public constructor). */
#include "ann_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The newest version this library reads and writes; writers stamp the
 * lowest version that describes the model (file_version()). */
#define FORMAT_VERSION 2u
#define HEADER_SIZE 24u
#define TRAILER_SIZE 4u
#define SECTION_HEAD 16u
/* The largest payload a reader accepts (docs/FORMAT.md): 2^48 bytes, far
 * above any model ann_create can build, far below any size arithmetic
 * could overflow. */
#define PAYLOAD_MAX ((uint64_t)1 << 48)
#define FLAG_REQUIRED 1u
#define STAT_SIZE 80u
#define PARAM_RECORD 12u
#define MAX_LAYERS 4096u
#define INT31_MAX 2147483647u

static const unsigned char magic[8] = {0x89, 'A', 'N', 'N', '\r', '\n', 0x1a, '\n'};

#define TAG(a, b, c, d) \
    ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
enum {
    TAG_ARCH = TAG('A', 'R', 'C', 'H'),
    TAG_PARM = TAG('P', 'A', 'R', 'M'),
    TAG_STAT = TAG('S', 'T', 'A', 'T'),
    TAG_WGHT = TAG('W', 'G', 'H', 'T'),
    TAG_OPTM = TAG('O', 'P', 'T', 'M'),
    TAG_OPTV = TAG('O', 'P', 'T', 'V'),
    TAG_PREP = TAG('P', 'R', 'E', 'P'),
    TAG_TSCL = TAG('T', 'S', 'C', 'L'),
};
enum { S_ARCH, S_PARM, S_STAT, S_WGHT, S_OPTM, S_OPTV, S_PREP, S_TSCL, S_COUNT };
static const uint32_t known_tags[S_COUNT] = {TAG_ARCH, TAG_PARM, TAG_STAT, TAG_WGHT,
                                             TAG_OPTM, TAG_OPTV, TAG_PREP, TAG_TSCL};

/* The settable keys a version-1 file carries (precision lives in ARCH).
 * A key added to ann_param must be added here, or test_persist's
 * every-key round trip fails. */
static const ann_param saved_keys[] = {
    ANN_PARAM_LEARNING_RATE, ANN_PARAM_BATCH_SIZE, ANN_PARAM_EPOCHS,
    ANN_PARAM_SHUFFLE, ANN_PARAM_SEED, ANN_PARAM_LOSS, ANN_PARAM_INIT,
    ANN_PARAM_LEAKY_SLOPE, ANN_PARAM_OPTIMIZER, ANN_PARAM_MOMENTUM,
    ANN_PARAM_NESTEROV, ANN_PARAM_ADAM_BETA1, ANN_PARAM_ADAM_BETA2,
    ANN_PARAM_ADAM_EPSILON, ANN_PARAM_L2, ANN_PARAM_LR_DECAY,
    ANN_PARAM_VALIDATION_FRACTION, ANN_PARAM_PATIENCE,
    /* version 2 */
    ANN_PARAM_INIT_GAIN, ANN_PARAM_PREPROCESS, ANN_PARAM_WHITEN_EPSILON,
    ANN_PARAM_LM_MU, ANN_PARAM_LM_MU_FACTOR, ANN_PARAM_TARGET_SCALING,
};
#define N_SAVED_KEYS (sizeof saved_keys / sizeof saved_keys[0])
#define N_V1_KEYS 18u

/* The lowest format version that describes the model: 2 as soon as it
 * holds a fitted transform, a version-2 key away from its default, or an
 * enum value version 1 does not know. */
static uint32_t file_version(const ann *m)
{
    if (m->prep.mode || m->tgt || m->s.init > ANN_INIT_HE || m->s.optimizer > ANN_OPTIMIZER_ADAM)
        return 2;
    for (size_t i = N_V1_KEYS; i < N_SAVED_KEYS; i++) {
        double v = NAN, def = NAN;
        ann_get_param(m, saved_keys[i], &v);
        ann_param_bounds(saved_keys[i], NULL, NULL, &def);
        if (v != def)
            return 2;
    }
    return 1;
}

static size_t n_keys_for(uint32_t version)
{
    return version >= 2 ? N_SAVED_KEYS : N_V1_KEYS;
}

/* ---- little-endian scalars --------------------------------------------- */
static void le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static void le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}
static uint64_t rd64(const unsigned char *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}
/* IEEE-754 values travel as their bit patterns (scalar memcpy is the
 * portable way to reinterpret; the byte order is then fixed by le64). */
static uint64_t f64_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}
static double f64_from(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}
static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static float f32_from(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- layout ------------------------------------------------------------ */
typedef struct {
    uint64_t arch, parm, wght, optm, optv, prep, tscl; /* section payload bytes */
    uint32_t version;
    uint64_t payload, total;
} layout;

/* Sizes of everything a save writes; -1 if they overflow the format. */
static int compute_layout(const ann *m, layout *lo)
{
    uint64_t es = ann__elem_size(m->s.precision);
    uint64_t vals = (uint64_t)m->n_params * es;
    if (m->n_params > PAYLOAD_MAX / es)
        return -1;
    lo->arch = 12 + 8 * (uint64_t)m->n_layers;
    lo->version = file_version(m);
    lo->parm = 4 + PARAM_RECORD * (uint64_t)n_keys_for(lo->version);
    lo->prep = m->prep.mode ? 8 + 8 * ((uint64_t)m->n_inputs +
                                       ann__prep_mat_len(m->prep.mode, m->n_inputs))
                            : 0;
    lo->tscl = m->tgt ? 4 + 16 * (uint64_t)m->units[m->n_layers - 1] : 0;
    lo->wght = vals;
    lo->optm = m->opt_m ? vals : 0;
    lo->optv = m->opt_v ? vals : 0;
    lo->payload = SECTION_HEAD * 4 + lo->arch + lo->parm + STAT_SIZE + lo->wght;
    if (m->opt_m)
        lo->payload += SECTION_HEAD + lo->optm;
    if (m->opt_v)
        lo->payload += SECTION_HEAD + lo->optv;
    if (m->prep.mode)
        lo->payload += SECTION_HEAD + lo->prep;
    if (m->tgt)
        lo->payload += SECTION_HEAD + lo->tscl;
    if (lo->payload > PAYLOAD_MAX)
        return -1;
    lo->total = HEADER_SIZE + lo->payload + TRAILER_SIZE;
    return 0;
}

/* ---- writing ----------------------------------------------------------- */
/* A byte sink: a caller buffer, or a file through a staging buffer.  The
 * CRC runs over every byte as it passes, so a file save never holds the
 * whole serialised model in memory. */
typedef struct {
    unsigned char *mem; /* memory target, or NULL */
    int fd;             /* file target when mem is NULL */
    unsigned char *stage;
    size_t fill, cap;
    uint32_t crc;
    int err; /* errno of the first failed write, 0 if none */
} sink;

#define STAGE_SIZE 65536u

static void sink_flush(sink *s)
{
    if (s->mem || s->err)
        return;
    size_t done = 0;
    while (done < s->fill) {
        ssize_t w = write(s->fd, s->stage + done, s->fill - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            s->err = w < 0 ? errno : EIO;
            return;
        }
        done += (size_t)w;
    }
    s->fill = 0;
}

static void put(sink *s, const void *data, size_t n)
{
    s->crc = ann__crc32c_update(s->crc, data, n);
    if (s->mem) {
        memcpy(s->mem + s->fill, data, n);
        s->fill += n;
        return;
    }
    const unsigned char *p = data;
    while (n && !s->err) {
        size_t k = s->cap - s->fill < n ? s->cap - s->fill : n;
        memcpy(s->stage + s->fill, p, k);
        s->fill += k;
        p += k;
        n -= k;
        if (s->fill == s->cap)
            sink_flush(s);
    }
}

static void put32(sink *s, uint32_t v)
{
    unsigned char b[4];
    le32(b, v);
    put(s, b, 4);
}
static void put64(sink *s, uint64_t v)
{
    unsigned char b[8];
    le64(b, v);
    put(s, b, 8);
}
static void put_section(sink *s, uint32_t tag, uint64_t len)
{
    put32(s, tag);
    put32(s, FLAG_REQUIRED);
    put64(s, len);
}

/* n values of the model's precision, in blocks to keep put() calls few. */
static void put_values(sink *s, const void *src, size_t n, int precision)
{
    unsigned char b[512];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (precision == ANN_PRECISION_F32) {
            le32(b + k, f32_bits(((const float *)src)[i]));
            k += 4;
        } else {
            le64(b + k, f64_bits(((const double *)src)[i]));
            k += 8;
        }
        if (k == sizeof b) {
            put(s, b, k);
            k = 0;
        }
    }
    put(s, b, k);
}

static void write_model(sink *s, const ann *m, const layout *lo)
{
    unsigned char h[HEADER_SIZE];
    memcpy(h, magic, 8);
    le32(h + 8, lo->version);
    le64(h + 12, lo->payload);
    le32(h + 20, ann__crc32c_update(0, h, 20));
    s->crc = 0;
    put(s, h, sizeof h);

    put_section(s, TAG_ARCH, lo->arch);
    put32(s, (uint32_t)m->s.precision);
    put32(s, (uint32_t)m->n_inputs);
    put32(s, (uint32_t)m->n_layers);
    for (size_t l = 0; l < m->n_layers; l++) {
        put32(s, (uint32_t)m->units[l]);
        put32(s, (uint32_t)m->acts[l]);
    }

    put_section(s, TAG_PARM, lo->parm);
    size_t nk = n_keys_for(lo->version);
    put32(s, (uint32_t)nk);
    for (size_t i = 0; i < nk; i++) {
        double v = NAN;
        ann_get_param(m, saved_keys[i], &v);
        put32(s, (uint32_t)saved_keys[i]);
        put64(s, f64_bits(v));
    }

    put_section(s, TAG_STAT, STAT_SIZE);
    for (int i = 0; i < 4; i++)
        put64(s, m->rng[i]);
    put64(s, m->steps);
    put64(s, m->decay_epochs);
    put64(s, (uint64_t)m->epochs_run);
    put64(s, (uint64_t)m->best_epoch);
    put64(s, f64_bits(m->train_loss));
    put64(s, f64_bits(m->val_loss));

    put_section(s, TAG_WGHT, lo->wght);
    put_values(s, m->params, m->n_params, m->s.precision);
    if (m->opt_m) {
        put_section(s, TAG_OPTM, lo->optm);
        put_values(s, m->opt_m, m->n_params, m->s.precision);
    }
    if (m->opt_v) {
        put_section(s, TAG_OPTV, lo->optv);
        put_values(s, m->opt_v, m->n_params, m->s.precision);
    }
    if (m->prep.mode) {
        /* Always float64: the transform is kept in double. */
        put_section(s, TAG_PREP, lo->prep);
        put32(s, (uint32_t)m->prep.mode);
        put32(s, (uint32_t)m->n_inputs);
        put_values(s, m->prep.mean, m->n_inputs, ANN_PRECISION_F64);
        put_values(s, m->prep.mat, ann__prep_mat_len(m->prep.mode, m->n_inputs),
                   ANN_PRECISION_F64);
    }
    if (m->tgt) {
        size_t k = m->units[m->n_layers - 1];
        put_section(s, TAG_TSCL, lo->tscl);
        put32(s, (uint32_t)k);
        put_values(s, m->tgt, 2 * k, ANN_PRECISION_F64);
    }
    /* The trailer is not part of what it checks. */
    uint32_t crc = s->crc;
    put32(s, crc);
}

ann_status ann_save_buffer(const ann *m, void *buf, size_t capacity, size_t *size)
{
    const char *fn = "ann_save_buffer";
    if (!m || !size)
        return ann__fail(m, 0, ANN_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn,
                         !m ? "model" : "size");
    if (!buf && capacity)
        return ann__fail(m, 0, ANN_ERR_INVALID_ARGUMENT,
                         "%s: buf is NULL with capacity %zu (query the size with "
                         "buf = NULL, capacity = 0)", fn, capacity);
    ann_status st = ann__lock_const(m);
    if (st != ANN_OK)
        return st;
    layout lo;
    if (compute_layout(m, &lo) || lo.total > SIZE_MAX) {
        ann__unlock_const(m);
        return ann__fail(m, 0, ANN_ERR_TOO_LARGE, "%s: the model is too large to save", fn);
    }
    *size = (size_t)lo.total;
    if (!buf) {
        ann__unlock_const(m);
        return ANN_OK;
    }
    if (capacity < lo.total) {
        ann__unlock_const(m);
        return ann__fail(m, 0, ANN_ERR_BUFFER_TOO_SMALL,
                         "%s: capacity %zu < %zu bytes needed", fn, capacity, *size);
    }
    sink s = {buf, -1, NULL, 0, 0, 0, 0};
    write_model(&s, m, &lo);
    ann__unlock_const(m);
    return ANN_OK;
}

/* ---- crash-safe file save ---------------------------------------------- */
static void errstr(int err, char *buf, size_t n)
{
    /* The XSI strerror_r (this file is built with _POSIX_C_SOURCE). */
    if (strerror_r(err, buf, n) != 0)
        snprintf(buf, n, "error %d", err);
}

/* fsync the directory holding path, so the rename itself is durable.
 * Best effort: the file already holds the new model, and some file systems
 * refuse to sync directories (EINVAL); there is nothing useful to undo. */
static void sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash) {
        dir = malloc(2);
        if (dir)
            strcpy(dir, ".");
    } else {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        dir = malloc(n + 1);
        if (dir) {
            memcpy(dir, path, n);
            dir[n] = '\0';
        }
    }
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

static atomic_uint tmp_counter;

ann_status ann_save(const ann *m, const char *path)
{
    const char *fn = "ann_save";
    char es[96];
    if (!m || !path)
        return ann__fail(m, 0, ANN_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn,
                         !m ? "model" : "path");
    if (!*path)
        return ann__fail(m, 0, ANN_ERR_INVALID_ARGUMENT, "%s: path is empty", fn);
    ann_status st = ann__lock_const(m);
    if (st != ANN_OK)
        return st;
    layout lo;
    if (compute_layout(m, &lo)) {
        ann__unlock_const(m);
        return ann__fail(m, 0, ANN_ERR_TOO_LARGE, "%s: the model is too large to save", fn);
    }
    /* The temporary lives next to the target (rename is atomic only within
     * one file system) and is created exclusively, so concurrent saves to
     * one path never share it. */
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 64);
    unsigned char *stage = malloc(STAGE_SIZE);
    if (!tmp || !stage) {
        free(tmp);
        free(stage);
        ann__unlock_const(m);
        return ann__fail(m, 0, ANN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    }
    int fd = -1, err = 0;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        /* "<path>.tmp-<pid>-<n>-<t>", the base name cut to 160 bytes so
         * the temporary stays within NAME_MAX when the target is close */
        const char *slash = strrchr(path, '/');
        size_t dlen = slash ? (size_t)(slash - path) + 1 : 0;
        int blen = plen - dlen > 160 ? 160 : (int)(plen - dlen);
        snprintf(tmp, plen + 64, "%.*s%.*s.tmp-%ld-%u-%ld", (int)dlen, path, blen,
                 path + dlen, (long)getpid(), atomic_fetch_add(&tmp_counter, 1u),
                 (long)(ts.tv_nsec & 0xfffff));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0666);
        err = fd < 0 ? errno : 0;
        if (fd < 0 && err != EEXIST)
            break;
    }
    if (fd < 0) {
        errstr(err, es, sizeof es);
        free(tmp);
        free(stage);
        ann__unlock_const(m);
        return ann__fail(m, 0, ANN_ERR_IO, "%s: cannot create a file next to '%.100s': %s",
                         fn, path, es);
    }
    sink s = {NULL, fd, stage, 0, STAGE_SIZE, 0, 0};
    write_model(&s, m, &lo);
    sink_flush(&s);
    ann__unlock_const(m);
    free(stage);
    const char *what = "writing";
    err = s.err;
    if (!err && fsync(fd) != 0) {
        err = errno;
        what = "syncing";
    }
    if (close(fd) != 0 && !err) {
        err = errno;
        what = "closing";
    }
    if (!err && rename(tmp, path) != 0) {
        err = errno;
        what = "renaming the temporary file over";
    }
    if (err) {
        unlink(tmp);
        free(tmp);
        errstr(err, es, sizeof es);
        return ann__fail(m, 0, ANN_ERR_IO, "%s: %s '%.100s' failed: %s; the old file "
                         "is untouched", fn, what, path, es);
    }
    free(tmp);
    sync_dir(path);
    return ANN_OK;
}

/* ---- reading ----------------------------------------------------------- */
typedef struct {
    uint64_t off, len; /* payload of the section */
    int present;
} section;

/* A BAD_FORMAT failure with the function name in front. */
static ann_status bad(const char *fn, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static ann_status bad(const char *fn, const char *fmt, ...)
{
    char detail[ANN__MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return ann__fail(NULL, 0, ANN_ERR_BAD_FORMAT, "%s: %s", fn, detail);
}

static ann_status check_header_v(const char *fn, const unsigned char *p, uint64_t *total,
                                 uint32_t *version_out);

/* Header checks shared by the buffer and the file loader: p holds at least
 * HEADER_SIZE bytes.  On success *total is the file size the header
 * implies (at most PAYLOAD_MAX + 28). */
static ann_status check_header(const char *fn, const unsigned char *p, uint64_t *total)
{
    return check_header_v(fn, p, total, NULL);
}

static ann_status check_header_v(const char *fn, const unsigned char *p, uint64_t *total,
                                 uint32_t *version_out)
{
    if (memcmp(p, magic, sizeof magic) != 0)
        return bad(fn, "not a libann model (bad magic bytes)");
    if (rd32(p + 20) != ann__crc32c_update(0, p, 20))
        return bad(fn, "header checksum mismatch (corrupt header)");
    uint32_t version = rd32(p + 8);
    if (version == 0)
        return bad(fn, "format version 0 is invalid");
    if (version > FORMAT_VERSION)
        return ann__fail(NULL, 0, ANN_ERR_UNSUPPORTED,
                         "%s: format version %u is newer than this library reads (%u); "
                         "upgrade libann", fn, version, FORMAT_VERSION);
    uint64_t payload = rd64(p + 12);
    if (payload > PAYLOAD_MAX)
        return bad(fn, "payload length %llu exceeds the format's limit of 2^48",
                   (unsigned long long)payload);
    *total = HEADER_SIZE + payload + TRAILER_SIZE;
    if (version_out)
        *version_out = version;
    return ANN_OK;
}

/* n values of `precision` from p into dst; all must be finite (and >= 0
 * when nonneg).  Returns the index of the first bad value, or n. */
static size_t get_values(const unsigned char *p, size_t n, int precision,
                         void *dst, int nonneg)
{
    if (precision == ANN_PRECISION_F32) {
        float *d = dst;
        for (size_t i = 0; i < n; i++) {
            float v = f32_from(rd32(p + 4 * i));
            if (!isfinite(v) || (nonneg && v < 0))
                return i;
            d[i] = v;
        }
    } else {
        double *d = dst;
        for (size_t i = 0; i < n; i++) {
            double v = f64_from(rd64(p + 8 * i));
            if (!isfinite(v) || (nonneg && v < 0))
                return i;
            d[i] = v;
        }
    }
    return n;
}

/* The architecture section, checked down to the byte count every array
 * implies, before anything is allocated. */
typedef struct {
    uint32_t precision, n_inputs, n_layers;
    uint64_t n_params;
} arch_info;

static ann_status read_arch(const char *fn, const unsigned char *p, uint64_t len,
                            arch_info *a)
{
    if (len < 12)
        return bad(fn, "ARCH section is %llu bytes, shorter than 12",
                   (unsigned long long)len);
    a->precision = rd32(p);
    a->n_inputs = rd32(p + 4);
    a->n_layers = rd32(p + 8);
    if (a->precision > ANN_PRECISION_F32)
        return bad(fn, "unknown precision %u", a->precision);
    if (a->n_inputs == 0 || a->n_inputs > INT31_MAX)
        return bad(fn, "n_inputs = %u is outside [1, 2^31-1]", a->n_inputs);
    if (a->n_layers == 0 || a->n_layers > MAX_LAYERS)
        return bad(fn, "n_layers = %u is outside [1, %u]", a->n_layers, MAX_LAYERS);
    if (len != 12 + 8 * (uint64_t)a->n_layers)
        return bad(fn, "ARCH section is %llu bytes, %u layers need %llu",
                   (unsigned long long)len, a->n_layers,
                   (unsigned long long)(12 + 8 * (uint64_t)a->n_layers));
    uint64_t fan = a->n_inputs, total = 0;
    for (uint32_t l = 0; l < a->n_layers; l++) {
        uint64_t u = rd32(p + 12 + 8 * (uint64_t)l);
        uint32_t act = rd32(p + 16 + 8 * (uint64_t)l);
        if (u == 0 || u > INT31_MAX)
            return bad(fn, "layer %u has %llu units, outside [1, 2^31-1]", l,
                       (unsigned long long)u);
        if (act > ANN_ACT_SOFTMAX)
            return bad(fn, "layer %u has unknown activation %u", l, act);
        /* both factors < 2^31: no overflow; the sum is capped below */
        total += u * fan + u;
        if (total > PAYLOAD_MAX)
            return bad(fn, "the architecture implies more than 2^48 parameters");
        fan = u;
    }
    a->n_params = total;
    return ANN_OK;
}

static ann_status read_params(const char *fn, ann *m, const unsigned char *p, uint64_t len,
                              uint32_t version)
{
    size_t n_known = n_keys_for(version);
    if (len < 4)
        return bad(fn, "PARM section is %llu bytes, shorter than 4", (unsigned long long)len);
    uint32_t count = rd32(p);
    if (len != 4 + PARAM_RECORD * (uint64_t)count)
        return bad(fn, "PARM section is %llu bytes, %u records need %llu",
                   (unsigned long long)len, count,
                   (unsigned long long)(4 + PARAM_RECORD * (uint64_t)count));
    unsigned char seen[N_SAVED_KEYS] = {0};
    for (uint32_t r = 0; r < count; r++) {
        const unsigned char *q = p + 4 + PARAM_RECORD * (uint64_t)r;
        uint32_t key = rd32(q);
        double v = f64_from(rd64(q + 4));
        size_t k = 0;
        while (k < n_known && (uint32_t)saved_keys[k] != key)
            k++;
        if (k == n_known)
            return bad(fn, "unknown parameter key %u (format version %u)", key, version);
        if (seen[k])
            return bad(fn, "parameter key %u appears twice", key);
        seen[k] = 1;
        /* The public setter applies exactly the rules a caller meets. */
        if (ann_set_param(m, (ann_param)key, v) != ANN_OK) {
            char why[ANN__MSG_LEN];
            snprintf(why, sizeof why, "%s", ann_errmsg(NULL));
            return bad(fn, "parameter %u rejected (%.150s)", key, why);
        }
    }
    return ANN_OK;
}

static ann_status read_state(const char *fn, ann *m, const unsigned char *p, uint64_t len)
{
    if (len != STAT_SIZE)
        return bad(fn, "STAT section is %llu bytes, not %u", (unsigned long long)len,
                   STAT_SIZE);
    uint64_t rng[4];
    for (int i = 0; i < 4; i++)
        rng[i] = rd64(p + 8 * i);
    if ((rng[0] | rng[1] | rng[2] | rng[3]) == 0)
        return bad(fn, "generator state is all zero (xoshiro256** would be stuck)");
    uint64_t epochs_run = rd64(p + 48), best_epoch = rd64(p + 56);
    double train_loss = f64_from(rd64(p + 64)), val_loss = f64_from(rd64(p + 72));
    if (epochs_run > INT31_MAX || best_epoch > epochs_run)
        return bad(fn, "epochs_run = %llu, best_epoch = %llu are inconsistent",
                   (unsigned long long)epochs_run, (unsigned long long)best_epoch);
    /* losses are NaN (none yet) or non-negative */
    if (train_loss < 0 || val_loss < 0)
        return bad(fn, "a recorded loss is negative");
    memcpy(m->rng, rng, sizeof rng);
    m->steps = rd64(p + 32);
    m->decay_epochs = rd64(p + 40);
    m->epochs_run = (size_t)epochs_run;
    m->best_epoch = (size_t)best_epoch;
    m->train_loss = train_loss;
    m->val_loss = val_loss;
    return ANN_OK;
}

/* Parse a complete, in-memory model file. */
static ann_status load_bytes(ann **out, const unsigned char *p, size_t size, const char *fn)
{
    if (size < HEADER_SIZE + TRAILER_SIZE) {
        if (size >= sizeof magic && memcmp(p, magic, sizeof magic) != 0)
            return bad(fn, "not a libann model (bad magic bytes)");
        return bad(fn, "%zu bytes is too short for a model (truncated?)", size);
    }
    uint64_t total;
    uint32_t version = 0;
    ann_status st = check_header_v(fn, p, &total, &version);
    if (st != ANN_OK)
        return st;
    if (total != size)
        return bad(fn, "the header promises %llu bytes, the data has %zu (%s)",
                   (unsigned long long)total, size,
                   total > size ? "truncated" : "trailing bytes");
    if (rd32(p + size - TRAILER_SIZE) != ann__crc32c_update(0, p, size - TRAILER_SIZE))
        return bad(fn, "checksum mismatch (corrupt data)");

    /* The section table. */
    section sec[S_COUNT];
    memset(sec, 0, sizeof sec);
    uint64_t pos = HEADER_SIZE, end = size - TRAILER_SIZE;
    while (pos < end) {
        if (end - pos < SECTION_HEAD)
            return bad(fn, "a section header at byte %llu is cut short",
                       (unsigned long long)pos);
        uint32_t tag = rd32(p + pos), flags = rd32(p + pos + 4);
        uint64_t len = rd64(p + pos + 8);
        if (len > end - pos - SECTION_HEAD)
            return bad(fn, "the section at byte %llu claims %llu bytes, %llu remain",
                       (unsigned long long)pos, (unsigned long long)len,
                       (unsigned long long)(end - pos - SECTION_HEAD));
        if (flags & ~FLAG_REQUIRED)
            return bad(fn, "the section at byte %llu has reserved flags 0x%x set",
                       (unsigned long long)pos, flags);
        int k = 0;
        while (k < S_COUNT && known_tags[k] != tag)
            k++;
        if (k < S_COUNT) {
            if (sec[k].present)
                return bad(fn, "section %.4s appears twice", (const char *)(p + pos));
            sec[k].present = 1;
            sec[k].off = pos + SECTION_HEAD;
            sec[k].len = len;
        } else if (flags & FLAG_REQUIRED) {
            char name[5];
            for (int i = 0; i < 4; i++) {
                unsigned char c = p[pos + (uint64_t)i];
                name[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
            }
            name[4] = '\0';
            return ann__fail(NULL, 0, ANN_ERR_UNSUPPORTED,
                             "%s: required section '%s' (0x%08x) is unknown to this "
                             "library; upgrade libann", fn, name, tag);
        }
        /* unknown and optional: skipped (it was covered by the checksum) */
        pos += SECTION_HEAD + len;
    }
    static const char *const names[] = {"ARCH", "PARM", "STAT", "WGHT"};
    for (int k = S_ARCH; k <= S_WGHT; k++)
        if (!sec[k].present)
            return bad(fn, "the required section %s is missing", names[k]);

    arch_info a = {0, 0, 0, 0};
    st = read_arch(fn, p + sec[S_ARCH].off, sec[S_ARCH].len, &a);
    if (st != ANN_OK)
        return st;
    uint64_t es = ann__elem_size((int)a.precision);
    uint64_t vbytes = a.n_params * es;
    if (sec[S_WGHT].len != vbytes)
        return bad(fn, "WGHT section is %llu bytes, the architecture needs %llu",
                   (unsigned long long)sec[S_WGHT].len, (unsigned long long)vbytes);
    for (int k = S_OPTM; k <= S_OPTV; k++)
        if (sec[k].present && sec[k].len != vbytes)
            return bad(fn, "%s section is %llu bytes, the architecture needs %llu",
                       k == S_OPTM ? "OPTM" : "OPTV", (unsigned long long)sec[k].len,
                       (unsigned long long)vbytes);
    if (sec[S_OPTV].present && !sec[S_OPTM].present)
        return bad(fn, "OPTV (Adam second moment) without OPTM");
    uint64_t n_out_arch = rd32(p + sec[S_ARCH].off + 12 + 8 * ((uint64_t)a.n_layers - 1));
    if (sec[S_TSCL].present) {
        if (version < 2)
            return bad(fn, "TSCL section in a version-%u file", version);
        if (sec[S_TSCL].len < 4 || rd32(p + sec[S_TSCL].off) != n_out_arch ||
            sec[S_TSCL].len != 4 + 16 * n_out_arch)
            return bad(fn, "TSCL section does not match the %llu outputs",
                       (unsigned long long)n_out_arch);
    }
    uint32_t prep_mode = 0;
    if (sec[S_PREP].present) {
        const unsigned char *q = p + sec[S_PREP].off;
        if (version < 2)
            return bad(fn, "PREP section in a version-%u file", version);
        if (sec[S_PREP].len < 8)
            return bad(fn, "PREP section is %llu bytes, shorter than 8",
                       (unsigned long long)sec[S_PREP].len);
        prep_mode = rd32(q);
        if (prep_mode < ANN_PREPROCESS_STANDARDIZE || prep_mode > ANN_PREPROCESS_ZCA)
            return bad(fn, "PREP mode %u is unknown", prep_mode);
        if (rd32(q + 4) != a.n_inputs)
            return bad(fn, "PREP is for %u inputs, the model has %u", rd32(q + 4), a.n_inputs);
        uint64_t want = 8 + 8 * ((uint64_t)a.n_inputs +
                                 (prep_mode == ANN_PREPROCESS_STANDARDIZE
                                      ? (uint64_t)a.n_inputs
                                      : (uint64_t)a.n_inputs * a.n_inputs));
        if (sec[S_PREP].len != want)
            return bad(fn, "PREP section is %llu bytes, mode %u needs %llu",
                       (unsigned long long)sec[S_PREP].len, prep_mode,
                       (unsigned long long)want);
    }

    /* Everything the file claims is now backed by bytes that are present:
     * allocation is bounded by the input size (ann_create stores weights as
     * doubles first, at most twice the bytes of a float32 WGHT). */
    size_t L = a.n_layers;
    size_t *units = malloc(L * sizeof *units);
    ann_activation *acts = malloc(L * sizeof *acts);
    if (!units || !acts) {
        free(units);
        free(acts);
        return ann__fail(NULL, 0, ANN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    }
    const unsigned char *ap = p + sec[S_ARCH].off;
    for (size_t l = 0; l < L; l++) {
        units[l] = rd32(ap + 12 + 8 * l);
        acts[l] = (ann_activation)rd32(ap + 16 + 8 * l);
    }
    ann *m = NULL;
    st = ann_create(&m, a.n_inputs, L, units, acts);
    free(units);
    free(acts);
    if (st == ANN_ERR_OUT_OF_MEMORY)
        return ann__fail(NULL, 0, st, "%s: out of memory", fn);
    if (st != ANN_OK) {
        char why[ANN__MSG_LEN];
        snprintf(why, sizeof why, "%s", ann_errmsg(NULL));
        return bad(fn, "invalid architecture (%.180s)", why);
    }
    if (m->n_params != a.n_params) { /* read_arch mirrors ann_create */
        ann_destroy(m);
        return bad(fn, "internal: parameter count mismatch");
    }
    if (a.precision != ANN_PRECISION_F64 &&
        ann_set_param(m, ANN_PARAM_PRECISION, (double)a.precision) != ANN_OK) {
        ann_destroy(m);
        return ann__fail(NULL, 0, ANN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    }
    if (sec[S_PARM].present)
        st = read_params(fn, m, p + sec[S_PARM].off, sec[S_PARM].len, version);
    if (st == ANN_OK)
        st = read_state(fn, m, p + sec[S_STAT].off, sec[S_STAT].len);
    if (st != ANN_OK) {
        ann_destroy(m);
        return st;
    }
    int opt = m->s.optimizer;
    if ((sec[S_OPTM].present &&
         (opt == ANN_OPTIMIZER_SGD || opt == ANN_OPTIMIZER_LEVENBERG_MARQUARDT)) ||
        (sec[S_OPTV].present && opt != ANN_OPTIMIZER_ADAM) ||
        (opt == ANN_OPTIMIZER_ADAM && sec[S_OPTM].present != sec[S_OPTV].present)) {
        ann_destroy(m);
        return bad(fn, "optimizer state does not match optimizer %d", opt);
    }
    size_t n = m->n_params;
    size_t badi = get_values(p + sec[S_WGHT].off, n, m->s.precision, m->params, 0);
    if (badi < n) {
        ann_destroy(m);
        return bad(fn, "weight %zu is not finite", badi);
    }
    free(m->opt_m);
    free(m->opt_v);
    m->opt_m = m->opt_v = NULL;
    for (int k = S_OPTM; k <= S_OPTV; k++) {
        if (!sec[k].present)
            continue;
        void *buf = malloc(n * (size_t)es);
        if (!buf) {
            ann_destroy(m);
            return ann__fail(NULL, 0, ANN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
        }
        if (k == S_OPTM)
            m->opt_m = buf;
        else
            m->opt_v = buf;
        badi = get_values(p + sec[k].off, n, m->s.precision, buf, k == S_OPTV);
        if (badi < n) {
            ann_destroy(m);
            return bad(fn, "optimizer state %s[%zu] is %s", k == S_OPTM ? "OPTM" : "OPTV",
                       badi, k == S_OPTV ? "not finite or negative" : "not finite");
        }
    }
    if (prep_mode) {
        /* After PARM (setting the mode drops a fitted transform). */
        if ((int)prep_mode != m->s.preprocess) {
            ann_destroy(m);
            return bad(fn, "PREP mode %u does not match the preprocess setting %d", prep_mode,
                       m->s.preprocess);
        }
        ann__prep np;
        np.mode = (int)prep_mode;
        size_t ni = m->n_inputs, len = ann__prep_mat_len(np.mode, ni);
        np.mean = malloc((ni + len) * sizeof(double));
        if (!np.mean) {
            ann_destroy(m);
            return ann__fail(NULL, 0, ANN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
        }
        np.mat = np.mean + ni;
        const unsigned char *q = p + sec[S_PREP].off + 8;
        badi = get_values(q, ni + len, ANN_PRECISION_F64, np.mean, 0);
        if (badi == ni + len && np.mode == ANN_PREPROCESS_STANDARDIZE)
            for (size_t j = 0; j < ni; j++)
                if (!(np.mat[j] > 0))
                    badi = ni + j;
        if (badi < ni + len) {
            free(np.mean);
            ann_destroy(m);
            return bad(fn, "PREP value %zu is not finite (or a scale is not positive)", badi);
        }
        m->prep = np;
    }
    if (sec[S_TSCL].present) {
        if (!m->s.target_scaling) {
            ann_destroy(m);
            return bad(fn, "TSCL section with target scaling off");
        }
        size_t k = (size_t)n_out_arch;
        double *t = malloc(2 * k * sizeof *t);
        if (!t) {
            ann_destroy(m);
            return ann__fail(NULL, 0, ANN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
        }
        badi = get_values(p + sec[S_TSCL].off + 4, 2 * k, ANN_PRECISION_F64, t, 0);
        for (size_t j = k; badi == 2 * k && j < 2 * k; j++)
            if (!(t[j] > 0))
                badi = j;
        if (badi < 2 * k) {
            free(t);
            ann_destroy(m);
            return bad(fn, "TSCL value %zu is not finite (or a scale is not positive)", badi);
        }
        m->tgt = t;
    }
    m->msg[0] = '\0';
    *out = m;
    return ANN_OK;
}

ann_status ann_load_buffer(ann **out, const void *buf, size_t size)
{
    if (out)
        *out = NULL;
    if (!out || (!buf && size))
        return ann__fail(NULL, 0, ANN_ERR_INVALID_ARGUMENT, "ann_load_buffer: %s is NULL",
                         !out ? "out" : "buf");
    static const unsigned char empty[1] = {0};
    return load_bytes(out, buf ? buf : empty, size, "ann_load_buffer");
}

/* Read exactly n bytes; returns n, fewer at end of file, or -1 (errno). */
static ssize_t read_full(int fd, unsigned char *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = read(fd, p + done, n - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

ann_status ann_load(ann **out, const char *path)
{
    const char *fn = "ann_load";
    char es[96];
    if (out)
        *out = NULL;
    if (!out || !path)
        return ann__fail(NULL, 0, ANN_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn,
                         !out ? "out" : "path");
    /* O_NONBLOCK: opening a FIFO without a writer must not wait; only
     * regular files are read at all. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        errstr(errno, es, sizeof es);
        return ann__fail(NULL, 0, ANN_ERR_IO, "%s: cannot open '%.100s': %s", fn, path, es);
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        errstr(errno, es, sizeof es);
        close(fd);
        return ann__fail(NULL, 0, ANN_ERR_IO, "%s: cannot stat '%.100s': %s", fn, path, es);
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return ann__fail(NULL, 0, ANN_ERR_IO, "%s: '%.100s' is not a regular file (%s)",
                         fn, path,
                         S_ISDIR(sb.st_mode) ? "a directory"
                         : S_ISFIFO(sb.st_mode) ? "a FIFO"
                         : S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode) ? "a device"
                                                                      : "not a file");
    }
    /* Read the header, then exactly the bytes it implies, never more than
     * the file's size: a file cannot make the loader read or allocate
     * beyond what it holds. */
    unsigned char head[HEADER_SIZE];
    ssize_t r = read_full(fd, head, HEADER_SIZE);
    ann_status st = ANN_OK;
    uint64_t total = 0;
    if (r < 0) {
        errstr(errno, es, sizeof es);
        st = ann__fail(NULL, 0, ANN_ERR_IO, "%s: reading '%.100s': %s", fn, path, es);
    } else if ((size_t)r < HEADER_SIZE) {
        st = (size_t)r >= sizeof magic && memcmp(head, magic, sizeof magic) != 0
                 ? bad(fn, "'%.100s' is not a libann model (bad magic bytes)", path)
                 : bad(fn, "'%.100s' is %zd bytes, too short for a model (truncated?)",
                       path, r);
    } else {
        st = check_header(fn, head, &total);
        if (st == ANN_OK && total != (uint64_t)sb.st_size)
            st = bad(fn, "'%.100s' is %lld bytes, its header promises %llu (%s)", path,
                     (long long)sb.st_size, (unsigned long long)total,
                     total > (uint64_t)sb.st_size ? "truncated" : "trailing bytes");
        if (st == ANN_OK && total > SIZE_MAX)
            st = ann__fail(NULL, 0, ANN_ERR_TOO_LARGE, "%s: '%.100s' is too large for "
                           "this address space", fn, path);
    }
    if (st != ANN_OK) {
        close(fd);
        return st;
    }
    unsigned char *buf = malloc((size_t)total);
    if (!buf) {
        close(fd);
        return ann__fail(NULL, 0, ANN_ERR_OUT_OF_MEMORY, "%s: out of memory (%llu bytes)",
                         fn, (unsigned long long)total);
    }
    memcpy(buf, head, HEADER_SIZE);
    unsigned char extra;
    r = read_full(fd, buf + HEADER_SIZE, (size_t)total - HEADER_SIZE);
    if (r >= 0 && (size_t)r == (size_t)total - HEADER_SIZE) {
        ssize_t e = read_full(fd, &extra, 1);
        if (e != 0)
            r = e < 0 ? -1 : -2;
    }
    if (r == -1) {
        errstr(errno, es, sizeof es);
        st = ann__fail(NULL, 0, ANN_ERR_IO, "%s: reading '%.100s': %s", fn, path, es);
    } else if (r == -2 || (size_t)r != (size_t)total - HEADER_SIZE) {
        st = bad(fn, "'%.100s' changed size while being read", path);
    }
    close(fd);
    if (st == ANN_OK)
        st = load_bytes(out, buf, (size_t)total, fn);
    free(buf);
    return st;
}
