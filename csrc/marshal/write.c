/* nspv2._cmarshal, writing: a provider's answer (a QuerySet, a list or tuple of them, or None)
 * as the batch of records nspv2_lookups_create (csrc/provider/lookups.c) takes, each result a
 * relocatable WSAQUERYSET2W image: the struct, then each piece it points to at a multiple of
 * NSPV2_IMAGE_ALIGN (the CSADDR_INFO block first, addresses.c writes it), every pointer written
 * as 1 + the piece's offset (0 for NULL). This is the writer every lookup answered in Begin goes
 * through. What it does not take (see cmarshal.h) goes whole to Marshal's Python create_lookup
 * (nspv2/_marshal.py), which writes the same bytes or the error each bad result answers its
 * NextEx with; Marshal.image is otherwise the reference tests/test_cmarshal.py compares with. */
#include "cmarshal.h"

#include <assert.h>
#include <limits.h>
#include <string.h>

static PyObject *s_bytes_le, *s_version, *s_how, *s_family, *s_protocol;

int cm_write_init(void)
{
    return (s_bytes_le = PyUnicode_InternFromString("bytes_le")) != NULL &&
                   (s_version = PyUnicode_InternFromString("version")) != NULL &&
                   (s_how = PyUnicode_InternFromString("how")) != NULL &&
                   (s_family = PyUnicode_InternFromString("family")) != NULL &&
                   (s_protocol = PyUnicode_InternFromString("protocol")) != NULL
               ? 0
               : -1;
}

/* Where a result's pieces go: the header, then each piece at a multiple of ALIGN. The first
 * pass only measures (out == NULL); the second writes into the zeroed bytes. */
struct image {
    char *out;
    size_t size;
};

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
        r->f[i] = PyDict_GetItemWithError(dict, cm_fields[i]);
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
    if (PyTuple_GET_SIZE(addresses) > 0) {
        r->addresses = cm_addresses_block(m, addresses, padded(sizeof(WSAQUERYSET2W)));
        if (r->addresses == NULL) {
            PyErr_Clear(); /* even without memory: the Python code says so */
            return 0;
        }
    }
    PyObject *blob = r->f[F_BLOB];
    if (blob != Py_None &&
        (!PyBytes_CheckExact(blob) || (uint64_t)PyBytes_GET_SIZE(blob) > UINT32_MAX))
        return 0;
    if (r->f[F_PROVIDER_ID] == Py_None) {
        r->guid = default_guid == NULL ? NULL : new_ref(default_guid); /* NULL: none */
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

/* cmarshal.h says what cm_pack does. */
int cm_pack(Marshaller *m, PyObject *result, PyObject *provider_id, PyObject *namespace,
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

PyObject *cm_pack_results(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3)
        return PyErr_Format(PyExc_TypeError, "pack_results(result, provider_id, namespace)");
    char *records = NULL;
    size_t size = 0;
    Py_ssize_t count = 0;
    int rc = cm_pack((Marshaller *)self, args[0], args[1], args[2], &records, &size, &count);
    if (rc <= 0)
        return rc < 0 ? NULL : new_ref(Py_None);
    PyObject *bytes = PyBytes_FromStringAndSize(records, (Py_ssize_t)size);
    PyMem_Free(records);
    return bytes;
}

/* create_lookup with its arguments as C values (failed, Python's, only goes to the fallback). */
PyObject *cm_create(Marshaller *m, PyObject *result, PyObject *provider_id,
                        PyObject *namespace, uint64_t session, const GUID *provider, DWORD flags,
                        PyObject *failed)
{
    char *records = NULL;
    size_t size = 0;
    Py_ssize_t count = 0;
    int rc = cm_pack(m, result, provider_id, namespace, &records, &size, &count);
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

PyObject *cm_create_lookup(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
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
    return cm_create(m, args[0], args[1], args[2], session, provider, (DWORD)flags, args[6]);
}