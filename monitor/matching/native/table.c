/*
 * table.c: membership in a sorted uint64 hash table through a bucket index on the top bits
 * (fingerprints/matcher.py: a query costs one or two cache misses, not a binary search
 * through tens of MB).
 */
#include "native.h"

/* bucket_index(table, shift) -> bytes: where each bucket of the top (64 - shift) bits starts in
   the sorted uint64 `table` (uint32, 2**(64 - shift) + 1 entries, the last one len(table)), in
   one pass: the index `lookup` needs, built when a set is loaded. */
PyObject *native_bucket_index(PyObject *mod, PyObject *args) {
    (void)mod;
    Py_buffer table;
    int shift;
    if (!PyArg_ParseTuple(args, "y*i:bucket_index", &table, &shift)) return NULL;
    PyObject *out = NULL;
    Py_ssize_t n = table.len / 8;
    if (shift < 40 || shift > 63 || table.len % 8 || n >= (Py_ssize_t)UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "bucket_index: bad table or shift");
        goto done;
    }
    Py_ssize_t buckets = (Py_ssize_t)1 << (64 - shift);
    out = PyBytes_FromStringAndSize(NULL, (buckets + 1) * 4);
    if (!out) goto done;
    uint32_t *idx = (uint32_t *)PyBytes_AS_STRING(out);
    const uint64_t *t = (const uint64_t *)table.buf;
    Py_ssize_t j = 0;
    for (Py_ssize_t b = 0; b < buckets; b++) {
        while (j < n && (Py_ssize_t)(t[j] >> shift) < b) j++;
        idx[b] = (uint32_t)j;
    }
    idx[buckets] = (uint32_t)n;
done:
    PyBuffer_Release(&table);
    return out;
}

/* lookup(table, index, shift, queries) -> (query_index, lo, hi): for each query found in the
   sorted uint64 `table`, its index in `queries` and the range table[lo:hi] equal to it.
   `index` (uint32, 2**k + 1 entries) holds where each bucket of the top k bits starts
   (shift = 64 - k): the hashes are uniform, so a bucket holds a few entries. */
/* Whether the table's bucket `index` fits it (see lookup); 0 with a ValueError naming `fn`. */
static int index_fits(const Py_buffer *table, const Py_buffer *index, int shift, const char *fn) {
    Py_ssize_t n_idx = index->len / 4, n_t = table->len / 8;
    if (shift < 40 || shift > 63 || table->len % 8 || index->len % 4 ||
        n_idx != ((Py_ssize_t)1 << (64 - shift)) + 1 ||
        ((const uint32_t *)index->buf)[n_idx - 1] != (uint32_t)n_t) {
        PyErr_Format(PyExc_ValueError, "%s: index does not fit the table", fn);
        return 0;
    }
    return 1;
}

/* The range [*lo, *end) of table `t` (n_t entries, bucket index `idx`) equal to q; 0 when q
   is not there. */
static int find_range(const uint64_t *t, uint32_t n_t, const uint32_t *idx, int shift,
                      uint64_t q, uint32_t *lo_out, uint32_t *end_out) {
    uint64_t b = q >> shift;
    uint32_t lo = idx[b], hi = idx[b + 1];
    if (hi > n_t) hi = n_t; /* a bad index must not read past the table */
    while (lo < hi && t[lo] < q) lo++;
    if (lo >= hi || t[lo] != q) return 0;
    uint32_t end = lo + 1;
    while (end < n_t && t[end] == q) end++;
    *lo_out = lo;
    *end_out = end;
    return 1;
}

PyObject *native_lookup(PyObject *mod, PyObject *args) {
    (void)mod;
    Py_buffer table, index, queries;
    int shift;
    if (!PyArg_ParseTuple(args, "y*y*iy*:lookup", &table, &index, &shift, &queries)) return NULL;
    PyObject *result = NULL;
    Buf qi = {0}, los = {0}, his = {0};
    const uint64_t *t = (const uint64_t *)table.buf;
    const uint32_t *idx = (const uint32_t *)index.buf;
    Py_ssize_t n_q = queries.len / 8, n_t = table.len / 8;
    if (!index_fits(&table, &index, shift, "lookup")) goto done;
    if (queries.len % 8) {
        PyErr_SetString(PyExc_ValueError, "lookup: queries must be a uint64 array");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n_q; i++) {
        uint64_t q;
        uint32_t lo, end;
        memcpy(&q, (char *)queries.buf + 8 * i, 8);
        if (!find_range(t, (uint32_t)n_t, idx, shift, q, &lo, &end)) continue;
        if (buf_i64(&qi, i) < 0 || buf_i64(&los, lo) < 0 || buf_i64(&his, end) < 0) goto done;
    }
    result = Py_BuildValue("(NNN)", buf_bytes(&qi), buf_bytes(&los), buf_bytes(&his));
done:
    buf_free(&qi);
    buf_free(&los);
    buf_free(&his);
    PyBuffer_Release(&table);
    PyBuffer_Release(&index);
    PyBuffer_Release(&queries);
    return result;
}

/* found[i]: is q[i * stride] in a sorted uint64 table with its bucket index (checked by
   set_tables)? For n queries, in blocks: the bucket starts of a block are
   prefetched, then its table entries, then read (the tables are tens of MB: one cache miss
   after the other was most of a lookup). */
void table_has_many(const Py_buffer *table, const Py_buffer *index, int shift,
                           const uint64_t *q, size_t stride, size_t n, uint8_t *found) {
    const uint64_t *t = (const uint64_t *)table->buf;
    const uint32_t *idx = (const uint32_t *)index->buf;
    uint32_t n_t = (uint32_t)(table->len / 8);
    for (size_t at = 0; at < n; at += LOOKUP_BLOCK) {
        size_t m = n - at < LOOKUP_BLOCK ? n - at : LOOKUP_BLOCK;
        if (!n_t) {
            memset(found + at, 0, m);
            continue;
        }
        uint32_t lo[LOOKUP_BLOCK];
        for (size_t i = 0; i < m; i++) __builtin_prefetch(&idx[q[(at + i) * stride] >> shift]);
        for (size_t i = 0; i < m; i++) {
            lo[i] = idx[q[(at + i) * stride] >> shift];
            if (lo[i] < n_t) __builtin_prefetch(&t[lo[i]]);
        }
        for (size_t i = 0; i < m; i++) {
            uint64_t v = q[(at + i) * stride];
            uint32_t a = lo[i], hi = idx[(v >> shift) + 1];
            if (hi > n_t) hi = n_t;
            while (a < hi && t[a] < v) a++;
            found[at + i] = a < hi && t[a] == v;
        }
    }
}

/* lookup_owners(table, index, shift, owners, queries) -> [(query_index, [owner, ...])]: lookup,
   with the owners (uint32, one per table entry) of each query found, as Python ints: what
   matcher._Table.find gives, without a numpy array per hit on a document's few hits. */
PyObject *native_lookup_owners(PyObject *mod, PyObject *args) {
    (void)mod;
    Py_buffer table, index, owners, queries;
    int shift;
    if (!PyArg_ParseTuple(args, "y*y*iy*y*:lookup_owners", &table, &index, &shift, &owners,
                          &queries))
        return NULL;
    PyObject *result = NULL;
    const uint64_t *t = (const uint64_t *)table.buf;
    const uint32_t *idx = (const uint32_t *)index.buf, *own = (const uint32_t *)owners.buf;
    Py_ssize_t n_q = queries.len / 8, n_t = table.len / 8;
    if (!index_fits(&table, &index, shift, "lookup_owners")) goto done;
    if (queries.len % 8 || owners.len != n_t * 4) {
        PyErr_SetString(PyExc_ValueError,
                        "lookup_owners: queries must be uint64, owners uint32 of the table's size");
        goto done;
    }
    if (n_q && ((uintptr_t)queries.buf % 8)) {
        PyErr_SetString(PyExc_ValueError, "lookup_owners: queries must be 8-byte aligned");
        goto done;
    }
    const uint64_t *qv = (const uint64_t *)queries.buf;
    uint8_t *found = PyMem_Malloc(n_q ? (size_t)n_q : 1);
    if (!found) {
        PyErr_NoMemory();
        goto done;
    }
    /* membership of all queries first, prefetched block by block; the ranges of the hits only */
    table_has_many(&table, &index, shift, qv, 1, (size_t)n_q, found);
    result = PyList_New(0);
    for (Py_ssize_t i = 0; result && i < n_q; i++) {
        uint32_t lo, end;
        if (!found[i] || !find_range(t, (uint32_t)n_t, idx, shift, qv[i], &lo, &end)) continue;
        PyObject *recs = PyList_New(end - lo);
        for (uint32_t j = lo; recs && j < end; j++) {
            PyObject *v = PyLong_FromUnsignedLong(own[j]);
            if (!v) Py_CLEAR(recs);
            else PyList_SET_ITEM(recs, j - lo, v);
        }
        PyObject *pair = recs ? Py_BuildValue("(nN)", i, recs) : NULL;
        if (!pair || PyList_Append(result, pair) < 0) Py_CLEAR(result);
        Py_XDECREF(pair);
    }
    PyMem_Free(found);
done:
    PyBuffer_Release(&table);
    PyBuffer_Release(&index);
    PyBuffer_Release(&owners);
    PyBuffer_Release(&queries);
    return result;
}
