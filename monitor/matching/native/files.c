/*
 * files.c: read_files(paths, sizes, cap), the reading of a slice of `leakmon scan` inputs in
 * one call: open, read and close per file in C instead of three Python calls and an OSError
 * per unreadable file (filescan/inputs.py, read_slice); list_folder(folder), one folder of the
 * walk (filescan/inputs.py, walk_folder) listed, classified and sorted in one call.
 */
#include "native.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef O_PATH /* not Linux: a folder opened for reading serves as well */
#define O_PATH O_RDONLY
#endif

/* The folder of the file at `path` (its part up to the last '/'), opened O_PATH as the
   descriptor the file is opened relative to: the kernel walks a slice's common folder once,
   not its every component again for each of its files (the open of a 3 KB message cost
   more in path lookup than in reading). `dir` holds the folder opened last and `*dfd` its
   descriptor; AT_FDCWD (the whole path, as open() takes it) for a path without '/' or a
   folder that will not open (the file's own open then says why, as before). */
static const char *relative_to_folder(const char *path, char *dir, size_t dir_cap, int *dfd) {
    const char *slash = strrchr(path, '/');
    if (slash == NULL || slash == path || slash[1] == 0) {
        return path; /* no folder, the root's files, or no name: the path as it is */
    }
    size_t len = (size_t)(slash - path);
    if (*dfd >= 0 && strlen(dir) == len && memcmp(dir, path, len) == 0) return slash + 1;
    if (*dfd >= 0) close(*dfd);
    *dfd = -1;
    dir[0] = 0;
    if (len >= dir_cap) return path;
    memcpy(dir, path, len);
    dir[len] = 0;
    int fd;
    do {
        fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        dir[0] = 0;
        return path;
    }
    *dfd = fd;
    return slash + 1;
}

#ifdef RWF_NOWAIT
/* 0 once a read with RWF_NOWAIT was refused (an old kernel, a file system without it). */
static int nowait_works = 1;
#endif

/* The first read of a file: like read(), but when `*cold` is 0 and the file's first bytes are
   not in the page cache, it sets `*cold` (its caller then starts the kernel reading the other
   files of the slice, see prefetch) before it waits for them. */
static ssize_t first_read(int fd, char *p, size_t n, int *cold) {
#ifdef RWF_NOWAIT
    if (!*cold && nowait_works) {
        struct iovec iov = {p, n};
        ssize_t got = preadv2(fd, &iov, 1, -1, RWF_NOWAIT); /* -1: at the file position */
        if (got >= 0) return got;
        if (errno == EAGAIN) {
            *cold = 1;
        } else if (errno == EOPNOTSUPP || errno == EINVAL || errno == ENOSYS) {
            nowait_works = 0;
        } else {
            return got;
        }
    }
#else
    (void)cold;
#endif
    return read(fd, p, n);
}

/* One file: at most `want` bytes of it (fewer at its end, or when `size` bytes came and
   size < want: what the walk announced, no read() for the EOF), or the errno as an int.
   `*cold`: see first_read. */
static PyObject *read_one(int dfd, const char *path, Py_ssize_t size, Py_ssize_t want,
                          int *cold) {
    int fd;
    do {
        fd = openat(dfd, path, O_RDONLY | O_CLOEXEC);
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
        ssize_t n = got == 0 ? first_read(fd, p, (size_t)want, cold)
                             : read(fd, p + got, (size_t)(want - got));
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

#if defined(RWF_NOWAIT) && defined(POSIX_FADV_WILLNEED)
/* Ask the kernel to read the `count` files from `path` (their sizes, the walk's) into the page cache
   (posix_fadvise WILLNEED on each, at most `cap` bytes), without waiting: a slice of messages
   not in memory is then read with many requests in flight, not one file after the other (on
   this VM a 2-core scan of 100 MB in 31,646 files not cached took 2.2 s, 0.57 s cached).
   Nothing is reported: read_files opens each file again and says what went wrong. */
static void prefetch(const char *path, const char *end, const Py_ssize_t *sizes,
                     Py_ssize_t count, Py_ssize_t cap) {
    char dir[PATH_MAX];
    int dfd = -1;
    dir[0] = 0;
    for (Py_ssize_t i = 0; i < count && path < end; i++, path += strlen(path) + 1) {
        Py_ssize_t size = sizes[i];
        if (size == 0) continue;
        const char *name = relative_to_folder(path, dir, sizeof dir, &dfd);
        int fd = openat(name == path ? AT_FDCWD : dfd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        (void)posix_fadvise(fd, 0, (off_t)(size < cap ? size : cap), POSIX_FADV_WILLNEED);
        close(fd);
    }
    if (dfd >= 0) close(dfd);
}
#endif

/* read_files(paths, sizes, cap) -> [bytes | int]: for each NUL-separated path of `paths`
   (bytes) and its size as the walk saw it, at most min(cap, size) + 1 bytes of the file (the
   +1 notices a file that grew), or the errno of the open or read that failed. The first file
   whose bytes are not in the page cache has the kernel read all the files after it at once
   (prefetch), in the background, while they are read in order here. */
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
    char dir[PATH_MAX];
    int dfd = -1, cold = 0;
    dir[0] = 0;
    /* the sizes as C numbers, read once: the reads and the prefetch both go through them */
    Py_ssize_t *sz = PyMem_Malloc((size_t)(count ? count : 1) * sizeof *sz);
    if (sz == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        sz[i] = PyLong_AsSsize_t(PyList_GET_ITEM(sizes, i));
        if (sz[i] < 0) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "read_files: a negative size");
            goto fail;
        }
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        if (path > end) {
            PyErr_SetString(PyExc_ValueError, "read_files: fewer paths than sizes");
            goto fail;
        }
        Py_ssize_t size = sz[i];
        const char *name = relative_to_folder(path, dir, sizeof dir, &dfd);
        int was_cold = cold;
        PyObject *one = read_one(name == path ? AT_FDCWD : dfd, name, size,
                                 (size < cap ? size : cap) + 1, &cold);
        if (one == NULL) goto fail;
        PyList_SET_ITEM(out, i, one);
        path += strlen(path) + 1;
#if defined(RWF_NOWAIT) && defined(POSIX_FADV_WILLNEED)
        if (cold && !was_cold) prefetch(path, end, sz + i + 1, count - i - 1, cap);
#else
        (void)was_cold; /* no cold file is noticed without RWF_NOWAIT */
#endif
    }
    if (path <= end) {
        PyErr_SetString(PyExc_ValueError, "read_files: more paths than sizes");
        goto fail;
    }
    if (dfd >= 0) close(dfd);
    PyMem_Free(sz);
    PyMem_Free(paths);
    PyBuffer_Release(&view);
    return out;
fail:
    if (dfd >= 0) close(dfd);
    PyMem_Free(sz);
    PyMem_Free(paths);
    PyBuffer_Release(&view);
    Py_DECREF(out);
    return NULL;
}

/* ---------------------------------------------------------------- list_folder */

/* What list_folder says of an entry, one byte each (exported as LISTED_*; the walk finds the
   entries that are not LISTED_FILE with one regular expression over the codes). */
enum { LISTED_FILE = 0, LISTED_DIR = 1, LISTED_LINKED_FILE = 2, LISTED_OTHER = 3,
       LISTED_ERROR = 4 };

typedef struct {
    size_t name;        /* offset of its NUL-terminated name in the names arena */
    const char *s;      /* the name, once the arena is complete (for the sort) */
    size_t len;         /* the name's length */
    unsigned char type; /* d_type, then the LISTED_* code */
    long long value;    /* the size (files), the errno (errors), else 0 */
} Listed;

typedef struct {
    char *names;
    size_t names_len, names_cap;
    Listed *items;
    size_t count, cap;
} Listing;

static void listing_free(Listing *l) {
    free(l->names);
    free(l->items);
}

/* -1 when out of memory */
static int listing_add(Listing *l, const char *name, size_t len, unsigned char type) {
    if (l->count == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        Listed *items = realloc(l->items, cap * sizeof *items);
        if (!items) return -1;
        l->items = items;
        l->cap = cap;
    }
    if (l->names_len + len + 1 > l->names_cap) {
        size_t cap = l->names_cap ? l->names_cap : 4096;
        while (cap < l->names_len + len + 1) cap *= 2;
        char *names = realloc(l->names, cap);
        if (!names) return -1;
        l->names = names;
        l->names_cap = cap;
    }
    memcpy(l->names + l->names_len, name, len + 1);
    l->items[l->count++] = (Listed){l->names_len, NULL, len, type, 0};
    l->names_len += len + 1;
    return 0;
}

/* strcmp: the order of the names' bytes (unsigned), which is the order of their str for
   ASCII names only (see list_folder in document_scan.py) */
static int by_name(const void *a, const void *b) {
    return strcmp(((const Listed *)a)->s, ((const Listed *)b)->s);
}

/* The code of one entry, as os.DirEntry's is_dir(follow_symlinks=False), is_file(),
   is_symlink() and stat() would find it (cli/scan.py's walk before list_folder): d_type when
   the file system gives it, else an lstat; a stat through a link (a dangling link, ENOENT, is
   not a file: no error); the lstat of a regular file for its size (its error is one, even
   ENOENT: the file went away). `too_long`: the entry's path is longer than the path-based
   stat of os.DirEntry would take (ENAMETOOLONG); these stats are relative to the folder's
   descriptor, which has no such limit. */
static void classify(int dfd, const char *name, Listed *e, int too_long) {
    struct stat st;
    unsigned char type = e->type;
    e->value = 0;
    if (type == DT_DIR) {
        e->type = LISTED_DIR;
        return;
    }
    if (type != DT_REG && type != DT_LNK && type != DT_UNKNOWN) {
        e->type = LISTED_OTHER; /* fifos, sockets, devices */
        return;
    }
    if (too_long) {
        e->type = LISTED_ERROR;
        e->value = ENAMETOOLONG;
        return;
    }
    if (type != DT_LNK) {
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            /* os.DirEntry.is_dir of an entry of no type takes a vanished file for none */
            e->type = (type == DT_UNKNOWN && errno == ENOENT) ? LISTED_OTHER : LISTED_ERROR;
            e->value = e->type == LISTED_ERROR ? errno : 0;
            return;
        }
        if (S_ISDIR(st.st_mode) && type == DT_UNKNOWN) {
            e->type = LISTED_DIR;
            return;
        }
        if (!S_ISLNK(st.st_mode) || type == DT_REG) {
            /* DT_REG: the size, whatever the lstat says (os.DirEntry trusts d_type too) */
            e->type = (type == DT_REG || S_ISREG(st.st_mode)) ? LISTED_FILE : LISTED_OTHER;
            e->value = e->type == LISTED_FILE ? (long long)st.st_size : 0;
            return;
        }
    }
    /* a link: what it leads to */
    if (fstatat(dfd, name, &st, 0) < 0) {
        e->type = errno == ENOENT ? LISTED_OTHER : LISTED_ERROR; /* dangling; loops: ELOOP */
        e->value = e->type == LISTED_ERROR ? errno : 0;
        return;
    }
    e->type = S_ISREG(st.st_mode) ? LISTED_LINKED_FILE : LISTED_OTHER;
    e->value = e->type == LISTED_LINKED_FILE ? (long long)st.st_size : 0;
}

/* The entries of one folder, classified and sorted by their bytes, without the GIL. 0, or
   the errno of opendir/readdir (-1: out of memory). `prefix_len`: the length of the folder's
   path with its '/', for the ENAMETOOLONG rule. */
static int list_entries(const char *folder, size_t prefix_len, int ignore_d_type,
                        Listing *l, int *ascii) {
    DIR *dir = opendir(folder);
    if (!dir) return errno;
    int err = 0;
    for (;;) {
        errno = 0;
        struct dirent *d = readdir(dir);
        if (!d) {
            err = errno;
            break;
        }
        const char *n = d->d_name;
        if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0))) continue;
        if (listing_add(l, n, strlen(n), ignore_d_type ? DT_UNKNOWN : d->d_type) < 0) {
            err = -1;
            break;
        }
    }
    if (!err) {
        int dfd = dirfd(dir);
        for (size_t i = 0; i < l->count; i++) {
            Listed *e = &l->items[i];
            const unsigned char *n = (const unsigned char *)l->names + e->name;
            e->s = (const char *)n;
            for (size_t k = 0; k < e->len; k++)
                if (n[k] >= 0x80) *ascii = 0;
            classify(dfd, (const char *)n, e, prefix_len + e->len >= PATH_MAX);
        }
    }
    closedir(dir);
    return err;
}

/* list_folder(folder, ignore_d_type=False) -> (paths, codes, values, ascii): see module.c. */
PyObject *native_list_folder(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *folder, *encoded;
    int ignore_d_type = 0;
    if (!PyArg_ParseTuple(args, "U|p:list_folder", &folder, &ignore_d_type)) return NULL;
    if (!PyUnicode_FSConverter(folder, &encoded)) return NULL;
    const char *path = PyBytes_AS_STRING(encoded);
    size_t plen = (size_t)PyBytes_GET_SIZE(encoded);
    /* os.DirEntry.path: the folder, '/' unless it ends with one, the name */
    size_t prefix_len = plen + (plen > 0 && path[plen - 1] != '/');
    Listing l = {0};
    int ascii = 1, err;
    Py_BEGIN_ALLOW_THREADS
    err = list_entries(path, prefix_len, ignore_d_type, &l, &ascii);
    if (!err) qsort(l.items, l.count, sizeof *l.items, by_name);
    Py_END_ALLOW_THREADS
    PyObject *paths = NULL, *codes = NULL, *values = NULL, *out = NULL;
    char *full = NULL;
    if (err) {
        if (err < 0) PyErr_NoMemory();
        else {
            errno = err;
            PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, folder);
        }
        goto done;
    }
    size_t longest = 0;
    for (size_t i = 0; i < l.count; i++)
        if (l.items[i].len > longest) longest = l.items[i].len;
    Py_ssize_t count = (Py_ssize_t)l.count;
    paths = PyList_New(count);
    values = PyList_New(count);
    codes = PyBytes_FromStringAndSize(NULL, count);
    full = PyMem_Malloc(prefix_len + longest + 1);
    if (!paths || !values || !codes || !full) {
        if (!full) PyErr_NoMemory();
        goto done;
    }
    memcpy(full, path, plen);
    if (prefix_len > plen) full[plen] = '/';
    char *code = PyBytes_AS_STRING(codes);
    for (Py_ssize_t i = 0; i < count; i++) {
        const Listed *e = &l.items[i];
        memcpy(full + prefix_len, e->s, e->len);
        /* decoded as os.scandir decodes a DirEntry's path (the file system encoding,
           surrogateescape) */
        PyObject *p = PyUnicode_DecodeFSDefaultAndSize(full, (Py_ssize_t)(prefix_len + e->len));
        PyObject *v = p ? PyLong_FromLongLong(e->value) : NULL;
        if (!v) {
            Py_XDECREF(p);
            goto done;
        }
        PyList_SET_ITEM(paths, i, p);
        PyList_SET_ITEM(values, i, v);
        code[i] = (char)e->type;
    }
    out = Py_BuildValue("(OOOO)", paths, codes, values, ascii ? Py_True : Py_False);
done:
    PyMem_Free(full);
    Py_XDECREF(paths);
    Py_XDECREF(codes);
    Py_XDECREF(values);
    Py_DECREF(encoded);
    listing_free(&l);
    return out;
}

int files_add_constants(PyObject *m) {
    return (PyModule_AddIntConstant(m, "LISTED_FILE", LISTED_FILE) < 0 ||
            PyModule_AddIntConstant(m, "LISTED_DIR", LISTED_DIR) < 0 ||
            PyModule_AddIntConstant(m, "LISTED_LINKED_FILE", LISTED_LINKED_FILE) < 0 ||
            PyModule_AddIntConstant(m, "LISTED_OTHER", LISTED_OTHER) < 0 ||
            PyModule_AddIntConstant(m, "LISTED_ERROR", LISTED_ERROR) < 0) ? -1 : 0;
}
