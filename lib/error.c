/* error.c - status strings, failure messages, version. */
#include "ann_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The thread's last failure.  A const call on a shared handle may fail in
 * many threads at once, so it must not write into the handle; the record
 * remembers which handle it was about so ann_errmsg(model) can prefer it. */
static _Thread_local struct {
    const ann *model;
    char msg[ANN__MSG_LEN];
} tls_err;

ann_status ann__fail(const ann *model, int mutating, ann_status st,
                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tls_err.msg, sizeof tls_err.msg, fmt, ap);
    va_end(ap);
    tls_err.model = model;
    if (model && mutating)
        memcpy(((ann *)model)->msg, tls_err.msg, sizeof tls_err.msg);
    return st;
}

void ann__forget(const ann *model)
{
    /* A destroyed handle's address may come back from malloc for a new
     * handle: the record must not then be taken as the new handle's. */
    if (tls_err.model == model)
        tls_err.model = NULL;
}

const char *ann_errmsg(const ann *model)
{
    if (model == NULL || tls_err.model == model)
        return tls_err.msg;
    return model->msg;
}

const char *ann_status_str(ann_status status)
{
    switch (status) {
    case ANN_OK: return "ok";
    case ANN_ERR_INVALID_ARGUMENT: return "invalid argument";
    case ANN_ERR_OUT_OF_MEMORY: return "out of memory";
    case ANN_ERR_IO: return "I/O error";
    case ANN_ERR_BAD_FORMAT: return "malformed or unsupported model data";
    case ANN_ERR_NON_FINITE: return "non-finite value in input";
    case ANN_ERR_DIVERGED: return "training diverged";
    case ANN_ERR_TOO_LARGE: return "size too large";
    case ANN_STOPPED: return "stopped by callback";
    case ANN_ERR_BUSY: return "handle busy";
    case ANN_ERR_BUFFER_TOO_SMALL: return "buffer too small";
    case ANN_ERR_UNSUPPORTED: return "unsupported";
    case ANN_ERR_NUMERIC: return "numerical failure";
    }
    return "unknown status";
}

unsigned ann_version_number(void) { return ANN_VERSION_NUMBER; }
const char *ann_version_string(void) { return ANN_VERSION_STRING; }
