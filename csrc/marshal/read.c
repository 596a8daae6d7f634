/* nspv2._cmarshal, reading: a lookup's restrictions, a WSAQUERYSET2W that
 * NSPv2LookupServiceBegin has validated (every string terminates, every count has its array),
 * as the QuerySet the provider's lookup is given. The usual restrictions (strings, namespace,
 * provider id, output flags) are read here; those with a version, protocols, addresses or a blob,
 * rare in restrictions, go to Marshal's read_restrictions_at (nspv2/_marshal.py), which owns
 * reading those fields (the client side reads its results with it too). */
#include "cmarshal.h"

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

PyObject *cm_guid_at(PyObject *self, PyObject *arg)
{
    (void)self;
    const GUID *g = PyLong_AsVoidPtr(arg);
    if (g == NULL)
        return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "NULL GUID");
    return PyBytes_FromStringAndSize((const char *)g, sizeof *g);
}

/* The validated restrictions at qs as a QuerySet; address: qs as an int, or NULL. */
PyObject *cm_read_query(Marshaller *m, const WSAQUERYSET2W *qs, PyObject *address)
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
        if (PyDict_SetItem(dict, cm_fields[i], values[i]) != 0) {
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

PyObject *cm_read_restrictions(PyObject *self, PyObject *arg)
{
    const WSAQUERYSET2W *qs = PyLong_AsVoidPtr(arg);
    if (qs == NULL)
        return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "NULL query set");
    return cm_read_query((Marshaller *)self, qs, arg);
}