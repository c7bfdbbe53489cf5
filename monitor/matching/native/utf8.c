/*
 * utf8.c: utf8_valid(data), strict UTF-8 validation as Python decodes it, and
 * plain_text(data, sample), the whole test of extract.py's fast path for plain text.
 */
#include "native.h"

/* utf8_valid(data) -> bool: strict UTF-8 as Python decodes it (no overlong forms, no
   surrogates, nothing above U+10FFFF), without building the str: ASCII is skipped 16 bytes at
   a time, other sequences are checked against Unicode's table of well-formed byte sequences. */
static int utf8_ok(const uint8_t *d, Py_ssize_t n) {
    Py_ssize_t i = 0;
    int ok = 1;
    while (i < n) {
#if defined(__SSE2__)
        if (i + 16 <= n &&
            !_mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(d + i)))) {
            i += 16;
            continue;
        }
#endif
        uint8_t c = d[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int len;
        uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            ok = 0;
            break;
        }
        if (i + len > n || d[i + 1] < lo || d[i + 1] > hi) {
            ok = 0;
            break;
        }
        for (int k = 2; k < len; k++)
            if ((d[i + k] & 0xC0) != 0x80) ok = 0;
        if (!ok) break;
        i += len;
    }
    return ok;
}

PyObject *native_utf8_valid(PyObject *mod, PyObject *arg) {
    (void)mod;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    int ok;
    Py_BEGIN_ALLOW_THREADS /* a whole document: let the daemon's other threads run */
    ok = utf8_ok((const uint8_t *)view.buf, view.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyBool_FromLong(ok);
}

/* A C0 control that does not occur in text (all but \t \n \v \f \r and ESC), or NUL. */
static int control_byte(uint8_t c) {
    return c < 32 && c != 9 && c != 10 && c != 11 && c != 12 && c != 13 && c != 27;
}

/* plain_text(data, sample) -> 0, 1 or 2: 1 when data is ASCII, 2 when it is other valid
   UTF-8, 0 when it holds a NUL byte anywhere or another control byte (control_byte) in its
   first `sample` bytes or, when longer than 2 * sample, in the `sample` bytes from its middle
   (the samples extract.binary_reason looks at), or is not valid UTF-8. One pass over the
   bytes instead of five Python calls that each copy or scan them. */
PyObject *native_plain_text(PyObject *mod, PyObject *args) {
    (void)mod;
    Py_buffer view;
    Py_ssize_t sample;
    if (!PyArg_ParseTuple(args, "y*n", &view, &sample)) return NULL;
    const uint8_t *d = (const uint8_t *)view.buf;
    Py_ssize_t n = view.len;
    int kind = 1;
    Py_BEGIN_ALLOW_THREADS
    if (memchr(d, 0, (size_t)n) != NULL) kind = 0;
    Py_ssize_t head = n < sample ? n : sample;
    for (Py_ssize_t i = 0; kind && i < head; i++)
        if (control_byte(d[i])) kind = 0;
    if (kind && n > 2 * sample) {
        Py_ssize_t mid = n / 2;
        for (Py_ssize_t i = mid; kind && i < mid + sample; i++)
            if (control_byte(d[i])) kind = 0;
    }
    if (kind) {
        Py_ssize_t i = 0;
#if defined(__SSE2__)
        for (; i + 16 <= n; i += 16)
            if (_mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(d + i)))) break;
#endif
        for (; i < n; i++)
            if (d[i] >= 0x80) break;
        if (i < n) kind = utf8_ok(d + i, n - i) ? 2 : 0;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromLong(kind);
}
