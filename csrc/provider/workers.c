/* The worker threads where generators step for a client's own thread (the stand-in within one
 * process), which End could not free if a step ran on it (exports.c says why). A NextEx there
 * hands its lookup over without entering Python: it queues the lookup for an idle worker and
 * wakes it. Only when no worker is idle does it call the runtime (nspv2_py_run_elsewhere), which
 * starts a Python thread that serves here from then on (nspv2_workers_serve), up to its limit,
 * or queues the lookup for the next worker that comes free.
 *
 * The workers are Python threads: each keeps its thread state, so a step takes the GIL and
 * nothing else. */
#include "provider.h"

#ifdef _WIN32
typedef SRWLOCK lock_t;
typedef CONDITION_VARIABLE cond_t;
static lock_t jobs_lock = SRWLOCK_INIT;
static cond_t jobs_ready = CONDITION_VARIABLE_INIT;
static void lock(void)
{
    AcquireSRWLockExclusive(&jobs_lock);
}
static void unlock(void)
{
    ReleaseSRWLockExclusive(&jobs_lock);
}
static void wait_for_job(void)
{
    SleepConditionVariableSRW(&jobs_ready, &jobs_lock, INFINITE, 0);
}
static void wake_one(void)
{
    WakeConditionVariable(&jobs_ready);
}
#else
#  include <pthread.h>
static pthread_mutex_t jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t jobs_ready = PTHREAD_COND_INITIALIZER;
static void lock(void)
{
    pthread_mutex_lock(&jobs_lock);
}
static void unlock(void)
{
    pthread_mutex_unlock(&jobs_lock);
}
static void wait_for_job(void)
{
    pthread_cond_wait(&jobs_ready, &jobs_lock);
}
static void wake_one(void)
{
    pthread_cond_signal(&jobs_ready);
}
#endif

#include <stdlib.h>

struct job {
    struct job *next;
    void *run;
};

/* With jobs_lock: the queue, and how many workers wait on it. A worker is free for a new lookup
 * while more wait than lookups are queued (one that wakes to find its lookup taken by a worker
 * that came free meanwhile simply waits again). */
static struct job *head, **tail = &head;
static size_t waiting, queued;

int nspv2_workers_post(void *run, int wait)
{
    struct job *job = malloc(sizeof *job);
    if (job == NULL)
        return 0;
    job->next = NULL;
    job->run = run;
    lock();
    int taken = waiting > queued || wait;
    if (taken) {
        *tail = job;
        tail = &job->next;
        queued++;
        wake_one();
    }
    unlock();
    if (!taken)
        free(job);
    return taken;
}

void nspv2_workers_serve(void *run)
{
    for (;;) {
        nspv2_lookups_run(run, 1);
        lock();
        while (head == NULL) {
            waiting++;
            wait_for_job();
            waiting--;
        }
        struct job *job = head;
        head = job->next;
        if (head == NULL)
            tail = &head;
        queued--;
        unlock();
        run = job->run;
        free(job);
    }
}
