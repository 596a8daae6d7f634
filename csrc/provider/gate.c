/* The gate: one orderly queue in front of the GIL for the library's entry points.
 *
 * Why: every client thread enters Python for a couple of microseconds per lookup. Left to the
 * GIL, many threads on few cores hand it to one another through its condition variable: each
 * hand-over is a futex wake and a context switch, often for a thread that then finds the GIL
 * taken again (tools/bench, 8 threads on 2 cores: 0.55x one thread's throughput, 42% of the time
 * in the kernel's futex code). Waiting here instead, a thread first spins briefly (the holder
 * usually leaves within the spin, and the waiter then takes the GIL with no sleep at all), then
 * sleeps on the gate's own word; only one of our threads at a time asks for the GIL.
 *
 * Why a wait is never unbounded: the holder runs provider code, which may release the GIL and
 * wait for another thread that is itself entering the library (a provider that resolves a name
 * through Winsock on a worker thread and waits for it). So a thread waits at most
 * NSPV2_GATE_PATIENCE_US here and then goes to the GIL without the gate: never a deadlock, at
 * worst that delay. A thread that already holds the gate (a provider calling Winsock on its own
 * thread, which comes back here) passes straight through.
 *
 * The lock is the three-state futex mutex (free, held, held with sleepers): entering and leaving
 * an uncontended gate is one atomic operation each, and only a leave that saw sleepers wakes one.
 * It sleeps on futex(2) on Linux and WaitOnAddress on Windows; elsewhere there is no gate. */
#include "provider.h"

#include <stdatomic.h>

#if defined(_WIN32)
#  include <windows.h>
#elif defined(__linux__)
#  include <errno.h>
#  include <limits.h>
#  include <linux/futex.h>
#  include <pthread.h>
#  include <sys/syscall.h>
#  include <time.h>
#  include <unistd.h>
#endif

#if defined(_WIN32) || defined(__linux__)

/* Spins before sleeping: about what one Begin in Python takes on a current core. */
#define GATE_SPINS 200

enum { GATE_FREE = 0, GATE_HELD = 1, GATE_SLEEPERS = 2 };

static _Atomic uint32_t gate_state;
static _Atomic uintptr_t gate_owner;                 /* the holder's thread, 0 when free */
static _Atomic uint64_t count_waited, count_abandoned, count_nested;

static void cpu_relax(void)
{
#if defined(_WIN32)
    YieldProcessor();
#elif defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#if defined(_WIN32)
static uintptr_t self(void) { return (uintptr_t)GetCurrentThreadId(); }

static uint64_t now_us(void)
{
    LARGE_INTEGER frequency, count;
    QueryPerformanceFrequency(&frequency);
    QueryPerformanceCounter(&count);
    return (uint64_t)(count.QuadPart / frequency.QuadPart * 1000000 +
                      count.QuadPart % frequency.QuadPart * 1000000 / frequency.QuadPart);
}

/* Sleeps while the gate's word is GATE_SLEEPERS, for at most about `us` (Windows' timer may
 * round a millisecond up to its tick). */
static void sleep_while_sleepers(uint64_t us)
{
    uint32_t expected = GATE_SLEEPERS;
    DWORD ms = (DWORD)((us + 999) / 1000);
    WaitOnAddress((volatile VOID *)&gate_state, &expected, sizeof expected, ms);
}

static void wake_one(void) { WakeByAddressSingle((PVOID)&gate_state); }
#else
static uintptr_t self(void) { return (uintptr_t)pthread_self(); }

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sleep_while_sleepers(uint64_t us)
{
    struct timespec timeout = {.tv_sec = (time_t)(us / 1000000u),
                               .tv_nsec = (long)(us % 1000000u) * 1000L};
    /* EAGAIN (the word changed), EINTR and ETIMEDOUT all send the caller back to look. */
    (void)syscall(SYS_futex, (uint32_t *)&gate_state, FUTEX_WAIT_PRIVATE, GATE_SLEEPERS,
                  &timeout, NULL, 0);
}

static void wake_one(void)
{
    (void)syscall(SYS_futex, (uint32_t *)&gate_state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
#endif

static bool take(uint32_t from, uint32_t to)
{
    return atomic_compare_exchange_strong_explicit(&gate_state, &from, to, memory_order_acquire,
                                                   memory_order_relaxed);
}

bool nspv2_gate_enter(void)
{
    uintptr_t me = self();
    if (take(GATE_FREE, GATE_HELD))
        goto entered;
    if (atomic_load_explicit(&gate_owner, memory_order_relaxed) == me) {
        atomic_fetch_add_explicit(&count_nested, 1, memory_order_relaxed);
        return false;                               /* this thread holds it: pass through */
    }
    for (int i = 0; i < GATE_SPINS; i++) {
        cpu_relax();
        if (atomic_load_explicit(&gate_state, memory_order_relaxed) == GATE_FREE &&
            take(GATE_FREE, GATE_HELD))
            goto entered;
    }
    atomic_fetch_add_explicit(&count_waited, 1, memory_order_relaxed);
    uint64_t deadline = now_us() + NSPV2_GATE_PATIENCE_US;
    /* Whoever takes the gate after sleeping marks it as having sleepers, since others may
     * still be asleep; at worst that costs its leave one needless wake. */
    while (atomic_exchange_explicit(&gate_state, GATE_SLEEPERS, memory_order_acquire) !=
           GATE_FREE) {
        uint64_t now = now_us();
        if (now >= deadline) {
            atomic_fetch_add_explicit(&count_abandoned, 1, memory_order_relaxed);
            return false;                           /* the holder is slow or waits: go on */
        }
        sleep_while_sleepers(deadline - now);
    }
entered:
    atomic_store_explicit(&gate_owner, me, memory_order_relaxed);
    return true;
}

void nspv2_gate_leave(bool entered)
{
    if (!entered)
        return;
    atomic_store_explicit(&gate_owner, 0, memory_order_relaxed);
    if (atomic_exchange_explicit(&gate_state, GATE_FREE, memory_order_release) == GATE_SLEEPERS)
        wake_one();
}

void nspv2_gate_counts(struct nspv2_gate_counts *counts)
{
    counts->waited = atomic_load(&count_waited);
    counts->abandoned = atomic_load(&count_abandoned);
    counts->nested = atomic_load(&count_nested);
}

#else /* no futex-like wait: no gate */

bool nspv2_gate_enter(void) { return false; }

void nspv2_gate_leave(bool entered) { (void)entered; }

void nspv2_gate_counts(struct nspv2_gate_counts *counts)
{
    counts->waited = counts->abandoned = counts->nested = 0;
}

#endif
