/*
 * validate.c: the precise match and the validation of three detectors' candidates, in C:
 *
 *   regions(ends, size, lines, reach, after)  the regions detectors.find validates
 *   nir_matches(data, spans, limit)            fr_nir (kinds/fr_nir.py)
 *   combo_matches(data, spans, limit)          combo lines (detectors.py, _combo)
 *   card_matches(data, spans, limit)           card (kinds/card.py)
 *   bulk_find(data, cap, limit, specs)         triggers + regions + the three above, for
 *                                              the bulk detectors of a small document
 *
 * `regions` merges the regions around a detector's sorted trigger ends exactly as
 * detectors.find does (int64 (start, stop) pairs). The matchers return, for the first
 * `limit` matches of the detector's precise Python pattern in each span data[start:stop] in
 * turn (exactly what `precise.finditer(data, start, stop)` yields: look-behinds see the
 * bytes before `start`, nothing at or after `stop` is seen), a list of (start, end, value):
 * value is what the Python validator returns (a str, or None when the candidate is
 * rejected), or True when only Python can decide (a combo line with non-ASCII bytes: Unicode
 * strip, lower and \w). Small documents of chat and pastes hold tens of these candidates
 * each; in Python each costs a match object, three decodes and a validator call.
 * tests/matching/test_validate_native.py checks them all against the Python definitions.
 */
#include "native.h"

#define IS_WORD_B(c) (IS_ALNUM(c) || (c) == '_')
#define IS_RE_SPACE(c) ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r' || \
                        (c) == '\f' || (c) == '\v') /* \s of a bytes pattern */
#define IS_FIELD_SEP(c) ((c) == ':' || (c) == ';' || (c) == '|')
/* str.isspace() of an ASCII character: what str.strip() removes */
#define IS_STR_SPACE(c) (IS_RE_SPACE(c) || ((c) >= 0x1c && (c) <= 0x1f))

/* The matches of a detector's regions, before they become Python tuples: (start, end, value)
   with value V_NONE (rejected), V_TRUE (only Python can decide) or V_STR: the ASCII bytes
   vals[voff:voff + vlen] of the str the validator returns (no Python object until the list
   is built, and none at all for the matches bulk_summary only counts). */
enum { V_NONE = 0, V_TRUE = 1, V_STR = 2 };

typedef struct {
    Py_ssize_t s, e, voff, vlen;
    int kind;
} Item;

typedef struct {
    Item *p;
    Py_ssize_t n, cap;
    Buf vals; /* the bytes of the V_STR values */
} Items;

static Item *append(Items *out, Py_ssize_t s, Py_ssize_t e, int kind) {
    if (out->n == out->cap) {
        Py_ssize_t cap = out->cap ? 2 * out->cap : 64;
        Item *p = PyMem_Realloc(out->p, (size_t)cap * sizeof(Item));
        if (!p) {
            PyErr_NoMemory();
            return NULL;
        }
        out->p = p;
        out->cap = cap;
    }
    Item *it = &out->p[out->n++];
    *it = (Item){s, e, (Py_ssize_t)out->vals.len, 0, kind};
    return it;
}

/* A match whose value is the n bytes at v (V_STR), or has none (V_NONE, V_TRUE). */
static int append_value(Items *out, Py_ssize_t s, Py_ssize_t e, int kind, const char *v,
                        Py_ssize_t n) {
    Item *it = append(out, s, e, kind);
    if (!it) return -1;
    if (kind == V_STR) {
        if (buf_put(&out->vals, v, (size_t)n) < 0) return -1;
        it->vlen = n;
    }
    return 0;
}

static void items_free(Items *it) {
    PyMem_Free(it->p);
    buf_free(&it->vals);
    it->p = NULL;
    it->n = it->cap = 0;
}

/* The Python value of an item: its str, None or True. */
static PyObject *item_value(const Items *it, const Item *x) {
    if (x->kind == V_NONE) Py_RETURN_NONE;
    if (x->kind == V_TRUE) Py_RETURN_TRUE;
    PyObject *v = PyUnicode_New(x->vlen, 127);
    if (v) memcpy(PyUnicode_1BYTE_DATA(v), it->vals.p + x->voff, (size_t)x->vlen);
    return v;
}

/* (s, e, value) of an item as a tuple: no format string to parse, one per match. */
static PyObject *item_tuple(const Items *it, const Item *x) {
    PyObject *t = PyTuple_New(3), *a = PyLong_FromSsize_t(x->s), *b = PyLong_FromSsize_t(x->e);
    PyObject *v = item_value(it, x);
    if (!t || !a || !b || !v) {
        Py_XDECREF(t);
        Py_XDECREF(a);
        Py_XDECREF(b);
        Py_XDECREF(v);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, a);
    PyTuple_SET_ITEM(t, 1, b);
    PyTuple_SET_ITEM(t, 2, v);
    return t;
}

/* items[from:to] as a list of (start, end, value) tuples. */
static PyObject *items_list(const Items *it, Py_ssize_t from, Py_ssize_t to) {
    PyObject *out = PyList_New(to - from);
    for (Py_ssize_t k = from; out && k < to; k++) {
        PyObject *item = item_tuple(it, &it->p[k]);
        if (!item) Py_CLEAR(out);
        else PyList_SET_ITEM(out, k - from, item);
    }
    return out;
}

/* The number of distinct values among the V_STR items: an exact set (open addressing on a
   64-bit hash, the bytes compared when two hashes are equal). -1: MemoryError. */
static uint64_t value_hash(const char *p, Py_ssize_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, p, (size_t)n);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
    }
    h ^= h >> 29;
    h *= 0xC4CEB9FE1A85EC53ull;
    return h ^ (h >> 32);
}

static Py_ssize_t distinct_values(const Items *it) {
    size_t size = 16;
    while (size < 2 * (size_t)it->n) size *= 2;
    Py_ssize_t *slot = PyMem_Malloc(size * sizeof *slot); /* item index + 1, 0: empty */
    uint64_t *hash = PyMem_Malloc(size * sizeof *hash);
    if (!slot || !hash) {
        PyMem_Free(slot);
        PyMem_Free(hash);
        PyErr_NoMemory();
        return -1;
    }
    memset(slot, 0, size * sizeof *slot);
    Py_ssize_t distinct = 0;
    for (Py_ssize_t k = 0; k < it->n; k++) {
        const Item *x = &it->p[k];
        if (x->kind != V_STR) continue;
        const char *v = it->vals.p + x->voff;
        uint64_t h = value_hash(v, x->vlen);
        for (size_t j = (size_t)h & (size - 1);; j = (j + 1) & (size - 1)) {
            if (!slot[j]) {
                slot[j] = k + 1;
                hash[j] = h;
                distinct++;
                break;
            }
            const Item *y = &it->p[slot[j] - 1];
            if (hash[j] == h && y->vlen == x->vlen &&
                memcmp(it->vals.p + y->voff, v, (size_t)x->vlen) == 0)
                break;
        }
    }
    PyMem_Free(slot);
    PyMem_Free(hash);
    return distinct;
}

/* One region of a detector: the matches of its precise pattern in data[start:stop], at most
   *budget of them (decremented), appended to out. */
typedef int (*RegionFn)(const uint8_t *d, Py_ssize_t start, Py_ssize_t stop, Py_ssize_t *budget,
                        Items *out);

/* (data, spans, limit) -> the matches of every span in turn, at most `limit` in all. */
static PyObject *matches(PyObject *args, const char *fmt, RegionFn region) {
    Py_buffer view, spans;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, fmt, &view, &spans, &limit)) return NULL;
    PyObject *out = NULL;
    Items items = {0};
    int ok = 1;
    if (spans.len % 16) {
        PyErr_SetString(PyExc_ValueError, "spans must be int64 (start, stop) pairs");
        goto done;
    }
    for (Py_ssize_t k = 0; ok && k < spans.len / 16 && limit > 0; k++) {
        int64_t se[2];
        memcpy(se, (const char *)spans.buf + 16 * k, 16);
        if (se[0] < 0 || se[1] > view.len || se[0] > se[1]) {
            PyErr_SetString(PyExc_ValueError, "bad slice");
            ok = 0;
        } else if (region((const uint8_t *)view.buf, (Py_ssize_t)se[0], (Py_ssize_t)se[1], &limit,
                          &items) < 0) {
            ok = 0;
        }
    }
    if (ok) out = items_list(&items, 0, items.n);
done:
    items_free(&items);
    PyBuffer_Release(&view);
    PyBuffer_Release(&spans);
    return out;
}

/* ---------------------------------------------------------------- regions */

/* detectors._line_region: the line around [start, end), at most 1024 bytes either side. */
static void line_region(const uint8_t *d, Py_ssize_t size, Py_ssize_t start, Py_ssize_t end,
                        Py_ssize_t *ls, Py_ssize_t *le) {
    Py_ssize_t lo = start - 1024 > 0 ? start - 1024 : 0;
    const uint8_t *before = start > lo ? memrchr(d + lo, '\n', (size_t)(start - lo)) : NULL;
    if (before) /* the newline before start, within 1024 bytes */
        *ls = before - d + 1;
    else
        *ls = start > 1024 ? start - 1024 : 0;
    Py_ssize_t hi = end + 1024 < size ? end + 1024 : size;
    const uint8_t *nl = end < hi ? memchr(d + end, '\n', (size_t)(hi - end)) : NULL;
    *le = nl ? nl - d : hi;
}

/* The merged regions around the sorted trigger ends[0:n] (int64 (start, stop) pairs appended
   to out); -1 with an exception set. */
static int regions_into(const uint8_t *d, Py_ssize_t size, const int64_t *ends, Py_ssize_t n,
                        int lines, Py_ssize_t reach, Py_ssize_t after, Buf *out) {
    Py_ssize_t rs = -1, re = -1;
    for (Py_ssize_t k = 0; k < n; k++) {
        int64_t e = ends[k];
        if (e < 0 || e > size) {
            PyErr_SetString(PyExc_ValueError, "an end lies outside the data");
            return -1;
        }
        Py_ssize_t s2, e2;
        if (lines) {
            line_region(d, size, e > 1 ? e - 1 : 0, e, &s2, &e2);
        } else {
            s2 = e - reach > 0 ? e - reach : 0;
            e2 = e + after < size ? e + after : size;
        }
        if (s2 <= re) {
            if (e2 > re) re = e2;
            continue;
        }
        if (re >= 0 && (buf_i64(out, rs) < 0 || buf_i64(out, re) < 0)) return -1;
        rs = s2;
        re = e2;
    }
    if (re >= 0 && (buf_i64(out, rs) < 0 || buf_i64(out, re) < 0)) return -1;
    return 0;
}

PyObject *native_regions(PyObject *mod, PyObject *args) {
    (void)mod;
    Py_buffer data, ends;
    int lines;
    Py_ssize_t reach, after;
    if (!PyArg_ParseTuple(args, "y*y*pnn:regions", &data, &ends, &lines, &reach, &after))
        return NULL;
    PyObject *result = NULL;
    Buf out = {0};
    if (ends.len % 8) {
        PyErr_SetString(PyExc_ValueError, "ends must be an int64 array");
        goto done;
    }
    /* a copy: the buffer of an array('q') need not be aligned for int64 reads */
    Py_ssize_t n = ends.len / 8;
    int64_t *e = PyMem_Malloc(n ? (size_t)ends.len : 1);
    if (!e) {
        PyErr_NoMemory();
        goto done;
    }
    memcpy(e, ends.buf, (size_t)ends.len);
    if (regions_into((const uint8_t *)data.buf, data.len, e, n, lines, reach, after, &out) == 0)
        result = buf_bytes(&out);
    PyMem_Free(e);
done:
    buf_free(&out);
    PyBuffer_Release(&data);
    PyBuffer_Release(&ends);
    return result;
}

/* ---------------------------------------------------------------- fr_nir */

/* DIGITS_START + [1-478](?:[ .\-]?[0-9]{2}){2}[ .\-]?(?:[0-9]{2}|2[ABab])[ .\-]?[0-9]{3}
   [ .\-]?[0-9]{3}[ .\-]?[0-9]{2}(?![0-9A-Za-z]) at p: the end, or -1; the 15 characters
   without separators, upper-cased, in c. Every optional separator is taken when present
   (a digit must follow it), so the pattern matches in one way or not at all. */
static Py_ssize_t nir_at(const uint8_t *d, Py_ssize_t p, Py_ssize_t stop, char *c) {
    if (!NIR_FIRST(d[p])) return -1;
    if (p >= 1) { /* (?<![0-9A-Za-z_])(?<![0-9]\.)(?<![0-9A-Za-z_]-) */
        uint8_t b = d[p - 1];
        if (IS_WORD_B(b)) return -1;
        if (p >= 2 && b == '.' && IS_DIGIT(d[p - 2])) return -1;
        if (p >= 2 && b == '-' && IS_WORD_B(d[p - 2])) return -1;
    }
    static const char layout[] = "s2s2s#s3s3s2";
    int n = 0;
    c[n++] = (char)d[p];
    Py_ssize_t q = p + 1;
    for (const char *l = layout; *l; l++) {
        if (*l == 's') {
            if (q < stop && (CLS[d[q]] & C_SEP)) q++;
        } else if (*l == '#') {
            if (q + 1 >= stop) return -1;
            if (IS_DIGIT(d[q]) && IS_DIGIT(d[q + 1])) {
                c[n++] = (char)d[q];
                c[n++] = (char)d[q + 1];
            } else if (d[q] == '2' && (d[q + 1] == 'A' || d[q + 1] == 'B' || d[q + 1] == 'a' ||
                                       d[q + 1] == 'b')) {
                c[n++] = '2';
                c[n++] = (char)(d[q + 1] & ~0x20);
            } else {
                return -1;
            }
            q += 2;
        } else {
            for (int k = 0; k < *l - '0'; k++, q++) {
                if (q >= stop || !IS_DIGIT(d[q])) return -1;
                c[n++] = (char)d[q];
            }
        }
    }
    if (q < stop && IS_ALNUM(d[q])) return -1;
    return q;
}

/* kinds/fr_nir.py normalize on a compact 15-character match: the key (97 - body mod 97,
   Corsica's 2A/2B read as 19/18), the sex digit and the month. */
static int nir_valid(const char *c) {
    uint64_t body = 0;
    for (int k = 0; k < 13; k++) {
        int v;
        if (k == 5 && c[5] == '2' && (c[6] == 'A' || c[6] == 'B')) {
            body = body * 100 + (c[6] == 'A' ? 19 : 18);
            k++;
            continue;
        }
        v = c[k] - '0';
        if (v < 0 || v > 9) return 0;
        body = body * 10 + (uint64_t)v;
    }
    int key = 97 - (int)(body % 97);
    if (key != (c[13] - '0') * 10 + (c[14] - '0')) return 0;
    if (!strchr("123478", c[0])) return 0;
    int month = (c[3] - '0') * 10 + (c[4] - '0');
    return (month >= 1 && month <= 12) || (month >= 20 && month <= 42) ||
           (month >= 50 && month <= 99);
}

static int nir_region(const uint8_t *d, Py_ssize_t start, Py_ssize_t stop, Py_ssize_t *budget,
                      Items *out) {
    for (Py_ssize_t p = start; p < stop && *budget > 0;) {
        char c[16];
        Py_ssize_t e = nir_at(d, p, stop, c);
        if (e < 0) {
            p++;
            continue;
        }
        if (append_value(out, p, e, nir_valid(c) ? V_STR : V_NONE, c, 15) < 0) return -1;
        --*budget;
        p = e;
    }
    return 0;
}

PyObject *native_nir_matches(PyObject *mod, PyObject *args) {
    (void)mod;
    return matches(args, "y*y*n:nir_matches", nir_region);
}

/* ---------------------------------------------------------------- combo lines */

/* The precise pattern of a combo line (detectors.py), at the line [q, le):
     ^[ \t]*(?P<user>[^\s:;|@]{1,64}@[A-Za-z0-9.\-]+\.[A-Za-z]{2,24}|
                     [A-Za-z0-9][A-Za-z0-9._\-]{2,63})[:;|](?P<pw>(?!//)[^\s:;|]{3,128})
     (?:[ \t]*[:;|][^\n]*)?[ \t]*\r?$
   Each part is a run of a byte class followed by a byte outside it, so the match is decided
   by run lengths, without backtracking: an e-mail's domain is the run of domain bytes after
   the '@', ending in a dot and 2-24 letters; a match always ends at the line end. */
typedef struct {
    Py_ssize_t user, user_end, pw, pw_end;
    int email; /* the user is an e-mail (it holds the '@') */
    /* email_ok(user, user_end) when combo_at could tell it from its own scan of the line
       (1 or 0), -1 when email_ok must read the user again (a quote or control byte in it) */
    int email_valid;
} Combo;

/* Bytes that end a run: STOP_PW those of [^\s:;|] (a password), STOP_USER also '@' (the
   user of an e-mail). Filled once (combo_tables), on the first combo_region. */
#define STOP_PW 1
#define STOP_USER 2
#define LOCAL_OK 4 /* a byte of an e-mail's local part: alnum or _!#$%&'*+/=?^`{|}~.- */
static uint8_t COMBO_STOP[256];

static void combo_tables(void) {
    static int ready = 0;
    if (ready) return;
    for (int c = 0; c < 256; c++) {
        int stop = IS_RE_SPACE(c) || IS_FIELD_SEP(c);
        int local = IS_ALNUM(c) || (c && strchr("_!#$%&'*+/=?^`{|}~.-", c));
        COMBO_STOP[c] = (uint8_t)((stop ? STOP_PW : 0) | (stop || c == '@' ? STOP_USER : 0) |
                                  (local ? LOCAL_OK : 0));
    }
    ready = 1;
}

/* Has d[a:b] a byte >= 0x80? Eight bytes at a time. */
static int has_high(const uint8_t *d, Py_ssize_t a, Py_ssize_t b) {
    for (; a + 8 <= b; a += 8) {
        uint64_t w;
        memcpy(&w, d + a, 8);
        if (w & 0x8080808080808080ull) return 1;
    }
    for (; a < b; a++)
        if (d[a] & 0x80) return 1;
    return 0;
}

static int combo_password(const uint8_t *d, Py_ssize_t ps, Py_ssize_t le, Combo *m) {
    if (ps + 2 <= le && d[ps] == '/' && d[ps + 1] == '/') return 0;
    Py_ssize_t r = ps;
    while (r < le && !(COMBO_STOP[d[r]] & STOP_PW)) r++;
    if (r - ps < 3 || r - ps > 128) return 0;
    Py_ssize_t t = r;
    while (t < le && (d[t] == ' ' || d[t] == '\t')) t++;
    if (!(t < le && IS_FIELD_SEP(d[t]))) { /* no further fields: spaces, \r, the end */
        if (t < le && d[t] == '\r') t++;
        if (t != le) return 0;
    }
    m->pw = ps;
    m->pw_end = r;
    return 1;
}

static int combo_at(const uint8_t *d, Py_ssize_t q, Py_ssize_t le, Combo *m) {
    Py_ssize_t p = q;
    while (p < le && (d[p] == ' ' || d[p] == '\t')) p++;
    /* user@domain */
    Py_ssize_t r = p;
    uint8_t local = LOCAL_OK; /* every byte of the user is one of an e-mail's local part */
    while (r < le && !(COMBO_STOP[d[r]] & STOP_USER)) local &= COMBO_STOP[d[r++]];
    if (r - p >= 1 && r - p <= 64 && r < le && d[r] == '@') {
        Py_ssize_t a = r + 1, e = a, dot = -1;
        /* email_ok's labels, read here: none empty, none starting or ending with '-' (the
           domain bytes are alnum, '-' and '.', the last label is letters, tld_ok below) */
        int labels = a < le && IS_ALNUM(d[a]);
        while (e < le && (CLS[d[e]] & C_DOMAIN)) {
            if (d[e] == '.') {
                dot = e;
                if (d[e - 1] == '.' || d[e - 1] == '-') labels = 0;
            } else if (d[e] == '-' && d[e - 1] == '.') {
                labels = 0;
            }
            e++;
        }
        int tld_ok = dot >= a + 1 && e - dot - 1 >= 2 && e - dot - 1 <= 24;
        for (Py_ssize_t k = dot + 1; tld_ok && k < e; k++)
            if (!IS_ALPHA(d[k])) tld_ok = 0;
        if (tld_ok && e < le && IS_FIELD_SEP(d[e]) && combo_password(d, e + 1, le, m)) {
            m->user = p;
            m->user_end = e;
            m->email = 1;
            /* nothing for email_ok to strip (no space, quote or '<' at either end: the user
               starts with a local-part byte other than a quote, the domain ends in a letter),
               its '@' is this one: what is left is the local part's bytes (read above), the
               labels and the length */
            m->email_valid = local && d[p] != '\'' ? labels && e - p <= 254 : -1;
            return 1;
        }
    }
    /* user name */
    if (p < le && IS_ALNUM(d[p])) {
        r = p + 1;
        while (r < le && (CLS[d[r]] & C_USER)) r++;
        if (r - p >= 3 && r - p <= 64 && r < le && IS_FIELD_SEP(d[r]) &&
            combo_password(d, r + 1, le, m)) {
            m->user = p;
            m->user_end = r;
            m->email = 0;
            return 1;
        }
    }
    return 0;
}

static int ascii_lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? c | 0x20 : c; }

/* dst[0:n] = src[0:n] lower-cased, for ASCII bytes (< 0x80): eight at a time, a byte's high
   bit set by adding 0x80 - 'A' when it is >= 'A' and by adding 0x80 - 'Z' - 1 when > 'Z' (no
   carry into the next byte below 0x80), 0x20 or-ed into the bytes of 'A'..'Z'. */
static void ascii_lower_copy(uint8_t *restrict dst, const uint8_t *restrict src, Py_ssize_t n) {
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    Py_ssize_t k = 0;
    for (; k + 8 <= n; k += 8) {
        uint64_t w;
        memcpy(&w, src + k, 8);
        uint64_t upper = (w + (0x80 - 'A') * ones) & ~(w + (0x80 - 'Z' - 1) * ones) & high;
        w |= upper >> 2;
        memcpy(dst + k, &w, 8);
    }
    for (; k < n; k++) dst[k] = (uint8_t)ascii_lower(src[k]);
}

/* identifiers.normalize("email", user) is not None, for an ASCII user@domain of the pattern:
   str.strip(), strip("<>\"'"), lower, then kinds/email.py's pattern (local part of word
   characters and !#$%&'*+/=?^`{|}~.-; labels of letters, digits and inner hyphens; a last
   label of 2-63 letters), at most 254 characters. */
static int email_ok(const uint8_t *d, Py_ssize_t s, Py_ssize_t e) {
    while (s < e && IS_STR_SPACE(d[s])) s++;
    while (e > s && IS_STR_SPACE(d[e - 1])) e--;
    while (s < e && (d[s] == '<' || d[s] == '>' || d[s] == '"' || d[s] == '\'')) s++;
    while (e > s && (d[e - 1] == '<' || d[e - 1] == '>' || d[e - 1] == '"' || d[e - 1] == '\''))
        e--;
    if (e - s > 254) return 0;
    Py_ssize_t at = s;
    while (at < e && d[at] != '@') at++;
    if (at == s || at >= e) return 0;
    for (Py_ssize_t k = s; k < at; k++) {
        uint8_t c = d[k];
        if (!(COMBO_STOP[c] & LOCAL_OK)) return 0;
    }
    Py_ssize_t label = at + 1, last = -1;
    for (Py_ssize_t k = at + 1; k <= e; k++) {
        if (k < e && d[k] != '.') continue;
        /* label [label, k) */
        if (k == label) return 0;
        if (k < e) {
            if (!IS_ALNUM(d[label]) || !IS_ALNUM(d[k - 1])) return 0;
            for (Py_ssize_t j = label; j < k; j++)
                if (!(IS_ALNUM(d[j]) || d[j] == '-')) return 0;
        } else {
            last = label;
        }
        label = k + 1;
    }
    if (last <= at + 1) return 0; /* one label only */
    if (e - last < 2 || e - last > 63) return 0;
    for (Py_ssize_t j = last; j < e; j++)
        if (!IS_ALPHA(d[j])) return 0;
    return 1;
}

static int scheme_or_digits(const uint8_t *d, const Combo *m) {
    static const char *const SCHEMES[] = {"http", "https", "ftp", "ftps", "mailto", "tel",
                                          "file", "ssh", "git", "data", "javascript", "urn",
                                          "sip", "irc", "news"};
    Py_ssize_t n = m->user_end - m->user;
    for (size_t k = 0; k < sizeof SCHEMES / sizeof SCHEMES[0]; k++) {
        if ((Py_ssize_t)strlen(SCHEMES[k]) != n) continue;
        Py_ssize_t j = 0;
        while (j < n && ascii_lower(d[m->user + j]) == (uint8_t)SCHEMES[k][j]) j++;
        if (j == n) return 1;
    }
    Py_ssize_t pn = m->pw_end - m->pw;
    if (pn > 5) return 0;
    for (Py_ssize_t j = m->pw; j < m->pw_end; j++)
        if (!IS_DIGIT(d[j])) return 0;
    return 1;
}

/* detectors._combo on an ASCII line [q, le) matched as m: appended to out, as rejected
   (V_NONE) or with the line stripped and lower-cased as its value. */
static int combo_value(const uint8_t *d, Py_ssize_t q, Py_ssize_t le, const Combo *m,
                       Items *out) {
    int ok = !m->email                ? !scheme_or_digits(d, m)
             : m->email_valid >= 0 ? m->email_valid
                                   : email_ok(d, m->user, m->user_end);
    if (ok) {
        uint8_t first = d[m->pw];
        int distinct = 0;
        for (Py_ssize_t k = m->pw + 1; k < m->pw_end && !distinct; k++) distinct = d[k] != first;
        ok = distinct;
    }
    Item *it = append(out, q, le, ok ? V_STR : V_NONE);
    if (!it) return -1;
    if (!ok) return 0;
    Py_ssize_t a = q, b = le;
    while (a < b && IS_STR_SPACE(d[a])) a++;
    while (b > a && IS_STR_SPACE(d[b - 1])) b--;
    if (buf_reserve(&out->vals, (size_t)(b - a)) < 0) return -1;
    ascii_lower_copy((uint8_t *)out->vals.p + out->vals.len, d + a, b - a);
    out->vals.len += (size_t)(b - a);
    it->vlen = b - a;
    return 0;
}

static int combo_region(const uint8_t *d, Py_ssize_t start, Py_ssize_t stop,
                        Py_ssize_t *budget, Items *out) {
    combo_tables();
    Py_ssize_t q = start;
    if (q > 0 && d[q - 1] != '\n') { /* ^ matches after a newline only */
        const uint8_t *nl = q < stop ? memchr(d + q, '\n', (size_t)(stop - q)) : NULL;
        q = nl ? nl - d + 1 : stop;
    }
    while (q < stop && *budget > 0) {
        const uint8_t *nl = memchr(d + q, '\n', (size_t)(stop - q));
        Py_ssize_t le = nl ? nl - d : stop;
        Combo m;
        if (combo_at(d, q, le, &m)) {
            if (has_high(d, q, le) ? !append(out, q, le, V_TRUE) : combo_value(d, q, le, &m, out) < 0)
                return -1;
            --*budget;
        }
        q = le + 1;
    }
    return 0;
}

PyObject *native_combo_matches(PyObject *mod, PyObject *args) {
    (void)mod;
    return matches(args, "y*y*n:combo_matches", combo_region);
}

/* ---------------------------------------------------------------- card */

/* DIGITS_START + [2-6][0-9]{3}(?:[ \-]?[0-9]){9,15}(?![0-9]) at p (kinds/card.py): the end,
   or -1. A unit is a digit with the separator before it taken when one is there (nothing
   else can match it), so the match is the most units, backed off one unit at a time until
   no digit follows. */
static Py_ssize_t card_at(const uint8_t *d, Py_ssize_t p, Py_ssize_t stop) {
    if (d[p] < '2' || d[p] > '6') return -1;
    if (p >= 1) { /* DIGITS_START, as for fr_nir */
        uint8_t b = d[p - 1];
        if (IS_WORD_B(b)) return -1;
        if (p >= 2 && b == '.' && IS_DIGIT(d[p - 2])) return -1;
        if (p >= 2 && b == '-' && IS_WORD_B(d[p - 2])) return -1;
    }
    if (p + 4 > stop) return -1;
    for (int k = 1; k < 4; k++)
        if (!IS_DIGIT(d[p + k])) return -1;
    Py_ssize_t ends[16], q = p + 4;
    int units = 0;
    while (units < 15) {
        if (q + 1 < stop && (d[q] == ' ' || d[q] == '-') && IS_DIGIT(d[q + 1]))
            q += 2;
        else if (q < stop && IS_DIGIT(d[q]))
            q += 1;
        else
            break;
        ends[++units] = q;
    }
    for (int k = units; k >= 9; k--)
        if (!(ends[k] < stop && IS_DIGIT(d[ends[k]]))) return ends[k];
    return -1;
}

/* kinds/card.py issuer_ok: does the length fit the issuer the first digits name? */
static int card_issuer_ok(const char *c, int n) {
    int p2 = (c[0] - '0') * 10 + (c[1] - '0');
    int p3 = p2 * 10 + (c[2] - '0');
    int p4 = p3 * 10 + (c[3] - '0');
    if (c[0] == '4') return n == 13 || n == 16 || n == 19;
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n == 16;
    if (p2 == 34 || p2 == 37) return n == 15;
    if (p4 == 6011 || p2 == 65 || (p3 >= 644 && p3 <= 649)) return n >= 16 && n <= 19;
    if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19;
    if (p2 == 36 || p2 == 38 || p2 == 39 || (p3 >= 300 && p3 <= 305)) return n >= 14 && n <= 19;
    if (p2 == 62) return n >= 16 && n <= 19;
    if (p2 == 50 || (p2 >= 56 && p2 <= 69)) return n >= 12 && n <= 19;
    return 0;
}

/* kinds/card.py normalize on the digits of a match: length, not one repeated digit, Luhn
   (python-stdnum's luhn.is_valid), issuer. */
static int card_valid(const char *c, int n) {
    if (n < 12 || n > 19) return 0;
    int same = 1, sum = 0;
    for (int k = 0; k < n; k++) {
        if (c[k] != c[0]) same = 0;
        int v = c[n - 1 - k] - '0';
        if (k & 1) v = v * 2 > 9 ? v * 2 - 9 : v * 2;
        sum += v;
    }
    return !same && sum % 10 == 0 && card_issuer_ok(c, n);
}

/* kinds._common.shrinking(m, normalize, region, 12) on the match d[p:e]: the match, then its
   prefixes cut before each separator from the right, while the cut is at 12 bytes or more. */
static int card_value(const uint8_t *d, Py_ssize_t p, Py_ssize_t e, Items *out) {
    char c[20];
    Py_ssize_t len = e - p;
    for (;;) {
        int n = 0;
        for (Py_ssize_t k = p; k < p + len; k++)
            if (IS_DIGIT(d[k]) && n < 20) c[n++] = (char)d[k];
        if (n <= 19 && card_valid(c, n)) return append_value(out, p, e, V_STR, c, n);
        Py_ssize_t cut = len - 1;
        while (cut >= 0 && d[p + cut] != ' ' && d[p + cut] != '-') cut--;
        if (cut < 12) return append_value(out, p, e, V_NONE, NULL, 0);
        len = cut;
    }
}

static int card_region(const uint8_t *d, Py_ssize_t start, Py_ssize_t stop, Py_ssize_t *budget,
                       Items *out) {
    for (Py_ssize_t p = start; p < stop && *budget > 0;) {
        Py_ssize_t e = card_at(d, p, stop);
        if (e < 0) {
            p++;
            continue;
        }
        if (card_value(d, p, e, out) < 0) return -1;
        --*budget;
        p = e;
    }
    return 0;
}

PyObject *native_card_matches(PyObject *mod, PyObject *args) {
    (void)mod;
    return matches(args, "y*y*n:card_matches", card_region);
}

/* ---------------------------------------------------------------- bulk_find */

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The sorted trigger ends of the ids in `mask` (a new array of *n; NULL with *n = 0 when
   there are none, or on MemoryError with *n = -1). */
static int64_t *spec_ends(const Triggers *t, int mask, Py_ssize_t *n) {
    Py_ssize_t total = 0;
    int parts = 0;
    for (int k = 0; k < TRIGGER_COUNT; k++)
        if (mask & (1 << k) && t->ends[k].len) {
            total += (Py_ssize_t)(t->ends[k].len / 8);
            parts++;
        }
    *n = total;
    if (!total) return NULL;
    int64_t *e = PyMem_Malloc((size_t)total * 8);
    if (!e) {
        PyErr_NoMemory();
        *n = -1;
        return NULL;
    }
    size_t at = 0;
    for (int k = 0; k < TRIGGER_COUNT; k++)
        if (mask & (1 << k) && t->ends[k].len) {
            memcpy((char *)e + at, t->ends[k].p, t->ends[k].len);
            at += t->ends[k].len;
        }
    if (parts > 1) qsort(e, (size_t)total, 8, cmp_i64); /* each id's ends are in order */
    return e;
}

static PyObject *ends_list(const int64_t *e, Py_ssize_t n) {
    PyObject *out = PyList_New(n);
    for (Py_ssize_t k = 0; out && k < n; k++) {
        PyObject *v = PyLong_FromLongLong(e[k]);
        if (!v) Py_CLEAR(out);
        else PyList_SET_ITEM(out, k, v);
    }
    return out;
}

static const RegionFn MATCHERS[] = {nir_region, combo_region, card_region};

/* One detector of bulk_find: None, (ends, unseen) for Python, or (found, scale); with
   `summary` (bulk_summary), (first, distinct, scale) instead of (found, scale). */
static PyObject *bulk_one(const uint8_t *d, Py_ssize_t size, const Triggers *t, int mask,
                          int matcher, int lines, Py_ssize_t reach, Py_ssize_t after,
                          Py_ssize_t limit, int summary) {
    Py_ssize_t n;
    int64_t *ends = spec_ends(t, mask, &n);
    if (n < 0) return NULL;
    if (n == 0) Py_RETURN_NONE;
    Py_ssize_t unseen = 0;
    for (int k = 0; k < TRIGGER_COUNT; k++)
        if (mask & (1 << k)) unseen += t->over[k];
    PyObject *result = NULL;
    Buf spans = {0};
    Items items = {0};
    if (matcher < 0) goto python;
    if (regions_into(d, size, ends, n, lines, reach, after, &spans) < 0) goto done;
    Py_ssize_t budget = limit;
    for (size_t k = 0; k < spans.len / 16 && budget > 0; k++) {
        int64_t se[2];
        memcpy(se, spans.p + 16 * k, 16);
        if (MATCHERS[matcher](d, (Py_ssize_t)se[0], (Py_ssize_t)se[1], &budget, &items) < 0)
            goto done;
    }
    Py_ssize_t valid = 0, first = -1;
    for (Py_ssize_t k = 0; k < items.n; k++) {
        if (items.p[k].kind == V_TRUE) goto python; /* a line only Python decides */
        if (items.p[k].kind == V_STR) {
            if (first < 0) first = k;
            valid++;
        }
    }
    /* detectors._native_find and find with enough=None: starts increase strictly (regions
       are disjoint and in order), so every valid match is kept */
    Py_ssize_t stop = items.n >= limit ? items.p[items.n - 1].e : -1;
    double scale = 1.0;
    if (stop >= 0 || unseen) {
        Py_ssize_t seen = n;
        if (stop >= 0) { /* bisect_right(ends, stop) */
            seen = 0;
            while (seen < n && ends[seen] <= stop) seen++;
        }
        scale = (double)(n + unseen) / (double)(seen > 1 ? seen : 1);
    }
    if (summary) {
        Py_ssize_t distinct = distinct_values(&items);
        if (distinct < 0) goto done;
        PyObject *head = first < 0 ? Py_NewRef(Py_None) : item_tuple(&items, &items.p[first]);
        if (head) result = Py_BuildValue("(Nnd)", head, distinct, scale);
        goto done;
    }
    PyObject *found = PyList_New(valid);
    for (Py_ssize_t k = 0, j = 0; found && k < items.n; k++) {
        if (items.p[k].kind == V_NONE) continue;
        PyObject *item = item_tuple(&items, &items.p[k]);
        if (!item) Py_CLEAR(found);
        else PyList_SET_ITEM(found, j++, item);
    }
    if (found) result = Py_BuildValue("(Nd)", found, scale);
    goto done;
python:
    result = Py_BuildValue("(Nn)", ends_list(ends, n), unseen);
done:
    items_free(&items);
    buf_free(&spans);
    PyMem_Free(ends);
    return result;
}

/* bulk_find(data, cap, limit, specs) -> None | [None | (found, scale) | (ends, unseen)]:
   the small-document path of the bulk detectors (engine/bulk.py) in one call. The triggers
   of every spec (trigger_mask, matcher, lines, reach, after) are found in one pass (at most
   `cap` ends per trigger id, like triggers()); None when there is none at all. For each
   spec in turn: None when none of its triggers matched; with a C matcher (0 fr_nir, 1
   combo, 2 card) the findings of detectors.find(enough=None, max_validations=limit):
   (start, end, value) of its valid matches and the scale; with matcher -1, or when a match
   needs Python (a non-ASCII combo line), its sorted ends and uncounted triggers for
   detectors.find. */
static PyObject *bulk(PyObject *args, const char *fmt, int summary) {
    Py_buffer view;
    Py_ssize_t cap, limit;
    PyObject *specs;
    if (!PyArg_ParseTuple(args, fmt, &view, &cap, &limit, &PyTuple_Type, &specs))
        return NULL;
    PyObject *result = NULL;
    Triggers t;
    memset(&t, 0, sizeof t);
    t.cap = cap < 0 ? 0 : cap;
    if (limit < 1) limit = 1;
    Py_ssize_t nspec = PyTuple_GET_SIZE(specs);
    int wanted = 0;
    int (*sp)[5] = PyMem_Malloc((size_t)(nspec ? nspec : 1) * sizeof *sp);
    Py_ssize_t (*ra)[2] = PyMem_Malloc((size_t)(nspec ? nspec : 1) * sizeof *ra);
    if (!sp || !ra) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t k = 0; k < nspec; k++) {
        int lines;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(specs, k), "iipnn:bulk_find spec", &sp[k][0],
                              &sp[k][1], &lines, &ra[k][0], &ra[k][1]))
            goto done;
        sp[k][2] = lines;
        if (sp[k][0] < 0 || sp[k][0] >= (1 << TRIGGER_COUNT) || sp[k][1] < -1 ||
            sp[k][1] >= (int)(sizeof MATCHERS / sizeof MATCHERS[0])) {
            PyErr_SetString(PyExc_ValueError, "bulk_find: bad trigger mask or matcher");
            goto done;
        }
        wanted |= sp[k][0];
    }
    const uint8_t *d = (const uint8_t *)view.buf;
    if (trigger_scan(d, view.len, 0, wanted, &t) < 0) goto done;
    int any = 0;
    for (int k = 0; k < TRIGGER_COUNT; k++) any |= t.ends[k].len > 0;
    if (!any) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    result = PyList_New(nspec);
    for (Py_ssize_t k = 0; result && k < nspec; k++) {
        PyObject *one = bulk_one(d, view.len, &t, sp[k][0], sp[k][1], sp[k][2], ra[k][0],
                                 ra[k][1], limit, summary);
        if (!one) Py_CLEAR(result);
        else PyList_SET_ITEM(result, k, one);
    }
done:
    PyMem_Free(sp);
    PyMem_Free(ra);
    triggers_free(&t);
    PyBuffer_Release(&view);
    return result;
}

PyObject *native_bulk_find(PyObject *mod, PyObject *args) {
    (void)mod;
    return bulk(args, "y*nnO!:bulk_find", 0);
}

/* bulk_summary(data, cap, limit, specs): bulk_find, with (first, distinct, scale) for a
   detector validated in C instead of (found, scale): its first valid match (or None) and
   the number of distinct values of its valid matches, which is all a rule counting
   distinct values needs (engine/evaluate.py); no Python object for the other matches.
   bulk_find gives the whole list when a consumer asks for it (detectors.CountedFindings). */
PyObject *native_bulk_summary(PyObject *mod, PyObject *args) {
    (void)mod;
    return bulk(args, "y*nnO!:bulk_summary", 1);
}
