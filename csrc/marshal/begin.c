/* nspv2._cmarshal, Begin: NSPv2LookupServiceBegin's usual path, without cffi or a Python frame.
 * The runtime's begin (nspv2/_runtime.py) owns everything else about a Begin: this file declines
 * before the provider runs whenever anything is not usual, and the runtime's begin then does the
 * whole call and says what is wrong. */
#include "cmarshal.h"

#include <errno.h>
#include <string.h>


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

int cm_begin_init(void)
{
    return (s_guid = PyUnicode_InternFromString("guid")) != NULL &&
                   (s_anonymous = PyUnicode_InternFromString("anonymous")) != NULL &&
                   (s_provider = PyUnicode_InternFromString("provider")) != NULL &&
                   (s_lookup = PyUnicode_InternFromString("lookup")) != NULL &&
                   (s_namespace = PyUnicode_InternFromString("namespace")) != NULL &&
                   (s_next_failed = PyUnicode_InternFromString("next_failed")) != NULL &&
                   (s_provider_id = PyUnicode_InternFromString("provider_id")) != NULL
               ? 0
               : -1;
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
    if ((query = cm_read_query(m, restrictions, NULL)) == NULL)
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
        rc = cm_failed_code(b->failed, guid);
        goto done;
    }
    int inline_ = result == Py_None || PyList_Check(result) || PyTuple_Check(result) ||
                  PyObject_TypeCheck(result, (PyTypeObject *)m->queryset);
    if (inline_) {
        /* As begin: every result is here already, so C answers NextEx and End. */
        namespace = PyObject_GetAttr(query, cm_fields[F_NAMESPACE]);
        int given = namespace ? PyObject_IsTrue(namespace) : -1;
        if (given == 0) {
            Py_SETREF(namespace, PyObject_GetAttr(entry, s_namespace));
            given = namespace ? 1 : -1;
        }
        if (given < 0 || (next_failed = PyObject_GetAttr(entry, s_next_failed)) == NULL ||
            (handle = cm_create(m, result, guid, namespace, session_id, provider_id, flags,
                             next_failed)) == NULL) {
            rc = cm_failed_code(b->failed, guid);
            goto done;
        }
        unsigned long long value = PyLong_AsUnsignedLongLong(handle);
        if (value == (unsigned long long)-1 && PyErr_Occurred()) {
            rc = cm_failed_code(b->failed, guid);
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
        rc = cm_failed_code(b->failed, guid);
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
                                     &cm_marshaller_type, &o[0], &PyDict_Type, &o[1],
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
    return cm_function_address((void (*)(void))begin_entry);
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

PyTypeObject cm_begin_type = {
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