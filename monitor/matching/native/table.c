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
PyObject *native_lookup(PyObject *mod, PyObject *args) {
    (void)mod;
    Py_buffer table, index, queries;
    int shift;
    if (!PyArg_ParseTuple(args, "y*y*iy*:lookup", &table, &index, &shift, &queries)) return NULL;
    PyObject *result = NULL;
    Buf qi = {0}, los = {0}, his = {0};
    const uint64_t *t = (const uint64_t *)table.buf;
    const uint32_t *idx = (const uint32_t *)index.buf;
    Py_ssize_t n_idx = index.len / 4, n_q = queries.len / 8, n_t = table.len / 8;
    if (shift < 40 || shift > 63 || table.len % 8 || queries.len % 8 ||
        n_idx != ((Py_ssize_t)1 << (64 - shift)) + 1 || idx[n_idx - 1] != (uint32_t)n_t) {
        PyErr_SetString(PyExc_ValueError, "lookup: index does not fit the table");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n_q; i++) {
        uint64_t q;
        memcpy(&q, (char *)queries.buf + 8 * i, 8);
        uint64_t b = q >> shift;
        uint32_t lo = idx[b], hi = idx[b + 1];
        if (hi > (uint32_t)n_t) hi = (uint32_t)n_t; /* a bad index must not read past the table */
        while (lo < hi && t[lo] < q) lo++;
        if (lo >= hi || t[lo] != q) continue;
        uint32_t end = lo + 1;
        while (end < n_t && t[end] == q) end++;
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
