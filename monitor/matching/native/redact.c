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

/* mask_fields on dst[a:b] (code units of `kind`), in place. */
static void mask_span(int kind, void *dst, Py_ssize_t a, Py_ssize_t b, Py_UCS4 sep) {
    int kept = 0;
    for (Py_ssize_t i = a; i < b; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, dst, i);
        if (c == sep) {
            kept = 0;
        } else if (Py_UNICODE_ISALNUM(c)) {
            if (kept) PyUnicode_WRITE(kind, dst, i, '*');
            kept = 1;
        }
    }
}

/* redact._QUOTED.sub(redact._mask_quoted_value, line) on dst[a:b], in place: a quote (" or ')
   and the nearest same quote 2 to 201 characters on ((["'])(.{1,200}?)\1, no newline in a
   line); what lies between keeps its first letter or digit, unless white space (\s: str
   isspace) and ':' follow the closing quote (a JSON key). */
static void mask_quoted(int kind, void *dst, Py_ssize_t a, Py_ssize_t b) {
    Py_ssize_t i = a;
    while (i < b) {
        Py_UCS4 q = PyUnicode_READ(kind, dst, i);
        if (q != '"' && q != '\'') {
            i++;
            continue;
        }
        Py_ssize_t j = i + 2, last = i + 201 < b - 1 ? i + 201 : b - 1;
        while (j <= last && PyUnicode_READ(kind, dst, j) != q) j++;
        if (j > last) { /* no match at i */
            i++;
            continue;
        }
        Py_ssize_t k = j + 1;
        while (k < b && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, dst, k))) k++;
        if (!(k < b && PyUnicode_READ(kind, dst, k) == ':')) mask_span(kind, dst, i + 1, j, (Py_UCS4)-1);
        i = j + 1;
    }
}

/* redact_rows(text) -> str: redact._redact_rows in one call. Each line (split by '\n') whose
   row separator is ';' or '|' or a tab (2 or more) or ',' (3 or more), or that holds '":',
   has its quoted values masked (mask_quoted), then, with a separator, every field keeps
   its first letter or digit (mask_fields). Lengths never change. */
PyObject *native_redact_rows(PyObject *mod, PyObject *arg) {
    (void)mod;
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "redact_rows: a str is needed");
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    int kind = PyUnicode_KIND(arg);
    const void *src = PyUnicode_DATA(arg);
    void *dst = NULL;
    for (Py_ssize_t ls = 0; ls <= n;) {
        Py_ssize_t le = ls;
        Py_ssize_t semi = 0, pipe = 0, tab = 0, comma = 0;
        int key = 0, quote = 0;
        for (; le < n; le++) {
            Py_UCS4 c = PyUnicode_READ(kind, src, le);
            if (c == '\n') break;
            semi += c == ';';
            pipe += c == '|';
            tab += c == '\t';
            comma += c == ',';
            quote |= c == '"' || c == '\'';
            key |= c == ':' && le > ls && PyUnicode_READ(kind, src, le - 1) == '"';
        }
        Py_UCS4 sep = semi >= 2 ? ';' : pipe >= 2 ? '|' : tab >= 2 ? '\t' : comma >= 3 ? ',' : 0;
        if (sep || key) { /* key: a '"' is there, so quote too */
            if (!dst) {
                dst = PyMem_Malloc(n ? (size_t)n * (size_t)kind : 1);
                if (!dst) return PyErr_NoMemory();
                memcpy(dst, src, (size_t)n * (size_t)kind);
            }
            if (quote) mask_quoted(kind, dst, ls, le);
            if (sep) mask_span(kind, dst, ls, le, sep);
        }
        ls = le + 1;
    }
    if (!dst) return Py_NewRef(arg);
    PyObject *out = PyUnicode_FromKindAndData(kind, dst, n);
    PyMem_Free(dst);
    return out;
}
