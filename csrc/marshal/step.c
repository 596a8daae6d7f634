/* nspv2._cmarshal, Stepper: a generator's steps, for the lookups csrc/provider/sources.c keeps
 * for it (its "sources"). The runtime (nspv2/_runtime.py) decides in Begin that a provider's
 * answer is an iterator and makes the lookup with Stepper.create; from then on the provider
 * library calls step_entry whenever a NextEx needs the next result, on the thread exports.c
 * chose, and drop_entry when the lookup is done with it. Each step is one next(), its result
 * written as write.c writes a Begin's (what C does not take goes to the runtime's writer, which
 * also says what is wrong), its exception turned into the code the runtime logs and gives. No
 * Python frame of nspv2's own runs on the way. */
#include "cmarshal.h"

#include <errno.h>
#include <string.h>

/* What a lookup's source is to the library: a tuple (SOURCE_FIELDS' order), owned by the lookup
 * until drop_entry. */
enum { S_ITERATOR, S_PROVIDER_ID, S_NAMESPACE, S_NEXT_FAILED, S_END_FAILED, S_COUNT };

typedef uint64_t (*create_source_fn)(uint64_t, const GUID *, DWORD, void *);

typedef struct {
    PyObject_HEAD
    PyObject *marshaller; /* the Marshaller */
    PyObject *write;      /* (item, provider_id, namespace, failed) -> record bytes */
    create_source_fn create_source;
} Stepper;

static PyObject *s_close;

/* The library's calls come on threads that may hold a Python thread state or not, and must find
 * errno (and Windows' last error) as they left them. */
struct saved {
    int error;
#ifdef _WIN32
    DWORD last;
#endif
    PyGILState_STATE gil;
};

static void enter(struct saved *s)
{
    s->error = errno;
#ifdef _WIN32
    s->last = GetLastError();
#endif
    s->gil = PyGILState_Ensure();
}

static void leave(struct saved *s)
{
    PyGILState_Release(s->gil);
#ifdef _WIN32
    SetLastError(s->last);
#endif
    errno = s->error;
}

/* A record without an image: its NextEx answers `code`. */
static void error_record(struct nspv2_step *out, INT code)
{
    struct nspv2_result_record record = {0, code};
    if ((out->record = malloc(sizeof record)) != NULL) {
        memcpy(out->record, &record, sizeof record);
        out->size = sizeof record;
    }
}

/* `size` bytes at `data` as the step's record (sources.c frees it with free()). */
static void copy_record(struct nspv2_step *out, const char *data, size_t size)
{
    if ((out->record = malloc(size ? size : 1)) != NULL) {
        memcpy(out->record, data, size);
        out->size = size;
    }
}

/* With the GIL: one item's record, in C when write.c takes it, else by the runtime's writer. */
static void write_item(Stepper *st, PyObject *src, PyObject *item, struct nspv2_step *out)
{
    Marshaller *m = (Marshaller *)st->marshaller;
    PyObject *provider_id = PyTuple_GET_ITEM(src, S_PROVIDER_ID);
    PyObject *namespace = PyTuple_GET_ITEM(src, S_NAMESPACE);
    if (Py_TYPE(item) == (PyTypeObject *)m->queryset) {
        char *records = NULL;
        size_t size = 0;
        Py_ssize_t count = 0;
        int rc = cm_pack(m, item, provider_id, namespace, &records, &size, &count);
        if (rc > 0) {
            copy_record(out, records, size);
            PyMem_Free(records);
            return;
        }
        PyErr_Clear(); /* the runtime's writer does it, or says what is wrong */
    }
    PyObject *args[4] = {item, provider_id, namespace, PyTuple_GET_ITEM(src, S_NEXT_FAILED)};
    PyObject *written = PyObject_Vectorcall(st->write, args, 4, NULL);
    if (written != NULL && PyBytes_Check(written))
        copy_record(out, PyBytes_AS_STRING(written), (size_t)PyBytes_GET_SIZE(written));
    else if (written == NULL)
        error_record(out, cm_failed_code(PyTuple_GET_ITEM(src, S_NEXT_FAILED), NULL));
    else
        error_record(out, WSANO_RECOVERY);
    Py_XDECREF(written);
}

/* nspv2_step_fn: one step of the source; out->last when it has no more (it ended, raised, or
 * produced an item that is not a QuerySet, as a failing generator would). */
static void step_entry(void *context, void *source, struct nspv2_step *out)
{
    Stepper *st = context;
    PyObject *src = source;
    struct saved saved;
    enter(&saved);
    out->record = NULL;
    out->size = 0;
    out->last = 1;
    PyObject *item = PyIter_Next(PyTuple_GET_ITEM(src, S_ITERATOR));
    if (item == NULL) {
        if (PyErr_Occurred())
            error_record(out, cm_failed_code(PyTuple_GET_ITEM(src, S_NEXT_FAILED), NULL));
    } else {
        int is_result = PyObject_TypeCheck(item, (PyTypeObject *)((Marshaller *)st->marshaller)
                                                     ->queryset);
        write_item(st, src, item, out);
        out->last = !is_result;
        Py_DECREF(item);
    }
    PyErr_Clear();
    leave(&saved);
}

/* nspv2_drop_fn: the lookup is done with its source; `close` (End came first) runs the
 * generator's finally blocks (what close() raises is logged as End's). */
static void drop_entry(void *context, void *source, int close)
{
    (void)context;
    PyObject *src = source;
    struct saved saved;
    enter(&saved);
    if (close) {
        PyObject *method = PyObject_GetAttr(PyTuple_GET_ITEM(src, S_ITERATOR), s_close);
        if (method == NULL) {
            if (PyErr_ExceptionMatches(PyExc_AttributeError))
                PyErr_Clear(); /* an iterator without close(): nothing to run */
            else
                (void)cm_failed_code(PyTuple_GET_ITEM(src, S_END_FAILED), NULL);
        } else {
            PyObject *done = PyObject_CallNoArgs(method);
            if (done == NULL)
                (void)cm_failed_code(PyTuple_GET_ITEM(src, S_END_FAILED), NULL);
            Py_XDECREF(done);
            Py_DECREF(method);
        }
    }
    Py_DECREF(src);
    PyErr_Clear();
    leave(&saved);
}

/* Stepper.create(iterator, provider_id, namespace, session, provider, flags, next_failed,
 * end_failed) -> handle: the lookup of a provider's iterator (provider: the GUID as stored). */
static PyObject *stepper_create(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Stepper *st = (Stepper *)self;
    if (nargs != 8 || !PyBytes_Check(args[4]) || PyBytes_GET_SIZE(args[4]) != sizeof(GUID))
        return PyErr_Format(PyExc_TypeError,
                            "create(iterator, provider_id, namespace, session, provider (16 "
                            "bytes), flags, next_failed, end_failed)");
    unsigned long long session = PyLong_AsUnsignedLongLong(args[3]);
    unsigned long flags = PyLong_AsUnsignedLong(args[5]);
    if (PyErr_Occurred())
        return NULL;
    if (flags > UINT32_MAX)
        return PyErr_Format(PyExc_ValueError, "flags must be a DWORD");
    GUID provider;
    memcpy(&provider, PyBytes_AS_STRING(args[4]), sizeof provider);
    PyObject *src = PyTuple_Pack(S_COUNT, args[0], args[1], args[2], args[6], args[7]);
    if (src == NULL)
        return NULL;
    uint64_t handle = st->create_source(session, &provider, (DWORD)flags, src);
    if (handle == 0) {
        Py_DECREF(src);
        return PyErr_NoMemory();
    }
    return PyLong_FromUnsignedLongLong(handle); /* the lookup owns src now */
}

static PyObject *stepper_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"marshaller", "write", "lookups_create_source", NULL};
    PyObject *marshaller, *write, *create;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!OO:Stepper", keywords,
                                     &cm_marshaller_type, &marshaller, &write, &create))
        return NULL;
    void *address = PyLong_AsVoidPtr(create);
    if (address == NULL)
        return PyErr_Occurred() ? NULL
                                : PyErr_Format(PyExc_ValueError, "lookups_create_source is NULL");
    Stepper *st = (Stepper *)type->tp_alloc(type, 0);
    if (st == NULL)
        return NULL;
    st->marshaller = new_ref(marshaller);
    st->write = new_ref(write);
    /* An object pointer to a function pointer, as dlsym's users do (see module.c). */
    memcpy(&st->create_source, &address, sizeof st->create_source);
    return (PyObject *)st;
}

static int stepper_traverse(PyObject *self, visitproc visit, void *arg)
{
    Stepper *st = (Stepper *)self;
    Py_VISIT(st->marshaller);
    Py_VISIT(st->write);
    return 0;
}

static int stepper_clear(PyObject *self)
{
    Stepper *st = (Stepper *)self;
    Py_CLEAR(st->marshaller);
    Py_CLEAR(st->write);
    return 0;
}

static void stepper_dealloc(PyObject *self)
{
    PyObject_GC_UnTrack(self);
    stepper_clear(self);
    Py_TYPE(self)->tp_free(self);
}

/* What nspv2_set_stepper takes: the two functions' addresses and this object's (the caller keeps
 * it alive as long as the library may call them). */
static PyObject *stepper_step(PyObject *self, void *closure)
{
    (void)self, (void)closure;
    return cm_function_address((void (*)(void))step_entry);
}

static PyObject *stepper_drop(PyObject *self, void *closure)
{
    (void)self, (void)closure;
    return cm_function_address((void (*)(void))drop_entry);
}

static PyObject *stepper_context(PyObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromVoidPtr(self);
}

static PyMethodDef stepper_methods[] = {
    {"create", (PyCFunction)(void (*)(void))stepper_create, METH_FASTCALL,
     "create(iterator, provider_id, namespace, session, provider, flags, next_failed, "
     "end_failed) -> int: the handle of a lookup whose results the iterator produces "
     "(provider: the GUID's 16 bytes as stored; raises MemoryError without memory)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef stepper_getset[] = {
    {"step", stepper_step, NULL, "the address of the nspv2_step_fn", NULL},
    {"drop", stepper_drop, NULL, "the address of the nspv2_drop_fn", NULL},
    {"context", stepper_context, NULL, "the context they are called with: this object", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

int cm_step_init(void)
{
    return (s_close = PyUnicode_InternFromString("close")) != NULL ? 0 : -1;
}

PyTypeObject cm_stepper_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "nspv2._cmarshal.Stepper",
    .tp_basicsize = sizeof(Stepper),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Stepper(marshaller, write, lookups_create_source): a generator's steps in C, for "
              "nspv2_set_stepper(step, drop, context); write(item, provider_id, namespace, "
              "failed) is the runtime's writer for what C does not take.",
    .tp_new = stepper_new,
    .tp_traverse = stepper_traverse,
    .tp_clear = stepper_clear,
    .tp_dealloc = stepper_dealloc,
    .tp_methods = stepper_methods,
    .tp_getset = stepper_getset,
};
