/* The stand-in's one lock, its shared condition variable, and per-waiter condition variables
 * (async calls) under the same lock (see standin_internal.h for why one lock).
 * The condition variable runs on CLOCK_MONOTONIC so async timeouts do not jump with the wall
 * clock; that needs a condattr, hence pthread_once instead of a static initializer. */
#include "standin_internal.h"

#ifdef _WIN32
/* Windows: an SRW lock and a condition variable, with GetTickCount64 as the monotonic clock
 * (winpthreads' timed wait reads its deadline as wall-clock time). */
static SRWLOCK g_lock = SRWLOCK_INIT;
static CONDITION_VARIABLE g_cond = CONDITION_VARIABLE_INIT;

void standin_lock(void) { AcquireSRWLockExclusive(&g_lock); }

void standin_unlock(void) { ReleaseSRWLockExclusive(&g_lock); }

void standin_broadcast(void) { WakeAllConditionVariable(&g_cond); }

void standin_wait(void) { SleepConditionVariableSRW(&g_cond, &g_lock, INFINITE, 0); }

uint64_t standin_now_ms(void) { return GetTickCount64(); }

bool standin_wait_until(uint64_t deadline_ms)
{
    uint64_t now = standin_now_ms();
    if (now >= deadline_ms)
        return false;
    uint64_t wait = deadline_ms - now;
    BOOL woken = SleepConditionVariableSRW(&g_cond, &g_lock,
                                           wait < INFINITE ? (DWORD)wait : INFINITE - 1, 0);
    return woken || standin_now_ms() < deadline_ms;
}

void standin_cond_init(standin_cond *cond) { InitializeConditionVariable(cond); }

void standin_cond_destroy(standin_cond *cond) { (void)cond; }

void standin_cond_signal(standin_cond *cond) { WakeConditionVariable(cond); }

void standin_cond_wait(standin_cond *cond)
{
    SleepConditionVariableSRW(cond, &g_lock, INFINITE, 0);
}

bool standin_cond_wait_until(standin_cond *cond, uint64_t deadline_ms)
{
    uint64_t now = standin_now_ms();
    if (now >= deadline_ms)
        return false;
    uint64_t wait = deadline_ms - now;
    BOOL woken = SleepConditionVariableSRW(cond, &g_lock,
                                           wait < INFINITE ? (DWORD)wait : INFINITE - 1, 0);
    return woken || standin_now_ms() < deadline_ms;
}
#else
#include <errno.h>
#include <pthread.h>
#include <time.h>

/* Held briefly and often, by every client thread: where glibc has it, an adaptive mutex (it
 * spins a little before sleeping), which keeps many client threads on few cores from queueing
 * on futex waits behind a holder that was preempted (measured: tools/bench, 8 threads). */
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
static pthread_mutex_t g_lock = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
#else
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
#endif
static pthread_cond_t g_cond;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

void standin_cond_init(standin_cond *cond)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
}

static void init_cond(void) { standin_cond_init(&g_cond); }

void standin_lock(void)
{
    pthread_once(&g_once, init_cond);
    pthread_mutex_lock(&g_lock);
}

void standin_unlock(void) { pthread_mutex_unlock(&g_lock); }

void standin_broadcast(void) { pthread_cond_broadcast(&g_cond); }

void standin_wait(void) { pthread_cond_wait(&g_cond, &g_lock); }

uint64_t standin_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool standin_cond_wait_until(standin_cond *cond, uint64_t deadline_ms)
{
    if (standin_now_ms() >= deadline_ms)
        return false;
    struct timespec ts;
    ts.tv_sec = (time_t)(deadline_ms / 1000u);
    ts.tv_nsec = (long)(deadline_ms % 1000u) * 1000000L;
    int rc = pthread_cond_timedwait(cond, &g_lock, &ts);
    return rc != ETIMEDOUT || standin_now_ms() < deadline_ms;
}

bool standin_wait_until(uint64_t deadline_ms)
{
    return standin_cond_wait_until(&g_cond, deadline_ms);
}

void standin_cond_destroy(standin_cond *cond) { pthread_cond_destroy(cond); }

void standin_cond_signal(standin_cond *cond) { pthread_cond_signal(cond); }

void standin_cond_wait(standin_cond *cond) { pthread_cond_wait(cond, &g_lock); }
#endif
