/*
 * triggers.c: triggers(data, start, stop, wanted, cap), the positions where the Hyperscan
 * trigger patterns of the bulk detectors (fr_nir, card, iban, combo) end, in one byte loop
 * (see matching/triggers.py).
 */
#include "native.h"

/* The trigger patterns of the bulk detectors (detectors.py: fr_nir, card, iban, combo), found
   in one pass instead of a Hyperscan database each: their bounded repeats over digit and
   letter classes make Hyperscan slow on dumps and chat. Each function reports the END offsets
   where its Hyperscan pattern would (tests/matching/test_triggers_native.py compares them).
   Trigger ids, in this order: */
enum { T_NIR = 0, T_CARD = 1, T_IBAN = 2, T_COMBO_AT = 3, T_COMBO_LINE = 4, T_COUNT = TRIGGER_COUNT };

#define IS_WORD(c) (IS_ALNUM(c) || (c) == '_')
#define IS_HS_SPACE(c) ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\v' || \
                        (c) == '\f' || (c) == '\r')

/* \b[1-478](?:[ .\-]?[0-9]{2}){2}[ .\-]?(?:[0-9]{2}|2[ABab])[ .\-]?[0-9]{3}[ .\-]?[0-9]{3}
   [ .\-]?[0-9]{2}\b  at p (a digit after a non-word byte) */
static Py_ssize_t trigger_nir(const uint8_t *d, Py_ssize_t size, Py_ssize_t p) {
    static const char layout[] = "s2s2s#s3s3s2";
    if (!NIR_FIRST(d[p])) return -1;
    Py_ssize_t q = p + 1;
    for (const char *l = layout; *l; l++) {
        if (*l == 's') {
            if (q < size && (CLS[d[q]] & C_SEP)) q++;
        } else if (*l == '#') {
            if (q + 1 >= size) return -1;
            if (IS_DIGIT(d[q]) && IS_DIGIT(d[q + 1])) {
                q += 2;
            } else if (d[q] == '2' && (d[q + 1] == 'A' || d[q + 1] == 'B' || d[q + 1] == 'a' ||
                                       d[q + 1] == 'b')) {
                q += 2;
            } else {
                return -1;
            }
        } else {
            for (int k = 0; k < *l - '0'; k++, q++)
                if (q >= size || !IS_DIGIT(d[q])) return -1;
        }
    }
    if (q < size && IS_WORD(d[q])) return -1;
    return q;
}

/* \b[2-6][0-9]{3}(?:[ \-]?[0-9]){8}  at p (a digit after a non-word byte) */
static Py_ssize_t trigger_card(const uint8_t *d, Py_ssize_t size, Py_ssize_t p) {
    if (d[p] < '2' || d[p] > '6' || p + 4 > size) return -1;
    if (!IS_DIGIT(d[p + 1]) || !IS_DIGIT(d[p + 2]) || !IS_DIGIT(d[p + 3])) return -1;
    Py_ssize_t q = p + 4;
    for (int k = 0; k < 8; k++) {
        if (q < size && (d[q] == ' ' || d[q] == '-')) q++;
        if (q >= size || !IS_DIGIT(d[q])) return -1;
        q++;
    }
    return q;
}

/* [A-Z]{2}[0-9]{2} ?[A-Z0-9]{4} ?[A-Z0-9]{4}  at p (an upper-case letter) */
static Py_ssize_t trigger_iban(const uint8_t *d, Py_ssize_t size, Py_ssize_t p) {
    if (p + 12 > size) return -1;  /* too short for the 12 characters it needs */
    return iban_head_end(d, size, p);
}

/* @[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24}[:;|][^\s:;|]  at '@' */
static Py_ssize_t trigger_combo_at(const uint8_t *d, Py_ssize_t size, Py_ssize_t at) {
    Py_ssize_t q = at + 1, label = q, last_dot = -1;
    for (; q < size && (CLS[d[q]] & C_DOMAIN); q++) {
        if (d[q] != '.') continue;
        if (q == label) return -1; /* empty label */
        last_dot = q;
        label = q + 1;
    }
    if (last_dot < 0 || q == label) return -1;
    Py_ssize_t tld = q - label;
    if (tld < 2 || tld > 24) return -1;
    for (Py_ssize_t t = label; t < q; t++)
        if (!IS_ALPHA(d[t])) return -1;
    if (q + 1 >= size || !(d[q] == ':' || d[q] == ';' || d[q] == '|')) return -1;
    uint8_t c = d[q + 1];
    if (IS_HS_SPACE(c) || c == ':' || c == ';' || c == '|') return -1;
    return q + 2;
}

/* ^[ \t]*[A-Za-z0-9][A-Za-z0-9._\-]{2,}:[^\s:]{4,}[ \t]*\r?$  on the line starting at p;
   *next is set to the start of the next line. */
static Py_ssize_t trigger_combo_line(const uint8_t *d, Py_ssize_t size, Py_ssize_t p,
                                     Py_ssize_t *next) {
    const uint8_t *nl = memchr(d + p, '\n', (size_t)(size - p));
    Py_ssize_t eol = nl ? nl - d : size;
    *next = nl ? eol + 1 : size;
    Py_ssize_t q = p;
    while (q < eol && (d[q] == ' ' || d[q] == '\t')) q++;
    if (q >= eol || !IS_ALNUM(d[q])) return -1;
    Py_ssize_t u = q + 1;
    while (u < eol && (CLS[d[u]] & C_USER)) u++;
    if (u - q < 3 || u >= eol || d[u] != ':') return -1;
    Py_ssize_t w = u + 1;
    while (w < eol && !IS_HS_SPACE(d[w]) && d[w] != ':') w++;
    if (w - (u + 1) < 4) return -1;
    while (w < eol && (d[w] == ' ' || d[w] == '\t')) w++;
    if (w < eol && d[w] == '\r') w++;
    return w == eol ? eol : -1;
}

#define IS_UPPER_B(c) ((uint8_t)((c) - 'A') <= 'Z' - 'A')
#define IS_DIGIT_B(c) ((uint8_t)((c) - '0') <= 9)

/* May a digit candidate start at p? Not glued to a word byte, not after a decimal point
   (digit '.'), not after a '-' glued to a word byte: detectors.DIGITS_START in Hyperscan. */
static inline int digits_free(const uint8_t *d, Py_ssize_t p) {
    if (p == 0) return 1;
    uint8_t c = d[p - 1];
    if (IS_WORD(c)) return 0;
    if (p == 1) return 1;
    if (c == '.') return !IS_DIGIT(d[p - 2]);
    if (c == '-') return !IS_WORD(d[p - 2]);
    return 1;
}

/* Is p where a wanted trigger can start? A NIR: its sex digit (1-4, 7, 8) not glued to a word
   byte, then two groups of two digits, each maybe after a separator; a card: 2-6 and three more digits, not glued
   to a word byte; an IBAN: [A-Z]{2}[0-9]{2}; a combo: '@'. */
static inline int trigger_start(const uint8_t *d, Py_ssize_t p, Py_ssize_t size, int nir,
                                int card, int iban, int at) {
    uint8_t c = d[p];
    int free = digits_free(d, p);
    if (nir && free && NIR_FIRST(c) && p + 6 < size) {
        /* its next two groups of two digits, each maybe after one separator */
#define D(k) IS_DIGIT(d[p + (k)])
#define S(k) (CLS[d[p + (k)]] & C_SEP)
        if ((D(1) && D(2) && ((D(3) && D(4)) || (S(3) && D(4) && D(5)))) ||
            (S(1) && D(2) && D(3) && ((D(4) && D(5)) || (S(4) && D(5) && D(6)))))
            return 1;
#undef D
#undef S
    }
    if (card && free && c >= '2' && c <= '6' && p + 3 < size && IS_DIGIT(d[p + 1]) &&
        IS_DIGIT(d[p + 2]) && IS_DIGIT(d[p + 3]))
        return 1;
    if (iban && p + 3 < size && IS_UPPER_B(c) && IS_UPPER_B(d[p + 1]) && IS_DIGIT_B(d[p + 2]) &&
        IS_DIGIT_B(d[p + 3]))
        return 1;
    return at && c == '@';
}

#if defined(__SSE2__) && (defined(__x86_64__) || defined(__i386__))
#define VECTOR_TRIGGERS 1
#include <immintrin.h>
typedef uint8_t u8x16 __attribute__((vector_size(16)));
typedef uint8_t u8x32 __attribute__((vector_size(32)));

/* trigger_start for W offsets at once (bit i: offset i of q), written once with GCC vector
   extensions and compiled twice: 16 lanes with SSE2 (every x86-64 CPU) and 32 with AVX2 when
   the CPU has it. Reads q[-1 .. W + 5]. A start it reports may still fail digits_free. */
#define DEFINE_TRIGGER_MASK(NAME, V, W, ATTR, MOVEMASK, VI)                                   \
    ATTR static uint32_t NAME(const uint8_t *q, int nir, int card, int iban, int at) {        \
        V x0, x1, x2, x3, x4, x5, x6, prev, m = {0};                                           \
        memcpy(&x0, q, W);                                                                     \
        memcpy(&x2, q + 2, W);                                                                 \
        _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wsign-compare\"")    \
        /* every start but '@' has a digit two bytes on: most blocks of text stop here */     \
        V d2 = (V)(x2 - '0' <= 9);                                                             \
        if (!MOVEMASK((VI)(d2 | (V)(x0 == '@')))) return 0;                                    \
        memcpy(&x1, q + 1, W);                                                                 \
        memcpy(&x3, q + 3, W);                                                                 \
        V d1 = (V)(x1 - '0' <= 9), d3 = (V)(x3 - '0' <= 9);                                    \
        if (nir || card) {                                                                     \
            memcpy(&prev, q - 1, W);                                                           \
            /* glued to a word byte; the rarer decimal and "id_-" starts pass here and are    \
               rejected by digits_free in the scan loop (cheaper than two more loads) */      \
            V word = (V)(prev - '0' <= 9) | (V)(prev - 'A' <= 25) | (V)(prev - 'a' <= 25) |   \
                     (V)(prev == '_');                                                         \
            V starts = (V){0};                                                                 \
            if (nir) { /* the sex digit, then two groups of two digits (see trigger_start) */ \
                memcpy(&x4, q + 4, W);                                                         \
                memcpy(&x5, q + 5, W);                                                         \
                memcpy(&x6, q + 6, W);                                                         \
                V d4 = (V)(x4 - '0' <= 9), d5 = (V)(x5 - '0' <= 9), d6 = (V)(x6 - '0' <= 9);  \
                V s1 = (V)(x1 == ' ') | (V)(x1 == '.') | (V)(x1 == '-');                       \
                V s3 = (V)(x3 == ' ') | (V)(x3 == '.') | (V)(x3 == '-');                       \
                V s4 = (V)(x4 == ' ') | (V)(x4 == '.') | (V)(x4 == '-');                       \
                V first = (V)(x0 - '1' <= 3) | (V)(x0 == '7') | (V)(x0 == '8');               \
                starts = first & ((d1 & d2 & ((d3 & d4) | (s3 & d4 & d5))) |                   \
                                  (s1 & d2 & d3 & ((d4 & d5) | (s4 & d5 & d6))));              \
            }                                                                                  \
            if (card) starts |= (V)(x0 - '2' <= 4) & d1 & d2 & d3;                             \
            m = starts & ~word;                                                                \
        }                                                                                      \
        if (iban) m |= (V)(x0 - 'A' <= 25) & (V)(x1 - 'A' <= 25) & d2 & d3;                   \
        if (at) m |= (V)(x0 == '@');                                                           \
        _Pragma("GCC diagnostic pop")                                                          \
        return (uint32_t)MOVEMASK((VI)m);                                                      \
    }

DEFINE_TRIGGER_MASK(trigger_mask16, u8x16, 16, , _mm_movemask_epi8, __m128i)
DEFINE_TRIGGER_MASK(trigger_mask32, u8x32, 32, __attribute__((target("avx2"))),
                    _mm256_movemask_epi8, __m256i)
#undef DEFINE_TRIGGER_MASK

/* AVX2 when the CPU has it, unless LEAKMON_NO_AVX2 is set (the tests run both widths). */
static int use_avx2(void) {
    static int known = -1;
    if (known < 0) {
        const char *off = getenv("LEAKMON_NO_AVX2");
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx2") && !(off && *off) ? 1 : 0;
    }
    return known;
}
#endif

/* The next offset >= p where trigger_start holds, or size: 16 or 32 offsets at a time. */
static Py_ssize_t next_trigger(const uint8_t *d, Py_ssize_t p, Py_ssize_t size, int nir,
                               int card, int iban, int at, Py_ssize_t *block, uint32_t *bits) {
#if VECTOR_TRIGGERS
    const int width = use_avx2() ? 32 : 16;
    /* the starts left in the last block tested (a stop is often followed by another) */
    if (*block >= 0 && p >= *block && p < *block + width) {
        uint32_t rest = *bits >> (p - *block);
        if (rest) return p + __builtin_ctz(rest);
        p = *block + width;
    }
    *block = -1;
    if (p == 0 && size > 0 && trigger_start(d, 0, size, nir, card, iban, at)) return 0;
    if (p == 0) p = 1; /* the vector test reads d[p - 1] */
    while (p + width + 6 <= size) { /* reads d[p - 1 .. p + width + 5] */
        uint32_t found = width == 32 ? trigger_mask32(d + p, nir, card, iban, at)
                                     : trigger_mask16(d + p, nir, card, iban, at);
        if (found) {
            *block = p;
            *bits = found;
            return p + __builtin_ctz(found);
        }
        p += width;
    }
#else
    (void)block;
    (void)bits;
#endif
    while (p < size && !trigger_start(d, p, size, nir, card, iban, at)) p++;
    return p;
}

static int trig_put(Triggers *t, int id, Py_ssize_t end) {
    if ((Py_ssize_t)(t->ends[id].len / 8) >= t->cap) {
        t->over[id]++;
        return 0;
    }
    return buf_i64(&t->ends[id], end);
}

/* The trigger ends of data[0:size] for each trigger id wanted (bit 1 << id), shifted by
   `base`, at most `cap` per id in t->ends and the others counted in t->over. -1: MemoryError.
   triggers() below and bulk_find (validate.c) share it. */
int trigger_scan(const uint8_t *d, Py_ssize_t size, Py_ssize_t base, int wanted, Triggers *t) {
    Py_ssize_t start = base;
    int nir = wanted & (1 << T_NIR), card = wanted & (1 << T_CARD);
    int iban = wanted & (1 << T_IBAN), at = wanted & (1 << T_COMBO_AT);
    if (nir || card || iban || at) {
        Py_ssize_t p = 0, block = -1;
        uint32_t bits = 0;
        while ((p = next_trigger(d, p, size, nir, card, iban, at, &block, &bits)) < size) {
            uint8_t c = d[p];
            Py_ssize_t e;
            if (IS_DIGIT(c)) {
                if (!digits_free(d, p)) { /* "4.4995...", "blk_-6952...": see digits_free */
                    p++;
                    continue;
                }
                if (nir && (e = trigger_nir(d, size, p)) > 0 && trig_put(t, T_NIR, start + e) < 0)
                    return -1;
                if (card && (e = trigger_card(d, size, p)) > 0 && trig_put(t, T_CARD, start + e) < 0)
                    return -1;
            } else if (c == '@') {
                if ((e = trigger_combo_at(d, size, p)) > 0 && trig_put(t, T_COMBO_AT, start + e) < 0)
                    return -1;
            } else if ((e = trigger_iban(d, size, p)) > 0 && trig_put(t, T_IBAN, start + e) < 0) {
                return -1;
            }
            p++;
        }
    }
    if (wanted & (1 << T_COMBO_LINE)) {
        /* only a line with a ':' can match: from one to the next, p always a line start */
        Py_ssize_t p = 0, next;
        while (p < size) {
            const uint8_t *colon = memchr(d + p, ':', (size_t)(size - p));
            if (!colon) break;
            const uint8_t *nl = memrchr(d + p, '\n', (size_t)(colon - (d + p)));
            Py_ssize_t e = trigger_combo_line(d, size, nl ? nl - d + 1 : p, &next);
            if (e >= 0 && trig_put(t, T_COMBO_LINE, start + e) < 0) return -1;
            p = next;
        }
    }
    return 0;
}

void triggers_free(Triggers *t) {
    for (int k = 0; k < T_COUNT; k++) buf_free(&t->ends[k]);
}

/* triggers(data, start, stop, wanted, cap) -> (ends, overflow): for each trigger id wanted
   (bit 1 << id), the end offsets (int64 bytes, absolute) of its matches in data[start:stop]
   (the bytes outside are context for the boundaries, like Hyperscan on the slice would not
   see them: they are not read), at most `cap` of them, and how many more were counted. */
PyObject *native_triggers(PyObject *mod, PyObject *args) {
    (void)mod;
    Py_buffer view;
    Py_ssize_t start, stop, cap;
    int wanted;
    if (!PyArg_ParseTuple(args, "y*nnin:triggers", &view, &start, &stop, &wanted, &cap))
        return NULL;
    PyObject *result = NULL;
    Triggers t;
    memset(&t, 0, sizeof t);
    t.cap = cap;
    if (start < 0 || stop > view.len || start > stop || cap < 0) {
        PyErr_SetString(PyExc_ValueError, "triggers: bad slice or cap");
        goto done;
    }
    /* the slice is scanned as a document of its own: no byte outside it is read */
    if (trigger_scan((const uint8_t *)view.buf + start, stop - start, start, wanted, &t) < 0)
        goto done;
    result = Py_BuildValue("([NNNNN](nnnnn))", buf_bytes(&t.ends[0]), buf_bytes(&t.ends[1]),
                           buf_bytes(&t.ends[2]), buf_bytes(&t.ends[3]), buf_bytes(&t.ends[4]),
                           t.over[0], t.over[1], t.over[2], t.over[3], t.over[4]);
done:
    triggers_free(&t);
    PyBuffer_Release(&view);
    return result;
}

PyObject *native_vector_width(PyObject *mod, PyObject *unused) {
    (void)mod;
    (void)unused;
#if VECTOR_TRIGGERS
    return PyLong_FromLong(use_avx2() ? 32 : 16);
#else
    return PyLong_FromLong(0);
#endif
}
