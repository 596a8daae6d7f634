/* Unix domain socket calls (transport.h says why they are apart). */
#ifndef _WIN32
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

uint64_t transport_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool address(const char *path, struct sockaddr_un *addr)
{
    size_t n = strlen(path);
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    if (n >= sizeof addr->sun_path)
        return false;
    memcpy(addr->sun_path, path, n + 1);
    return true;
}

bool transport_peer(int fd, uint32_t *uid, uint32_t *pid)
{
    struct ucred cred;
    socklen_t length = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0)
        return false;
    *uid = (uint32_t)cred.uid;
    *pid = (uint32_t)cred.pid;
    return true;
}

int transport_connect(const char *path, enum transport_failure *failure)
{
    struct sockaddr_un addr;
    *failure = TRANSPORT_ABSENT;
    if (!address(path, &addr))
        return -1;
    /* Non-blocking connect: a full backlog answers EAGAIN at once instead of waiting. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        *failure = TRANSPORT_RESOURCES;
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        *failure = errno == EAGAIN ? TRANSPORT_BUSY : TRANSPORT_ABSENT;
        close(fd);
        return -1;
    }
    uint32_t uid, pid;
    if (!transport_peer(fd, &uid, &pid) || (uid != (uint32_t)geteuid() && uid != 0)) {
        *failure = TRANSPORT_FOREIGN;
        close(fd);
        return -1;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        *failure = TRANSPORT_RESOURCES;
        close(fd);
        return -1;
    }
    *failure = TRANSPORT_OK;
    return fd;
}

int transport_listen(const char *path, bool shared)
{
    struct sockaddr_un addr;
    if (!address(path, &addr))
        return -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        if (bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
            if (chmod(path, shared ? 0666 : 0600) != 0 || listen(fd, 128) != 0) {
                close(fd);
                unlink(path);
                return -1;
            }
            return fd;
        }
        int error = errno;
        close(fd);
        if (error != EADDRINUSE)
            return -1;
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool live = probe >= 0 && connect(probe, (struct sockaddr *)&addr, sizeof addr) == 0;
        if (probe >= 0)
            close(probe);
        if (live)
            return -1;           /* another process serves it */
        unlink(path);            /* left by a process that died */
    }
    return -1;
}

int transport_accept(int listen_fd, int stop_fd)
{
    struct pollfd p[2] = {{listen_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    if (poll(p, 2, -1) < 0)
        return errno == EINTR ? -2 : -1;
    if (p[1].revents)
        return -1;
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0)
        return fd;
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
        poll(NULL, 0, 10);       /* out of descriptors: let some close first */
    return (errno == EBADF || errno == EINVAL || errno == ENOTSOCK) ? -1 : -2;
}

bool transport_send(int fd, const void *bytes, size_t length)
{
    const char *at = bytes;
    while (length > 0) {
        ssize_t w = send(fd, at, length, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        at += w;
        length -= (size_t)w;
    }
    return true;
}

enum transport_read transport_read(int fd, int wake_fd, void *to, size_t length,
                                   uint64_t deadline_ms, bool arrived)
{
    size_t got = 0;
    while (got < length) {
        if (arrived) {            /* a message's body: usually here already, no poll needed */
            ssize_t early = recv(fd, (char *)to + got, length - got, MSG_DONTWAIT);
            if (early > 0) {
                got += (size_t)early;
                continue;
            }
            if (early == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                return READ_CLOSED;
        }
        int wait = -1;
        if (deadline_ms) {
            uint64_t now = transport_now_ms();
            if (now >= deadline_ms)
                return READ_TIMEOUT;
            wait = (int)(deadline_ms - now);
        }
        struct pollfd p[2] = {{fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
        int rc = poll(p, wake_fd >= 0 ? 2 : 1, wait);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            return READ_CLOSED;
        if (rc == 0)
            continue;            /* the deadline check above ends it */
        if (wake_fd >= 0 && (p[1].revents & POLLIN)) {
            char drain[64];
            while (read(wake_fd, drain, sizeof drain) > 0) {
            }
            if (got == 0)
                return READ_WOKEN;
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = recv(fd, (char *)to + got, length - got, 0);
            if (r < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (r <= 0)
                return READ_CLOSED;
            got += (size_t)r;
        }
    }
    return READ_OK;
}

void transport_shutdown(int fd) { shutdown(fd, SHUT_RDWR); }

bool transport_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0; }

bool transport_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}
#else
typedef int transport_unused; /* Windows: no Unix domain sockets here */
#endif
