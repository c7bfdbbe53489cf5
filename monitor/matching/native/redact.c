/*
 * redact.c: the per-character parts of excerpt redaction (monitor/matching/redact.py).
 *
 * mask_fields(text, sep): every field of `text` (split by the one character `sep`, or the
 * whole text when sep is empty) keeps its first letter or digit; its other letters and
 * digits become '*'. "Letter or digit" is str.isalnum(), so the Python version
 * (redact._mask_word on each field) gives the same string; a dump row in an excerpt has tens
 * of fields, one Python loop each was most of the cost of redacting it.
 */
#include "native.h"

PyObject *native_mask_fields(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *text, *sep_obj;
    if (!PyArg_ParseTuple(args, "UU:mask_fields", &text, &sep_obj)) return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    Py_ssize_t seplen = PyUnicode_GET_LENGTH(sep_obj);
    if (seplen > 1) {
        PyErr_SetString(PyExc_ValueError, "mask_fields: sep must be one character or empty");
        return NULL;
    }
    Py_UCS4 sep = seplen ? PyUnicode_READ_CHAR(sep_obj, 0) : (Py_UCS4)-1;
    /* masking may remove the widest characters: the str is made from a copy of the text's
       code units by PyUnicode_FromKindAndData, which picks the narrowest kind again */
    int kind = PyUnicode_KIND(text);
    const void *src = PyUnicode_DATA(text);
    void *dst = PyMem_Malloc(n ? (size_t)n * (size_t)kind : 1);
    if (!dst) return PyErr_NoMemory();
    int kept = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, src, i);
        if (c == sep) {
            kept = 0;
        } else if (Py_UNICODE_ISALNUM(c)) {
            if (kept) c = '*';
            kept = 1;
        }
        PyUnicode_WRITE(kind, dst, i, c);
    }
    PyObject *out = PyUnicode_FromKindAndData(kind, dst, n);
    PyMem_Free(dst);
    return out;
}

/* longest_run(text, extra): the length of the longest run of characters of `text` that are
   word characters of `re` (str.isalnum() or '_') or in `extra`. redact.py asks it before
   patterns such as [\w\-.~+=%]{20,}, which `re` tries at every offset of an excerpt. */
PyObject *native_longest_run(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *text, *extra;
    if (!PyArg_ParseTuple(args, "UU:longest_run", &text, &extra)) return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), ne = PyUnicode_GET_LENGTH(extra);
    int kind = PyUnicode_KIND(text), ekind = PyUnicode_KIND(extra);
    const void *src = PyUnicode_DATA(text), *ex = PyUnicode_DATA(extra);
    Py_ssize_t best = 0, run = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, src, i);
        int in = c == '_' || Py_UNICODE_ISALNUM(c);
        for (Py_ssize_t k = 0; !in && k < ne; k++) in = PyUnicode_READ(ekind, ex, k) == c;
        run = in ? run + 1 : 0;
        if (run > best) best = run;
    }
    return PyLong_FromSsize_t(best);
}
