#ifndef _GNU_SOURCE
#error "CFanoutLinux needs _GNU_SOURCE (set in Package.swift cSettings)"
#endif
#include "CFanoutLinux.h"
#include <sched.h>
#include <string.h>
#include <pthread.h>
#include <sys/random.h>
#include <malloc.h>

_Static_assert(sizeof(uint64_t) == sizeof(((struct epoll_event *)0)->data), "epoll data is 64 bits");

int cfanout_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev);
}

int cfanout_epoll_wait(int epfd, void *buffer, int maxevents, int timeout_ms) {
    return epoll_wait(epfd, (struct epoll_event *)buffer, maxevents, timeout_ms);
}

size_t cfanout_epoll_event_size(void) { return sizeof(struct epoll_event); }

uint32_t cfanout_epoll_event_events(const void *buffer, int index) {
    return ((const struct epoll_event *)buffer)[index].events;
}

uint64_t cfanout_epoll_event_data(const void *buffer, int index) {
    return ((const struct epoll_event *)buffer)[index].data.u64;
}

int cfanout_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
    return accept4(fd, addr, len, flags);
}

int cfanout_affinity_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    return CPU_COUNT(&set);
}

static void shutdown_signal_set(sigset_t *set) {
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGQUIT);
}

int cfanout_block_shutdown_signals(void) {
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    shutdown_signal_set(&set);
    return pthread_sigmask(SIG_BLOCK, &set, NULL) == 0 ? 0 : -1;
}

int cfanout_wait_shutdown_signal(void) {
    sigset_t set;
    shutdown_signal_set(&set);
    int sig = 0;
    return sigwait(&set, &sig) == 0 ? sig : -1;
}

int cfanout_set_thread_name(const char *name) {
    char shortened[16];
    strncpy(shortened, name, sizeof shortened - 1);
    shortened[sizeof shortened - 1] = 0;
    return pthread_setname_np(pthread_self(), shortened);
}

long cfanout_getrandom(void *buffer, size_t length) {
    return (long)getrandom(buffer, length, 0);
}

int cfanout_malloc_trim(void) {
    return malloc_trim(0);
}
