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
 * Why a holder gives the gate up: the holder runs provider code, which may release the GIL and
 * wait: on I/O (a `lookup` that asks a server), or for another thread that is itself entering
 * the library (a provider that resolves a name through Winsock on a worker thread and waits for
 * it). Other threads must not wait behind it. So the gate is held for at most
 * NSPV2_GATE_HOLD_US: a waiter that finds the same hold older than that takes the gate over (the
 * holder, which no longer needs the queue, finishes without it and its leave does nothing), and
 * the queue moves on. Runtime work and a usual provider's lookup take a few microseconds, far
 * below that limit, so a takeover means the holder is waiting (or the machine is overloaded),
 * and costs the waiters at most that limit per hold. A thread that already holds the gate (a
 * provider calling Winsock on its own thread, which comes back here) passes straight through.
 *
 * Of the sleepers, one at a time (the watcher) sleeps only until the hold may be taken over;
 * the others sleep until a leave or a takeover wakes one of them (or, as a safety net, for
 * NSPV2_GATE_IDLE_US). Were they all to wake at the same deadline, every hold that outlives the
 * limit would wake every sleeper, and with many client threads (1,000 at once in tools/bench)
 * each hold would cost a wake-up per waiting thread.
 *
 * The lock is the three-state futex mutex (free, held, held with sleepers): entering and leaving
 * an uncontended gate is a few atomic operations, and only a leave that saw sleepers wakes one.
 * Each hold has a ticket, its start time in microseconds and a counter in one word, so a
 * takeover and the holder's leave agree by one compare-and-swap on it which of them releases.
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
static _Atomic uint64_t gate_ticket;                 /* the hold's ticket, 0 when free */
static _Atomic uint32_t ticket_counter;
static _Atomic uint32_t gate_watched;               /* 1 while a sleeper times the hold */
static _Atomic uint64_t count_waited, count_taken_over, count_nested;

/* How long a sleeper that does not watch the hold sleeps at most: only a safety net, since a
 * leave or a takeover wakes the next sleeper. */
#define NSPV2_GATE_IDLE_US 100000

/* A ticket: when the hold started (microseconds, the upper 48 bits) and a counter (which makes
 * tickets of the same microsecond differ). Never 0. */
#define TICKET_SHIFT 16
static uint64_t new_ticket(uint64_t now)
{
    uint64_t count = atomic_fetch_add_explicit(&ticket_counter, 1, memory_order_relaxed);
    return (now << TICKET_SHIFT) | (count & 0xFFFF) | 1;
}

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

/* The watcher leaves its watch (it holds the gate now): a sleeper, if any, is woken to take it
 * up for this hold, which may outlive the limit too. */
static void stop_watching(bool watching)
{
    if (!watching)
        return;
    atomic_store_explicit(&gate_watched, 0, memory_order_release);
    wake_one();
}

uint64_t nspv2_gate_enter(void)
{
    uintptr_t me = self();
    if (take(GATE_FREE, GATE_HELD))
        goto entered;
    if (atomic_load_explicit(&gate_owner, memory_order_relaxed) == me) {
        atomic_fetch_add_explicit(&count_nested, 1, memory_order_relaxed);
        return 0;                                   /* this thread holds it: pass through */
    }
    for (int i = 0; i < GATE_SPINS; i++) {
        cpu_relax();
        if (atomic_load_explicit(&gate_state, memory_order_relaxed) == GATE_FREE &&
            take(GATE_FREE, GATE_HELD))
            goto entered;
    }
    atomic_fetch_add_explicit(&count_waited, 1, memory_order_relaxed);
    bool watching = false;
    /* Whoever takes the gate after sleeping marks it as having sleepers, since others may
     * still be asleep; at worst that costs its leave one needless wake. */
    while (atomic_exchange_explicit(&gate_state, GATE_SLEEPERS, memory_order_acquire) !=
           GATE_FREE) {
        uint64_t held = atomic_load_explicit(&gate_ticket, memory_order_acquire);
        uint64_t now = now_us(), since = held >> TICKET_SHIFT;
        if (held != 0 && now >= since + NSPV2_GATE_HOLD_US) {
            /* The holder is waiting in provider code: the gate is ours, still marked held. */
            uint64_t mine = new_ticket(now);
            if (atomic_compare_exchange_strong_explicit(&gate_ticket, &held, mine,
                                                        memory_order_acq_rel,
                                                        memory_order_relaxed)) {
                atomic_fetch_add_explicit(&count_taken_over, 1, memory_order_relaxed);
                atomic_store_explicit(&gate_owner, me, memory_order_relaxed);
                stop_watching(watching);
                return mine;
            }
            continue;                               /* it left or someone else took it: look */
        }
        if (!watching) {
            uint32_t none = 0;
            watching = atomic_compare_exchange_strong_explicit(
                &gate_watched, &none, 1, memory_order_acq_rel, memory_order_relaxed);
        }
        /* The watcher until the hold may be taken over, the others until woken (a leave or a
         * takeover wakes one). */
        if (watching)
            sleep_while_sleepers(held != 0 ? since + NSPV2_GATE_HOLD_US - now
                                           : NSPV2_GATE_HOLD_US);
        else
            sleep_while_sleepers(NSPV2_GATE_IDLE_US);
    }
    stop_watching(watching);
entered:;
    uint64_t ticket = new_ticket(now_us());
    atomic_store_explicit(&gate_ticket, ticket, memory_order_release);
    atomic_store_explicit(&gate_owner, me, memory_order_relaxed);
    return ticket;
}

void nspv2_gate_leave(uint64_t ticket)
{
    if (ticket == 0)
        return;
    /* Still this hold's (not taken over): release the gate. */
    if (!atomic_compare_exchange_strong_explicit(&gate_ticket, &ticket, 0, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return;
    atomic_store_explicit(&gate_owner, 0, memory_order_relaxed);
    if (atomic_exchange_explicit(&gate_state, GATE_FREE, memory_order_release) == GATE_SLEEPERS)
        wake_one();
}

void nspv2_gate_counts(struct nspv2_gate_counts *counts)
{
    counts->waited = atomic_load(&count_waited);
    counts->taken_over = atomic_load(&count_taken_over);
    counts->nested = atomic_load(&count_nested);
}

#else /* no futex-like wait: no gate */

uint64_t nspv2_gate_enter(void) { return 0; }

void nspv2_gate_leave(uint64_t ticket) { (void)ticket; }

void nspv2_gate_counts(struct nspv2_gate_counts *counts)
{
    counts->waited = counts->taken_over = counts->nested = 0;
}

#endif
