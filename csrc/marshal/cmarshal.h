/* nspv2._cmarshal's own declarations, shared by its files. The module is the runtime's path of
 * every lookup, in C, one file per concern:
 *
 *   module.c     the module and the Marshaller type, made by nspv2/_marshal.py's Marshal with
 *                the types it works with; its methods are the functions below;
 *   read.c       a lookup's restrictions (a validated WSAQUERYSET2W) read into a QuerySet;
 *   write.c      a provider's results written as the images csrc/provider/lookups.c takes;
 *   addresses.c  a result's CsAddr tuple written as its CSADDR_INFO block (socket addresses as
 *                Winsock's SOCKADDR_IN / SOCKADDR_IN6);
 *   begin.c      NSPv2LookupServiceBegin's usual path (the Begin type), which the provider
 *                library calls directly;
 *   step.c       a generator's steps (the Stepper type), which the provider library calls for
 *                the lookups it keeps for a generator (csrc/provider/sources.c).
 *
 * Each behaviour has one owner. Where C meets something it does not take (a QuerySet subclass,
 * a list where a tuple belongs, a value out of range, a string with NUL, a host name that is not
 * a literal address, ...) it leaves that to the Python code named at each function, which either
 * writes the same bytes (nspv2/_marshal.py, whose writers are otherwise the reference the parity
 * tests compare with) or raises the error that says what is wrong. This module never raises for
 * a provider's mistake; it raises only for its own misuse (bad arguments), without memory, or
 * with what the Python code it hands work to raises.
 *
 * The layouts are the compiler's, from the headers the provider library is built with; the
 * image format is the one csrc/provider/lookups.c relocates: every piece at a multiple of
 * NSPV2_IMAGE_ALIGN, every pointer written as 1 + the piece's offset (0 for NULL). */
#ifndef NSPV2_CMARSHAL_H
#define NSPV2_CMARSHAL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "nspv2/ws2types.h"
#include "runtime_decls.h"

#include <stdint.h>

#define ALIGN ((size_t)NSPV2_IMAGE_ALIGN)
#define MAX_WSTR 32767 /* the restrictions were validated to terminate within this */
#define CACHE_LIMIT 1024

/* Py_NewRef arrived in 3.10; nspv2 supports 3.9. */
static inline PyObject *new_ref(PyObject *o)
{
    Py_INCREF(o);
    return o;
}

/* n rounded up to a multiple of ALIGN. */
static inline size_t padded(size_t n)
{
    return (n + ALIGN - 1) & ~(ALIGN - 1);
}

/* An exact int (or int subclass) within [low, high], as Python's int() gives it: 1 and *out;
 * 0, with no exception, for anything else. */
static inline int int_in(PyObject *v, long long low, long long high, long long *out)
{
    if (!PyLong_Check(v))
        return 0;
    int overflow;
    long long n = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (n == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    if (overflow || n < low || n > high)
        return 0;
    *out = n;
    return 1;
}

/* A Marshaller: what Marshal hands over (the types it works with and its helpers), and caches.
 * The field names and their number are in one place: MARSHALLER_OBJECTS. */
#define MARSHALLER_OBJECTS(X)                                                                 \
    X(queryset)           /* the types */                                                      \
    X(version)                                                                                 \
    X(afprotocol)                                                                              \
    X(csaddr)                                                                                  \
    X(uuid_type)                                                                               \
    X(uuid_from_bytes_le) /* (bytes) -> UUID */                                                \
    X(uuids)              /* bytes_le -> UUID (reading) */                                     \
    X(uuid_bytes)         /* UUID -> bytes_le (writing) */                                     \
    X(read_fallback)      /* Marshal's read_restrictions_at and create_lookup in Python, */    \
    X(create_fallback)    /* for what this module leaves to them */                           \
    X(last_uuid)          /* the last UUID written, and its bytes_le: no hashing (UUID's */    \
    X(last_uuid_bytes)    /* __hash__ is Python code) for the provider's own id */

typedef uint64_t (*lookups_create_fn)(uint64_t, const GUID *, DWORD, size_t, const char *,
                                      size_t);

typedef struct {
    PyObject_HEAD
#define X(name) PyObject *name;
    MARSHALLER_OBJECTS(X)
#undef X
    /* The provider library's nspv2_lookups_create (lookups.c), or NULL. */
    lookups_create_fn lookups_create;
} Marshaller;

/* module.c. failed_code: the Winsock code the runtime's `failed(exception[, extra])` gives for
 * the exception being raised (it logs it; extra NULL: called with the exception alone), or
 * WSANO_RECOVERY; the exception is taken, none escapes. function_address: a C function's address
 * as a Python int, for the library's nspv2_set_* (cast back to its own type by cffi). */
INT cm_failed_code(PyObject *failed, PyObject *extra);
PyObject *cm_function_address(void (*fn)(void));

/* The QuerySet fields, in WSAQUERYSET2W order, as interned strings (module.c makes them). */
extern PyObject *cm_fields[11];
enum {
    F_NAME, F_VERSION, F_COMMENT, F_NAMESPACE, F_PROVIDER_ID, F_CONTEXT, F_PROTOCOLS,
    F_QUERY_STRING, F_ADDRESSES, F_OUTPUT_FLAGS, F_BLOB
};

extern PyTypeObject cm_marshaller_type, cm_begin_type, cm_stepper_type;

/* read.c: the methods guid_at and read_restrictions; the restrictions at qs as a QuerySet
 * (address: qs as an int, or NULL). */
PyObject *cm_guid_at(PyObject *self, PyObject *arg);
PyObject *cm_read_restrictions(PyObject *self, PyObject *arg);
PyObject *cm_read_query(Marshaller *m, const WSAQUERYSET2W *qs, PyObject *address);

/* write.c: the methods pack_results and create_lookup; create_lookup with C arguments. */
int cm_write_init(void);
PyObject *cm_pack_results(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *cm_create_lookup(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
/* A provider's answer (None, a QuerySet, a list or tuple of them) as records (see
 * nspv2_lookups_create), in *out (PyMem_Malloc'd, *size bytes, *count records): 1; 0 when the
 * Python code must write it (nothing allocated, no exception); -1 with an exception for this
 * module's misuse or no memory. */
int cm_pack(Marshaller *m, PyObject *result, PyObject *provider_id, PyObject *namespace,
            char **out, size_t *size, Py_ssize_t *count);
PyObject *cm_create(Marshaller *m, PyObject *result, PyObject *provider_id,
                    PyObject *namespace, uint64_t session, const GUID *provider, DWORD flags,
                    PyObject *failed);

/* addresses.c: the CSADDR_INFO block of an image (at offset `base`) for a non-empty tuple of
 * CsAddr: a new bytes object, or NULL with no exception set for what the Python code must do
 * (Marshal._addresses_block writes it or says what is wrong); NULL with an exception only
 * without memory. */
int cm_addresses_init(void);
PyObject *cm_addresses_block(Marshaller *m, PyObject *addresses, size_t base);

/* begin.c, step.c */
int cm_begin_init(void);
int cm_step_init(void);

#endif
