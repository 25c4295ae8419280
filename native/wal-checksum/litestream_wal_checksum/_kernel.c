/* SQLite's WAL checksum (walChecksumBytes in wal.c), the one hot loop of WAL reading.
 *
 * Over 32-bit word pairs (x0, x1): s0 += x0 + s1; s1 += x1 + s0, wrapping mod 2**32.
 * The words are little- or big-endian as the WAL's magic number says; the byte loads
 * below are written portably and compile to single loads (plus bswap) on every
 * mainstream compiler. Built against the stable ABI (abi3), so one wheel per platform
 * serves every Python from 3.11 on.
 */
#define Py_LIMITED_API 0x030B0000
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

static inline uint32_t load_le(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint32_t load_be(const unsigned char *p) {
    return (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
}

#define CHECKSUM_LOOP(load)                  \
    for (; p < end; p += 8) {                \
        s0 += load(p) + s1;                  \
        s1 += load(p + 4) + s0;              \
    }

static void checksum_bytes(const unsigned char *p, Py_ssize_t len, int big_endian,
                           uint32_t *out0, uint32_t *out1) {
    const unsigned char *end = p + len;
    uint32_t s0 = *out0, s1 = *out1;
    if (big_endian) {
        CHECKSUM_LOOP(load_be)
    } else {
        CHECKSUM_LOOP(load_le)
    }
    *out0 = s0;
    *out1 = s1;
}

/* Buffers at least this large are summed without the GIL, so other threads run. */
#define RELEASE_GIL_FROM 65536

/* A state word: an int in [0, 2**32); sets an exception and returns -1 otherwise. */
static int state_word(PyObject *obj, uint32_t *out) {
    unsigned long long value = PyLong_AsUnsignedLongLong(obj);
    if (value == (unsigned long long)-1 && PyErr_Occurred()) {
        return -1;
    }
    if (value > 0xFFFFFFFFULL) {
        PyErr_SetString(PyExc_ValueError, "checksum: state words must fit in 32 bits");
        return -1;
    }
    *out = (uint32_t)value;
    return 0;
}

static PyObject *checksum(PyObject *module, PyObject *args) {
    Py_buffer data;
    PyObject *s0, *s1;
    int big_endian;
    uint32_t c0, c1;
    (void)module;
    if (!PyArg_ParseTuple(args, "y*OOp:checksum", &data, &s0, &s1, &big_endian)) {
        return NULL;
    }
    if (state_word(s0, &c0) < 0 || state_word(s1, &c1) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    if (data.len % 8 != 0) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "checksum: length is not a multiple of 8 bytes");
        return NULL;
    }
    if (data.len >= RELEASE_GIL_FROM) {
        Py_BEGIN_ALLOW_THREADS
        checksum_bytes(data.buf, data.len, big_endian, &c0, &c1);
        Py_END_ALLOW_THREADS
    } else {
        checksum_bytes(data.buf, data.len, big_endian, &c0, &c1);
    }
    PyBuffer_Release(&data);
    return Py_BuildValue("(kk)", (unsigned long)c0, (unsigned long)c1);
}

static PyMethodDef methods[] = {
    {"checksum", checksum, METH_VARARGS,
     "checksum(data, s0, s1, big_endian, /) -> (s0, s1)\n--\n\n"
     "Continue SQLite's WAL checksum from (s0, s1) over data (a multiple of 8 bytes)."},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot slots[] = {
    {0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernel", NULL, 0, methods, slots, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernel(void) { return PyModuleDef_Init(&module); }
