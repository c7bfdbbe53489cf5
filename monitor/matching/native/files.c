/*
 * files.c: read_files(paths, sizes, cap), the reading of a slice of `leakmon scan` inputs in
 * one call: open, read and close per file in C instead of three Python calls and an OSError
 * per unreadable file (cli/scan.py, _read_slice).
 */
#include "native.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* One file: at most `want` bytes of it (fewer at its end, or when `size` bytes came and
   size < want: what the walk announced, no read() for the EOF), or the errno as an int. */
static PyObject *read_one(const char *path, Py_ssize_t size, Py_ssize_t want) {
    int fd;
    do {
        fd = open(path, O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR && PyErr_CheckSignals() == 0);
    if (fd < 0) return PyErr_Occurred() ? NULL : PyLong_FromLong(errno);
    PyObject *out = PyBytes_FromStringAndSize(NULL, want);
    if (out == NULL) {
        close(fd);
        return NULL;
    }
    char *p = PyBytes_AS_STRING(out);
    Py_ssize_t got = 0;
    int err = 0;
    while (got < want) {
        ssize_t n = read(fd, p + got, (size_t)(want - got));
        if (n < 0) {
            if (errno == EINTR) {
                if (PyErr_CheckSignals() == 0) continue;
                close(fd);
                Py_DECREF(out);
                return NULL;
            }
            err = errno;
            break;
        }
        if (n == 0) break;
        got += n;
        if (got == size && size < want) break;
    }
    close(fd);
    if (err) {
        Py_DECREF(out);
        return PyLong_FromLong(err);
    }
    if (got < want && _PyBytes_Resize(&out, got) < 0) return NULL;
    return out;
}

/* read_files(paths, sizes, cap) -> [bytes | int]: for each NUL-separated path of `paths`
   (bytes) and its size as the walk saw it, at most min(cap, size) + 1 bytes of the file (the
   +1 notices a file that grew), or the errno of the open or read that failed. */
PyObject *native_read_files(PyObject *mod, PyObject *args) {
    (void)mod;
    Py_buffer view;
    PyObject *sizes;
    Py_ssize_t cap;
    if (!PyArg_ParseTuple(args, "y*O!n", &view, &PyList_Type, &sizes, &cap)) return NULL;
    Py_ssize_t count = PyList_GET_SIZE(sizes);
    PyObject *out = PyList_New(count);
    /* a copy with its NUL terminator: the paths are NUL-separated already */
    char *paths = out ? PyMem_Malloc((size_t)view.len + 1) : NULL;
    if (paths == NULL) {
        PyBuffer_Release(&view);
        Py_XDECREF(out);
        return out ? PyErr_NoMemory() : NULL;
    }
    memcpy(paths, view.buf, (size_t)view.len);
    paths[view.len] = 0;
    const char *path = paths, *end = paths + view.len;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (path > end) {
            PyErr_SetString(PyExc_ValueError, "read_files: fewer paths than sizes");
            goto fail;
        }
        Py_ssize_t size = PyLong_AsSsize_t(PyList_GET_ITEM(sizes, i));
        if (size < 0) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "read_files: a negative size");
            goto fail;
        }
        PyObject *one = read_one(path, size, (size < cap ? size : cap) + 1);
        if (one == NULL) goto fail;
        PyList_SET_ITEM(out, i, one);
        path += strlen(path) + 1;
    }
    if (path <= end) {
        PyErr_SetString(PyExc_ValueError, "read_files: more paths than sizes");
        goto fail;
    }
    PyMem_Free(paths);
    PyBuffer_Release(&view);
    return out;
fail:
    PyMem_Free(paths);
    PyBuffer_Release(&view);
    Py_DECREF(out);
    return NULL;
}
