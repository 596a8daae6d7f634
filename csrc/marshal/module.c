/* nspv2._cmarshal, the module: the Marshaller type (whose methods read.c and write.c
 * implement) and the module's initialisation. cmarshal.h says what each file owns. */
#include "cmarshal.h"

#include <limits.h>
#include <string.h>

PyObject *cm_fields[11];
static const char *const field_names[11] = {
    "instance_name", "version",   "comment",   "namespace",    "provider_id", "context",
    "protocols",     "query_string", "addresses", "output_flags", "blob",
};

INT cm_failed_code(PyObject *failed, PyObject *extra)
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
    PyObject *code = value != NULL ? PyObject_CallFunctionObjArgs(failed, value, extra, NULL)
                                   : NULL;
    Py_XDECREF(value);
    long rc = code != NULL ? PyLong_AsLong(code) : -1;
    Py_XDECREF(code);
    PyErr_Clear();
    return (rc > 0 && rc <= INT_MAX) ? (INT)rc : WSANO_RECOVERY;
}

PyObject *cm_function_address(void (*fn)(void))
{
    void *address; /* an object pointer to a function pointer: what dlsym's users do */
    memcpy(&address, &fn, sizeof address);
    return PyLong_FromVoidPtr(address);
}

static PyObject *marshaller_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"queryset",          "version",       "afprotocol",
                               "csaddr",            "uuid",          "uuid_from_bytes_le",
                               "read_restrictions", "create_lookup", "lookups_create",
                               NULL};
    PyObject *o[8];
    PyObject *create = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O!O!O!O!OOO|O:Marshaller", keywords,
                                     &PyType_Type, &o[0], &PyType_Type, &o[1], &PyType_Type,
                                     &o[2], &PyType_Type, &o[3], &PyType_Type, &o[4], &o[5],
                                     &o[6], &o[7], &create))
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
    m->csaddr = new_ref(o[3]);
    m->uuid_type = new_ref(o[4]);
    m->uuid_from_bytes_le = new_ref(o[5]);
    m->read_fallback = new_ref(o[6]);
    m->create_fallback = new_ref(o[7]);
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
    {"guid_at", cm_guid_at, METH_O,
     "guid_at(address) -> bytes: the GUID at address as stored (uuid.UUID's bytes_le)."},
    {"read_restrictions", cm_read_restrictions, METH_O,
     "read_restrictions(address) -> QuerySet: the validated WSAQUERYSET2W at address (those "
     "with versions, protocols, addresses or a blob by the read_restrictions given)."},
    {"pack_results", (PyCFunction)(void (*)(void))cm_pack_results, METH_FASTCALL,
     "pack_results(result, provider_id, namespace) -> bytes | None: a provider's answer as the "
     "records nspv2_lookups_create takes (provider_id, a UUID or None, and namespace fill in "
     "what a result leaves unset)."},
    {"create_lookup", (PyCFunction)(void (*)(void))cm_create_lookup, METH_FASTCALL,
     "create_lookup(result, provider_id, namespace, session, provider_address, flags, failed) "
     "-> int: pack_results, then nspv2_lookups_create: the handle (0: declined); what "
     "pack_results leaves to Python goes to the create_lookup given, with the same arguments."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject cm_marshaller_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "nspv2._cmarshal.Marshaller",
    .tp_basicsize = sizeof(Marshaller),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Marshaller(queryset, version, afprotocol, csaddr, uuid, uuid_from_bytes_le, "
              "read_restrictions, create_lookup, lookups_create=None): the lookup's "
              "marshalling in C for these types, with Marshal's Python reader and "
              "create_lookup for what it leaves to them.",
    .tp_new = marshaller_new,
    .tp_traverse = marshaller_traverse,
    .tp_clear = marshaller_clear,
    .tp_dealloc = marshaller_dealloc,
    .tp_methods = marshaller_methods,
};
static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "nspv2._cmarshal",
    "The runtime's hot-path marshalling in C (csrc/marshal/).", -1, NULL,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__cmarshal(void);
PyMODINIT_FUNC PyInit__cmarshal(void)
{
    for (int i = 0; i < 11; i++) {
        if ((cm_fields[i] = PyUnicode_InternFromString(field_names[i])) == NULL)
            return NULL;
    }
    if (cm_write_init() != 0 || cm_addresses_init() != 0 || cm_begin_init() != 0 ||
        cm_step_init() != 0)
        return NULL;
    if (PyType_Ready(&cm_marshaller_type) != 0 || PyType_Ready(&cm_begin_type) != 0 ||
        PyType_Ready(&cm_stepper_type) != 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&cm_marshaller_type);
    Py_INCREF(&cm_begin_type);
    Py_INCREF(&cm_stepper_type);
    if (PyModule_AddObject(m, "Marshaller", (PyObject *)&cm_marshaller_type) != 0 ||
        PyModule_AddObject(m, "Begin", (PyObject *)&cm_begin_type) != 0 ||
        PyModule_AddObject(m, "Stepper", (PyObject *)&cm_stepper_type) != 0 ||
        PyModule_AddIntConstant(m, "RECORD_SIZE", (long)sizeof(struct nspv2_result_record)) !=
            0) {
        Py_DECREF(&cm_marshaller_type);
        Py_DECREF(&cm_begin_type);
        Py_DECREF(&cm_stepper_type);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}