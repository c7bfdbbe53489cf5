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

/* Whether d[0:n] holds a control_byte: 16 bytes at a time where SSE2 is there (text has a
   newline every few dozen bytes, so the blocks that hold one are looked at byte by byte). */
static int has_control(const uint8_t *d, Py_ssize_t n) {
    Py_ssize_t i = 0;
#if defined(__SSE2__)
    const __m128i c31 = _mm_set1_epi8(31), c9 = _mm_set1_epi8(9), c4 = _mm_set1_epi8(4),
                  c27 = _mm_set1_epi8(27);
    for (; i + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(d + i));
        __m128i low = _mm_cmpeq_epi8(_mm_max_epu8(x, c31), c31);          /* x <= 31 */
        __m128i t = _mm_sub_epi8(x, c9);
        __m128i ws = _mm_cmpeq_epi8(_mm_min_epu8(t, c4), t);              /* 9 <= x <= 13 */
        __m128i ok = _mm_or_si128(ws, _mm_cmpeq_epi8(x, c27));
        if (_mm_movemask_epi8(_mm_andnot_si128(ok, low))) return 1;
    }
#endif
    for (; i < n; i++)
        if (control_byte(d[i])) return 1;
    return 0;
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
    if (kind && has_control(d, n < sample ? n : sample)) kind = 0;
    if (kind && n > 2 * sample && has_control(d + n / 2, sample)) kind = 0;
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
