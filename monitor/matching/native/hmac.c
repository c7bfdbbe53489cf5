/*
 * hmac.c: Hmac(key), HMAC-SHA-256 truncated to 64 bits (little-endian, never 0) under one key,
 * key pads precomputed; the SHA-256 code (portable, or the CPU's SHA instructions) is the
 * header-only sha256.h, compiled into this unit only (its implementation choice is per unit).
 * The reader hashes through hmac_hash2.
 */
#include "native.h"
#include "sha256.h"

struct HmacObject {
    PyObject_HEAD
    lm_sha256_mid inner, outer;
    int ready; /* __init__ ran: an Hmac made by __new__ alone must not hash with a zero state */
};

int hmac_ready(const HmacObject *h) {
    if (h->ready) return 1;
    PyErr_SetString(PyExc_RuntimeError, "Hmac is not initialized");
    return 0;
}

static int Hmac_init(HmacObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"key", NULL};
    Py_buffer key;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*:Hmac", kwlist, &key)) return -1;
    lm_hmac_init((const uint8_t *)key.buf, (size_t)key.len, &self->inner, &self->outer);
    self->ready = 1;
    PyBuffer_Release(&key);
    return 0;
}

uint64_t hmac_hash2(const HmacObject *h, const void *a, size_t alen, const void *b,
                    size_t blen) {
    return lm_hmac64_2(&h->inner, &h->outer, (const uint8_t *)a, alen, (const uint8_t *)b, blen);
}

static PyObject *Hmac_hash(HmacObject *self, PyObject *arg) {
    Py_buffer msg;
    if (!hmac_ready(self)) return NULL;
    if (PyObject_GetBuffer(arg, &msg, PyBUF_SIMPLE) < 0) return NULL;
    uint64_t h = lm_hmac64(&self->inner, &self->outer, (const uint8_t *)msg.buf, (size_t)msg.len);
    PyBuffer_Release(&msg);
    return PyLong_FromUnsignedLongLong(h);
}

static PyObject *Hmac_hash_many(HmacObject *self, PyObject *arg) {
    if (!hmac_ready(self)) return NULL;
    PyObject *seq = PySequence_Fast(arg, "hash_many() takes a sequence of bytes");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject *out = PyBytes_FromStringAndSize(NULL, n * 8);
    if (!out) {
        Py_DECREF(seq);
        return NULL;
    }
    uint64_t *dst = (uint64_t *)PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        char *p;
        Py_ssize_t len;
        if (PyBytes_AsStringAndSize(item, &p, &len) < 0) {
            Py_DECREF(seq);
            Py_DECREF(out);
            return NULL;
        }
        uint64_t h = lm_hmac64(&self->inner, &self->outer, (const uint8_t *)p, (size_t)len);
        memcpy(dst + i, &h, 8);
    }
    Py_DECREF(seq);
    return out;
}

static PyMethodDef Hmac_methods[] = {
    {"hash", (PyCFunction)Hmac_hash, METH_O,
     "hash(message) -> int: HMAC-SHA-256 truncated to its first 8 bytes (little-endian), "
     "never 0."},
    {"hash_many", (PyCFunction)Hmac_hash_many, METH_O,
     "hash_many(messages) -> bytes: hash() of each message, as native uint64 values."},
    {NULL}};

PyTypeObject HmacType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "monitor.matching._native.Hmac",
    .tp_basicsize = sizeof(HmacObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Hmac(key): truncated HMAC-SHA-256 under one key (key pads precomputed).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Hmac_init,
    .tp_methods = Hmac_methods,
};

PyObject *native_sha_impl(PyObject *mod, PyObject *unused) {
    (void)mod;
    (void)unused;
    return PyUnicode_FromString(lm_sha256_impl());
}
