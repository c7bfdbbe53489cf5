/*
 * utf8.c: utf8_valid(data), strict UTF-8 validation as Python decodes it (extract.py's fast
 * path for plain text).
 */
#include "native.h"

/* utf8_valid(data) -> bool: strict UTF-8 as Python decodes it (no overlong forms, no
   surrogates, nothing above U+10FFFF), without building the str: ASCII is skipped 16 bytes at
   a time, other sequences are checked against Unicode's table of well-formed byte sequences. */
PyObject *native_utf8_valid(PyObject *mod, PyObject *arg) {
    (void)mod;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    const uint8_t *d = (const uint8_t *)view.buf;
    Py_ssize_t n = view.len, i = 0;
    int ok = 1;
    Py_BEGIN_ALLOW_THREADS /* a whole document: let the daemon's other threads run */
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
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyBool_FromLong(ok);
}
