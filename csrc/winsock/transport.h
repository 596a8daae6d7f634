/* The Unix domain socket calls of the cross-process stand-in and the NSS module, behind an
 * interface without Winsock types. Why a file of its own: the Winsock declarations the
 * stand-in is written against (struct sockaddr with Windows' layout, SOCK_STREAM, ...) and
 * <sys/socket.h> cannot meet in one translation unit. POSIX only. */
#ifndef NSPV2_TRANSPORT_H
#define NSPV2_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden)

enum transport_failure {
    TRANSPORT_OK = 0,
    TRANSPORT_ABSENT,        /* no socket, or nobody listens on it (ENOENT, ECONNREFUSED) */
    TRANSPORT_BUSY,          /* the listener's backlog is full (EAGAIN) */
    TRANSPORT_FOREIGN,       /* the peer is another user */
    TRANSPORT_RESOURCES      /* no descriptor or memory */
};
enum transport_read { READ_OK = 1, READ_CLOSED = 0, READ_TIMEOUT = -1, READ_WOKEN = -2 };

/* Connects (close-on-exec, blocking afterwards) to path, whose listener must be this user or
 * root. -1 with *failure on failure. */
int transport_connect(const char *path, enum transport_failure *failure);
/* The peer's uid and pid as of connect() (SO_PEERCRED). */
bool transport_peer(int fd, uint32_t *uid, uint32_t *pid);
/* Binds and listens at path (mode 0600, or 0666 when shared); a stale socket left by a dead
 * process is replaced, a live one is left alone (-1). */
int transport_listen(const char *path, bool shared);
/* Accepts a connection (close-on-exec); -1 when stop_fd became readable or the listener
 * failed for good, -2 for a transient failure (retry). */
int transport_accept(int listen_fd, int stop_fd);
/* Sends everything (MSG_NOSIGNAL: a closed peer is an error, never SIGPIPE). */
bool transport_send(int fd, const void *bytes, size_t length);
/* Reads exactly length bytes by the monotonic deadline (ms; 0 = none). wake_fd (or -1):
 * when it becomes readable before any byte arrived, it is drained and READ_WOKEN returned.
 * arrived: the bytes are probably there already (a body after its header): try before polling. */
enum transport_read transport_read(int fd, int wake_fd, void *to, size_t length,
                                   uint64_t deadline_ms, bool arrived);
void transport_shutdown(int fd);
bool transport_pipe(int fds[2]);       /* close-on-exec, non-blocking */
bool transport_exists(const char *path);
uint64_t transport_now_ms(void);

#pragma GCC visibility pop

#endif
