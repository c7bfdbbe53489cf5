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

/* str.isalnum() of one character: a table for ASCII (most of an excerpt), where
   Py_UNICODE_ISALNUM makes up to four calls into the Unicode database. */
#define ALNUM(c) ((c) < 128 ? IS_ALNUM(c) != 0 : Py_UNICODE_ISALNUM(c))

/* SCAN(T) written once, compiled for each width of a str's code units (T: Py_UCS1, Py_UCS2
   or Py_UCS4) and run for the width `kind` says: a loop over the units, not PyUnicode_READ's
   switch per character. */
#define PER_KIND(kind, SCAN)                 \
    if ((kind) == PyUnicode_1BYTE_KIND) {    \
        SCAN(Py_UCS1)                        \
    } else if ((kind) == PyUnicode_2BYTE_KIND) { \
        SCAN(Py_UCS2)                        \
    } else {                                 \
        SCAN(Py_UCS4)                        \
    }

/* The functions here take one str: anything else is a TypeError naming the function. */
static int need_str(PyObject *arg, const char *fn) {
    if (PyUnicode_Check(arg)) return 1;
    PyErr_Format(PyExc_TypeError, "%s: a str is needed", fn);
    return 0;
}

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
        } else if (ALNUM(c)) {
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
        int in = c == '_' || ALNUM(c);
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
        } else if (ALNUM(c)) {
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
    if (!need_str(arg, "redact_rows")) return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    int kind = PyUnicode_KIND(arg);
    const void *src = PyUnicode_DATA(arg);
    void *dst = NULL;
    for (Py_ssize_t ls = 0; ls <= n;) {
        Py_ssize_t le = ls;
        Py_ssize_t semi = 0, pipe = 0, tab = 0, comma = 0;
        int key = 0, quote = 0;
        /* one loop per code unit width; most characters are none of those counted (a bit
           of ROWS_MASK: \t \n " ' , : ; |), one test */
#define ROWS_MASK ((1ull << '\t') | (1ull << '\n') | (1ull << '"') | (1ull << '\'') | \
                   (1ull << ',') | (1ull << ':') | (1ull << ';'))
#define ROWS_SCAN(T)                                                                          \
        for (; le < n; le++) {                                                               \
            Py_UCS4 c = ((const T *)src)[le];                                                \
            if (c >= 64 ? c != '|' : !(ROWS_MASK >> c & 1)) continue;                        \
            if (c == '\n') break;                                                            \
            semi += c == ';';                                                                \
            pipe += c == '|';                                                                \
            tab += c == '\t';                                                                \
            comma += c == ',';                                                               \
            quote |= c == '"' || c == '\'';                                                  \
            key |= c == ':' && le > ls && ((const T *)src)[le - 1] == '"';                   \
        }
        PER_KIND(kind, ROWS_SCAN)
#undef ROWS_SCAN
#undef ROWS_MASK
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

#define IS_A_ALNUM(c) (((c) >= '0' && (c) <= '9') || ((c) >= 'A' && (c) <= 'Z') || \
                       ((c) >= 'a' && (c) <= 'z'))
#define IS_A_ALPHA(c) (((c) >= 'A' && (c) <= 'Z') || ((c) >= 'a' && (c) <= 'z'))
#define IS_FIELD(c) ((c) == ':' || (c) == ';' || (c) == '|')

/* The password of redact._COMBO at the separator sep: (?!//)[^\s:;|]{3,128} after it; the end
   of the match, or -1. */
static Py_ssize_t combo_pw(int kind, const void *s, Py_ssize_t n, Py_ssize_t sep) {
    Py_ssize_t p = sep + 1;
    if (p + 1 < n && PyUnicode_READ(kind, s, p) == '/' && PyUnicode_READ(kind, s, p + 1) == '/')
        return -1;
    Py_ssize_t q = p;
    while (q < n && q - p < 128) {
        Py_UCS4 c = PyUnicode_READ(kind, s, q);
        if (Py_UNICODE_ISSPACE(c) || IS_FIELD(c)) break;
        q++;
    }
    return q - p >= 3 ? q : -1;
}

/* redact._COMBO at the line start ls:
   ^([ \t]*(?:[^\s:;|@]{1,64}@[A-Za-z0-9.\-]+\.[A-Za-z]{2,24}|[A-Za-z0-9][A-Za-z0-9._\-]{2,63}))
   ([:;|])((?!//)[^\s:;|]{3,128}). Each part is a run of a class that the next part's first
   character is outside of, so the runs decide the match without backtracking. The offset of
   the separator and the end of the match, or 0. */
static int combo_line_at(int kind, const void *s, Py_ssize_t n, Py_ssize_t ls, Py_ssize_t *sep,
                         Py_ssize_t *end) {
    Py_ssize_t b = ls;
    while (b < n && (PyUnicode_READ(kind, s, b) == ' ' || PyUnicode_READ(kind, s, b) == '\t')) b++;
    /* user@domain */
    Py_ssize_t r = b;
    while (r < n) {
        Py_UCS4 c = PyUnicode_READ(kind, s, r);
        if (Py_UNICODE_ISSPACE(c) || IS_FIELD(c) || c == '@') break;
        r++;
    }
    if (r - b >= 1 && r - b <= 64 && r < n && PyUnicode_READ(kind, s, r) == '@') {
        Py_ssize_t e = r + 1, dot = -1;
        for (; e < n; e++) {
            Py_UCS4 c = PyUnicode_READ(kind, s, e);
            if (!(IS_A_ALNUM(c) || c == '.' || c == '-')) break;
            if (c == '.') dot = e;
        }
        int ok = dot > r + 1 && e - dot - 1 >= 2 && e - dot - 1 <= 24 && e < n &&
                 IS_FIELD(PyUnicode_READ(kind, s, e));
        for (Py_ssize_t k = dot + 1; ok && k < e; k++) ok = IS_A_ALPHA(PyUnicode_READ(kind, s, k));
        if (ok && (*end = combo_pw(kind, s, n, e)) >= 0) {
            *sep = e;
            return 1;
        }
    }
    /* user name */
    if (b < n && IS_A_ALNUM(PyUnicode_READ(kind, s, b))) {
        r = b + 1;
        for (; r < n; r++) {
            Py_UCS4 c = PyUnicode_READ(kind, s, r);
            if (!(IS_A_ALNUM(c) || c == '.' || c == '_' || c == '-')) break;
        }
        if (r - b >= 3 && r - b <= 64 && r < n && IS_FIELD(PyUnicode_READ(kind, s, r)) &&
            (*end = combo_pw(kind, s, n, r)) >= 0) {
            *sep = r;
            return 1;
        }
    }
    return 0;
}

/* mask_combos(text) -> str: redact._COMBO.sub(lambda m: m[1] + m[2] + "********", text) in one
   pass: the password of every combo line (user or e-mail, ':' ';' or '|', password) becomes
   eight '*'. */
PyObject *native_mask_combos(PyObject *mod, PyObject *arg) {
    (void)mod;
    if (!need_str(arg, "mask_combos")) return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    int kind = PyUnicode_KIND(arg);
    const void *s = PyUnicode_DATA(arg);
    Buf marks = {0}; /* (separator, end) of each match, int64 pairs */
    Py_ssize_t outlen = n;
    for (Py_ssize_t ls = 0; ls <= n;) {
        Py_ssize_t sep, end;
        if (combo_line_at(kind, s, n, ls, &sep, &end)) {
            if (buf_i64(&marks, sep) < 0 || buf_i64(&marks, end) < 0) {
                buf_free(&marks);
                return NULL;
            }
            outlen += 8 - (end - sep - 1);
            ls = end;
        }
        while (ls < n && PyUnicode_READ(kind, s, ls) != '\n') ls++;
        ls++; /* after the newline (past n: done) */
    }
    if (!marks.len) return Py_NewRef(arg);
    char *dst = PyMem_Malloc((size_t)outlen * (size_t)kind);
    if (!dst) {
        buf_free(&marks);
        return PyErr_NoMemory();
    }
    Py_ssize_t from = 0, at = 0;
    for (size_t k = 0; k < marks.len / 16; k++) {
        int64_t m[2];
        memcpy(m, marks.p + 16 * k, 16);
        Py_ssize_t keep = (Py_ssize_t)m[0] + 1 - from; /* up to the separator, included */
        memcpy(dst + at * kind, (const char *)s + from * kind, (size_t)(keep * kind));
        at += keep;
        for (int j = 0; j < 8; j++) PyUnicode_WRITE(kind, dst, at++, '*');
        from = (Py_ssize_t)m[1];
    }
    memcpy(dst + at * kind, (const char *)s + from * kind, (size_t)((n - from) * kind));
    PyObject *out = PyUnicode_FromKindAndData(kind, dst, outlen);
    PyMem_Free(dst);
    buf_free(&marks);
    return out;
}

#define IS_LOCAL(c) (IS_A_ALNUM(c) || (c) == '.' || (c) == '_' || (c) == '%' || (c) == '+' || \
                     (c) == '-')

/* redact._EMAIL at i: ([A-Za-z0-9])(?<![A-Za-z0-9._%+\-][A-Za-z0-9])[A-Za-z0-9._%+\-]*
   (@[A-Za-z0-9.\-]+\.[A-Za-z]{2,24}): the offset of the '@' and the end, or 0. The local part
   is the run of its class up to the '@'; the domain's last label is found as the regex's
   backtracking does: the right-most '.' of the domain run with two letters after it (then
   up to 24 of them). */
/* On no match, *next is where the next one may start: past the local part's run (no match
   starts inside it, after a character of its class). */
static int email_at(int kind, const void *s, Py_ssize_t n, Py_ssize_t i, Py_ssize_t *at,
                    Py_ssize_t *end, Py_ssize_t *next) {
    *next = i + 1;
    Py_UCS4 c = PyUnicode_READ(kind, s, i);
    if (!IS_A_ALNUM(c) || (i > 0 && IS_LOCAL(PyUnicode_READ(kind, s, i - 1)))) return 0;
    Py_ssize_t r = i + 1;
    while (r < n && IS_LOCAL(PyUnicode_READ(kind, s, r))) r++;
    *next = r;
    if (r >= n || PyUnicode_READ(kind, s, r) != '@') return 0;
    Py_ssize_t e = r + 1;
    while (e < n) {
        Py_UCS4 d = PyUnicode_READ(kind, s, e);
        if (!(IS_A_ALNUM(d) || d == '.' || d == '-')) break;
        e++;
    }
    for (Py_ssize_t d = e - 1; d >= r + 2; d--) {
        if (PyUnicode_READ(kind, s, d) != '.') continue;
        Py_ssize_t k = d + 1;
        while (k < e && k - d - 1 < 24 && IS_A_ALPHA(PyUnicode_READ(kind, s, k))) k++;
        if (k - d - 1 >= 2) {
            *at = r;
            *end = k;
            return 1;
        }
    }
    return 0;
}

/* mask_emails(text) -> str: redact._EMAIL.sub(lambda m: f"{m[1]}***{m[2]}", text) in one pass:
   an e-mail address keeps the first character of its local part and its domain. */
PyObject *native_mask_emails(PyObject *mod, PyObject *arg) {
    (void)mod;
    if (!need_str(arg, "mask_emails")) return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    int kind = PyUnicode_KIND(arg);
    const void *s = PyUnicode_DATA(arg);
    Buf marks = {0}; /* (start, '@', end) of each match, int64 */
    Py_ssize_t outlen = n;
    for (Py_ssize_t i = 0; i < n;) {
        Py_ssize_t at, end, next;
        if (email_at(kind, s, n, i, &at, &end, &next)) {
            if (buf_i64(&marks, i) < 0 || buf_i64(&marks, at) < 0 || buf_i64(&marks, end) < 0) {
                buf_free(&marks);
                return NULL;
            }
            outlen += 3 - (at - i - 1);
            i = end;
        } else {
            i = next;
        }
    }
    if (!marks.len) return Py_NewRef(arg);
    char *dst = PyMem_Malloc((size_t)outlen * (size_t)kind);
    if (!dst) {
        buf_free(&marks);
        return PyErr_NoMemory();
    }
    Py_ssize_t from = 0, out = 0;
    for (size_t k = 0; k < marks.len / 24; k++) {
        int64_t m[3];
        memcpy(m, marks.p + 24 * k, 24);
        Py_ssize_t keep = (Py_ssize_t)m[0] + 1 - from; /* up to the first character */
        memcpy(dst + out * kind, (const char *)s + from * kind, (size_t)(keep * kind));
        out += keep;
        for (int j = 0; j < 3; j++) PyUnicode_WRITE(kind, dst, out++, '*');
        from = (Py_ssize_t)m[1]; /* the '@' and the domain are kept */
    }
    memcpy(dst + out * kind, (const char *)s + from * kind, (size_t)((n - from) * kind));
    PyObject *res = PyUnicode_FromKindAndData(kind, dst, outlen);
    PyMem_Free(dst);
    buf_free(&marks);
    return res;
}

#define IS_A_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define IS_NUM_SEP(c) ((c) == ' ' || (c) == '.' || (c) == '-')

/* A copy of text's code units to write into, made on the first write. */
typedef struct {
    PyObject *text;
    int kind;
    const void *src;
    void *dst;
} Masked;

static int masked_star(Masked *m, Py_ssize_t i) {
    if (!m->dst) {
        Py_ssize_t n = PyUnicode_GET_LENGTH(m->text);
        m->dst = PyMem_Malloc((size_t)n * (size_t)m->kind);
        if (!m->dst) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(m->dst, m->src, (size_t)n * (size_t)m->kind);
    }
    PyUnicode_WRITE(m->kind, m->dst, i, '*');
    return 0;
}

static PyObject *masked_result(Masked *m) {
    if (!m->dst) return Py_NewRef(m->text);
    PyObject *out = PyUnicode_FromKindAndData(m->kind, m->dst, PyUnicode_GET_LENGTH(m->text));
    PyMem_Free(m->dst);
    return out;
}

/* Every character of [a, b) but the separators ' ' '.' '-' becomes '*' (redact._mask). */
static int mask_digits(Masked *m, Py_ssize_t a, Py_ssize_t b) {
    for (Py_ssize_t k = a; k < b; k++)
        if (!IS_NUM_SEP(PyUnicode_READ(m->kind, m->src, k)) && masked_star(m, k) < 0) return -1;
    return 0;
}

/* redact._NIR at i: ([1-478](?<![0-9A-Za-z][1-478])[ .\-]?[0-9]{2}[ .\-]?[0-9]{2}[ .\-]?
   (?:[0-9]{2}|2[ABab]))([ .\-]?[0-9]{3}[ .\-]?[0-9]{3}[ .\-]?[0-9]{2})(?![0-9A-Za-z]); the
   end or -1. A separator is taken whenever one is there (a digit must follow it), so the
   pattern matches in one way or not at all. */
static Py_ssize_t nir_text_at(int kind, const void *s, Py_ssize_t n, Py_ssize_t i) {
    Py_UCS4 c = PyUnicode_READ(kind, s, i);
    if (!(c == '1' || c == '2' || c == '3' || c == '4' || c == '7' || c == '8')) return -1;
    if (i > 0 && IS_A_ALNUM(PyUnicode_READ(kind, s, i - 1))) return -1;
    static const char layout[] = "s2s2s#s3s3s2";
    Py_ssize_t q = i + 1;
    for (const char *l = layout; *l; l++) {
        if (*l == 's') {
            if (q < n && IS_NUM_SEP(PyUnicode_READ(kind, s, q))) q++;
        } else if (*l == '#') {
            if (q + 1 >= n) return -1;
            Py_UCS4 x = PyUnicode_READ(kind, s, q), y = PyUnicode_READ(kind, s, q + 1);
            if (!((IS_A_DIGIT(x) && IS_A_DIGIT(y)) ||
                  (x == '2' && (y == 'A' || y == 'B' || y == 'a' || y == 'b'))))
                return -1;
            q += 2;
        } else {
            for (int k = 0; k < *l - '0'; k++, q++)
                if (q >= n || !IS_A_DIGIT(PyUnicode_READ(kind, s, q))) return -1;
        }
    }
    if (q < n && IS_A_ALNUM(PyUnicode_READ(kind, s, q))) return -1;
    return q;
}

/* mask_nirs(text) -> str: redact._NIR.sub(lambda m: m[1][0] + _mask(m[1][1:] + m[2]), text):
   a NIR keeps its first digit and its separators. */
PyObject *native_mask_nirs(PyObject *mod, PyObject *arg) {
    (void)mod;
    if (!need_str(arg, "mask_nirs")) return NULL;
    Masked m = {arg, PyUnicode_KIND(arg), PyUnicode_DATA(arg), NULL};
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    for (Py_ssize_t i = 0; i < n;) {
        Py_ssize_t e = nir_text_at(m.kind, m.src, n, i);
        if (e < 0) {
            i++;
            continue;
        }
        if (mask_digits(&m, i + 1, e) < 0) {
            PyMem_Free(m.dst);
            return NULL;
        }
        i = e;
    }
    return masked_result(&m);
}

/* mask_long_numbers(text) -> str: redact._LONG_NUMBER.sub(lambda m: m[1] + _mask(m[2]), text)
   for ([0-9](?<![0-9]{2})[0-9])((?:[ .\-]?[0-9]){6,}): two digits not after a digit, then
   six or more digits (each maybe after one separator, taken whenever a digit follows it),
   as many as there are; the first two are kept. */
PyObject *native_mask_long_numbers(PyObject *mod, PyObject *arg) {
    (void)mod;
    if (!need_str(arg, "mask_long_numbers")) return NULL;
    Masked m = {arg, PyUnicode_KIND(arg), PyUnicode_DATA(arg), NULL};
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    const void *s = m.src;
    int kind = m.kind;
    for (Py_ssize_t i = 0; i + 1 < n;) {
        if (!IS_A_DIGIT(PyUnicode_READ(kind, s, i)) || !IS_A_DIGIT(PyUnicode_READ(kind, s, i + 1)) ||
            (i > 0 && IS_A_DIGIT(PyUnicode_READ(kind, s, i - 1)))) {
            i++;
            continue;
        }
        Py_ssize_t q = i + 2;
        int units = 0;
        for (;;) {
            if (q + 1 < n && IS_NUM_SEP(PyUnicode_READ(kind, s, q)) &&
                IS_A_DIGIT(PyUnicode_READ(kind, s, q + 1)))
                q += 2;
            else if (q < n && IS_A_DIGIT(PyUnicode_READ(kind, s, q)))
                q += 1;
            else
                break;
            units++;
        }
        if (units < 6) {
            i++;
            continue;
        }
        if (mask_digits(&m, i + 2, q) < 0) {
            PyMem_Free(m.dst);
            return NULL;
        }
        i = q;
    }
    return masked_result(&m);
}

/* contains_any(text, needles) -> bool: any(n in text for n in needles), for a tuple of str
   (redact.py's substring tests before its pattern families), without a generator step per
   needle. */
/* Does one of the non-empty ASCII needles of the tuple start at text[i]? */
static int ascii_needle_at(PyObject *needles, int kind, const void *s, Py_ssize_t n,
                           Py_ssize_t i) {
    Py_UCS4 c = PyUnicode_READ(kind, s, i);
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(needles); k++) {
        PyObject *needle = PyTuple_GET_ITEM(needles, k);
        if (!PyUnicode_Check(needle) || !PyUnicode_IS_ASCII(needle)) continue;
        const Py_UCS1 *nd = PyUnicode_1BYTE_DATA(needle);
        Py_ssize_t nn = PyUnicode_GET_LENGTH(needle);
        if (nn == 0 || nd[0] != c || i + nn > n) continue;
        Py_ssize_t j = 1;
        while (j < nn && PyUnicode_READ(kind, s, i + j) == nd[j]) j++;
        if (j == nn) return 1;
    }
    return 0;
}

PyObject *native_contains_any(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *text, *needles;
    if (!PyArg_ParseTuple(args, "UO!:contains_any", &text, &PyTuple_Type, &needles)) return NULL;
    int kind = PyUnicode_KIND(text);
    const void *s = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), count = PyTuple_GET_SIZE(needles);
    /* The ASCII needles: memmem each in a Latin-1 text; in a wider one (an excerpt with its
       '…'), one pass over the text: at each character that starts one of them (a bit of
       `first`), those starting with it are compared there, instead of a pass per needle
       that reads each code unit through PyUnicode_READ. Others, and an empty one, are asked
       of Python. */
    uint64_t first[2] = {0, 0};
    int ascii = 0;
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *needle = PyTuple_GET_ITEM(needles, k);
        if (PyUnicode_Check(needle) && PyUnicode_IS_ASCII(needle) &&
            PyUnicode_GET_LENGTH(needle) > 0) {
            Py_UCS1 c = PyUnicode_1BYTE_DATA(needle)[0];
            first[c >> 6] |= 1ull << (c & 63);
            ascii++;
            continue;
        }
        int found = PyUnicode_Contains(text, needle);
        if (found < 0) return NULL;
        if (found) Py_RETURN_TRUE;
    }
    if (!ascii) Py_RETURN_FALSE;
    /* one loop per code unit width, so that the test of each character is a load, a compare
       and a bit test */
#define CONTAINS_SCAN(T)                                                                      \
    for (Py_ssize_t i = 0; i < n; i++) {                                                     \
        Py_UCS4 c = ((const T *)s)[i];                                                       \
        if (c < 128 && (first[c >> 6] >> (c & 63) & 1) && ascii_needle_at(needles, kind, s, n, i)) \
            Py_RETURN_TRUE;                                                                  \
    }
    if (kind == PyUnicode_1BYTE_KIND) { /* memmem is quicker there, a needle at a time */
        for (Py_ssize_t k = 0; k < count; k++) {
            PyObject *needle = PyTuple_GET_ITEM(needles, k);
            if (PyUnicode_Check(needle) && PyUnicode_IS_ASCII(needle) &&
                memmem(s, (size_t)n, PyUnicode_1BYTE_DATA(needle),
                       (size_t)PyUnicode_GET_LENGTH(needle)))
                Py_RETURN_TRUE;
        }
    } else if (kind == PyUnicode_2BYTE_KIND) {
        CONTAINS_SCAN(Py_UCS2)
    } else {
        CONTAINS_SCAN(Py_UCS4)
    }
#undef CONTAINS_SCAN
    Py_RETURN_FALSE;
}

/* longest_word(text) -> int: max(map(len, text.split()), default=0), without the list. */
PyObject *native_longest_word(PyObject *mod, PyObject *arg) {
    (void)mod;
    if (!need_str(arg, "longest_word")) return NULL;
    int kind = PyUnicode_KIND(arg);
    const void *s = PyUnicode_DATA(arg);
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg), best = 0, run = 0;
#define WORD_SCAN(T)                                                                          \
    for (Py_ssize_t i = 0; i < n; i++) {                                                     \
        run = Py_UNICODE_ISSPACE(((const T *)s)[i]) ? 0 : run + 1;                           \
        if (run > best) best = run;                                                          \
    }
    PER_KIND(kind, WORD_SCAN)
#undef WORD_SCAN
    return PyLong_FromSsize_t(best);
}

/* mask_capitalised(text, labels) -> str: redact._WORD.sub(redact._mask_name, text). A word
   ((?<![^\W_])[^\W\d_][^\W_]*(?:-[^\W_]+)*: letters and digits, not starting with a digit,
   hyphenated parts included) starting with an upper-case or title-case letter keeps that
   letter and its hyphens, the rest becomes '*'; unless it is one of `labels` or a '*'
   follows it (a prefix an earlier mask kept). [^\W_] is str.isalnum(), \d is
   str.isdecimal(), as in `re`. */
PyObject *native_mask_capitalised(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *text, *labels;
    if (!PyArg_ParseTuple(args, "UO!:mask_capitalised", &text, &PyFrozenSet_Type, &labels))
        return NULL;
    Masked m = {text, PyUnicode_KIND(text), PyUnicode_DATA(text), NULL};
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = m.kind;
    const void *s = m.src;
    for (Py_ssize_t i = 0; i < n;) {
        Py_UCS4 c = PyUnicode_READ(kind, s, i);
        if (!ALNUM(c) || Py_UNICODE_ISDECIMAL(c) ||
            (i > 0 && ALNUM(PyUnicode_READ(kind, s, i - 1)))) {
            i++;
            continue;
        }
        Py_ssize_t e = i + 1;
        while (e < n && ALNUM(PyUnicode_READ(kind, s, e))) e++;
        while (e + 1 < n && PyUnicode_READ(kind, s, e) == '-' &&
               ALNUM(PyUnicode_READ(kind, s, e + 1))) {
            e += 2;
            while (e < n && ALNUM(PyUnicode_READ(kind, s, e))) e++;
        }
        int mask = (Py_UNICODE_ISUPPER(c) || Py_UNICODE_ISTITLE(c)) &&
                   !(e < n && PyUnicode_READ(kind, s, e) == '*');
        if (mask) {
            PyObject *word = PyUnicode_Substring(text, i, e);
            int label = word ? PySet_Contains(labels, word) : -1;
            Py_XDECREF(word);
            if (label < 0) {
                PyMem_Free(m.dst);
                return NULL;
            }
            for (Py_ssize_t k = i + 1; !label && k < e; k++)
                if (PyUnicode_READ(kind, s, k) != '-' && masked_star(&m, k) < 0) return NULL;
        }
        i = e;
    }
    return masked_result(&m);
}

/* Is c one of engine/excerpts.py's blanks: white space (\s: str.isspace), C0 and C1 controls,
   DEL, the zero-width and direction marks U+200B-U+200F, the line and paragraph separators,
   the byte-order mark? */
static int is_excerpt_blank(Py_UCS4 c) {
    return c <= 0x1f || (c >= 0x7f && c <= 0x9f) || (c >= 0x200b && c <= 0x200f) ||
           c == 0x2028 || c == 0x2029 || c == 0xfeff || Py_UNICODE_ISSPACE(c);
}

/* one_line(text) -> str: every run of blanks (is_excerpt_blank) as one ' ', none at either
   end: excerpts._BLANKS.sub(" ", text).strip() in one pass. */
PyObject *native_one_line(PyObject *mod, PyObject *arg) {
    (void)mod;
    if (!need_str(arg, "one_line")) return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    int kind = PyUnicode_KIND(arg);
    const void *s = PyUnicode_DATA(arg);
    void *dst = PyMem_Malloc(n ? (size_t)n * (size_t)kind : 1);
    if (!dst) return PyErr_NoMemory();
    Py_ssize_t out = 0;
    int blank = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, s, i);
        if (is_excerpt_blank(c)) {
            blank = 1;
            continue;
        }
        if (blank && out) PyUnicode_WRITE(kind, dst, out++, ' ');
        blank = 0;
        PyUnicode_WRITE(kind, dst, out++, c);
    }
    PyObject *res = PyUnicode_FromKindAndData(kind, dst, out);
    PyMem_Free(dst);
    return res;
}

/* redact_hints(text) -> int: in one pass, a bit mask of the cheap tests redact.py's redact()
   asks before each of its passes (their Python expressions in redact.py's HINT_* comments and
   tests/matching/test_redact_hints.py). The bits must match redact.py's HINT_* constants. */
enum {
    H_PRIVATE_KEY = 1 << 0,  /* "PRIVATE KEY" in text */
    H_AUTH_WORD = 1 << 1,    /* contains_any(text.lower(), _AUTH_WORDS) */
    H_TOKEN_PREFIX = 1 << 2, /* contains_any(text, _TOKEN_PREFIXES) */
    H_URL = 1 << 3,          /* "://" in text */
    H_SECRET = 1 << 4,       /* _SECRET_HINT.search(text.lower()) (which holds a _SECRET_WORDS) */
    H_CARD_WORD = 1 << 5,    /* contains_any(text.lower(), _CARD_WORDS) */
    H_COMBO_PUNCT = 1 << 6,  /* ":" or ";" or "|" in text */
    H_AT = 1 << 7,           /* "@" in text */
    H_DIGIT_RUN = 1 << 8,    /* _DIGIT_RUN.search(text) */
    H_IBAN = 1 << 9,         /* _IBAN_HINT.search(text) */
    H_PHONE = 1 << 10,       /* _PHONE_HINT.search(text) */
    H_WORD20 = 1 << 11,      /* longest_word(text) >= 20 */
    H_RUN20 = 1 << 12,       /* longest_run(text, "-.~+=%") >= 20 */
    H_WORD40 = 1 << 13,      /* longest_word(text) >= 40 */
    H_BLOB40 = 1 << 14,      /* longest_run(text, "+/") >= 40 */
    H_YEAR = 1 << 15,        /* "19" in text or "20" in text */
    H_DMY = 1 << 16,         /* _DMY_HINT.search(text) */
    H_YMD = 1 << 17,         /* _YMD_HINT.search(text) */
    H_DIGIT = 1 << 18,       /* any(map(str.isdigit, text)) */
};

/* str.isspace() of an ASCII code (\t \n \v \f \r, \x1c-\x1f, ' '), as `re`'s \s. */
#define A_SPACE(b) ((b) == ' ' || ((b) >= 9 && (b) <= 13) || ((b) >= 0x1c && (b) <= 0x1f))
/* Is the literal lit at buf[i] (n bytes)? A memcmp of a constant size, inlined. */
#define AT_LIT(buf, n, i, lit) ((i) + (Py_ssize_t)sizeof(lit) - 1 <= (n) && \
                                memcmp((buf) + (i), (lit), sizeof(lit) - 1) == 0)

/* After a root of _SECRET_HINT's first branch ending at e (in the lower-cased bytes):
   [a-z0-9_\-]{0,24}["']?\s*[:=]. The class run is disjoint from what follows it, so the
   regex matches there iff the whole run is at most 24 long. */
static int secret_tail(const uint8_t *low, Py_ssize_t n, Py_ssize_t e) {
    Py_ssize_t j = e;
    while (j < n && j - e <= 24 && (IS_A_ALNUM(low[j]) || low[j] == '_' || low[j] == '-')) j++;
    if (j - e > 24) return 0;
    if (j < n && (low[j] == '"' || low[j] == '\'')) j++;
    while (j < n && A_SPACE(low[j])) j++;
    return j < n && (low[j] == ':' || low[j] == '=');
}

/* After a root of _SECRET_HINT's second branch ending at e: [ \t]. */
#define SPACED_AT(low, n, e) ((e) < (n) && ((low)[e] == ' ' || (low)[e] == '\t'))

/* The classes of a character of raw (see native_redact_hints) for redact_hints. */
enum {
    T_SPACE = 1,    /* str.isspace() */
    T_RUN = 2,      /* _MIXED_TOKEN's class: \w, - . ~ + = % */
    T_BLOB = 4,     /* \w, + / */
    T_DIGIT = 8,    /* 0-9 */
    T_NUMSEP = 16,  /* _DIGIT_RUN's class besides digits: ' ' . - ( ) */
    T_PUNCT = 32,   /* : ; | */
    T_AT = 64,      /* @ */
    T_ISDIGIT = 128, /* str.isdigit() */
    T_IBAN_UPPER = 1 << 9, /* A-Z; (t >> 9) is 1 for an upper-case letter, 2 for a digit */
    T_IBAN_DIGIT = 2 << 9,
};
static uint16_t hint_class[256];
/* What text.lower() has for a character of Latin-1 (see native_redact_hints). */
static uint8_t hint_lower[256];
/* hint_check_late[raw[i]]: may a test of the late hints (redact_hints_late: the phone's and
   the years') start at i? */
static uint8_t hint_check_late[256];
/* hint_pair[a] bit b (a 256-bit set per code): may a test of hints_at start at i when
   low[i] is a and low[i + 1] is b? Every test reads at least two characters, and each of
   them has one of these second characters (in low, which lower-cases raw's ASCII letters:
   a superset of what the tests on raw take); hints_at itself decides. Most letters of a
   text start no test: one lookup instead of a call. */
static uint8_t hint_pair[256][32];

static void hint_pair_add(uint8_t first, const char *seconds) {
    for (const char *c = seconds; *c; c++)
        hint_pair[first][(uint8_t)*c >> 3] |= (uint8_t)(1u << ((uint8_t)*c & 7));
}

#define HINT_PAIR(low, i) \
    (hint_pair[(low)[i]][(low)[(i) + 1] >> 3] & (1u << ((low)[(i) + 1] & 7)))

static void hint_class_init(void) {
    for (int c = 0; c < 256; c++) {
        uint16_t t = 0;
        int space = Py_UNICODE_ISSPACE((Py_UCS4)c), w = Py_UNICODE_ISALNUM((Py_UCS4)c) || c == '_';
        if (space) t |= T_SPACE;
        if (w || (c && strchr("-.~+=%", c))) t |= T_RUN;
        if (w || c == '+' || c == '/') t |= T_BLOB;
        if (IS_A_DIGIT(c)) t |= T_DIGIT | T_IBAN_DIGIT;
        if (Py_UNICODE_ISDIGIT((Py_UCS4)c)) t |= T_ISDIGIT;
        if (c && strchr(" .-()", c)) t |= T_NUMSEP;
        if (c && strchr(":;|", c)) t |= T_PUNCT;
        if (c == '@') t |= T_AT;
        if (c >= 'A' && c <= 'Z') t |= T_IBAN_UPPER;
        hint_class[c] = t;
        hint_lower[c] = (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c < 128 ? c : space ? 0x1f : 0x80);
        hint_check_late[c] = c && strchr("+012", c) != NULL;
    }
    hint_pair_add('a', "uksgirnbc"); /* authorization; AKIA ASIA AGPA AIDA AROA ANPA ... */
    hint_pair_add('b', "ea");        /* bearer, basic */
    hint_pair_add('c', "vr");        /* cvv, cvc, cryptogramme */
    hint_pair_add('e', "y");         /* eyJ */
    hint_pair_add('g', "h");         /* gh */
    hint_pair_add('x', "o");         /* xox */
    hint_pair_add('k', "_e");        /* k_live_, k_test_, key */
    hint_pair_add('s', "e");         /* secret */
    hint_pair_add('t', "o");         /* token */
    hint_pair_add('p', "awr");       /* pass, pwd, PRIVATE KEY */
    hint_pair_add('m', "do");        /* mdp, mot de passe */
    hint_pair_add(':', "/");         /* :// */
    hint_pair_add('+', "123456789"); /* a phone's +CC */
    hint_pair_add('0', "0");         /* 00CC */
    hint_pair_add('1', "9");         /* 19xx */
    hint_pair_add('2', "0");         /* 20xx */
}

/* The tests starting at i, on raw (the text's ASCII, 0x80 for others) and low (what
   text.lower() has there; see native_redact_hints). */
static long hints_at(const uint8_t *raw, const uint8_t *low, Py_ssize_t n, Py_ssize_t i) {
    static const char aws[][5] = {"AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA",
                                  "AIPA", "ABIA", "ACCA", "AIza"};
    long bits = 0;
    uint8_t b = raw[i];
    if (b == 'A' && i + 4 <= n)
        for (size_t k = 0; k < sizeof aws / sizeof *aws; k++)
            if (memcmp(raw + i, aws[k], 4) == 0) bits |= H_TOKEN_PREFIX;
    if (b == 'P' && AT_LIT(raw, n, i, "PRIVATE KEY")) bits |= H_PRIVATE_KEY;
    switch (low[i]) {
    case 'a':
        if (AT_LIT(low, n, i, "authorization")) bits |= H_AUTH_WORD;
        break;
    case 'b':
        if (AT_LIT(low, n, i, "bearer") || AT_LIT(low, n, i, "basic")) bits |= H_AUTH_WORD;
        break;
    case 'c':
        if (AT_LIT(low, n, i, "cvv") || AT_LIT(low, n, i, "cvc") ||
            AT_LIT(low, n, i, "cryptogramme"))
            bits |= H_CARD_WORD;
        break;
    case 'e':
        if (b == 'e' && AT_LIT(raw, n, i, "eyJ")) bits |= H_TOKEN_PREFIX;
        break;
    case 'g':
        if (b == 'g' && i + 1 < n && raw[i + 1] == 'h') bits |= H_TOKEN_PREFIX;
        break;
    case 'x':
        if (b == 'x' && AT_LIT(raw, n, i, "xox")) bits |= H_TOKEN_PREFIX;
        break;
    case 'k':
        if (b == 'k' && (AT_LIT(raw, n, i, "k_live_") || AT_LIT(raw, n, i, "k_test_")))
            bits |= H_TOKEN_PREFIX;
        if (AT_LIT(low, n, i, "key") && secret_tail(low, n, i + 3)) bits |= H_SECRET;
        break;
    case 's':
        if (AT_LIT(low, n, i, "secret") && secret_tail(low, n, i + 6)) bits |= H_SECRET;
        break;
    case 't':
        if (AT_LIT(low, n, i, "token") && secret_tail(low, n, i + 5)) bits |= H_SECRET;
        break;
    case 'p':
        if (AT_LIT(low, n, i, "pass")) {
            if (secret_tail(low, n, i + 4) ||
                (AT_LIT(low, n, i, "password") && SPACED_AT(low, n, i + 8)) ||
                (AT_LIT(low, n, i, "passwd") && SPACED_AT(low, n, i + 6)))
                bits |= H_SECRET;
        } else if (AT_LIT(low, n, i, "pwd") &&
                   (secret_tail(low, n, i + 3) || SPACED_AT(low, n, i + 3))) {
            bits |= H_SECRET;
        }
        break;
    case 'm':
        if ((AT_LIT(low, n, i, "mdp") && (secret_tail(low, n, i + 3) || SPACED_AT(low, n, i + 3)))
            || (AT_LIT(low, n, i, "mot de passe") && SPACED_AT(low, n, i + 12)))
            bits |= H_SECRET;
        break;
    case ':':
        if (AT_LIT(raw, n, i, "://")) bits |= H_URL;
        break;
    case '+':
        if (i + 1 < n && raw[i + 1] >= '1' && raw[i + 1] <= '9') bits |= H_PHONE;
        break;
    case '0':
        if (i + 2 < n && raw[i + 1] == '0' && raw[i + 2] >= '1' && raw[i + 2] <= '9')
            bits |= H_PHONE;
        break;
    case '1':
    case '2':
        /* a year: "19" or "20", then two digits, after or before one of / . - */
        if (i + 1 < n && ((b == '1' && raw[i + 1] == '9') || (b == '2' && raw[i + 1] == '0'))) {
            bits |= H_YEAR;
            if (i + 3 < n && IS_A_DIGIT(raw[i + 2]) && IS_A_DIGIT(raw[i + 3])) {
                uint8_t before = i > 0 ? raw[i - 1] : 0, after = i + 4 < n ? raw[i + 4] : 0;
                if (before == '/' || before == '.' || before == '-') bits |= H_DMY;
                if (after == '/' || after == '.' || after == '-') bits |= H_YMD;
            }
        }
        break;
    default:
        break;
    }
    return bits;
}

/* The longest run of _MIXED_TOKEN's class and of the blob's in raw[a:b] (one word). */
static void long_runs(const uint8_t *raw, Py_ssize_t a, Py_ssize_t b, Py_ssize_t *rbest,
                      Py_ssize_t *bbest) {
    Py_ssize_t rs = a, bs = a;
    for (Py_ssize_t i = a; i < b; i++) {
        unsigned t = hint_class[raw[i]];
        if (!(t & T_RUN)) {
            if (i - rs > *rbest) *rbest = i - rs;
            rs = i + 1;
        }
        if (!(t & T_BLOB)) {
            if (i - bs > *bbest) *bbest = i - bs;
            bs = i + 1;
        }
    }
    if (b - rs > *rbest) *rbest = b - rs;
    if (b - bs > *bbest) *bbest = b - bs;
}

/* redact_hints(text), or with late, only its bits from H_COMBO_PUNCT on (the others 0). */
static PyObject *hints(PyObject *arg, int late) {
    if (!need_str(arg, late ? "redact_hints_late" : "redact_hints")) return NULL;
    if (!hint_lower['a']) hint_class_init();
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    int kind = PyUnicode_KIND(arg);
    const void *s = PyUnicode_DATA(arg);
    /* raw: the text as Latin-1 codes: a Latin-1 text itself; in a copy otherwise, a wider
       character as one of its classes (hint_class): U+0085 for white space, U+00AA for a
       letter or digit, U+00D7 for any other. No ASCII test matches a code of 0x80 or more.
       low (not for the late hints): what the tests on text.lower() see: ASCII lower-cased;
       the Kelvin sign, which lowers to 'k', as 'k'; other white space as 0x1f (white space
       to \s, neither ' ' nor '\t'); any other character as 0x80: str.lower() maps it to
       non-ASCII characters only, but for U+0130, which lowers to 'i' and U+0307: no word or
       root tested has an 'i' that may end it or precede a mark, so that 'i' ends every test
       it is in, as 0x80 does. */
    uint8_t stack[2 * 1024];
    uint8_t *buf = stack;
    if (n > (Py_ssize_t)sizeof stack / 2) {
        buf = PyMem_Malloc((size_t)n * 2);
        if (!buf) return PyErr_NoMemory();
    }
    uint8_t *low = buf, *copy = buf + n;
    const uint8_t *raw = copy;
    long bits = 0;
    if (kind == PyUnicode_1BYTE_KIND) {
        raw = (const uint8_t *)s;
        if (!late)
            for (Py_ssize_t i = 0; i < n; i++) low[i] = hint_lower[raw[i]];
    } else {
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, s, i);
            if (c < 256) {
                copy[i] = (uint8_t)c;
                low[i] = hint_lower[c];
            } else {
                int space = Py_UNICODE_ISSPACE(c);
                if (Py_UNICODE_ISDIGIT(c)) bits |= H_DIGIT;
                copy[i] = space ? 0x85 : Py_UNICODE_ISALNUM(c) ? 0xaa : 0xd7;
                low[i] = c == 0x212A ? 'k' : space ? 0x1f : 0x80;
            }
        }
    }
    unsigned seen = 0; /* the classes met */
    /* where the current word started (i + 1 after white space), the longest word, and the
       longest run and blob in the words of 20 or more (no run or blob holds white space, so
       those of shorter words are shorter than 20, the least length tested) */
    Py_ssize_t ws = 0, wbest = 0, rbest = 0, bbest = 0;
    Py_ssize_t first_digit = -1; /* in the current run of _DIGIT_RUN's class */
    int digit_run = 0;
    unsigned iban = 0, iban_seen = 0; /* t >> 9 of the last 4 characters */
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned t = hint_class[raw[i]];
        seen |= t;
        if (t & T_SPACE) {
            if (i - ws > wbest) wbest = i - ws;
            if (i - ws >= 20) long_runs(raw, ws, i, &rbest, &bbest);
            ws = i + 1;
        }
        if (t & T_DIGIT) {
            if (first_digit < 0) first_digit = i;
            digit_run |= i - first_digit >= 6;
        }
        first_digit = t & (T_DIGIT | T_NUMSEP) ? first_digit : -1;
        iban = (iban << 2 | t >> 9) & 0xff;
        iban_seen |= iban == 0x5a; /* upper, upper, digit, digit */
    }
    if (n - ws > wbest) wbest = n - ws;
    if (n - ws >= 20) long_runs(raw, ws, n, &rbest, &bbest);
    if (iban_seen) bits |= H_IBAN;
    if (seen & T_ISDIGIT) bits |= H_DIGIT;
    if (seen & T_PUNCT) bits |= H_COMBO_PUNCT;
    if (seen & T_AT) bits |= H_AT;
    if (digit_run) bits |= H_DIGIT_RUN;
    if (wbest >= 20) bits |= H_WORD20;
    if (wbest >= 40) bits |= H_WORD40;
    if (rbest >= 20) bits |= H_RUN20;
    if (bbest >= 40) bits |= H_BLOB40;
    if (!late) {
        for (Py_ssize_t i = 0; i + 1 < n; i++)
            if (HINT_PAIR(low, i)) bits |= hints_at(raw, low, n, i);
    } else if (seen & T_DIGIT) { /* raw's '+', '0', '1' and '2' are low's */
        for (Py_ssize_t i = 0; i + 1 < n; i++)
            if (hint_check_late[raw[i]] && HINT_PAIR(raw, i)) bits |= hints_at(raw, raw, n, i);
    }
    if (buf != stack) PyMem_Free(buf);
    return PyLong_FromLong(bits);
}

PyObject *native_redact_hints(PyObject *mod, PyObject *arg) {
    (void)mod;
    return hints(arg, 0);
}

/* redact_hints_late(text) -> int: the bits of redact_hints(text) from H_COMBO_PUNCT on, the
   tests redact() asks after the secrets' and card codes' passes; the others are 0. */
PyObject *native_redact_hints_late(PyObject *mod, PyObject *arg) {
    (void)mod;
    return hints(arg, 1);
}

/* ---------------------------------------------------------------- excerpt window */

#define IS_BLANK_B(c) ((c) == ' ' || (c) == '\n' || (c) == '\t')

/* The last blank (space, newline, tab) of d[lo:hi], or -1; the first, or -1. */
static Py_ssize_t last_blank(const uint8_t *d, Py_ssize_t lo, Py_ssize_t hi) {
    for (Py_ssize_t p = hi - 1; p >= lo; p--)
        if (IS_BLANK_B(d[p])) return p;
    return -1;
}

static Py_ssize_t first_blank(const uint8_t *d, Py_ssize_t lo, Py_ssize_t hi) {
    for (Py_ssize_t p = lo; p < hi; p++)
        if (IS_BLANK_B(d[p])) return p;
    return -1;
}

/* excerpt_window(data, start, end, width, margin, snap) -> (a, start, end, b, ctx): where
   engine/excerpts.py's excerpt cuts data. The match [start, end), at most `width` long, moved
   out to the blanks around it (within `snap` bytes: a marker inside a token would hide it
   from redaction); ctx, the characters to show on each side; the window [a, b) redacted:
   ctx + margin bytes on each side, widened to a blank at each end that is not the data's
   (within `snap` bytes, the blank included), so that it holds whole tokens only. */
PyObject *native_excerpt_window(PyObject *mod, PyObject *args) {
    (void)mod;
    Py_buffer view;
    Py_ssize_t start, end, width, margin, snap;
    if (!PyArg_ParseTuple(args, "y*nnnnn:excerpt_window", &view, &start, &end, &width, &margin,
                          &snap))
        return NULL;
    const uint8_t *d = view.buf;
    Py_ssize_t n = view.len;
    if (width < 0 || margin < 0 || snap < 0) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "excerpt_window: negative width, margin or snap");
        return NULL;
    }
    /* offsets out of the data are taken as bytes.find and rfind take them */
    start = start < 0 ? 0 : start > n ? n : start;
    if (end > start + width) end = start + width;
    end = end < start ? start : end > n ? n : end;
    Py_ssize_t lo = start - snap > 0 ? start - snap : 0;
    Py_ssize_t cut = last_blank(d, lo, start);
    if (cut >= 0 || lo == 0) start = cut + 1;
    Py_ssize_t hi = end + snap < n ? end + snap : n;
    Py_ssize_t stop = first_blank(d, end, hi);
    if (stop >= 0) end = stop;
    else if (hi == n) end = hi;
    Py_ssize_t ctx = (width - (end - start)) / 2;
    if (ctx < 0) ctx = 0;
    Py_ssize_t a = start - ctx - margin > 0 ? start - ctx - margin : 0;
    Py_ssize_t b = end + ctx + margin < n ? end + ctx + margin : n;
    if (a > 0) {
        lo = a - snap > 0 ? a - snap : 0;
        cut = last_blank(d, lo, a);
        a = cut >= 0 ? cut : lo;
    }
    if (b < n) {
        hi = b + snap < n ? b + snap : n;
        stop = first_blank(d, b, hi);
        b = stop >= 0 ? stop + 1 : hi;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(nnnnn)", a, start, end, b, ctx);
}
