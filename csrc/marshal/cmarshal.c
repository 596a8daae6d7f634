/* nspv2._cmarshal: the runtime's path of every lookup, in C. A Begin (further down) is
 * NSPv2LookupServiceBegin's usual path, which the provider library calls directly. It uses the
 * two conversions, which a Marshaller, made by nspv2/_marshal.py's Marshal, also offers as
 * methods:
 *
 *   guid_at(address)            the 16 bytes of the GUID at address (UUID.bytes_le);
 *   read_restrictions(address)  a lookup's restrictions (a validated WSAQUERYSET2W) as a
 *                               QuerySet; those with a field this reader leaves to
 *                               nspv2/_marshal.py (versions, protocols, addresses, a blob) go to
 *                               its Python reader, given to the Marshaller;
 *   pack_results(result, provider_id, namespace)
 *                               a provider's answer (a QuerySet, a list or tuple of them, or
 *                               None) as the batch of result images nspv2_lookups_create takes,
 *                               or None when anything in it is left to nspv2/_marshal.py
 *                               (create_lookup's packer on its own, which the tests compare
 *                               with Marshal.records);
 *   create_lookup(result, provider_id, namespace, session, provider_address, flags, failed)
 *                               the same, handed straight to the provider library's
 *                               nspv2_lookups_create (its address given to the Marshaller):
 *                               the lookup's handle, 0 if declined; what pack_results leaves to
 *                               Python goes to Marshal's Python create_lookup, given too.
 *
 * They are exact, faster equivalents of Marshal.read_restrictions and Marshal.records (the
 * images are byte for byte the same, tests/test_cmarshal.py checks it): whatever is unusual (a
 * subclass, a value out of range, a string with NUL, a bad address, ...) is left to the Python
 * code (pack_results answers None), which does the work and says what is wrong. This module
 * never raises for a provider's mistake; it raises only for its own misuse (bad arguments),
 * without memory, or with what the Python code it hands work to raises.
 *
 * The layouts are the compiler's, from the headers the provider library is built with; the
 * image format is the one csrc/provider/lookups.c relocates: every piece at a multiple of
 * NSPV2_IMAGE_ALIGN, every pointer written as 1 + the piece's offset (0 for NULL). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "nspv2/ws2types.h"
#include "runtime_decls.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#define ALIGN ((size_t)NSPV2_IMAGE_ALIGN)
#define MAX_WSTR 32767 /* the restrictions were validated to terminate within this */

/* Py_NewRef arrived in 3.10; nspv2 supports 3.9. */
static PyObject *new_ref(PyObject *o)
{
    Py_INCREF(o);
    return o;
}

/* A Marshaller: what Marshal hands over (the types it works with and its helpers), and caches.
 * The field names and their number are in one place: MARSHALLER_OBJECTS. */
#define MARSHALLER_OBJECTS(X)                                                                 \
    X(queryset)           /* the types */                                                      \
    X(version)                                                                                 \
    X(afprotocol)                                                                              \
    X(uuid_type)                                                                               \
    X(uuid_from_bytes_le) /* (bytes) -> UUID */                                                \
    X(addresses_block)    /* (tuple) -> bytes */                                               \
    X(address_blocks)     /* Marshal's cache: id(tuple) -> (tuple, block) */                   \
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

static PyObject *names[11]; /* the QuerySet fields, in WSAQUERYSET2W order */
enum {
    F_NAME, F_VERSION, F_COMMENT, F_NAMESPACE, F_PROVIDER_ID, F_CONTEXT, F_PROTOCOLS,
    F_QUERY_STRING, F_ADDRESSES, F_OUTPUT_FLAGS, F_BLOB
};
static const char *const field_names[11] = {
    "instance_name", "version",   "comment",   "namespace",    "provider_id", "context",
    "protocols",     "query_string", "addresses", "output_flags", "blob",
};
static PyObject *s_bytes_le, *s_version, *s_how, *s_family, *s_protocol;

#define CACHE_LIMIT 1024

/* -- reading ------------------------------------------------------------------------------- */

static PyObject *read_wstr(const WCHAR *s)
{
    size_t n = 0;
    while (n < MAX_WSTR && s[n] != 0)
        n++;
    int order = -1; /* little-endian */
    return PyUnicode_DecodeUTF16((const char *)s, (Py_ssize_t)(n * sizeof(WCHAR)),
                                 "surrogatepass", &order);
}

static PyObject *read_guid(Marshaller *m, const GUID *g)
{
    PyObject *raw = PyBytes_FromStringAndSize((const char *)g, sizeof *g);
    if (raw == NULL)
        return NULL;
    PyObject *found = PyDict_GetItemWithError(m->uuids, raw);
    if (found != NULL) {
        Py_DECREF(raw);
        Py_INCREF(found);
        return found;
    }
    if (PyErr_Occurred()) {
        Py_DECREF(raw);
        return NULL;
    }
    PyObject *uuid = PyObject_CallOneArg(m->uuid_from_bytes_le, raw);
    if (uuid != NULL) {
        if (PyDict_GET_SIZE(m->uuids) >= CACHE_LIMIT)
            PyDict_Clear(m->uuids);
        if (PyDict_SetItem(m->uuids, raw, uuid) != 0)
            Py_CLEAR(uuid);
    }
    Py_DECREF(raw);
    return uuid;
}

static PyObject *guid_at(PyObject *self, PyObject *arg)
{
    (void)self;
    const GUID *g = PyLong_AsVoidPtr(arg);
    if (g == NULL)
        return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "NULL GUID");
    return PyBytes_FromStringAndSize((const char *)g, sizeof *g);
}

/* The validated restrictions at qs as a QuerySet; address: qs as an int, or NULL. */
static PyObject *read_query(Marshaller *m, const WSAQUERYSET2W *qs, PyObject *address)
{
    if (qs->lpVersion != NULL || qs->lpafpProtocols != NULL || qs->lpcsaBuffer != NULL ||
        qs->lpBlob != NULL) {                          /* rare in restrictions */
        if (address != NULL)
            return PyObject_CallOneArg(m->read_fallback, address);
        if ((address = PyLong_FromVoidPtr((void *)(uintptr_t)qs)) == NULL)
            return NULL;
        PyObject *query = PyObject_CallOneArg(m->read_fallback, address);
        Py_DECREF(address);
        return query;
    }

    PyObject *values[11] = {NULL};
    PyObject *result = NULL;
    const WCHAR *strings[4] = {qs->lpszServiceInstanceName, qs->lpszComment, qs->lpszContext,
                               qs->lpszQueryString};
    const int at[4] = {F_NAME, F_COMMENT, F_CONTEXT, F_QUERY_STRING};
    for (int i = 0; i < 4; i++) {
        values[at[i]] = strings[i] ? read_wstr(strings[i]) : new_ref(Py_None);
        if (values[at[i]] == NULL)
            goto done;
    }
    values[F_VERSION] = new_ref(Py_None);
    values[F_NAMESPACE] = PyLong_FromUnsignedLong(qs->dwNameSpace);
    values[F_PROVIDER_ID] =
        qs->lpNSProviderId ? read_guid(m, qs->lpNSProviderId) : new_ref(Py_None);
    values[F_PROTOCOLS] = PyTuple_New(0);
    values[F_ADDRESSES] = PyTuple_New(0);
    values[F_OUTPUT_FLAGS] = PyLong_FromUnsignedLong(qs->dwOutputFlags);
    values[F_BLOB] = new_ref(Py_None);
    for (int i = 0; i < 11; i++) {
        if (values[i] == NULL)
            goto done;
    }
    /* As object.__new__(QuerySet) with its fields stored in its __dict__ (it is frozen). */
    PyTypeObject *type = (PyTypeObject *)m->queryset;
    PyObject *empty = PyTuple_New(0);
    if (empty == NULL)
        goto done;
    result = type->tp_new(type, empty, NULL);
    Py_DECREF(empty);
    if (result == NULL)
        goto done;
    PyObject *dict = PyObject_GenericGetDict(result, NULL);
    if (dict == NULL) {
        Py_CLEAR(result);
        goto done;
    }
    for (int i = 0; i < 11; i++) {
        if (PyDict_SetItem(dict, names[i], values[i]) != 0) {
            Py_CLEAR(result);
            break;
        }
    }
    Py_DECREF(dict);
done:
    for (int i = 0; i < 11; i++)
        Py_XDECREF(values[i]);
    return result;
}

static PyObject *read_restrictions(PyObject *self, PyObject *arg)
{
    const WSAQUERYSET2W *qs = PyLong_AsVoidPtr(arg);
    if (qs == NULL)
        return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "NULL query set");
    return read_query((Marshaller *)self, qs, arg);
}

/* -- writing ------------------------------------------------------------------------------- */

/* Where a result's pieces go: the header, then each piece at a multiple of ALIGN. The first
 * pass only measures (out == NULL); the second writes into the zeroed bytes. */
struct image {
    char *out;
    size_t size;
};

static size_t padded(size_t n)
{
    return (n + ALIGN - 1) & ~(ALIGN - 1);
}

/* Places n bytes (copied from data when writing, left zero when data is NULL); returns the
 * pointer value: 1 + offset. */
static uintptr_t put(struct image *im, const void *data, size_t n)
{
    size_t at = im->size;
    if (im->out != NULL && data != NULL && n != 0)
        memcpy(im->out + at, data, n);
    im->size += padded(n);
    return (uintptr_t)at + 1;
}

/* Writes `value` (of type ctype, the field's) into field of the `type` at offset base. */
#define STORE(im, base, type, field, ctype, value)                                            \
    do {                                                                                       \
        static_assert(sizeof(ctype) == sizeof(((type *)0)->field), #field);                    \
        if ((im)->out != NULL) {                                                               \
            ctype v_ = (value);                                                                \
            memcpy((im)->out + (base) + offsetof(type, field), &v_, sizeof v_);                \
        }                                                                                      \
    } while (0)

/* A str as UTF-16LE with its terminator, lone surrogates as themselves (surrogatepass):
 * pointer value, or 0 with *ok cleared for what the Python code must handle (not an exact str,
 * or a NUL in it). */
static uintptr_t put_wstr(struct image *im, PyObject *text, int *ok)
{
    if (!PyUnicode_CheckExact(text) || PyUnicode_READY(text) != 0) { /* READY: before 3.12 */
        PyErr_Clear();
        *ok = 0;
        return 0;
    }
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    size_t units = (size_t)length + 1;
    if (kind == PyUnicode_4BYTE_KIND) {
        for (Py_ssize_t i = 0; i < length; i++)
            units += PyUnicode_READ(kind, data, i) > 0xFFFF;
    }
    size_t at = im->size;
    im->size += padded(units * sizeof(WCHAR));
    if (im->out == NULL) {
        if (kind == PyUnicode_1BYTE_KIND ? memchr(data, 0, (size_t)length) != NULL : 0)
            *ok = 0;
        for (Py_ssize_t i = 0; *ok && kind != PyUnicode_1BYTE_KIND && i < length; i++) {
            if (PyUnicode_READ(kind, data, i) == 0)
                *ok = 0;
        }
        return (uintptr_t)at + 1;
    }
    unsigned char *w = (unsigned char *)im->out + at;
    for (Py_ssize_t i = 0; i < length; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c > 0xFFFF) {
            c -= 0x10000;
            Py_UCS4 hi = 0xD800 + (c >> 10), lo = 0xDC00 + (c & 0x3FF);
            *w++ = (unsigned char)hi, *w++ = (unsigned char)(hi >> 8);
            *w++ = (unsigned char)lo, *w++ = (unsigned char)(lo >> 8);
        } else {
            *w++ = (unsigned char)c, *w++ = (unsigned char)(c >> 8);
        }
    }
    return (uintptr_t)at + 1; /* the terminator is already zero */
}

/* An int within [low, high], as Python's int() would give it; 0 for anything else. */
static int int_in(PyObject *v, long long low, long long high, long long *out)
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

/* The CSADDR_INFO block for an address tuple, from Marshal's cache or made by it (which also
 * checks the addresses); a new reference, or NULL with no exception set to say "use Python". */
static PyObject *addresses_block(Marshaller *m, PyObject *addresses)
{
    PyObject *key = PyLong_FromVoidPtr(addresses);
    if (key == NULL)
        return NULL;
    PyObject *cached = PyDict_GetItemWithError(m->address_blocks, key);
    Py_DECREF(key);
    if (cached != NULL && PyTuple_CheckExact(cached) && PyTuple_GET_SIZE(cached) == 2 &&
        PyTuple_GET_ITEM(cached, 0) == addresses && PyBytes_CheckExact(PyTuple_GET_ITEM(cached, 1)))
        return new_ref(PyTuple_GET_ITEM(cached, 1));
    PyObject *block = PyObject_CallOneArg(m->addresses_block, addresses);
    if (block == NULL || !PyBytes_CheckExact(block)) {
        Py_XDECREF(block);
        PyErr_Clear(); /* a bad address: the Python code says what is wrong with it */
        return NULL;
    }
    return block;
}

/* The 16 bytes of a provider id (a uuid.UUID), or NULL with no exception for "use Python". */
static PyObject *uuid_bytes(Marshaller *m, PyObject *uuid)
{
    if (Py_TYPE(uuid) != (PyTypeObject *)m->uuid_type)
        return NULL;
    if (uuid == m->last_uuid)
        return new_ref(m->last_uuid_bytes);
    PyObject *raw = PyDict_GetItemWithError(m->uuid_bytes, uuid);
    if (raw != NULL) {
        Py_INCREF(uuid);
        Py_INCREF(raw);
        Py_XSETREF(m->last_uuid, uuid);
        Py_XSETREF(m->last_uuid_bytes, raw);
        return new_ref(raw);
    }
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return NULL;
    }
    raw = PyObject_GetAttr(uuid, s_bytes_le);
    if (raw == NULL || !PyBytes_CheckExact(raw) || PyBytes_GET_SIZE(raw) != 16) {
        Py_XDECREF(raw);
        PyErr_Clear();
        return NULL;
    }
    if (PyDict_GET_SIZE(m->uuid_bytes) >= CACHE_LIMIT)
        PyDict_Clear(m->uuid_bytes);
    if (PyDict_SetItem(m->uuid_bytes, uuid, raw) != 0)
        PyErr_Clear();
    return raw;
}

/* The fields of one result, read once for both passes. */
struct result {
    PyObject *f[11];
    PyObject *addresses; /* the block, a new reference */
    PyObject *guid;      /* 16 bytes, a new reference (the result's or the default) */
    long long namespace, output_flags, version, how;
};

static void result_clear(struct result *r)
{
    for (int i = 0; i < 11; i++)
        Py_CLEAR(r->f[i]);
    Py_CLEAR(r->addresses);
    Py_CLEAR(r->guid);
}

/* Reads a result's fields; 1, or 0 (no exception set) when Python must handle it. */
static int result_read(Marshaller *m, struct result *r, PyObject *item, PyObject *default_guid,
                       long long default_namespace)
{
    memset(r, 0, sizeof *r);
    if (Py_TYPE(item) != (PyTypeObject *)m->queryset)
        return 0;
    /* Its fields are in its __dict__ (it is frozen: nothing else sets them). */
    PyObject *dict = PyObject_GenericGetDict(item, NULL);
    if (dict == NULL) {
        PyErr_Clear();
        return 0;
    }
    for (int i = 0; i < 11; i++) {
        r->f[i] = PyDict_GetItemWithError(dict, names[i]);
        if (r->f[i] == NULL) {
            Py_DECREF(dict);
            PyErr_Clear();
            return 0; /* not set in it: the Python code reads it as Python would */
        }
        Py_INCREF(r->f[i]);
    }
    Py_DECREF(dict);
    if (!int_in(r->f[F_NAMESPACE], 0, UINT32_MAX, &r->namespace) ||
        !int_in(r->f[F_OUTPUT_FLAGS], 0, UINT32_MAX, &r->output_flags))
        return 0;
    if (r->namespace == 0)
        r->namespace = default_namespace;
    PyObject *version = r->f[F_VERSION];
    if (version != Py_None) {
        if (Py_TYPE(version) != (PyTypeObject *)m->version)
            return 0;
        PyObject *v = PyObject_GetAttr(version, s_version);
        PyObject *how = v ? PyObject_GetAttr(version, s_how) : NULL;
        int fits = how != NULL && int_in(v, 0, UINT32_MAX, &r->version) &&
                   int_in(how, 0, UINT32_MAX, &r->how);
        Py_XDECREF(v);
        Py_XDECREF(how);
        if (!fits) {
            PyErr_Clear();
            return 0;
        }
    }
    PyObject *addresses = r->f[F_ADDRESSES];
    if (!PyTuple_CheckExact(addresses) || !PyTuple_CheckExact(r->f[F_PROTOCOLS]))
        return 0; /* a list may change: the Python code copies it */
    if (PyTuple_GET_SIZE(addresses) > 0 && (r->addresses = addresses_block(m, addresses)) == NULL)
        return 0;
    PyObject *blob = r->f[F_BLOB];
    if (blob != Py_None &&
        (!PyBytes_CheckExact(blob) || (uint64_t)PyBytes_GET_SIZE(blob) > UINT32_MAX))
        return 0;
    if (r->f[F_PROVIDER_ID] == Py_None) {
        r->guid = default_guid == Py_None ? NULL : new_ref(default_guid);
    } else if ((r->guid = uuid_bytes(m, r->f[F_PROVIDER_ID])) == NULL) {
        return 0;
    }
    return 1;
}

/* One pass over a result (see struct image): 1, or 0 when Python must handle it. */
static int result_image(Marshaller *m, struct image *im, struct result *r)
{
    int ok = 1;
    im->size = padded(sizeof(WSAQUERYSET2W));
    Py_ssize_t n_addresses = PyTuple_GET_SIZE(r->f[F_ADDRESSES]);
    uintptr_t p_csaddrs = 0;
    if (r->addresses != NULL)
        p_csaddrs = put(im, PyBytes_AS_STRING(r->addresses),
                        (size_t)PyBytes_GET_SIZE(r->addresses));
    uintptr_t p_strings[4] = {0};
    const int order[4] = {F_NAME, F_COMMENT, F_CONTEXT, F_QUERY_STRING};
    for (int i = 0; i < 4 && ok; i++) {
        if (r->f[order[i]] != Py_None)
            p_strings[i] = put_wstr(im, r->f[order[i]], &ok);
    }
    if (!ok)
        return 0;
    uintptr_t p_version = 0;
    if (r->f[F_VERSION] != Py_None) {
        WSAVERSION v;
        memset(&v, 0, sizeof v);
        v.dwVersion = (DWORD)r->version;
        v.ecHow = (WSAECOMPARATOR)r->how;
        p_version = put(im, &v, sizeof v);
    }
    uintptr_t p_guid = 0;
    if (r->guid != NULL)
        p_guid = put(im, PyBytes_AS_STRING(r->guid), sizeof(GUID));
    PyObject *protocols = r->f[F_PROTOCOLS];
    Py_ssize_t n_protocols = PyTuple_GET_SIZE(protocols);
    uintptr_t p_protocols = 0;
    if (n_protocols > 0) {
        size_t at = im->size;
        p_protocols = put(im, NULL, (size_t)n_protocols * sizeof(AFPROTOCOLS));
        for (Py_ssize_t i = 0; i < n_protocols; i++) {
            PyObject *p = PyTuple_GET_ITEM(protocols, i);
            if (Py_TYPE(p) != (PyTypeObject *)m->afprotocol)
                return 0;
            PyObject *family = PyObject_GetAttr(p, s_family);
            PyObject *protocol = family ? PyObject_GetAttr(p, s_protocol) : NULL;
            long long f = 0, q = 0;
            int fits = protocol != NULL && int_in(family, INT_MIN, INT_MAX, &f) &&
                       int_in(protocol, INT_MIN, INT_MAX, &q);
            Py_XDECREF(family);
            Py_XDECREF(protocol);
            if (!fits) {
                PyErr_Clear();
                return 0;
            }
            size_t base = at + (size_t)i * sizeof(AFPROTOCOLS);
            STORE(im, base, AFPROTOCOLS, iAddressFamily, INT, (INT)f);
            STORE(im, base, AFPROTOCOLS, iProtocol, INT, (INT)q);
        }
    }
    uintptr_t p_blob = 0;
    PyObject *blob = r->f[F_BLOB];
    if (blob != Py_None) {
        size_t n = (size_t)PyBytes_GET_SIZE(blob);
        uintptr_t p_data = n ? put(im, PyBytes_AS_STRING(blob), n) : 0;
        size_t at = im->size;
        p_blob = put(im, NULL, sizeof(BLOB));
        STORE(im, at, BLOB, cbSize, ULONG, (ULONG)n);
        STORE(im, at, BLOB, pBlobData, BYTE *, (BYTE *)p_data);
    }
    STORE(im, 0, WSAQUERYSET2W, dwSize, DWORD, (DWORD)sizeof(WSAQUERYSET2W));
    STORE(im, 0, WSAQUERYSET2W, lpszServiceInstanceName, LPWSTR, (LPWSTR)p_strings[0]);
    STORE(im, 0, WSAQUERYSET2W, lpVersion, LPWSAVERSION, (LPWSAVERSION)p_version);
    STORE(im, 0, WSAQUERYSET2W, lpszComment, LPWSTR, (LPWSTR)p_strings[1]);
    STORE(im, 0, WSAQUERYSET2W, dwNameSpace, DWORD, (DWORD)r->namespace);
    STORE(im, 0, WSAQUERYSET2W, lpNSProviderId, LPGUID, (LPGUID)p_guid);
    STORE(im, 0, WSAQUERYSET2W, lpszContext, LPWSTR, (LPWSTR)p_strings[2]);
    STORE(im, 0, WSAQUERYSET2W, dwNumberOfProtocols, DWORD, (DWORD)n_protocols);
    STORE(im, 0, WSAQUERYSET2W, lpafpProtocols, LPAFPROTOCOLS, (LPAFPROTOCOLS)p_protocols);
    STORE(im, 0, WSAQUERYSET2W, lpszQueryString, LPWSTR, (LPWSTR)p_strings[3]);
    STORE(im, 0, WSAQUERYSET2W, dwNumberOfCsAddrs, DWORD, (DWORD)n_addresses);
    STORE(im, 0, WSAQUERYSET2W, lpcsaBuffer, LPCSADDR_INFO, (LPCSADDR_INFO)p_csaddrs);
    STORE(im, 0, WSAQUERYSET2W, dwOutputFlags, DWORD, (DWORD)r->output_flags);
    STORE(im, 0, WSAQUERYSET2W, lpBlob, LPBLOB, (LPBLOB)p_blob);
    return 1;
}

/* A provider's answer as records (see nspv2_lookups_create), in *out (PyMem_Malloc'd, *size
 * bytes, *count records): 1; 0 when the Python code must write it (nothing allocated, no
 * exception); -1 with an exception for this module's misuse or no memory. */
static int pack(Marshaller *m, PyObject *result, PyObject *provider_id, PyObject *namespace,
                char **out, size_t *size, Py_ssize_t *count)
{
    PyObject *default_guid = NULL;
    if (provider_id != Py_None && (default_guid = uuid_bytes(m, provider_id)) == NULL) {
        PyErr_Format(PyExc_TypeError, "provider_id must be a uuid.UUID or None");
        return -1;
    }
    long long default_namespace;
    if (!int_in(namespace, 0, UINT32_MAX, &default_namespace)) {
        Py_XDECREF(default_guid);
        PyErr_Format(PyExc_ValueError, "namespace must be a DWORD");
        return -1;
    }
    /* The items, held in a tuple: a list is copied, as Python code (Marshal's address block)
     * may run while they are read. */
    PyObject *held = NULL;
    if (result == Py_None)
        held = PyTuple_New(0);
    else if (Py_TYPE(result) == (PyTypeObject *)m->queryset)
        held = PyTuple_Pack(1, result);
    else if (PyTuple_CheckExact(result))
        held = new_ref(result);
    else if (PyList_CheckExact(result))
        held = PyList_AsTuple(result);
    else
        held = new_ref(Py_None);
    if (held == NULL || held == Py_None || PyTuple_GET_SIZE(held) > NSPV2_INLINE_MAX_RESULTS) {
        Py_XDECREF(default_guid);
        if (held == NULL)
            return -1;
        Py_DECREF(held);
        return 0;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(held);
    struct result results[NSPV2_INLINE_MAX_RESULTS];
    struct image measured[NSPV2_INLINE_MAX_RESULTS];
    Py_ssize_t ready = 0;
    size_t total = 0;
    int rc = 0;
    for (; ready < n; ready++) {
        if (!result_read(m, &results[ready], PyTuple_GET_ITEM(held, ready), default_guid,
                         default_namespace)) {
            result_clear(&results[ready]);
            goto done;
        }
        measured[ready].out = NULL;
        if (!result_image(m, &measured[ready], &results[ready])) {
            ready++;
            goto done;
        }
        total += sizeof(struct nspv2_result_record) + measured[ready].size;
        if (total > NSPV2_INLINE_MAX_BYTES) {
            ready++;
            goto done; /* the Python code packs it lazily */
        }
    }
    char *at = *out = PyMem_Calloc(1, total ? total : 1);
    if (at == NULL) {
        PyErr_NoMemory();
        rc = -1;
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        struct nspv2_result_record record;
        memset(&record, 0, sizeof record);
        record.length = (uint32_t)measured[i].size;
        record.code = NO_ERROR;
        memcpy(at, &record, sizeof record);
        struct image im = {at + sizeof record, 0};
        result_image(m, &im, &results[i]);
        at += sizeof record + im.size;
    }
    *size = total;
    *count = n;
    rc = 1;
done:
    for (Py_ssize_t i = 0; i < ready; i++)
        result_clear(&results[i]);
    Py_DECREF(held);
    Py_XDECREF(default_guid);
    return rc;
}

static PyObject *pack_results(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3)
        return PyErr_Format(PyExc_TypeError, "pack_results(result, provider_id, namespace)");
    char *records = NULL;
    size_t size = 0;
    Py_ssize_t count = 0;
    int rc = pack((Marshaller *)self, args[0], args[1], args[2], &records, &size, &count);
    if (rc <= 0)
        return rc < 0 ? NULL : new_ref(Py_None);
    PyObject *bytes = PyBytes_FromStringAndSize(records, (Py_ssize_t)size);
    PyMem_Free(records);
    return bytes;
}

/* create_lookup with its arguments as C values (failed, Python's, only goes to the fallback). */
static PyObject *create(Marshaller *m, PyObject *result, PyObject *provider_id,
                        PyObject *namespace, uint64_t session, const GUID *provider, DWORD flags,
                        PyObject *failed)
{
    char *records = NULL;
    size_t size = 0;
    Py_ssize_t count = 0;
    int rc = pack(m, result, provider_id, namespace, &records, &size, &count);
    if (rc < 0)
        return NULL;
    if (rc == 0) {
        PyObject *args[7] = {result, provider_id, namespace,
                             PyLong_FromUnsignedLongLong(session),
                             PyLong_FromVoidPtr((void *)(uintptr_t)provider),
                             PyLong_FromUnsignedLong(flags), failed};
        PyObject *handle = NULL;
        if (args[3] != NULL && args[4] != NULL && args[5] != NULL)
            handle = PyObject_Vectorcall(m->create_fallback, args, 7, NULL);
        for (int i = 3; i < 6; i++)
            Py_XDECREF(args[i]);
        return handle;
    }
    /* Quick, and it never waits for Python: called with the GIL held. */
    uint64_t handle = m->lookups_create(session, provider, flags, (size_t)count, records, size);
    PyMem_Free(records);
    return PyLong_FromUnsignedLongLong(handle);
}

static PyObject *create_lookup(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Marshaller *m = (Marshaller *)self;
    if (nargs != 7)
        return PyErr_Format(PyExc_TypeError, "create_lookup(result, provider_id, namespace, "
                                             "session, provider_address, flags, failed)");
    if (m->lookups_create == NULL)
        return PyErr_Format(PyExc_TypeError, "this Marshaller has no lookups_create");
    unsigned long long session = PyLong_AsUnsignedLongLong(args[3]);
    const GUID *provider = PyLong_AsVoidPtr(args[4]);
    unsigned long flags = PyLong_AsUnsignedLong(args[5]);
    if (PyErr_Occurred())
        return NULL;
    if (provider == NULL || flags > UINT32_MAX)
        return PyErr_Format(PyExc_ValueError, "a provider address and DWORD flags are needed");
    return create(m, args[0], args[1], args[2], session, provider, (DWORD)flags, args[6]);
}

/* -- the type and the module ------------------------------------------------------------- */

static PyObject *marshaller_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"queryset",        "version",           "afprotocol",
                               "uuid",            "uuid_from_bytes_le", "addresses_block",
                               "address_blocks",  "read_restrictions", "create_lookup",
                               "lookups_create",  NULL};
    PyObject *o[9];
    PyObject *create = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O!O!O!OOO!OO|O:Marshaller", keywords,
                                     &PyType_Type, &o[0], &PyType_Type, &o[1], &PyType_Type,
                                     &o[2], &PyType_Type, &o[3], &o[4], &o[5], &PyDict_Type,
                                     &o[6], &o[7], &o[8], &create))
        return NULL;
    void *create_address = NULL;
    if (create != Py_None && (create_address = PyLong_AsVoidPtr(create)) == NULL)
        return PyErr_Occurred() ? NULL
                                : PyErr_Format(PyExc_ValueError, "lookups_create is NULL");
    Marshaller *m = (Marshaller *)type->tp_alloc(type, 0);
    if (m == NULL)
        return NULL;
    m->queryset = new_ref(o[0]);
    m->version = new_ref(o[1]);
    m->afprotocol = new_ref(o[2]);
    m->uuid_type = new_ref(o[3]);
    m->uuid_from_bytes_le = new_ref(o[4]);
    m->addresses_block = new_ref(o[5]);
    m->address_blocks = new_ref(o[6]);
    m->read_fallback = new_ref(o[7]);
    m->create_fallback = new_ref(o[8]);
    /* An object pointer to a function pointer: what dlsym's users do; the address is that of
     * nspv2_lookups_create, from the provider module's cffi lib (Marshal passes it). */
    memcpy(&m->lookups_create, &create_address, sizeof m->lookups_create);
    m->uuids = PyDict_New();
    m->uuid_bytes = PyDict_New();
    if (m->uuids == NULL || m->uuid_bytes == NULL) {
        Py_DECREF(m);
        return NULL;
    }
    return (PyObject *)m;
}

static int marshaller_traverse(PyObject *self, visitproc visit, void *arg)
{
    Marshaller *m = (Marshaller *)self;
#define X(name) Py_VISIT(m->name);
    MARSHALLER_OBJECTS(X)
#undef X
    return 0;
}

static int marshaller_clear(PyObject *self)
{
    Marshaller *m = (Marshaller *)self;
#define X(name) Py_CLEAR(m->name);
    MARSHALLER_OBJECTS(X)
#undef X
    return 0;
}

static void marshaller_dealloc(PyObject *self)
{
    PyObject_GC_UnTrack(self);
    marshaller_clear(self);
    Py_TYPE(self)->tp_free(self);
}

static PyMethodDef marshaller_methods[] = {
    {"guid_at", guid_at, METH_O,
     "guid_at(address) -> bytes: the GUID at address as stored (uuid.UUID's bytes_le)."},
    {"read_restrictions", read_restrictions, METH_O,
     "read_restrictions(address) -> QuerySet: the validated WSAQUERYSET2W at address (those "
     "with versions, protocols, addresses or a blob by the read_restrictions given)."},
    {"pack_results", (PyCFunction)(void (*)(void))pack_results, METH_FASTCALL,
     "pack_results(result, provider_id, namespace) -> bytes | None: a provider's answer as the "
     "records nspv2_lookups_create takes (provider_id, a UUID or None, and namespace fill in "
     "what a result leaves unset)."},
    {"create_lookup", (PyCFunction)(void (*)(void))create_lookup, METH_FASTCALL,
     "create_lookup(result, provider_id, namespace, session, provider_address, flags, failed) "
     "-> int: pack_results, then nspv2_lookups_create: the handle (0: declined); what "
     "pack_results leaves to Python goes to the create_lookup given, with the same arguments."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject marshaller_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "nspv2._cmarshal.Marshaller",
    .tp_basicsize = sizeof(Marshaller),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Marshaller(queryset, version, afprotocol, uuid, uuid_from_bytes_le, "
              "addresses_block, address_blocks): Marshal's hot path in C, for these types and "
              "Marshal's address block helper and cache.",
    .tp_new = marshaller_new,
    .tp_traverse = marshaller_traverse,
    .tp_clear = marshaller_clear,
    .tp_dealloc = marshaller_dealloc,
    .tp_methods = marshaller_methods,
};

/* -- Begin: NSPv2LookupServiceBegin without cffi or a Python frame ----------------------- */

/* A Begin holds what the runtime's begin (nspv2/_runtime.py) works with; the provider library
 * calls begin_entry with it for every NSPv2LookupServiceBegin (nspv2_set_begin). It does what
 * begin does on its usual path, in C: the provider's entry by its GUID's bytes, the session,
 * the restrictions as a QuerySet, the flags, provider.lookup(query, flags, session), and every
 * result straight to nspv2_lookups_create. Before the provider runs, anything else (a provider
 * not loaded yet, an unknown session, flags not seen before, restrictions that do not read, the
 * thread's first call) declines: the library then calls the runtime's begin through cffi, which
 * does it all and says what is wrong. After the provider has run, every outcome is an answer:
 * results C cannot hold go to serve (the runtime's Lookup), exceptions to failed (the runtime's
 * logging and code). The field names are in one place: BEGIN_OBJECTS. */
#define BEGIN_OBJECTS(X)                                                                      \
    X(marshaller)   /* the Marshaller */                                                       \
    X(providers)    /* GUID bytes_le -> ProviderEntry */                                       \
    X(sessions)     /* session id -> Session */                                                \
    X(lookup_flags) /* DWORD -> LookupFlags */                                                 \
    X(serve)        /* (entry, session, flags, query, result, inline) -> lookup id */          \
    X(failed)       /* (exception, guid) -> Winsock code */

typedef struct {
    PyObject_HEAD
#define X(name) PyObject *name;
    BEGIN_OBJECTS(X)
#undef X
} Begin;

static PyObject *s_guid, *s_anonymous, *s_provider, *s_lookup, *s_namespace, *s_next_failed,
    *s_provider_id;

/* The Winsock code for the exception being raised (the runtime logs it); none escapes. */
static INT begin_failed(Begin *b, PyObject *guid)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *value = PyErr_GetRaisedException();
#else
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (value != NULL && traceback != NULL)
        PyException_SetTraceback(value, traceback);
    Py_XDECREF(type);
    Py_XDECREF(traceback);
#endif
    PyObject *code = value != NULL ? PyObject_CallFunctionObjArgs(b->failed, value, guid, NULL)
                                   : NULL;
    Py_XDECREF(value);
    long rc = code != NULL ? PyLong_AsLong(code) : -1;
    Py_XDECREF(code);
    PyErr_Clear();
    return (rc > 0 && rc <= INT_MAX) ? (INT)rc : WSANO_RECOVERY;
}

static INT begin_held(Begin *b, const GUID *provider_id, const WSAQUERYSET2W *restrictions,
                      DWORD flags, uint64_t session_id, uint64_t *lookup)
{
    Marshaller *m = (Marshaller *)b->marshaller;
    INT rc = NSPV2_DECLINED;
    PyObject *entry = NULL, *guid = NULL, *session = NULL, *query = NULL, *lookup_flags = NULL,
             *provider = NULL, *result = NULL, *namespace = NULL, *next_failed = NULL,
             *handle = NULL, *flags_value = NULL;
    PyObject *key = PyBytes_FromStringAndSize((const char *)provider_id, sizeof *provider_id);
    if (key == NULL || (entry = PyDict_GetItemWithError(b->providers, key)) == NULL)
        goto done;
    Py_INCREF(entry);
    if ((guid = PyObject_GetAttr(entry, s_guid)) == NULL)
        goto done;
    if (session_id == 0) {
        if ((session = PyObject_GetAttr(entry, s_anonymous)) == NULL)
            goto done;
    } else {
        PyObject *id = PyLong_FromUnsignedLongLong(session_id);
        session = id ? PyDict_GetItemWithError(b->sessions, id) : NULL;
        Py_XDECREF(id);
        if (session == NULL)
            goto done;
        Py_INCREF(session);
        PyObject *owner = PyObject_GetAttr(session, s_provider_id);
        int same = owner == NULL ? -1
                   : owner == guid ? 1
                                   : PyObject_RichCompareBool(owner, guid, Py_EQ);
        Py_XDECREF(owner);
        if (same != 1)
            goto done;
    }
    if ((query = read_query(m, restrictions, NULL)) == NULL)
        goto done;
    if ((flags_value = PyLong_FromUnsignedLong(flags)) == NULL ||
        (lookup_flags = PyDict_GetItemWithError(b->lookup_flags, flags_value)) == NULL)
        goto done;
    Py_INCREF(lookup_flags);
    if ((provider = PyObject_GetAttr(entry, s_provider)) == NULL)
        goto done;

    /* The provider runs: from here on every outcome is the answer. */
    PyObject *args[5] = {NULL, provider, query, lookup_flags, session};
    result = PyObject_VectorcallMethod(s_lookup, args + 1, 4 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                       NULL);
    if (result == NULL) {
        rc = begin_failed(b, guid);
        goto done;
    }
    int inline_ = result == Py_None || PyList_Check(result) || PyTuple_Check(result) ||
                  PyObject_TypeCheck(result, (PyTypeObject *)m->queryset);
    if (inline_) {
        /* As begin: every result is here already, so C answers NextEx and End. */
        namespace = PyObject_GetAttr(query, names[F_NAMESPACE]);
        int given = namespace ? PyObject_IsTrue(namespace) : -1;
        if (given == 0) {
            Py_SETREF(namespace, PyObject_GetAttr(entry, s_namespace));
            given = namespace ? 1 : -1;
        }
        if (given < 0 || (next_failed = PyObject_GetAttr(entry, s_next_failed)) == NULL ||
            (handle = create(m, result, guid, namespace, session_id, provider_id, flags,
                             next_failed)) == NULL) {
            rc = begin_failed(b, guid);
            goto done;
        }
        unsigned long long value = PyLong_AsUnsignedLongLong(handle);
        if (value == (unsigned long long)-1 && PyErr_Occurred()) {
            rc = begin_failed(b, guid);
            goto done;
        }
        if (value != 0) {
            *lookup = value;
            rc = NO_ERROR;
            goto done;
        }
    }
    Py_XSETREF(handle, PyObject_CallFunctionObjArgs(b->serve, entry, session, flags_value, query,
                                                    result, inline_ ? Py_True : Py_False, NULL));
    unsigned long long id = handle ? PyLong_AsUnsignedLongLong(handle) : (unsigned long long)-1;
    if (handle == NULL || (id == (unsigned long long)-1 && PyErr_Occurred())) {
        rc = begin_failed(b, guid);
        goto done;
    }
    *lookup = id;
    rc = NO_ERROR;
done:
    if (rc == NSPV2_DECLINED)
        PyErr_Clear();                  /* the runtime's begin runs again and reports it */
    Py_XDECREF(key);
    Py_XDECREF(entry);
    Py_XDECREF(guid);
    Py_XDECREF(session);
    Py_XDECREF(query);
    Py_XDECREF(flags_value);
    Py_XDECREF(lookup_flags);
    Py_XDECREF(provider);
    Py_XDECREF(result);
    Py_XDECREF(namespace);
    Py_XDECREF(next_failed);
    Py_XDECREF(handle);
    return rc;
}

/* nspv2_begin_fn: called by the provider library without the GIL. A thread Python has never
 * seen declines its first call, which cffi then makes: cffi gives the thread a state that lives
 * as long as the thread, where PyGILState_Ensure would make and destroy one per call. Like
 * cffi, it leaves errno (and Windows' last error) as it found them. */
static INT begin_entry(void *context, const GUID *provider_id,
                       const WSAQUERYSET2W *restrictions, DWORD flags, uint64_t session,
                       uint64_t *lookup)
{
    if (PyGILState_GetThisThreadState() == NULL)
        return NSPV2_DECLINED;
    int saved_errno = errno;
#ifdef _WIN32
    DWORD saved_error = GetLastError();
#endif
    PyGILState_STATE gil = PyGILState_Ensure();
    INT rc = begin_held((Begin *)context, provider_id, restrictions, flags, session, lookup);
    PyGILState_Release(gil);
#ifdef _WIN32
    SetLastError(saved_error);
#endif
    errno = saved_errno;
    return rc;
}

static PyObject *begin_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"marshaller", "providers", "sessions", "lookup_flags",
                               "serve",      "failed",    NULL};
    PyObject *o[6];
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O!O!O!OO:Begin", keywords,
                                     &marshaller_type, &o[0], &PyDict_Type, &o[1],
                                     &PyDict_Type, &o[2], &PyDict_Type, &o[3], &o[4], &o[5]))
        return NULL;
    if (((Marshaller *)o[0])->lookups_create == NULL)
        return PyErr_Format(PyExc_TypeError, "this Marshaller has no lookups_create");
    Begin *b = (Begin *)type->tp_alloc(type, 0);
    if (b == NULL)
        return NULL;
    int i = 0;
#define X(name) b->name = new_ref(o[i++]);
    BEGIN_OBJECTS(X)
#undef X
    return (PyObject *)b;
}

static int begin_traverse(PyObject *self, visitproc visit, void *arg)
{
    Begin *b = (Begin *)self;
#define X(name) Py_VISIT(b->name);
    BEGIN_OBJECTS(X)
#undef X
    return 0;
}

static int begin_clear(PyObject *self)
{
    Begin *b = (Begin *)self;
#define X(name) Py_CLEAR(b->name);
    BEGIN_OBJECTS(X)
#undef X
    return 0;
}

static void begin_dealloc(PyObject *self)
{
    PyObject_GC_UnTrack(self);
    begin_clear(self);
    Py_TYPE(self)->tp_free(self);
}

/* What nspv2_set_begin takes: the function's address and this object's (the caller keeps the
 * object alive as long as the library may call it). */
static PyObject *begin_entry_address(PyObject *self, void *closure)
{
    (void)self, (void)closure;
    nspv2_begin_fn entry = begin_entry;
    void *address;
    memcpy(&address, &entry, sizeof address);
    return PyLong_FromVoidPtr(address);
}

static PyObject *begin_context(PyObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromVoidPtr(self);
}

static PyGetSetDef begin_getset[] = {
    {"entry", begin_entry_address, NULL, "the address of the nspv2_begin_fn", NULL},
    {"context", begin_context, NULL, "the context it is called with: this object", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject begin_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "nspv2._cmarshal.Begin",
    .tp_basicsize = sizeof(Begin),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Begin(marshaller, providers, sessions, lookup_flags, serve, failed): the "
              "runtime's NSPv2LookupServiceBegin in C, for nspv2_set_begin(entry, context).",
    .tp_new = begin_new,
    .tp_traverse = begin_traverse,
    .tp_clear = begin_clear,
    .tp_dealloc = begin_dealloc,
    .tp_getset = begin_getset,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "nspv2._cmarshal",
    "The runtime's hot-path marshalling in C (csrc/marshal/cmarshal.c).", -1, NULL,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__cmarshal(void);
PyMODINIT_FUNC PyInit__cmarshal(void)
{
    for (int i = 0; i < 11; i++) {
        if ((names[i] = PyUnicode_InternFromString(field_names[i])) == NULL)
            return NULL;
    }
    if ((s_bytes_le = PyUnicode_InternFromString("bytes_le")) == NULL ||
        (s_version = PyUnicode_InternFromString("version")) == NULL ||
        (s_how = PyUnicode_InternFromString("how")) == NULL ||
        (s_family = PyUnicode_InternFromString("family")) == NULL ||
        (s_protocol = PyUnicode_InternFromString("protocol")) == NULL)
        return NULL;
    if ((s_guid = PyUnicode_InternFromString("guid")) == NULL ||
        (s_anonymous = PyUnicode_InternFromString("anonymous")) == NULL ||
        (s_provider = PyUnicode_InternFromString("provider")) == NULL ||
        (s_lookup = PyUnicode_InternFromString("lookup")) == NULL ||
        (s_namespace = PyUnicode_InternFromString("namespace")) == NULL ||
        (s_next_failed = PyUnicode_InternFromString("next_failed")) == NULL ||
        (s_provider_id = PyUnicode_InternFromString("provider_id")) == NULL)
        return NULL;
    if (PyType_Ready(&marshaller_type) != 0 || PyType_Ready(&begin_type) != 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&marshaller_type);
    Py_INCREF(&begin_type);
    if (PyModule_AddObject(m, "Marshaller", (PyObject *)&marshaller_type) != 0 ||
        PyModule_AddObject(m, "Begin", (PyObject *)&begin_type) != 0 ||
        PyModule_AddIntConstant(m, "RECORD_SIZE", (long)sizeof(struct nspv2_result_record)) !=
            0) {
        Py_DECREF(&marshaller_type);
        Py_DECREF(&begin_type);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
