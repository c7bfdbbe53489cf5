/*
 * native.h: what the units of the C extension monitor.matching._native share.
 *
 * One extension module, one C file per unit (setup.py lists them):
 *
 *   module.c    the module: its functions and types, limits and kind codes for Python;
 *               growable buffers and the byte classes the units share
 *   files.c     read_files(): open, read and close a slice of `leakmon scan` inputs;
 *               list_folder(): one folder of its walk, classified and sorted
 *   hmac.c      Hmac(key): HMAC-SHA-256 truncated to 64 bits (sha256.h), for fingerprints
 *   reader.c    CandidateReader: the fingerprint candidate reader (numbers, NIRs, IBANs,
 *               e-mails, dates, name grams), wrapped by fingerprints/candidates.py
 *   table.c     bucket_index / lookup: membership in a sorted uint64 hash table (matcher.py)
 *   triggers.c  triggers(): the bulk detectors' trigger ends (matching/triggers.py)
 *   utf8.c      utf8_valid(): strict UTF-8 validation without building a str; plain_text():
 *               the whole plain-text test of extract.py's fast path
 *   validate.c  regions / nir_matches / combo_matches: the regions detectors.find validates,
 *               two detectors' precise matches and validation in them; bulk_find: the
 *               triggers, regions and validation of a small document in one call
 *
 * Only utf8_valid, plain_text and list_folder (its readdir and stats) release the GIL (a
 * whole document or folder, no Python object touched); the other
 * functions hold it: they are short per call, or call back into Python (fold_word, e-mails
 * with a UTF-8 local part) and build Python objects as they go.
 */
#ifndef LM_NATIVE_H
#define LM_NATIVE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Limits Python reads from the module (candidates.py). */
#define MAX_ROW 4096
#define MAX_PHRASES_PER_ROW 64

/* Codes of the strong kinds the reader has a function for (reader.c), and the name of each
   (exported as STRONG_KIND_NAMES; each kind's module in matching/kinds/ gives its code as
   Kind.native). Hash domains are not here: the reader is given them (kinds registry). */
enum { K_PHONE = 0, K_NIR = 1, K_CARD = 2, K_IBAN = 3, K_EMAIL = 4, K_COUNT = 5 };
extern const char *const KIND_NAMES[K_COUNT];

/* ---------------------------------------------------------------- growable buffers (module.c) */

typedef struct {
    char *p;
    size_t len, cap;
} Buf;

int buf_reserve(Buf *b, size_t extra); /* room for `extra` more bytes; -1: MemoryError */

static inline int buf_put(Buf *b, const void *src, size_t n) {
    if (b->len + n > b->cap && buf_reserve(b, n) < 0) return -1;
    memcpy(b->p + b->len, src, n);
    b->len += n;
    return 0;
}

static inline int buf_i64(Buf *b, int64_t v) { return buf_put(b, &v, sizeof v); }
static inline int buf_u64(Buf *b, uint64_t v) { return buf_put(b, &v, sizeof v); }

PyObject *buf_bytes(Buf *b); /* a bytes copy of the contents */
void buf_free(Buf *b);

/* ---------------------------------------------------------------- byte classes (module.c) */

#define C_DIGIT 1
#define C_UPPER 2
#define C_LOWER 4
#define C_SEP 8     /* ' ' '.' '-' : separators inside a written number */
#define C_LOCAL 16  /* e-mail local part: alnum ._%+- and UTF-8 bytes */
#define C_DOMAIN 32 /* alnum - . */
#define C_USER 64   /* a combo line's user name: alnum . _ - */

extern uint8_t CLS[256];

#define IS_ALPHA_RAW(c) (((c) >= 'A' && (c) <= 'Z') || ((c) >= 'a' && (c) <= 'z'))

void init_classes(void); /* fills CLS, once, when the module is loaded */

#define IS_DIGIT(c) (CLS[(uint8_t)(c)] & C_DIGIT)
/* A NIR starts with its sex digit: 1-4, 7 or 8. */
#define NIR_FIRST(c) (IS_DIGIT(c) && ((0x19Eu >> ((uint8_t)(c) - '0')) & 1u))
#define IS_ALPHA(c) (CLS[(uint8_t)(c)] & (C_UPPER | C_LOWER))
#define IS_ALNUM(c) (CLS[(uint8_t)(c)] & (C_DIGIT | C_UPPER | C_LOWER))
#define IS_IBAN_CHAR(c) (CLS[(uint8_t)(c)] & (C_DIGIT | C_UPPER))

/* The start every IBAN shares, [A-Z]{2}[0-9]{2} ?[A-Z0-9]{4} ?[A-Z0-9]{4}, at data[p] (an
 * upper-case letter): the offset after it, or -1. The reader and the trigger both begin here. */
static inline Py_ssize_t iban_head_end(const uint8_t *d, Py_ssize_t size, Py_ssize_t p) {
    if (p + 4 > size || !(CLS[d[p + 1]] & C_UPPER) || !IS_DIGIT(d[p + 2]) || !IS_DIGIT(d[p + 3]))
        return -1;
    Py_ssize_t q = p + 4;
    for (int g = 0; g < 2; g++) {
        if (q < size && d[q] == ' ') q++;
        for (int k = 0; k < 4; k++, q++)
            if (q >= size || !IS_IBAN_CHAR(d[q])) return -1;
    }
    return q;
}

/* ---------------------------------------------------------------- units */

/* hmac.c */
typedef struct HmacObject HmacObject;
extern PyTypeObject HmacType;
int hmac_ready(const HmacObject *h); /* 0 with RuntimeError when __init__ never ran */
/* HMAC of a || b, truncated to 64 bits (never 0) */
uint64_t hmac_hash2(const HmacObject *h, const void *a, size_t alen, const void *b, size_t blen);
PyObject *native_sha_impl(PyObject *mod, PyObject *unused);

/* reader.c */
extern PyTypeObject ReaderType;
void reader_init_tables(void);

/* files.c */
PyObject *native_read_files(PyObject *mod, PyObject *args);
PyObject *native_list_folder(PyObject *mod, PyObject *args);
int files_add_constants(PyObject *m); /* LISTED_*: list_folder's codes; -1 on error */

/* table.c */
PyObject *native_bucket_index(PyObject *mod, PyObject *args);
PyObject *native_lookup(PyObject *mod, PyObject *args);
PyObject *native_lookup_owners(PyObject *mod, PyObject *args);
/* found[i]: is q[i * stride] in the table (an index that fits it), prefetched in blocks */
#define LOOKUP_BLOCK 32
void table_has_many(const Py_buffer *table, const Py_buffer *index, int shift,
                    const uint64_t *q, size_t stride, size_t n, uint8_t *found);

/* redact.c */
PyObject *native_mask_fields(PyObject *mod, PyObject *args);
PyObject *native_longest_run(PyObject *mod, PyObject *args);
PyObject *native_redact_rows(PyObject *mod, PyObject *arg);
PyObject *native_mask_combos(PyObject *mod, PyObject *arg);
PyObject *native_mask_emails(PyObject *mod, PyObject *arg);
PyObject *native_mask_nirs(PyObject *mod, PyObject *arg);
PyObject *native_mask_long_numbers(PyObject *mod, PyObject *arg);
PyObject *native_contains_any(PyObject *mod, PyObject *args);
PyObject *native_mask_capitalised(PyObject *mod, PyObject *args);
PyObject *native_longest_word(PyObject *mod, PyObject *arg);
PyObject *native_one_line(PyObject *mod, PyObject *arg);
PyObject *native_excerpt_window(PyObject *mod, PyObject *args);

/* triggers.c */
PyObject *native_triggers(PyObject *mod, PyObject *args);
PyObject *native_vector_width(PyObject *mod, PyObject *unused);
#define TRIGGER_COUNT 5 /* trigger ids 0-4: NIR, card, IBAN, combo '@', combo line */
typedef struct {
    Buf ends[TRIGGER_COUNT]; /* int64 end offsets, in order, per trigger id */
    Py_ssize_t over[TRIGGER_COUNT]; /* ends past `cap`, counted only */
    Py_ssize_t cap;
} Triggers;
int trigger_scan(const uint8_t *d, Py_ssize_t size, Py_ssize_t base, int wanted, Triggers *t);
void triggers_free(Triggers *t);

/* utf8.c */
PyObject *native_utf8_valid(PyObject *mod, PyObject *arg);
PyObject *native_plain_text(PyObject *mod, PyObject *args);

/* validate.c */
PyObject *native_regions(PyObject *mod, PyObject *args);
PyObject *native_nir_matches(PyObject *mod, PyObject *args);
PyObject *native_combo_matches(PyObject *mod, PyObject *args);
PyObject *native_card_matches(PyObject *mod, PyObject *args);
PyObject *native_bulk_find(PyObject *mod, PyObject *args);
PyObject *native_bulk_summary(PyObject *mod, PyObject *args);

/* redact.c: redact() hints */
PyObject *native_redact_hints(PyObject *mod, PyObject *arg);
PyObject *native_redact_hints_late(PyObject *mod, PyObject *arg);

#endif /* LM_NATIVE_H */
