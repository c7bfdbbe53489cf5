/*
 * reader.c: CandidateReader, the fingerprint candidate reader. Matching a dump against a set
 * of keyed hashes means reading every value that could be a field of a record (tens of
 * thousands per MB of a dense dump), turning it into the form the import hashed, and hashing
 * it: ~20 us per row in Python, one pass over the bytes here. Everything that needs Unicode
 * (folding a name outside Latin-1/Latin Extended, an e-mail with a UTF-8 local part) is handed
 * back to Python, so both sides fold exactly alike. The reading rules are documented in
 * fingerprints/candidates.py, which wraps this unit; the hash domains come from the kinds
 * registry (matching/kinds/).
 *
 *   CandidateReader(hmac, domains, dates, cc, trunk, fold_table, months, fold_word,
 *                   date_domain, name_domain)
 *     .extract(data)              hashed candidates, rows, e-mail spans
 *     .phrase_view(data, spans)   .name_grams(view, starts, ends[, filtered])
 *     .set_name_filter(hashes)
 *     .set_tables(...)  .screen(data)   whether a document can hold a record at all
 */
#include "native.h"

const char *const KIND_NAMES[K_COUNT] = {"phone", "fr_nir", "card", "iban", "email"};
#define DOMAIN_MAX 32 /* bytes of a hash domain and its 0 separator */

#define MAX_WORDS_PER_PHRASE 12
#define NGRAM 3
#define MAX_NUMBER_DIGITS 41
#define FOLD_LIMIT 0x250  /* code points folded by table: Latin-1, Latin Extended-A and -B */
#define FOLD_MAX 15
#define GRAM_CACHE_BITS 15
#define GRAM_CACHE_KEY 46

static uint8_t PHRASE[256]; /* see Reader_phrase_view */

/* ---------------------------------------------------------------- skipping bytes */

/* The bytes a loop stops at: up to two ranges and six single values (and the same as a
   table for the tail). Most bytes of a document start no candidate: 16 of them are tested at
   once with SSE2 (part of every x86-64 CPU), else one by one. */
typedef struct {
    int n_ranges, n_singles;
    uint8_t lo[2], hi[2], single[6];
    uint8_t table[256];
#if defined(__SSE2__)
    __m128i v_lo[2], v_span[2], v_single[6];
#endif
} Stops;

static void stops_add_range(Stops *st, uint8_t lo, uint8_t hi) {
    st->lo[st->n_ranges] = lo;
    st->hi[st->n_ranges] = hi;
    st->n_ranges++;
    for (int c = lo; c <= hi; c++) st->table[c] = 1;
}

static void stops_add(Stops *st, uint8_t c) {
    st->single[st->n_singles++] = c;
    st->table[c] = 1;
}

static void stops_ready(Stops *st) {
#if defined(__SSE2__)
    for (int k = 0; k < st->n_ranges; k++) {
        st->v_lo[k] = _mm_set1_epi8((char)st->lo[k]);
        st->v_span[k] = _mm_set1_epi8((char)(st->hi[k] - st->lo[k]));
    }
    for (int k = 0; k < st->n_singles; k++) st->v_single[k] = _mm_set1_epi8((char)st->single[k]);
#else
    (void)st;
#endif
}

/* Where Reader_extract stops: digits, '+' '@' ')' '}' '"' and newlines. */
static Stops EXTRACT_STOPS;

static void init_extract_stops(void) {
    stops_add_range(&EXTRACT_STOPS, '0', '9');
    const char *singles = "+@)}\"\n";
    for (const char *c = singles; *c; c++) stops_add(&EXTRACT_STOPS, (uint8_t)*c);
    stops_ready(&EXTRACT_STOPS);
}

/* The first offset >= p whose byte is a stop, or size. */
static inline Py_ssize_t next_stop(const Stops *st, const uint8_t *d, Py_ssize_t p,
                                   Py_ssize_t size) {
#if defined(__SSE2__)
    while (p + 16 <= size) {
        __m128i x = _mm_loadu_si128((const __m128i *)(d + p));
        __m128i m = _mm_setzero_si128();
        for (int k = 0; k < st->n_ranges; k++) {
            __m128i t = _mm_sub_epi8(x, st->v_lo[k]); /* in range: t <= span, unsigned */
            m = _mm_or_si128(m, _mm_cmpeq_epi8(_mm_min_epu8(t, st->v_span[k]), t));
        }
        for (int k = 0; k < st->n_singles; k++)
            m = _mm_or_si128(m, _mm_cmpeq_epi8(x, st->v_single[k]));
        int bits = _mm_movemask_epi8(m);
        if (bits) return p + __builtin_ctz((unsigned)bits);
        p += 16;
    }
#endif
    while (p < size && !st->table[d[p]]) p++;
    return p;
}

/* The PHRASE table and the extract stops, once, when the module is loaded. */
void reader_init_tables(void) {
    for (int c = 0; c < 256; c++)
        PHRASE[c] = (uint8_t)((IS_ALPHA_RAW(c) || c >= 0x80 || c == '-' || c == '\'') ? c
                              : c == ' ' ? '_' : ' ');
    init_extract_stops();
}

/* ---------------------------------------------------------------- CandidateReader */

typedef struct {
    char name[16];
    uint8_t len;
    uint8_t month;
} Month;

typedef struct {
    uint64_t hash;
    uint8_t len;    /* 0: empty slot */
    uint8_t member; /* in the name filter? 0: not known yet, 1: no, 2: yes */
    char key[GRAM_CACHE_KEY];
} GramSlot;

typedef struct {
    PyObject_HEAD
    HmacObject *hmac;
    int want[K_COUNT];
    int want_dates;
    /* domain || 0x00 of each strong kind (when wanted), of dates and of name grams */
    char prefix[K_COUNT][DOMAIN_MAX], date_prefix[DOMAIN_MAX], name_prefix[DOMAIN_MAX];
    size_t prefix_len[K_COUNT], date_prefix_len, name_prefix_len;
    char cc[8], trunk[8];
    int cc_len, trunk_len;
    /* compact_name(fold(chr(cp))) as UTF-8 for cp < FOLD_LIMIT; len 0xff: ask Python */
    uint8_t fold_len[FOLD_LIMIT];
    char fold_out[FOLD_LIMIT][FOLD_MAX];
    Month months[64];
    int n_months;
    PyObject *fold_word; /* callable(bytes) -> bytes: the whole word, folded by Python */
    uint64_t *date_cache; /* by day, 0 = not hashed yet */
    GramSlot *gram_cache;
    uint64_t *name_filter; /* sorted hashes (set_name_filter), n_filter of them */
    Py_ssize_t n_filter;
    /* set_tables: the set's strong and combo tables (sorted uint64 with their bucket index,
       see table.c) and its sorted birth dates, held (buffer views) for screen() */
    Py_buffer strong_h, strong_idx, combo_h, combo_idx, dob;
    int strong_shift, combo_shift, have_tables;
} ReaderObject;

#define DATE_YEARS 300 /* 1800..2099 */
#define DATE_SLOTS (DATE_YEARS * 12 * 31)

static void release_tables(ReaderObject *self) {
    if (!self->have_tables) return;
    PyBuffer_Release(&self->strong_h);
    PyBuffer_Release(&self->strong_idx);
    PyBuffer_Release(&self->combo_h);
    PyBuffer_Release(&self->combo_idx);
    PyBuffer_Release(&self->dob);
    self->have_tables = 0;
}

static void Reader_dealloc(ReaderObject *self) {
    release_tables(self);
    Py_XDECREF(self->hmac);
    Py_XDECREF(self->fold_word);
    PyMem_Free(self->date_cache);
    PyMem_Free(self->gram_cache);
    PyMem_Free(self->name_filter);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int copy_small(PyObject *obj, char *dst, int *len, const char *what) {
    char *p;
    Py_ssize_t n;
    if (PyBytes_AsStringAndSize(obj, &p, &n) < 0) return -1;
    if (n > 7) {
        PyErr_Format(PyExc_ValueError, "%s too long", what);
        return -1;
    }
    memcpy(dst, p, (size_t)n);
    *len = (int)n;
    return 0;
}

/* `domain` (bytes) || 0x00 into dst; -1 with an error when it does not fit. */
static int copy_domain(PyObject *domain, char *dst, size_t *len, const char *what) {
    char *p;
    Py_ssize_t n;
    if (PyBytes_AsStringAndSize(domain, &p, &n) < 0) return -1;
    if (n < 1 || (size_t)n >= DOMAIN_MAX || memchr(p, 0, (size_t)n)) {
        PyErr_Format(PyExc_ValueError, "%s: a hash domain of 1-%d bytes without NUL", what,
                     DOMAIN_MAX - 1);
        return -1;
    }
    memcpy(dst, p, (size_t)n);
    dst[n] = 0;
    *len = (size_t)n + 1;
    return 0;
}

static int Reader_init(ReaderObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"hmac", "domains", "dates", "cc", "trunk", "fold_table",
                             "months", "fold_word", "date_domain", "name_domain", NULL};
    PyObject *hmac, *domains, *cc, *trunk, *table, *months, *fold_word, *date_domain,
        *name_domain;
    int dates;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OpSSOOOSS:CandidateReader", kwlist,
                                     &HmacType, &hmac, &domains, &dates, &cc, &trunk, &table,
                                     &months, &fold_word, &date_domain, &name_domain))
        return -1;
    if (!hmac_ready((HmacObject *)hmac)) return -1;
    if (!PyCallable_Check(fold_word)) {
        PyErr_SetString(PyExc_TypeError, "fold_word must be callable");
        return -1;
    }
    Py_INCREF(hmac);
    Py_XSETREF(self->hmac, (HmacObject *)hmac);
    Py_INCREF(fold_word);
    Py_XSETREF(self->fold_word, fold_word);
    self->want_dates = dates;
    /* domains: the hash domain of each kind code, None for a kind not read */
    PyObject *dseq = PySequence_Fast(domains, "domains must be a sequence");
    if (!dseq) return -1;
    if (PySequence_Fast_GET_SIZE(dseq) != K_COUNT) {
        Py_DECREF(dseq);
        PyErr_Format(PyExc_ValueError, "domains must have %d entries", K_COUNT);
        return -1;
    }
    for (int k = 0; k < K_COUNT; k++) {
        PyObject *item = PySequence_Fast_GET_ITEM(dseq, k);
        self->want[k] = item != Py_None;
        if (self->want[k] &&
            copy_domain(item, self->prefix[k], &self->prefix_len[k], KIND_NAMES[k]) < 0) {
            Py_DECREF(dseq);
            return -1;
        }
    }
    Py_DECREF(dseq);
    if (copy_domain(date_domain, self->date_prefix, &self->date_prefix_len, "date_domain") < 0 ||
        copy_domain(name_domain, self->name_prefix, &self->name_prefix_len, "name_domain") < 0)
        return -1;
    if (copy_small(cc, self->cc, &self->cc_len, "cc") < 0) return -1;
    if (copy_small(trunk, self->trunk, &self->trunk_len, "trunk") < 0) return -1;

    /* fold table: a sequence of FOLD_LIMIT bytes objects (or None: ask Python) */
    PyObject *seq = PySequence_Fast(table, "fold_table must be a sequence");
    if (!seq) return -1;
    if (PySequence_Fast_GET_SIZE(seq) != FOLD_LIMIT) {
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "fold_table must have %d entries", FOLD_LIMIT);
        return -1;
    }
    for (int cp = 0; cp < FOLD_LIMIT; cp++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, cp);
        char *p;
        Py_ssize_t n;
        if (item == Py_None) {
            self->fold_len[cp] = 0xff;
            continue;
        }
        if (PyBytes_AsStringAndSize(item, &p, &n) < 0) {
            Py_DECREF(seq);
            return -1;
        }
        if (n > FOLD_MAX) {
            self->fold_len[cp] = 0xff;
            continue;
        }
        memcpy(self->fold_out[cp], p, (size_t)n);
        self->fold_len[cp] = (uint8_t)n;
    }
    Py_DECREF(seq);

    /* months: a dict {folded name (bytes): number} */
    if (!PyDict_Check(months)) {
        PyErr_SetString(PyExc_TypeError, "months must be a dict");
        return -1;
    }
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    self->n_months = 0;
    while (PyDict_Next(months, &pos, &key, &value)) {
        char *p;
        Py_ssize_t n;
        if (self->n_months >= 64) {
            PyErr_SetString(PyExc_ValueError, "months: at most 64 names");
            return -1;
        }
        if (PyBytes_AsStringAndSize(key, &p, &n) < 0) return -1;
        long m = PyLong_AsLong(value);
        if (m == -1 && PyErr_Occurred()) return -1;
        if (n >= 16 || m < 1 || m > 12) {
            PyErr_SetString(PyExc_ValueError, "months: names of at most 15 bytes, numbers 1-12");
            return -1;
        }
        Month *mo = &self->months[self->n_months++];
        memcpy(mo->name, p, (size_t)n);
        mo->len = (uint8_t)n;
        mo->month = (uint8_t)m;
    }

    release_tables(self); /* nor do tables */
    PyMem_Free(self->name_filter); /* a filter of hashes under another key means nothing */
    self->name_filter = NULL;
    self->n_filter = 0;
    PyMem_Free(self->date_cache);
    self->date_cache = PyMem_Calloc(DATE_SLOTS, sizeof(uint64_t));
    PyMem_Free(self->gram_cache);
    self->gram_cache = PyMem_Calloc((size_t)1 << GRAM_CACHE_BITS, sizeof(GramSlot));
    if (!self->date_cache || !self->gram_cache) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* -- output of one extract() call */

typedef struct {
    Buf strong_pos, strong_kind, strong_hash, date_pos, date_hash, email_spans, inline_rows,
        newlines;
    int json_members; /* '":' seen: the document may hold pretty-printed JSON */
    PyObject *slow_emails; /* list of (pos, local, domain) */
} Out;

static int emit(ReaderObject *r, Out *o, int kind, Py_ssize_t pos, const char *value, size_t len) {
    if (!r->want[kind]) return 0;
    uint64_t h = hmac_hash2(r->hmac, r->prefix[kind], r->prefix_len[kind], value, len);
    uint8_t k = (uint8_t)kind;
    if (buf_i64(&o->strong_pos, pos) < 0 || buf_put(&o->strong_kind, &k, 1) < 0 ||
        buf_u64(&o->strong_hash, h) < 0)
        return -1;
    return 0;
}

/* -- numbers: phone, NIR, card */

static int starts_with(const char *s, int n, const char *prefix, int plen) {
    return plen > 0 && n >= plen && memcmp(s, prefix, (size_t)plen) == 0;
}

/* The readings of `digits` as one identifier (candidates.py: "_readings"). */
/* France's overseas departments are dialled with its trunk 0 but have country codes of
   their own: "0692 12 34 56" is +262 692 12 34 56 (identifiers.NATIONAL_PEERS, where
   phonenumbers decides; these three-digit prefixes are the ones no French number has). */
static const char *overseas_cc(const ReaderObject *r, const char *digits, int n) {
    static const char *const MAP[][2] = {
        {"262", "262"}, {"639", "262"}, {"692", "262"}, {"693", "262"}, {"590", "590"},
        {"690", "590"}, {"691", "590"}, {"594", "594"}, {"694", "594"}, {"696", "596"},
        {"697", "596"}};
    if (n != 10 || r->cc_len != 2 || memcmp(r->cc, "33", 2) != 0) return NULL;
    for (size_t k = 0; k < sizeof MAP / sizeof MAP[0]; k++)
        if (memcmp(digits + 1, MAP[k][0], 3) == 0) return MAP[k][1];
    return NULL;
}

static int readings(ReaderObject *r, Out *o, Py_ssize_t pos, const char *digits, int n,
                    int plus) {
    char buf[64];
    if (plus) {
        if (n >= 8 && n <= 15) {
            buf[0] = '+';
            memcpy(buf + 1, digits, (size_t)n);
            return emit(r, o, K_PHONE, pos, buf, (size_t)n + 1);
        }
        return 0;
    }
    if (r->want[K_PHONE]) {
        int len = -1;
        if (n >= 10 && n <= 17 && digits[0] == '0' && digits[1] == '0') {
            buf[0] = '+';
            memcpy(buf + 1, digits + 2, (size_t)n - 2);
            len = n - 1;
        } else if (starts_with(digits, n, r->trunk, r->trunk_len) && n >= 9 && n <= 12) {
            const char *cc = r->trunk_len == 1 ? overseas_cc(r, digits, n) : NULL;
            int cc_len = cc ? 3 : r->cc_len;
            buf[0] = '+';
            memcpy(buf + 1, cc ? cc : r->cc, (size_t)cc_len);
            memcpy(buf + 1 + cc_len, digits + r->trunk_len, (size_t)(n - r->trunk_len));
            len = 1 + cc_len + n - r->trunk_len;
        } else if (starts_with(digits, n, r->cc, r->cc_len) && n >= 10 && n <= 13) {
            buf[0] = '+';
            memcpy(buf + 1, digits, (size_t)n);
            len = n + 1;
        } else if (n == 9 && digits[0] != '0') {
            buf[0] = '+';
            memcpy(buf + 1, r->cc, (size_t)r->cc_len);
            memcpy(buf + 1 + r->cc_len, digits, 9);
            len = 1 + r->cc_len + 9;
        }
        if (len > 0 && emit(r, o, K_PHONE, pos, buf, (size_t)len) < 0) return -1;
    }
    if ((n == 13 || n == 15) && NIR_FIRST(digits[0]))
        if (emit(r, o, K_NIR, pos, digits, 13) < 0) return -1;
    if (n >= 12 && n <= 19)
        if (emit(r, o, K_CARD, pos, digits, (size_t)n) < 0) return -1;
    return 0;
}

/* Digit-group layouts of identifiers written with separators; the last (phone 2-2-2-2-2) only
   counts at the start of a run or after a space. */
static const int LAYOUTS[5][8] = {
    {6, 1, 2, 2, 2, 3, 3}, {7, 1, 2, 2, 2, 3, 3, 2}, {4, 4, 4, 4, 4}, {5, 4, 4, 4, 4, 3},
    {5, 2, 2, 2, 2, 2}};

/* 0: not a layout, 1: a layout read anywhere, 2: a layout read at a run start only */
static int layout_of(const int *lengths, int count) {
    for (int k = 0; k < 5; k++) {
        if (LAYOUTS[k][0] != count) continue;
        if (memcmp(LAYOUTS[k] + 1, lengths, sizeof(int) * (size_t)count) == 0)
            return k == 4 ? 2 : 1;
    }
    return 0;
}

typedef struct {
    char digits[MAX_NUMBER_DIGITS + 1];
    int n;
    int groups;
    int start[MAX_NUMBER_DIGITS]; /* first digit of each group */
    int length[MAX_NUMBER_DIGITS];
    char sep[MAX_NUMBER_DIGITS]; /* separator after each group */
} Run;

/* Windows of digit groups laid out like one identifier ("1985 06 12 34 56 78"). */
static int windows(ReaderObject *r, Out *o, Py_ssize_t pos, const Run *run) {
    int ng = run->groups;
    if (run->n <= 19 && layout_of(run->length, ng)) return 0; /* read whole already */
    int longest = 0, c2 = 0, c3 = 0, c4 = 0;
    for (int g = 0; g < ng; g++) {
        int l = run->length[g];
        if (l > longest) longest = l;
        c2 += l == 2;
        c3 += l == 3;
        c4 += l == 4;
    }
    if (longest < 9 && c2 < 5 && c3 < 2 && c4 < 4) return 0; /* time stamps and the like */
    for (int i = 0; i < ng; i++) {
        int inside = i > 0 && run->sep[i - 1] != ' ';
        int stop = i + 7 < ng ? i + 7 : ng;
        for (int j = i + 1; j <= stop; j++) {
            if (j - i > 1 && run->sep[j - 2] != run->sep[i]) break;
            if (i > 0 && run->sep[i - 1] == '.') break; /* a decimal's fraction: no start */
            if (j - i == 1 && ng > 1 && run->length[i] >= 9) {
                if (readings(r, o, pos, run->digits + run->start[i], run->length[i], 0) < 0)
                    return -1;
                continue;
            }
            int layout = layout_of(run->length + i, j - i);
            if (layout && !(inside && layout == 2)) {
                int len = run->start[j - 1] + run->length[j - 1] - run->start[i];
                if (readings(r, o, pos, run->digits + run->start[i], len, 0) < 0) return -1;
            }
        }
    }
    return 0;
}

/* A run of digits with single ' .-' separators at data[p] ('+' or digit): up to 41 digits.
   Returns the end offset, or -1 when the run has fewer than 9 digits. */
static Py_ssize_t read_number(ReaderObject *r, Out *o, const uint8_t *d, Py_ssize_t size,
                              Py_ssize_t p, int *error) {
    Run run;
    Py_ssize_t i = p;
    int plus = d[i] == '+';
    if (plus) i++;
    run.n = 0;
    run.groups = 1;
    run.start[0] = 0;
    run.length[0] = 0;
    run.sep[0] = 0;
    Py_ssize_t end = i;
    while (i < size && run.n < MAX_NUMBER_DIGITS) {
        uint8_t c = d[i];
        if (IS_DIGIT(c)) {
            run.digits[run.n++] = (char)c;
            run.length[run.groups - 1]++;
            i++;
            end = i;
        } else if ((CLS[c] & C_SEP) && i + 1 < size && IS_DIGIT(d[i + 1]) && run.n > 0) {
            run.sep[run.groups - 1] = (char)c;
            run.start[run.groups] = run.n;
            run.length[run.groups] = 0;
            run.sep[run.groups] = 0;
            run.groups++;
            i++;
        } else {
            break;
        }
    }
    if (run.n < 9) return -1;
    if (run.n <= 19 && readings(r, o, p, run.digits, run.n, plus) < 0) goto fail;
    if (!plus && run.groups > 1) {
        int n = run.n;
        if (n > 19 || !(n == 9 || n == 10 || n == 13 || n == 15 || n == 16))
            if (windows(r, o, p, &run) < 0) goto fail;
    }
    return end;
fail:
    *error = 1;
    return end;
}

/* Where a number may start: not glued to a letter, digit, '_' or '+' ("AB123..." is no
   phone), not after a decimal point ("4.4995...") nor after a '-' glued to a word
   ("blk_-6952..."), but "x 0612..." and "tel:+33..." are. Same rule as the detectors
   (detectors.py, DIGITS_START and the triggers). */
static int number_context_ok(const uint8_t *d, Py_ssize_t p) {
    if (p == 0) return 1;
    uint8_t c = d[p - 1];
    if (c == '\n') return 1;
    if (!(IS_ALNUM(c) || c == '_' || c == '+' || (CLS[c] & C_SEP))) return 1;
    if ((CLS[c] & C_SEP) && p >= 2 && !IS_DIGIT(d[p - 2]) &&
        !(c == '-' && (IS_ALNUM(d[p - 2]) || d[p - 2] == '_')))
        return 1;
    return p == 1 && (CLS[c] & C_SEP); /* " 0612..." at the very start */
}

/* -- dates */

static int digit_run(const uint8_t *d, Py_ssize_t size, Py_ssize_t p) {
    int n = 0;
    while (p + n < size && IS_DIGIT(d[p + n])) n++;
    return n;
}

static int num(const uint8_t *d, Py_ssize_t p, int n) {
    int v = 0;
    for (int k = 0; k < n; k++) v = v * 10 + (d[p + k] - '0');
    return v;
}

static int is_date_sep(uint8_t c) { return c == '-' || c == '/' || c == '.'; }

static int year_ok(const uint8_t *d, Py_ssize_t p) { /* (?:1[89]|20)[0-9]{2} */
    return (d[p] == '1' && (d[p + 1] == '8' || d[p + 1] == '9')) ||
           (d[p] == '2' && d[p + 1] == '0');
}

static int valid_day(int y, int m, int day) {
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || day < 1) return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return day <= days[m - 1] + (m == 2 && leap);
}

/* Fold a month word (ASCII letters and 2-byte UTF-8 sequences of U+00C0..U+00FF) and look it up. */
static int month_number(ReaderObject *r, const uint8_t *w, Py_ssize_t len) {
    char folded[40];
    int n = 0;
    for (Py_ssize_t i = 0; i < len;) {
        uint8_t c = w[i];
        if (n > 15) return 0; /* longer than any month name (Month.name[16]) */
        if (c < 0x80) {
            folded[n++] = (char)(c | 0x20);
            i++;
        } else {
            int cp = ((c & 0x1f) << 6) | (w[i + 1] & 0x3f);
            uint8_t fl = r->fold_len[cp];
            if (fl == 0 || fl == 0xff || n + fl > 38) return 0;
            for (int k = 0; k < fl; k++) {
                if ((uint8_t)r->fold_out[cp][k] >= 0x80) return 0; /* no month has it */
                folded[n++] = r->fold_out[cp][k];
            }
            i += 2;
        }
    }
    for (int k = 0; k < r->n_months; k++)
        if (r->months[k].len == n && memcmp(r->months[k].name, folded, (size_t)n) == 0)
            return r->months[k].month;
    return 0;
}

/* Match one of the written date forms at data[p] (a digit run start). Returns the end offset
   of the form that matched (-1: none) and the date in y, m, day (all 0 when it is no valid day). */
static Py_ssize_t match_date(ReaderObject *r, const uint8_t *d, Py_ssize_t size, Py_ssize_t p,
                             int *y, int *m, int *day) {
    int a = digit_run(d, size, p);
    *y = *m = *day = 0;
    /* 1985-03-12 */
    if (a == 4 && year_ok(d, p) && p + 4 < size && is_date_sep(d[p + 4])) {
        Py_ssize_t q = p + 5;
        int b = digit_run(d, size, q);
        if (b >= 1 && b <= 2 && q + b < size && is_date_sep(d[q + b])) {
            Py_ssize_t s = q + b + 1;
            int c = digit_run(d, size, s);
            if (c >= 1 && c <= 2) {
                *y = num(d, p, 4);
                *m = num(d, q, b);
                *day = num(d, s, c);
                if (!valid_day(*y, *m, *day)) *y = *m = *day = 0;
                return s + c;
            }
        }
    }
    if (a >= 1 && a <= 2 && p + a < size) {
        Py_ssize_t q = p + a;
        /* 12/03/1985 */
        if (is_date_sep(d[q])) {
            q++;
            int b = digit_run(d, size, q);
            if (b >= 1 && b <= 2 && q + b < size && is_date_sep(d[q + b])) {
                Py_ssize_t s = q + b + 1;
                if (digit_run(d, size, s) == 4 && year_ok(d, s)) {
                    *y = num(d, s, 4);
                    *m = num(d, q, b);
                    *day = num(d, p, a);
                    if (!valid_day(*y, *m, *day)) *y = *m = *day = 0;
                    return s + 4;
                }
            }
            q = p + a;
        }
        /* 12 mars 1985, 1er février 1985, 12 March 1985 */
        if (q + 2 <= size) {
            static const char *const suffixes[] = {"er", "st", "nd", "rd", "th"};
            for (int k = 0; k < 5; k++)
                if (q + 2 <= size && d[q] == suffixes[k][0] && d[q + 1] == suffixes[k][1]) {
                    q += 2;
                    break;
                }
        }
        int spaces = 0;
        while (q + spaces < size && d[q + spaces] == ' ') spaces++;
        if (spaces >= 1 && spaces <= 2) {
            Py_ssize_t w = q + spaces, e = w;
            int letters = 0;
            for (;;) {
                if (e < size && IS_ALPHA(d[e])) {
                    e++;
                } else if (e + 1 < size && d[e] == 0xc3 && d[e + 1] >= 0x80 && d[e + 1] <= 0xbf) {
                    e += 2;
                } else {
                    break;
                }
                letters++;
            }
            if (letters >= 3 && letters <= 9) {
                Py_ssize_t t = e;
                if (t < size && d[t] == '.') t++;
                if (t < size && d[t] == ',') t++;
                int sp = 0;
                while (t + sp < size && d[t + sp] == ' ') sp++;
                if (sp >= 1 && sp <= 2 && digit_run(d, size, t + sp) == 4 && year_ok(d, t + sp)) {
                    int month = month_number(r, d + w, e - w);
                    if (month) {
                        *y = num(d, t + sp, 4);
                        *m = month;
                        *day = num(d, p, a);
                        if (!valid_day(*y, *m, *day)) *y = *m = *day = 0;
                    }
                    return t + sp + 4;
                }
            }
        }
    }
    /* 19850312 */
    if (a == 8 && ((d[p] == '1' && d[p + 1] == '9') || (d[p] == '2' && d[p + 1] == '0')) &&
        (d[p + 4] == '0' || d[p + 4] == '1') && d[p + 6] >= '0' && d[p + 6] <= '3') {
        *y = num(d, p, 4);
        *m = num(d, p + 4, 2);
        *day = num(d, p + 6, 2);
        if (!valid_day(*y, *m, *day)) *y = *m = *day = 0;
        return p + 8;
    }
    return -1;
}

static uint64_t date_hash(ReaderObject *r, int y, int m, int day) {
    size_t slot = (size_t)(y - 1800) * 372 + (size_t)(m - 1) * 31 + (size_t)(day - 1);
    uint64_t h = r->date_cache[slot];
    if (!h) {
        char iso[10]; /* YYYY-MM-DD; y in 1800..2099 (see match_date) */
        iso[0] = (char)('0' + y / 1000);
        iso[1] = (char)('0' + y / 100 % 10);
        iso[2] = (char)('0' + y / 10 % 10);
        iso[3] = (char)('0' + y % 10);
        iso[4] = iso[7] = '-';
        iso[5] = (char)('0' + m / 10);
        iso[6] = (char)('0' + m % 10);
        iso[8] = (char)('0' + day / 10);
        iso[9] = (char)('0' + day % 10);
        h = r->date_cache[slot] = hmac_hash2(r->hmac, r->date_prefix, r->date_prefix_len, iso, 10);
    }
    return h;
}

/* -- IBAN and Corsican NIR */

static const struct {
    char cc[3];
    int len;
} IBAN_LENGTHS[] = {
    {"FR", 27}, {"MC", 27}, {"DE", 22}, {"BE", 16}, {"LU", 20}, {"CH", 21}, {"IT", 27},
    {"ES", 24}, {"PT", 25}, {"NL", 18}, {"GB", 22}, {"IE", 22}, {"AT", 20}, {"PL", 28},
    {"SE", 24}, {"DK", 18}, {"FI", 18}, {"NO", 15}, {"GR", 27}, {"CZ", 24}, {"RO", 24},
    {"HU", 28}, {"MA", 28}, {"TN", 24}, {"DZ", 26}, {"SN", 28}, {"CI", 28}, {"GP", 27},
    {"MQ", 27}, {"RE", 27}, {"GF", 27}, {"NC", 27}, {"PF", 27}, {"PM", 27}, {"YT", 27}};

/* An IBAN at data[p] (p: an upper-case letter not glued to a letter or digit). */
static Py_ssize_t read_iban(ReaderObject *r, Out *o, const uint8_t *d, Py_ssize_t size,
                            Py_ssize_t p, int *error) {
    /* at least two groups of four after the check digits, each maybe after one space */
    Py_ssize_t q = iban_head_end(d, size, p);
    if (q < 0) return -1;
    char compact[40];
    memcpy(compact, d + p, 4);
    int n = 4;
    Py_ssize_t e = p + 4;
    while (n < 34) {
        if (e < size && IS_IBAN_CHAR(d[e])) {
            compact[n++] = (char)d[e++];
        } else if (e + 1 < size && d[e] == ' ' && IS_IBAN_CHAR(d[e + 1])) {
            compact[n++] = (char)d[e + 1];
            e += 2;
        } else {
            break;
        }
    }
    if (n < 15) return -1;
    for (size_t k = 0; k < sizeof IBAN_LENGTHS / sizeof IBAN_LENGTHS[0]; k++) {
        if (compact[0] == IBAN_LENGTHS[k].cc[0] && compact[1] == IBAN_LENGTHS[k].cc[1]) {
            if (n < IBAN_LENGTHS[k].len) return e; /* too short for its country */
            n = IBAN_LENGTHS[k].len;
            break;
        }
    }
    if (emit(r, o, K_IBAN, p, compact, (size_t)n) < 0) *error = 1;
    return e;
}

/* A Corsican NIR ("2 85 03 2A 123 456 78") at data[p], a digit run start. */
static Py_ssize_t read_nir_2ab(ReaderObject *r, Out *o, const uint8_t *d, Py_ssize_t size,
                               Py_ssize_t p, int *error) {
    static const char layout[] = "1s2s2s#s3s3"; /* s: optional ' ' or '.', #: 2A/2B */
    char compact[16];
    int n = 0;
    Py_ssize_t q = p;
    if (d[p] != '1' && d[p] != '2') return -1;
    for (const char *l = layout; *l; l++) {
        if (*l == 's') {
            if (q < size && (d[q] == ' ' || d[q] == '.')) q++;
        } else if (*l == '#') {
            if (q + 1 >= size || d[q] != '2') return -1;
            uint8_t c = d[q + 1];
            if (c != 'A' && c != 'B' && c != 'a' && c != 'b') return -1;
            compact[n++] = '2';
            compact[n++] = (char)(c & ~0x20);
            q += 2;
        } else {
            for (int k = 0; k < *l - '0'; k++, q++) {
                if (q >= size || !IS_DIGIT(d[q])) return -1;
                compact[n++] = (char)d[q];
            }
        }
    }
    /* optional key, then no digit may follow */
    Py_ssize_t k = q;
    if (k < size && (d[k] == ' ' || d[k] == '.')) k++;
    if (k + 2 <= size && IS_DIGIT(d[k]) && IS_DIGIT(d[k + 1]) && !(k + 2 < size && IS_DIGIT(d[k + 2])))
        q = k + 2;
    else if (q < size && IS_DIGIT(d[q]))
        return -1;
    if (emit(r, o, K_NIR, p, compact, 13) < 0) *error = 1;
    return q;
}

/* -- e-mail addresses */

static int email_at(ReaderObject *r, Out *o, const uint8_t *d, Py_ssize_t size, Py_ssize_t at) {
    if (at == 0 || !(CLS[d[at - 1]] & C_LOCAL)) return 0; /* "@user" mentions */
    Py_ssize_t start = at;
    while (start > 0 && at - start < 64 && (CLS[d[start - 1]] & C_LOCAL)) start--;
    /* domain: [A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+[A-Za-z]{2,24}, within 256 bytes */
    Py_ssize_t limit = at + 256 < size ? at + 256 : size;
    Py_ssize_t s = at + 1;
    if (s >= limit || !IS_ALNUM(d[s])) return 0;
    Py_ssize_t best = -1, label = s + 1;
    for (Py_ssize_t q = s + 1; q < limit && (CLS[d[q]] & C_DOMAIN); q++) {
        if (d[q] != '.') continue;
        if (q - label > 62) break; /* a label too long: no dot past it is reachable */
        label = q + 1;
        Py_ssize_t t = q + 1;
        while (t < limit && t - (q + 1) < 24 && IS_ALPHA(d[t])) t++;
        if (t - (q + 1) >= 2) best = t;
    }
    if (best < 0) return 0;
    if (buf_i64(&o->email_spans, start) < 0 || buf_i64(&o->email_spans, best) < 0) return -1;
    if (!r->want[K_EMAIL]) return 0;
    Py_ssize_t ls = start;
    while (ls < at && d[ls] == '.') ls++;
    int ascii = 1;
    for (Py_ssize_t q = ls; q < at; q++)
        if (d[q] >= 0x80) ascii = 0;
    if (!ascii) { /* Unicode lower-casing: Python does it */
        PyObject *item = Py_BuildValue("(ny#y#)", start, d + start, (Py_ssize_t)(at - start),
                                       d + at + 1, (Py_ssize_t)(best - at - 1));
        if (!item) return -1;
        int rc = PyList_Append(o->slow_emails, item);
        Py_DECREF(item);
        return rc;
    }
    char email[400];
    size_t n = 0;
    for (Py_ssize_t q = ls; q < best; q++) {
        uint8_t c = d[q];
        email[n++] = (char)((CLS[c] & C_UPPER) ? c | 0x20 : c);
    }
    return emit(r, o, K_EMAIL, start, email, n);
}

/* -- the pass over a document */

/* Methods called on a reader whose __init__ failed (or never ran) raise instead of crashing. */
static int reader_ready(ReaderObject *self) {
    if (self->hmac && self->date_cache && self->gram_cache && self->fold_word) return 1;
    PyErr_SetString(PyExc_RuntimeError, "CandidateReader is not initialized");
    return 0;
}

static void out_free(Out *o) {
    Py_CLEAR(o->slow_emails);
    buf_free(&o->strong_pos);
    buf_free(&o->strong_kind);
    buf_free(&o->strong_hash);
    buf_free(&o->date_pos);
    buf_free(&o->date_hash);
    buf_free(&o->email_spans);
    buf_free(&o->inline_rows);
    buf_free(&o->newlines);
}

/* The one pass over a document (extract and screen): every candidate into *o (zeroed by the
   caller). Returns 0, or -1 with a Python error. */
static int read_doc(ReaderObject *self, const uint8_t *d, Py_ssize_t size, Out *o) {
    int error = 0;
    o->slow_emails = PyList_New(0);
    if (!o->slow_emails) return -1;
    int numbers = self->want[K_PHONE] || self->want[K_NIR] || self->want[K_CARD];
    int nir2ab = self->want[K_NIR], ibans = self->want[K_IBAN], dates = self->want_dates;
    Py_ssize_t num_end = 0, date_end = 0, iban_end = 0, nir_end = 0;
    Py_ssize_t p = 0;
    while (!error) {
        p = next_stop(&EXTRACT_STOPS, d, p, size); /* most bytes: nothing to read */
        if (p >= size) break;
        uint8_t c = d[p];
        if (IS_DIGIT(c)) {
            if (p == 0 || !IS_DIGIT(d[p - 1])) { /* where a digit run starts */
                /* an IBAN's check digits start a run after its two capitals: reading IBANs
                   here spares a stop at every capital letter of a document */
                Py_ssize_t s = p - 2;
                if (ibans && s >= iban_end && (CLS[d[p - 1]] & C_UPPER) &&
                    (CLS[d[s]] & C_UPPER) && (s == 0 || !IS_ALNUM(d[s - 1]))) {
                    Py_ssize_t e = read_iban(self, o, d, size, s, &error);
                    if (e > 0) iban_end = e;
                }
                if (dates && p >= date_end) {
                    int y, m, day;
                    Py_ssize_t e = match_date(self, d, size, p, &y, &m, &day);
                    if (e > 0 && y) {
                        date_end = e;
                        if (buf_i64(&o->date_pos, p) < 0 ||
                            buf_u64(&o->date_hash, date_hash(self, y, m, day)) < 0)
                            error = 1;
                    }
                }
                if (nir2ab && p >= nir_end && number_context_ok(d, p)) {
                    Py_ssize_t e = read_nir_2ab(self, o, d, size, p, &error);
                    if (e > 0) nir_end = e;
                }
                if (numbers && p >= num_end && (p == 0 || d[p - 1] != '+') &&
                    number_context_ok(d, p)) {
                    Py_ssize_t e = read_number(self, o, d, size, p, &error);
                    if (e > 0) num_end = e;
                }
            }
            p++;
            while (p < size && IS_DIGIT(d[p])) p++; /* no candidate starts inside a run */
            continue;
        }
        if (c == '\n') {
            if (buf_i64(&o->newlines, p) < 0) error = 1;
        } else if (c == '"') {
            if (p + 1 < size && d[p + 1] == ':') o->json_members = 1;
        } else if (c == '+') {
            if (numbers && p >= num_end && p + 1 < size && IS_DIGIT(d[p + 1]) &&
                number_context_ok(d, p)) {
                Py_ssize_t e = read_number(self, o, d, size, p, &error);
                if (e > 0) num_end = e;
            }
        } else if (c == '@') {
            if (email_at(self, o, d, size, p) < 0) error = 1;
        } else if ((c == ')' || c == '}') && p + 2 < size && d[p + 1] == ',') {
            /* "),(" "), (" "},{" "}, {": records of an SQL extended INSERT or a JSON array */
            uint8_t open = c == ')' ? '(' : '{';
            if (d[p + 2] == open || (d[p + 2] == ' ' && p + 3 < size && d[p + 3] == open))
                if (buf_i64(&o->inline_rows, p) < 0) error = 1;
        }
        p++;
    }
    if (error || PyErr_Occurred()) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* The extract() tuple of a read document. */
static PyObject *out_tuple(Out *o) {
    return Py_BuildValue("(NNNNNNONNO)", buf_bytes(&o->strong_pos), buf_bytes(&o->strong_kind),
                         buf_bytes(&o->strong_hash), buf_bytes(&o->date_pos),
                         buf_bytes(&o->date_hash), buf_bytes(&o->email_spans), o->slow_emails,
                         buf_bytes(&o->inline_rows), buf_bytes(&o->newlines),
                         o->json_members ? Py_True : Py_False);
}

static PyObject *Reader_extract(ReaderObject *self, PyObject *arg) {
    Py_buffer view;
    if (!reader_ready(self)) return NULL;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    Out o;
    memset(&o, 0, sizeof o);
    PyObject *result = NULL;
    if (read_doc(self, (const uint8_t *)view.buf, view.len, &o) == 0) result = out_tuple(&o);
    out_free(&o);
    PyBuffer_Release(&view);
    return result;
}

/* ---------------------------------------------------------------- name grams */

/* Slot of a gram in the cache: a multiply-xorshift over 8-byte chunks (not keyed; a collision
   only costs a cache miss, the key bytes are compared). */
static uint32_t gram_slot(const char *s, size_t n) {
    uint64_t h = (uint64_t)n * 0x9E3779B97F4A7C15ull;
    while (n > 0) {
        uint64_t chunk = 0;
        size_t take = n < 8 ? n : 8;
        memcpy(&chunk, s, take);
        h = (h ^ chunk) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
        s += take;
        n -= take;
    }
    return (uint32_t)(h >> 17) & ((1u << GRAM_CACHE_BITS) - 1);
}

static int sorted_has(const uint64_t *t, Py_ssize_t n, uint64_t q) {
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        if (t[mid] < q)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && t[lo] == q;
}

/* The hash of a name gram, through its cache slot (NULL: too long to cache); with `filtered`,
   0 when it is not in the name filter. */
static uint64_t name_hash(ReaderObject *r, GramSlot *slot, const char *gram, size_t len,
                          int filtered) {
    uint64_t h;
    if (slot && slot->len == len && memcmp(slot->key, gram, len) == 0) {
        h = slot->hash;
        goto filter;
    }
    h = hmac_hash2(r->hmac, r->name_prefix, r->name_prefix_len, gram, len);
    if (slot) {
        slot->len = (uint8_t)len;
        slot->member = 0;
        memcpy(slot->key, gram, len);
        slot->hash = h;
    }
filter:
    if (!filtered) return h;
    if (slot) {
        if (!slot->member) slot->member = sorted_has(r->name_filter, r->n_filter, h) ? 2 : 1;
        return slot->member == 2 ? h : 0;
    }
    return sorted_has(r->name_filter, r->n_filter, h) ? h : 0;
}

/* Append compact_name(fold(word)) to *out. Returns 0, or -1 on a Python error. */
static int fold_word(ReaderObject *r, const uint8_t *w, Py_ssize_t len, Buf *out) {
    size_t mark = out->len;
    /* a code point of 1 or 2 bytes folds to at most FOLD_MAX bytes */
    if (buf_reserve(out, (size_t)len * FOLD_MAX) < 0) return -1;
    char *dst = out->p + out->len;
    for (Py_ssize_t i = 0; i < len;) {
        uint8_t c = w[i];
        int cp, width = 1;
        if (c < 0x80) {
            cp = c;
        } else if ((c & 0xe0) == 0xc0 && i + 1 < len && (w[i + 1] & 0xc0) == 0x80 && c >= 0xc2) {
            cp = ((c & 0x1f) << 6) | (w[i + 1] & 0x3f);
            width = 2;
        } else {
            goto python;
        }
        if (cp >= FOLD_LIMIT) goto python;
        uint8_t n = r->fold_len[cp];
        if (n == 1) {
            *dst++ = r->fold_out[cp][0];
        } else if (n) {
            if (n == 0xff) goto python;
            memcpy(dst, r->fold_out[cp], n);
            dst += n;
        }
        i += width;
    }
    out->len = (size_t)(dst - out->p);
    return 0;
python:
    out->len = mark;
    {
        PyObject *folded = PyObject_CallFunction(r->fold_word, "y#", w, len);
        if (!folded) return -1;
        char *p;
        Py_ssize_t n;
        int rc = PyBytes_AsStringAndSize(folded, &p, &n);
        if (rc == 0) rc = buf_put(out, p, (size_t)n);
        Py_DECREF(folded);
        return rc;
    }
}

static int is_space(uint8_t c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\x0b' || c == '\x0c';
}

static int is_strip(uint8_t c) { return c == ' ' || c == '_' || c == '-' || c == '\''; }

/* Grams of one phrase ("Jean_Pierre", "DUPONT"): 1- to 3-word, compacted, hashed. The words
   are folded one after the other into `words`, so a gram is a slice of it; the cache slots of
   all grams are found and prefetched first (the cache is larger than the CPU's L2: one miss
   after the other was most of the time here), then read. */
static int phrase_grams(ReaderObject *r, const uint8_t *s, Py_ssize_t len, int64_t row,
                        int filtered, Buf *words, Buf *hashes, Buf *rows) {
    while (len > 0 && is_strip(s[0])) s++, len--;
    while (len > 0 && is_strip(s[len - 1])) len--;
    size_t off[MAX_WORDS_PER_PHRASE + 1];
    int nw = 0, parts = 0;
    words->len = 0;
    off[0] = 0;
    Py_ssize_t a = 0;
    while (a <= len && parts < MAX_WORDS_PER_PHRASE) {
        Py_ssize_t b = a;
        while (b < len && s[b] != '_') b++;
        parts++;
        if (fold_word(r, s + a, b - a, words) < 0) return -1;
        if (words->len > off[nw]) off[++nw] = words->len;
        a = b + 1;
    }
    GramSlot *slots[MAX_WORDS_PER_PHRASE * NGRAM];
    int n = 0;
    for (int i = 0; i < nw; i++)
        for (int j = i; j < nw && j < i + NGRAM; j++, n++) {
            size_t glen = off[j + 1] - off[i];
            slots[n] = glen <= GRAM_CACHE_KEY
                           ? &r->gram_cache[gram_slot(words->p + off[i], glen)] : NULL;
            if (slots[n]) __builtin_prefetch(slots[n]);
        }
    n = 0;
    for (int i = 0; i < nw; i++)
        for (int j = i; j < nw && j < i + NGRAM; j++, n++) {
            uint64_t h = name_hash(r, slots[n], words->p + off[i], off[j + 1] - off[i], filtered);
            if (!h) continue;
            if (buf_u64(hashes, h) < 0 || buf_i64(rows, row) < 0) return -1;
        }
    return 0;
}

static PyObject *Reader_name_grams(ReaderObject *self, PyObject *args) {
    Py_buffer view, starts, ends;
    int filtered = 0;
    if (!reader_ready(self)) return NULL;
    if (!PyArg_ParseTuple(args, "y*y*y*|p:name_grams", &view, &starts, &ends, &filtered))
        return NULL;
    PyObject *result = NULL;
    Buf words = {0}, hashes = {0}, rows = {0};
    if (starts.len != ends.len || starts.len % 8) {
        PyErr_SetString(PyExc_ValueError, "starts and ends must be int64 arrays of one size");
        goto done;
    }
    const uint8_t *d = (const uint8_t *)view.buf;
    Py_ssize_t n_rows = starts.len / 8;
    for (Py_ssize_t i = 0; i < n_rows; i++) {
        int64_t start, end;
        memcpy(&start, (char *)starts.buf + 8 * i, 8);
        memcpy(&end, (char *)ends.buf + 8 * i, 8);
        if (start < 0) start = 0;
        if (end > view.len) end = view.len;
        if (start >= end) continue;
        if (end - start > MAX_ROW) end = start + MAX_ROW;
        int phrases = 0;
        Py_ssize_t p = start;
        while (p < end && phrases < MAX_PHRASES_PER_ROW) {
            while (p < end && is_space(d[p])) p++;
            if (p >= end) break;
            Py_ssize_t q = p;
            while (q < end && !is_space(d[q])) q++;
            phrases++;
            if (phrase_grams(self, d + p, q - p, i, filtered, &words, &hashes, &rows) < 0)
                goto done;
            p = q;
        }
    }
    result = Py_BuildValue("(NN)", buf_bytes(&hashes), buf_bytes(&rows));
done:
    buf_free(&words);
    buf_free(&hashes);
    buf_free(&rows);
    PyBuffer_Release(&view);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&ends);
    return result;
}

static PyObject *Reader_set_name_filter(ReaderObject *self, PyObject *arg) {
    Py_buffer table;
    if (!reader_ready(self)) return NULL;
    if (PyObject_GetBuffer(arg, &table, PyBUF_SIMPLE) < 0) return NULL;
    if (table.len % 8) {
        PyBuffer_Release(&table);
        PyErr_SetString(PyExc_ValueError, "the name filter must be a sorted uint64 array");
        return NULL;
    }
    uint64_t *copy = PyMem_Malloc(table.len ? (size_t)table.len : 1);
    if (!copy) {
        PyBuffer_Release(&table);
        return PyErr_NoMemory();
    }
    memcpy(copy, table.buf, (size_t)table.len);
    for (Py_ssize_t k = 1; k < table.len / 8; k++)
        if (copy[k - 1] > copy[k]) {
            PyMem_Free(copy);
            PyBuffer_Release(&table);
            PyErr_SetString(PyExc_ValueError, "the name filter must be sorted");
            return NULL;
        }
    PyMem_Free(self->name_filter);
    self->name_filter = copy;
    self->n_filter = table.len / 8;
    PyBuffer_Release(&table);
    for (size_t k = 0; k < ((size_t)1 << GRAM_CACHE_BITS); k++) self->gram_cache[k].member = 0;
    Py_RETURN_NONE;
}

/* The phrase view: letters and UTF-8 bytes kept, '-' and '\'' kept, ' ' -> '_', everything
   else -> ' '; e-mail spans (int64 start, end pairs) blanked. */
static PyObject *Reader_phrase_view(ReaderObject *self, PyObject *args) {
    (void)self;
    Py_buffer data, spans;
    if (!PyArg_ParseTuple(args, "y*y*:phrase_view", &data, &spans)) return NULL;
    PyObject *out = NULL;
    if (spans.len % 16) {
        PyErr_SetString(PyExc_ValueError, "spans must be int64 (start, end) pairs");
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, data.len);
    if (!out) goto done;
    uint8_t *v = (uint8_t *)PyBytes_AS_STRING(out);
    const uint8_t *d = (const uint8_t *)data.buf;
    for (Py_ssize_t i = 0; i < data.len; i++) v[i] = PHRASE[d[i]];
    for (Py_ssize_t k = 0; k < spans.len / 16; k++) {
        int64_t se[2];
        memcpy(se, (char *)spans.buf + 16 * k, 16);
        if (se[0] < 0) se[0] = 0;
        if (se[1] > data.len) se[1] = data.len;
        if (se[1] > se[0]) memset(v + se[0], ' ', (size_t)(se[1] - se[0]));
    }
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&spans);
    return out;
}

/* ---------------------------------------------------------------- screen */

static int check_table(Py_buffer *table, Py_buffer *index, int shift, const char *what) {
    Py_ssize_t n_t = table->len / 8, n_idx = index->len / 4;
    if (shift < 40 || shift > 63 || table->len % 8 || index->len % 4 ||
        n_idx != ((Py_ssize_t)1 << (64 - shift)) + 1 ||
        ((const uint32_t *)index->buf)[n_idx - 1] != (uint32_t)n_t) {
        PyErr_Format(PyExc_ValueError, "set_tables: the %s index does not fit its table", what);
        return -1;
    }
    return 0;
}

static PyObject *Reader_set_tables(ReaderObject *self, PyObject *args) {
    Py_buffer sh, si, ch, ci, dob;
    int s_shift, c_shift;
    if (!reader_ready(self)) return NULL;
    if (!PyArg_ParseTuple(args, "y*y*iy*y*iy*:set_tables", &sh, &si, &s_shift, &ch, &ci,
                          &c_shift, &dob))
        return NULL;
    int ok = check_table(&sh, &si, s_shift, "strong") == 0 &&
             check_table(&ch, &ci, c_shift, "combo") == 0;
    if (ok && dob.len % 8) {
        PyErr_SetString(PyExc_ValueError, "set_tables: birth dates must be a uint64 array");
        ok = 0;
    }
    const uint64_t *dt = (const uint64_t *)dob.buf;
    for (Py_ssize_t k = 1; ok && k < dob.len / 8; k++)
        if (dt[k - 1] > dt[k]) {
            PyErr_SetString(PyExc_ValueError, "set_tables: birth dates must be sorted");
            ok = 0;
        }
    if (!ok) {
        PyBuffer_Release(&sh);
        PyBuffer_Release(&si);
        PyBuffer_Release(&ch);
        PyBuffer_Release(&ci);
        PyBuffer_Release(&dob);
        return NULL;
    }
    release_tables(self);
    self->strong_h = sh;
    self->strong_idx = si;
    self->combo_h = ch;
    self->combo_idx = ci;
    self->dob = dob;
    self->strong_shift = s_shift;
    self->combo_shift = c_shift;
    self->have_tables = 1;
    Py_RETURN_NONE;
}

#define JSON_INDENT 24 /* candidates.py _INDENT */

static int json_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Is the newline at nl inside a pretty-printed JSON object (candidates.py _join_json_members,
   byte for byte: the next line indented and starting with a member after a line ending with
   '{' or ',', or with the closing '}')? */
static int json_inner_newline(const uint8_t *d, Py_ssize_t size, Py_ssize_t nl) {
    uint8_t next = d[nl + 1 < size - 1 ? nl + 1 : size - 1];
    if (next != ' ' && next != '\t') return 0;
    int solid = 0;
    uint8_t nxt = d[nl + 1 < size - 1 ? nl + 1 : size - 1];
    for (Py_ssize_t j = 1; j <= JSON_INDENT; j++) {
        uint8_t c = d[nl + j < size - 1 ? nl + j : size - 1];
        if (!json_space(c)) {
            solid = 1;
            nxt = c;
            break;
        }
    }
    Py_ssize_t prev = nl - 1;
    if (prev > 0 && d[prev] == '\r') prev--;
    uint8_t prv = d[prev > 0 ? prev : 0];
    int member = nxt == '"' && (prv == ',' || prv == '{');
    return solid && prev >= 0 && (member || nxt == '}');
}

/* The row ends of the document, as candidates.py's row_bounds makes them: the newlines but
   those inside a pretty-printed JSON object, the inline record separators, and cuts so that
   no row is longer than MAX_ROW (sorted int64 into *out). 0, or -1 (MemoryError). */
static int doc_bounds(const uint8_t *d, Py_ssize_t size, const Out *o, Buf *out) {
    const int64_t *nl = (const int64_t *)o->newlines.p, *in = (const int64_t *)o->inline_rows.p;
    Py_ssize_t n_nl = (Py_ssize_t)(o->newlines.len / 8), n_in = (Py_ssize_t)(o->inline_rows.len / 8);
    Py_ssize_t a = 0, b = 0;
    int64_t prev = -1;
    for (;;) {
        while (a < n_nl && o->json_members && json_inner_newline(d, size, (Py_ssize_t)nl[a])) a++;
        int64_t next;
        if (a < n_nl && (b >= n_in || nl[a] < in[b]))
            next = nl[a++];
        else if (b < n_in)
            next = in[b++];
        else
            next = size; /* the end of the last row: not a bound */
        for (int64_t cut = prev + 1 + MAX_ROW; next - prev > MAX_ROW && cut < next; cut += MAX_ROW)
            if (buf_i64(out, cut) < 0) return -1;
        if (next == size && a >= n_nl && b >= n_in) return 0;
        if (buf_i64(out, next) < 0) return -1;
        prev = next;
    }
}

/* The last names and birth dates of the same row (`bounds`, from doc_bounds) that make a
   combo of the set, each row read as matcher._combo_matches reads it (at most
   MAX_PHRASES_PER_ROW phrases of the phrase view): every hit to *pairs as (int64 row,
   uint64 sum). 0, or -1 with a Python error. */
static int row_combos(ReaderObject *r, const uint8_t *d, Py_ssize_t size, const Out *o,
                      const Buf *bounds, Buf *pairs) {
    const int64_t *dpos = (const int64_t *)o->date_pos.p;
    const uint64_t *dh = (const uint64_t *)o->date_hash.p;
    const int64_t *bd = (const int64_t *)bounds->p;
    const int64_t *spans = (const int64_t *)o->email_spans.p;
    Py_ssize_t n_dates = (Py_ssize_t)(o->date_pos.len / 8), n_b = (Py_ssize_t)(bounds->len / 8);
    Py_ssize_t n_spans = (Py_ssize_t)(o->email_spans.len / 16);
    const uint64_t *dob = (const uint64_t *)r->dob.buf;
    Py_ssize_t n_dob = r->dob.len / 8, k = 0;
    uint8_t v[MAX_ROW];
    Buf words = {0}, hashes = {0}, rows = {0}, births = {0};
    int rc = 0;
    for (Py_ssize_t i = 0; i < n_dates;) {
        if (!sorted_has(dob, n_dob, dh[i])) {
            i++;
            continue;
        }
        while (k < n_b && bd[k] < dpos[i]) k++; /* the row of this date ends at bd[k] */
        Py_ssize_t rs = k > 0 ? (Py_ssize_t)bd[k - 1] + 1 : 0, re = k < n_b ? (Py_ssize_t)bd[k] : size;
        if (re - rs > MAX_ROW) re = rs + MAX_ROW; /* never: doc_bounds cut the rows */
        births.len = 0; /* the birth dates of this row */
        /* a date at a row end (a cut of a long row) is on that row, as searchsorted puts it */
        for (; i < n_dates && (k >= n_b || dpos[i] <= bd[k]); i++)
            if (sorted_has(dob, n_dob, dh[i]) && buf_u64(&births, dh[i]) < 0) goto fail;
        for (Py_ssize_t q = rs; q < re; q++) v[q - rs] = PHRASE[d[q]];
        for (Py_ssize_t s = 0; s < n_spans; s++) {
            Py_ssize_t a = (Py_ssize_t)spans[2 * s], b = (Py_ssize_t)spans[2 * s + 1];
            if (a < rs) a = rs;
            if (b > re) b = re;
            if (b > a) memset(v + (a - rs), ' ', (size_t)(b - a));
        }
        hashes.len = rows.len = 0;
        Py_ssize_t len = re - rs, p = 0;
        int phrases = 0;
        while (p < len && phrases < MAX_PHRASES_PER_ROW) {
            while (p < len && is_space(v[p])) p++;
            if (p >= len) break;
            Py_ssize_t q = p;
            while (q < len && !is_space(v[q])) q++;
            phrases++;
            if (phrase_grams(r, v + p, q - p, 0, 1, &words, &hashes, &rows) < 0) goto fail;
            p = q;
        }
        const uint64_t *names = (const uint64_t *)hashes.p, *bh = (const uint64_t *)births.p;
        for (size_t a = 0; a < hashes.len / 8; a++)
            for (size_t b = 0; b < births.len / 8; b++) /* the sum wraps, as build.py's */
                if (buf_i64(pairs, (int64_t)k) < 0 || buf_u64(pairs, names[a] + bh[b]) < 0)
                    goto fail;
    }
    /* every (row, sum) of the document looked up at once; the hits kept, in order */
    size_t n = pairs->len / 16, kept = 0;
    if (n) {
        uint8_t *found = PyMem_Malloc(n);
        if (!found) goto fail;
        uint64_t *pv = (uint64_t *)pairs->p;
        table_has_many(&r->combo_h, &r->combo_idx, r->combo_shift, pv + 1, 2, n, found);
        for (size_t j = 0; j < n; j++)
            if (found[j]) {
                pv[2 * kept] = pv[2 * j];
                pv[2 * kept + 1] = pv[2 * j + 1];
                kept++;
            }
        PyMem_Free(found);
    }
    pairs->len = kept * 16;
    goto done;
fail:
    rc = -1;
done:
    buf_free(&words);
    buf_free(&hashes);
    buf_free(&rows);
    buf_free(&births);
    return rc;
}

/* screen(data) -> None when no record of the set can be in `data` (no candidate in the
   strong table, no last name + birth date of a row in the combo table, no e-mail left to
   Python); else (what extract(data) returns, the row ends, the combos): the row ends as
   row_bounds makes them, the combos the (int64 row, uint64 sum) pairs of the combo table on
   the rows. One pass over the bytes either way. */
static PyObject *Reader_screen(ReaderObject *self, PyObject *arg) {
    Py_buffer view;
    if (!reader_ready(self)) return NULL;
    if (!self->have_tables) {
        PyErr_SetString(PyExc_RuntimeError, "screen: set_tables was not called");
        return NULL;
    }
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    Out o;
    memset(&o, 0, sizeof o);
    Buf bounds = {0}, pairs = {0};
    PyObject *result = NULL;
    const uint8_t *d = (const uint8_t *)view.buf;
    if (read_doc(self, d, view.len, &o) < 0) goto done;
    int answer = PyList_GET_SIZE(o.slow_emails) > 0;
    const uint64_t *h = (const uint64_t *)o.strong_hash.p;
    for (size_t i = 0; !answer && i < o.strong_hash.len / 8; i += LOOKUP_BLOCK) {
        uint8_t found[LOOKUP_BLOCK];
        size_t m = o.strong_hash.len / 8 - i < LOOKUP_BLOCK ? o.strong_hash.len / 8 - i
                                                            : LOOKUP_BLOCK;
        table_has_many(&self->strong_h, &self->strong_idx, self->strong_shift, h + i, 1, m,
                       found);
        for (size_t j = 0; j < m; j++) answer |= found[j];
    }
    int combos = o.date_pos.len && self->dob.len && self->combo_h.len;
    if (!answer && !combos) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    if (doc_bounds(d, view.len, &o, &bounds) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    if (combos && row_combos(self, d, view.len, &o, &bounds, &pairs) < 0) goto done;
    if (!answer && !pairs.len) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    PyObject *read = out_tuple(&o);
    if (read) result = Py_BuildValue("(NNN)", read, buf_bytes(&bounds), buf_bytes(&pairs));
done:
    out_free(&o);
    buf_free(&bounds);
    buf_free(&pairs);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef Reader_methods[] = {
    {"extract", (PyCFunction)Reader_extract, METH_O,
     "extract(data) -> (strong_pos, strong_kind, strong_hash, date_pos, date_hash, "
     "email_spans, slow_emails, inline_rows, newlines, json_members): the hashed candidates "
     "of one document (int64/uint8/uint64 arrays as bytes; slow_emails lists (pos, local, "
     "domain) of e-mails with UTF-8 local parts, for Python to lower-case and hash; "
     "inline_rows: offsets of the '),(' and '},{' between records written on one line; "
     "newlines: offsets of the newlines; json_members: whether '\":' occurs)."},
    {"name_grams", (PyCFunction)Reader_name_grams, METH_VARARGS,
     "name_grams(view, starts, ends[, filtered]) -> (hashes, row_index): name-gram hashes of "
     "each row view[starts[i]:ends[i]] (int64 arrays as bytes), with the index i of its row; "
     "with `filtered`, only those in the name filter."},
    {"set_name_filter", (PyCFunction)Reader_set_name_filter, METH_O,
     "set_name_filter(hashes): the sorted uint64 hashes name_grams(..., filtered=True) keeps."},
    {"phrase_view", (PyCFunction)Reader_phrase_view, METH_VARARGS,
     "phrase_view(data, spans) -> bytes: the bytes names are read from (see candidates.py)."},
    {"set_tables", (PyCFunction)Reader_set_tables, METH_VARARGS,
     "set_tables(strong_h, strong_index, strong_shift, combo_h, combo_index, combo_shift, "
     "birth_dates): the set's tables (see table.c) and sorted birth-date hashes screen() reads "
     "(held, not copied)."},
    {"screen", (PyCFunction)Reader_screen, METH_O,
     "screen(data) -> None when no record of the set can be in data (the full match would "
     "find nothing), else (extract(data), row ends, combos): the row ends (int64) as "
     "row_bounds makes them, combos the (int64 row, uint64 sum) pairs found in the combo "
     "table."},
    {NULL}};

PyTypeObject ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "monitor.matching._native.CandidateReader",
    .tp_basicsize = sizeof(ReaderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "CandidateReader(hmac, domains, dates, cc, trunk, fold_table, months, fold_word, "
              "date_domain, name_domain): domains[k] is the hash domain of kind code k "
              "(STRONG_KIND_NAMES[k]) or None when that kind is not read",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Reader_init,
    .tp_dealloc = (destructor)Reader_dealloc,
    .tp_methods = Reader_methods,
};
