#include "CStampedeSystem.h"

#include <string.h>
#include <sys/random.h>

int cstampede_accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags) {
    return accept4(sockfd, addr, addrlen, flags);
}

void cstampede_set_current_thread_name(const char *name) {
    char truncated[16];
    strncpy(truncated, name, sizeof(truncated) - 1);
    truncated[sizeof(truncated) - 1] = '\0';
    pthread_setname_np(pthread_self(), truncated);
}

ssize_t cstampede_getrandom(void *buffer, size_t length) {
    return getrandom(buffer, length, 0);
}
