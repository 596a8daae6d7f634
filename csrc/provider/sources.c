/* A generator's lookups ("sources"): results come one at a time, as NextEx calls ask for them.
 * The runtime's stepper (nspv2._cmarshal's Stepper, set with nspv2_set_stepper) takes the GIL,
 * steps the provider's iterator once and writes what it produced as a record, which is copied
 * here; what a step produced waits in order for the NextEx calls that want it, and NextEx calls
 * that come while nothing is at hand wait in order for the next step. Where a step runs is the
 * caller's choice (exports.c): on the thread of the NextEx that found nothing at hand when that
 * is a Winsock thread (End comes on another and completes the call at once, however long the
 * step), else on a worker thread (workers.c), one result ahead of the client. The NextEx that
 * finds the end, and the End, do not enter Python. A source lookup lives in lookups.c's table
 * like any other (lookups_internal.h has what the two files share); one thread at a time steps
 * it (busy), never with its lock held, and it is closed when End came before it was done: by
 * End when no step runs, else by the stepping thread once its step returns. */
#include "lookups_internal.h"
#include "queryset.h"
#include "queryset_decls.h"

#include <stdlib.h>
#include <string.h>

#ifdef _MSC_VER
#  define THREAD_LOCAL __declspec(thread)
#else
#  define THREAD_LOCAL _Thread_local
#endif

/* The runtime's stepper (nspv2_set_stepper): set once, before any source lookup exists. */
static _Atomic(nspv2_step_fn) stepper_step;
static _Atomic(nspv2_drop_fn) stepper_drop;
static void *_Atomic stepper_context;

void nspv2_set_stepper(nspv2_step_fn step, nspv2_drop_fn drop, void *context)
{
    atomic_store(&stepper_context, context);
    atomic_store(&stepper_drop, drop);
    atomic_store(&stepper_step, step);
}

/* The source lookup this thread is stepping, for nspv2_lookups_cancelled. */
static THREAD_LOCAL struct lookup *t_stepping;

/* Hands a source back to the runtime (closing it first if it was not done), through the gate in
 * front of the GIL like every other call into Python. */
void nspv2_source_drop(void *source, int close)
{
    nspv2_drop_fn drop = atomic_load(&stepper_drop);
    if (source == NULL || drop == NULL)
        return;
    uint64_t ticket = nspv2_gate_enter();
    drop(atomic_load(&stepper_context), source, close);
    nspv2_gate_leave(ticket);
}

uint64_t nspv2_lookups_create_source(uint64_t session, const GUID *provider, DWORD flags,
                                     void *source)
{
    if (provider == NULL || source == NULL || atomic_load(&stepper_step) == NULL)
        return 0;
    struct lookup *l = calloc(1, sizeof *l);
    if (l == NULL)
        return 0;
    l->session = session;
    memcpy(&l->provider, provider, sizeof l->provider);
    l->flags = flags;
    mutex_init(&l->lock);
    atomic_init(&l->refs, 1);
    l->is_source = 1;
    l->source = source;
    l->produced_tail = &l->produced;
    l->waiting_tail = &l->waiting;
    return nspv2_lookup_insert(l); /* 0: l is freed, the source is still the caller's */
}

/* A step's record as a source's next result (freeing the record); NULL without memory. */
static struct produced *produce(struct nspv2_step *step)
{
    struct nspv2_result_record head = {0, WSANO_RECOVERY};
    if (step->record != NULL && step->size >= sizeof head)
        memcpy(&head, step->record, sizeof head);
    if (head.length > step->size - sizeof head) /* a bug in the stepper */
        head.length = 0, head.code = WSANO_RECOVERY;
    if (head.length > NSPV2_MAX_RESULT) /* past what any buffer may hold */
        head.length = 0, head.code = WSA_NOT_ENOUGH_MEMORY;
    size_t at = nspv2_align_up(sizeof(struct produced));
    struct produced *p = malloc(at + head.length);
    if (p != NULL) {
        p->next = NULL;
        p->result = NULL;
        p->code = head.length == 0 && head.code == NO_ERROR ? WSANO_RECOVERY : head.code;
        if (head.length > 0) {
            char *image = (char *)p + at;
            memcpy(image, step->record + sizeof head, head.length);
            if (nspv2_relocate_image(image, head.length, true) == NO_ERROR) {
                p->result = (WSAQUERYSET2W *)(void *)image;
            } else {
                nspv2_log("a result of a lookup is not a valid image (a bug in nspv2)");
                p->code = WSANO_RECOVERY;
            }
        }
    }
    free(step->record);
    step->record = NULL;
    return p;
}

static void drop_produced(struct lookup *l)
{
    struct produced *p = l->produced;
    l->produced = p->next;
    if (l->produced == NULL)
        l->produced_tail = &l->produced;
    l->pending = NULL;
    free(p);
}

/* With a source lookup locked: 1 and *code, what a NextEx asking for `wanted` answers from the
 * results at hand (its buffer filled); 0 when it has to wait for the source's next result. */
static int source_answer(struct lookup *l, DWORD wanted, DWORD *length, WSAQUERYSET2W *results,
                         INT *code)
{
    if (l->ended) {
        *code = WSA_E_CANCELLED;
        return 1;
    }
    for (;;) {
        struct produced *p = l->produced;
        if (p == NULL) {
            *code = WSA_E_NO_MORE;
            return l->exhausted;
        }
        if (p->result == NULL) {
            *code = p->code;
            drop_produced(l);
            return 1;
        }
        if (l->pending == NULL && !(wanted & LUP_RETURN_ALIASES) &&
            (p->result->dwOutputFlags & RESULT_IS_ALIAS)) {
            drop_produced(l);
            continue;
        }
        *code = nspv2_queryset_pack(p->result, wanted, results, length);
        if (*code == WSAEFAULT)
            l->pending = p->result; /* kept for the retry */
        else
            drop_produced(l);
        return 1;
    }
}

/* With a source lookup locked: completes, in order, the waiting NextEx calls the results at hand
 * answer (all of them, with WSA_E_CANCELLED, once it has ended). */
static void complete_waiting(struct lookup *l)
{
    INT code;
    while (l->waiting != NULL &&
           source_answer(l, l->waiting->wanted, l->waiting->length, l->waiting->results, &code)) {
        struct waiter *w = l->waiting;
        l->waiting = w->next;
        if (l->waiting == NULL)
            l->waiting_tail = &l->waiting;
        (void)nspv2_complete_async(w->call, code);
        free(w);
    }
}

/* With the lookup locked: completes every waiting NextEx call with `code`. */
static void fail_waiting(struct lookup *l, INT code)
{
    while (l->waiting != NULL) {
        struct waiter *w = l->waiting;
        l->waiting = w->next;
        (void)nspv2_complete_async(w->call, code);
        free(w);
    }
    l->waiting_tail = &l->waiting;
}

INT nspv2_source_next(struct lookup *l, HANDLE call, DWORD flags, DWORD wanted,
                      DWORD *bufferLength, WSAQUERYSET2W *results, void **run)
{
    INT code;
    if ((flags & LUP_FLUSHPREVIOUS) && l->pending != NULL)
        drop_produced(l);
    if (l->waiting == NULL && source_answer(l, wanted, bufferLength, results, &code))
        return code;
    struct waiter *w = run != NULL ? malloc(sizeof *w) : NULL;
    if (w == NULL) /* without memory (or a caller that cannot wait: a bug) */
        return run != NULL ? WSA_NOT_ENOUGH_MEMORY : WSANO_RECOVERY;
    *w = (struct waiter){NULL, call, wanted, bufferLength, results};
    *l->waiting_tail = w;
    l->waiting_tail = &w->next;
    if (!l->busy) { /* the caller runs the source, or has it run: nspv2_lookups_run */
        l->busy = 1;
        atomic_fetch_add(&l->refs, 1);
        *run = l;
    }
    return NSPV2_PENDING;
}

void *nspv2_source_end(struct lookup *l)
{
    complete_waiting(l); /* every one with WSA_E_CANCELLED: it has ended */
    if (l->busy)
        return NULL;
    void *source = l->source;
    l->source = NULL;
    return source;
}

void nspv2_source_free(struct lookup *l)
{
    while (l->produced != NULL) {
        struct produced *p = l->produced;
        l->produced = p->next;
        free(p);
    }
    nspv2_source_drop(l->source, !l->exhausted); /* NULL but after a runtime bug */
}

void nspv2_lookups_run(void *run, int ahead)
{
    struct lookup *l = run;
    nspv2_step_fn step = atomic_load(&stepper_step);
    void *context = atomic_load(&stepper_context);
    void *source = NULL;
    int close = 0;
    if (l == NULL)
        return;
    for (;;) {
        mutex_lock(&l->lock);
        complete_waiting(l);
        int answered = l->waiting == NULL;
        if (l->ended || l->exhausted || (answered && (l->produced != NULL || !ahead))) {
            l->busy = 0;
            if (l->ended || l->exhausted) { /* End left its source to this thread */
                source = l->source;
                l->source = NULL;
                close = !l->exhausted;
            }
            mutex_unlock(&l->lock);
            break;
        }
        void *stepped = l->source;
        mutex_unlock(&l->lock);
        struct nspv2_step out = {NULL, 0, 1};
        struct lookup *outer = t_stepping; /* a step may look up names itself */
        t_stepping = l;
        step(context, stepped, &out);
        t_stepping = outer;
        /* No record: the end (last), or a stepper without memory. */
        int recorded = out.record != NULL;
        struct produced *p = recorded ? produce(&out) : NULL;
        int failed = recorded ? p == NULL : !out.last;
        mutex_lock(&l->lock);
        if (failed) { /* without memory: what is waiting answers that, and it ends */
            l->exhausted = 1;
            fail_waiting(l, WSA_NOT_ENOUGH_MEMORY);
        } else if (p != NULL) {
            *l->produced_tail = p;
            l->produced_tail = &p->next;
        }
        if (out.last)
            l->exhausted = 1;
        mutex_unlock(&l->lock);
    }
    nspv2_source_drop(source, close);
    nspv2_lookup_release(l);
}

void nspv2_lookups_abandon(void *run, INT code)
{
    struct lookup *l = run;
    if (l == NULL)
        return;
    mutex_lock(&l->lock);
    fail_waiting(l, code);
    while (l->produced != NULL)
        drop_produced(l);
    int close = !l->exhausted;
    l->exhausted = 1;
    l->busy = 0;
    void *source = l->source;
    l->source = NULL;
    mutex_unlock(&l->lock);
    nspv2_source_drop(source, close);
    nspv2_lookup_release(l);
}

int nspv2_lookups_cancelled(void)
{
    struct lookup *l = t_stepping;
    if (l == NULL)
        return 0;
    mutex_lock(&l->lock);
    int ended = l->ended;
    mutex_unlock(&l->lock);
    return ended;
}

