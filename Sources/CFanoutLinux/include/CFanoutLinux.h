// Linux system calls and constants that Glibc does not expose to Swift (epoll, eventfd, accept4, CPU
// affinity), with plain signatures: feature macros set in cSettings do not reach Swift's importer.
#ifndef FANOUT_CLINUX_H
#define FANOUT_CLINUX_H

#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>

/// epoll_event is packed on x86_64; these accessors keep Swift away from its layout.
int cfanout_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
int cfanout_epoll_wait(int epfd, void *_Nonnull buffer, int maxevents, int timeout_ms);
size_t cfanout_epoll_event_size(void);
uint32_t cfanout_epoll_event_events(const void *_Nonnull buffer, int index);
uint64_t cfanout_epoll_event_data(const void *_Nonnull buffer, int index);

int cfanout_accept4(int fd, struct sockaddr *_Nullable addr, socklen_t *_Nullable len, int flags);
/// Number of CPUs in this thread's affinity mask (sched_getaffinity), or -1.
int cfanout_affinity_cpu_count(void);
/// Names the calling thread (at most 15 bytes are kept). Returns 0 or an errno value.
int cfanout_set_thread_name(const char *_Nonnull name);
/// Blocks SIGINT, SIGTERM, SIGHUP, SIGQUIT in the calling thread (threads created after inherit it) and
/// ignores SIGPIPE process-wide. Returns 0 or -1.
int cfanout_block_shutdown_signals(void);
/// Waits for one of the signals blocked above (sigwait); returns its number, or -1.
int cfanout_wait_shutdown_signal(void);
/// getrandom(2) with no flags: up to `length` bytes from the kernel's CSPRNG; the count, or -1 with errno.
long cfanout_getrandom(void *_Nonnull buffer, size_t length);
/// glibc's malloc_trim(0): gives the free memory of every malloc arena back to the kernel. Returns 1 if some
/// was given back.
int cfanout_malloc_trim(void);

static const uint32_t CFANOUT_EPOLLIN = EPOLLIN;
static const uint32_t CFANOUT_EPOLLOUT = EPOLLOUT;
static const uint32_t CFANOUT_EPOLLERR = EPOLLERR;
static const uint32_t CFANOUT_EPOLLHUP = EPOLLHUP;
static const uint32_t CFANOUT_EPOLLRDHUP = EPOLLRDHUP;

#endif
