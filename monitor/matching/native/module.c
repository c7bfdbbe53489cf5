/*
 * module.c: the module monitor.matching._native, what its units share (growable buffers,
 * byte classes), and the limits and kind codes Python reads (see native.h for the units).
 */
#include "native.h"

/* ---------------------------------------------------------------- growable buffers */

int buf_reserve(Buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    char *p = PyMem_Realloc(b->p, cap);
    if (!p) {
        PyErr_NoMemory();
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

PyObject *buf_bytes(Buf *b) {
    return PyBytes_FromStringAndSize(b->p ? b->p : "", (Py_ssize_t)b->len);
}

void buf_free(Buf *b) {
    PyMem_Free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ---------------------------------------------------------------- byte classes */

uint8_t CLS[256];

void init_classes(void) {
    for (int c = 0; c < 256; c++) {
        uint8_t k = 0;
        if (c >= '0' && c <= '9') k |= C_DIGIT | C_LOCAL | C_DOMAIN;
        if (c >= 'A' && c <= 'Z') k |= C_UPPER | C_LOCAL | C_DOMAIN;
        if (c >= 'a' && c <= 'z') k |= C_LOWER | C_LOCAL | C_DOMAIN;
        if (c == ' ' || c == '.' || c == '-') k |= C_SEP;
        if (c == '.' || c == '_' || c == '%' || c == '+' || c == '-' || c >= 0x80) k |= C_LOCAL;
        if (c == '-' || c == '.') k |= C_DOMAIN;
        if ((k & (C_DIGIT | C_UPPER | C_LOWER)) || c == '.' || c == '_' || c == '-') k |= C_USER;
        CLS[c] = k;
    }
}

/* ---------------------------------------------------------------- module */

static PyMethodDef module_methods[] = {
    {"trigger_vector_width", native_vector_width, METH_NOARGS,
     "Bytes the trigger pre-test reads at once: 32 (AVX2), 16 (SSE2) or 0 (one by one)."},
    {"bucket_index", native_bucket_index, METH_VARARGS,
     "bucket_index(table, shift) -> bytes: the uint32 bucket starts `lookup` reads."},
    {"utf8_valid", native_utf8_valid, METH_O,
     "utf8_valid(data) -> bool: whether data.decode('utf-8') would succeed (no str is built)."},
    {"plain_text", native_plain_text, METH_VARARGS,
     "plain_text(data, sample) -> 0, 1 (ASCII) or 2 (UTF-8): whether data is plain text, "
     "no NUL and no control byte in the sampled head and middle (extract.py)."},
    {"triggers", native_triggers, METH_VARARGS,
     "triggers(data, start, stop, wanted, cap) -> ([ends] * 5, (overflow,) * 5): the end "
     "offsets of the bulk detectors' trigger patterns (fr_nir, card, iban, combo '@', combo "
     "line) in data[start:stop]; `wanted` is a bit mask of those five."},
    {"lookup", native_lookup, METH_VARARGS,
     "lookup(table, index, shift, queries) -> (query_index, lo, hi): the queries found in a "
     "sorted uint64 table, through its bucket index (see matcher.py)."},
    {"regions", native_regions, METH_VARARGS,
     "regions(data, ends, lines, reach, after) -> bytes: the int64 (start, stop) pairs of the "
     "merged regions detectors.find validates around the sorted trigger `ends` (int64)."},
    {"nir_matches", native_nir_matches, METH_VARARGS,
     "nir_matches(data, spans, limit) -> [(start, end, value | None)]: the fr_nir detector's "
     "precise matches in each span and their validation, at most `limit` (see validate.c)."},
    {"combo_matches", native_combo_matches, METH_VARARGS,
     "combo_matches(data, spans, limit) -> [(start, end, value | None | True)]: the combo "
     "detector's precise matches in each span and their validation; True: Python decides."},
    {"mask_fields", native_mask_fields, METH_VARARGS,
     "mask_fields(text, sep) -> str: each field of text (split by the character sep; the whole "
     "text when sep is '') keeps its first letter or digit (str.isalnum), the others become "
     "'*' (redact.py)."},
    {"longest_run", native_longest_run, METH_VARARGS,
     "longest_run(text, extra) -> int: the longest run of word characters (str.isalnum() or "
     "'_') or characters of extra in text (redact.py)."},
    {"card_matches", native_card_matches, METH_VARARGS,
     "card_matches(data, spans, limit) -> [(start, end, value | None)]: the card detector's "
     "precise matches in each span and their validation (see validate.c)."},
    {"sha256_implementation", native_sha_impl, METH_NOARGS,
     "'sha-ni' when HMAC runs on the CPU's SHA instructions, 'portable' for the plain C code "
     "('' before the first Hmac is made)."},
    {"bulk_find", native_bulk_find, METH_VARARGS,
     "bulk_find(data, cap, limit, specs) -> None | list: the bulk detectors' triggers, regions "
     "and C validation for a small document in one call (engine/bulk.py, see validate.c)."},
    {"redact_rows", native_redact_rows, METH_O,
     "redact_rows(text) -> str: the rows of a dump in text masked, as redact._redact_rows "
     "(quoted values and fields keep their first letter or digit; see redact.c)."},
    {"mask_combos", native_mask_combos, METH_O,
     "mask_combos(text) -> str: the password of each combo line in text replaced by eight '*', "
     "as redact._COMBO.sub (see redact.c)."},
    {"mask_emails", native_mask_emails, METH_O,
     "mask_emails(text) -> str: each e-mail address in text keeps the first character of its "
     "local part and its domain, as redact._EMAIL.sub (see redact.c)."},
    {"mask_nirs", native_mask_nirs, METH_O,
     "mask_nirs(text) -> str: each NIR in text keeps its first digit and its separators, as "
     "redact._NIR.sub (see redact.c)."},
    {"mask_long_numbers", native_mask_long_numbers, METH_O,
     "mask_long_numbers(text) -> str: each run of 8+ digits (with separators) keeps its first "
     "two digits and its separators, as redact._LONG_NUMBER.sub (see redact.c)."},
    {"contains_any", native_contains_any, METH_VARARGS,
     "contains_any(text, needles) -> bool: whether one of the str of the tuple needles is in "
     "text (redact.py)."},
    {"mask_capitalised", native_mask_capitalised, METH_VARARGS,
     "mask_capitalised(text, labels) -> str: each capitalised word of text not in the frozenset "
     "labels keeps its first letter and hyphens, as redact._WORD.sub (see redact.c)."},
    {"longest_word", native_longest_word, METH_O,
     "longest_word(text) -> int: the length of the longest item of text.split() (0 without "
     "one; redact.py)."},
    {"one_line", native_one_line, METH_O,
     "one_line(text) -> str: each run of white space, control or invisible characters in text "
     "as one space, none at either end (engine/excerpts.py)."},
    {"excerpt_window", native_excerpt_window, METH_VARARGS,
     "excerpt_window(data, start, end, width, margin, snap) -> (a, start, end, b, ctx): where "
     "an excerpt cuts data: the match moved out to blanks, the characters shown on each side, "
     "the window redacted, widened to blanks (engine/excerpts.py; see redact.c)."},
    {"lookup_owners", native_lookup_owners, METH_VARARGS,
     "lookup_owners(table, index, shift, owners, queries) -> [(query_index, [owner])]: lookup "
     "with the uint32 owners of each query found, as ints (see matcher.py)."},
    {"read_files", native_read_files, METH_VARARGS,
     "read_files(paths, sizes, cap) -> [bytes | int]: at most min(cap, size) + 1 bytes of each "
     "NUL-separated path, or the errno that stopped it (see files.c)."},
    {"list_folder", native_list_folder, METH_VARARGS,
     "list_folder(folder, ignore_d_type=False) -> (paths, codes, values, ascii): the entries "
     "of a folder as os.scandir's DirEntry.path, sorted by their names' bytes, each with its "
     "LISTED_* code (one byte each) and value (a file's size, an error's errno, else 0); "
     "ascii: every name is ASCII (the order is then the names' str order). ignore_d_type: "
     "lstat every entry, as on a file system without d_type (tests). OSError naming the "
     "folder when it cannot be listed (see files.c)."},
    {"bulk_summary", native_bulk_summary, METH_VARARGS,
     "bulk_summary(data, cap, limit, specs) -> None | list: bulk_find with (first, distinct, "
     "scale) for a detector validated in C, not its whole list (see validate.c)."},
    {"redact_hints", native_redact_hints, METH_O,
     "redact_hints(text) -> int: the bit mask of the cheap tests redact.redact() asks before "
     "its passes, in one pass over text (redact.py's HINT_*; see redact.c)."},
    {"redact_hints_late", native_redact_hints_late, METH_O,
     "redact_hints_late(text) -> int: redact_hints(text)'s bits from HINT_COMBO_PUNCT on (the "
     "tests after the secrets' passes), the others 0; quicker (see redact.c)."},
    {NULL}};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT, "_native",
    "The per-candidate work of fingerprint matching (see candidates.py).", -1, module_methods};

PyMODINIT_FUNC PyInit__native(void) {
    init_classes();
    reader_init_tables();
    if (PyType_Ready(&HmacType) < 0 || PyType_Ready(&ReaderType) < 0) return NULL;
    PyObject *m = PyModule_Create(&native_module);
    if (!m) return NULL;
    Py_INCREF(&HmacType);
    Py_INCREF(&ReaderType);
    /* the limits and kind codes Python shares with this file (candidates.py reads them) */
    PyObject *kinds = PyTuple_New(K_COUNT);
    for (int k = 0; kinds && k < K_COUNT; k++) {
        PyObject *name = PyUnicode_FromString(KIND_NAMES[k]);
        if (!name) Py_CLEAR(kinds);
        else PyTuple_SET_ITEM(kinds, k, name);
    }
    if (PyModule_AddObject(m, "Hmac", (PyObject *)&HmacType) < 0 ||
        PyModule_AddObject(m, "CandidateReader", (PyObject *)&ReaderType) < 0 || !kinds ||
        PyModule_AddObject(m, "STRONG_KIND_NAMES", kinds) < 0 ||
        PyModule_AddIntConstant(m, "MAX_ROW", MAX_ROW) < 0 ||
        PyModule_AddIntConstant(m, "MAX_PHRASES_PER_ROW", MAX_PHRASES_PER_ROW) < 0 ||
        PyModule_AddIntConstant(m, "EMAIL_KIND", K_EMAIL) < 0 ||
        files_add_constants(m) < 0) {
        Py_XDECREF(kinds);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
