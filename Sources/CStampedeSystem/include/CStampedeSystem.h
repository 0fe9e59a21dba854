#ifndef C_STAMPEDE_SYSTEM_H
#define C_STAMPEDE_SYSTEM_H

/// Linux system interfaces that Swift's Glibc module does not export: epoll, eventfd, timerfd, and
/// the GNU-only calls (accept4, getrandom, pthread_setname_np) that stay invisible to Swift even with _GNU_SOURCE.

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/timerfd.h>
#include <sys/types.h>

/// accept4(2): accepts a connection and sets `flags` (SOCK_NONBLOCK, SOCK_CLOEXEC) atomically.
int cstampede_accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags);

/// getrandom(2) with no flags: fills `buffer` with up to `length` random bytes from the kernel.
ssize_t cstampede_getrandom(void *buffer, size_t length);

/// pthread_setname_np(3) on the calling thread; names longer than 15 bytes are truncated.
void cstampede_set_current_thread_name(const char *name);

#endif
