/*
 * floor.c: libcurl's floor for fanout's benchmark routes, as a server.
 *
 * An HTTP/1.1 server that does only what no server built on libcurl can skip: one epoll loop, keep-alive
 * client connections, and the upstream calls through libcurl's multi_socket interface with the cheapest knobs
 * measured in ../shared/bench/libcurl-cost (a prebuilt CURLU per path, NOPROXY "", no header callback, no
 * custom headers, lazy epoll deregistration, pooled easy handles, a total timeout per transfer as any proxy
 * needs). No configuration, routing, templating, validation, metrics or error handling beyond a 502.
 *
 *   floor PORT UPSTREAM_PORT
 *
 *   GET /overview  three calls (/a /b /c) in parallel, answered as {"profile":A,"orders":B,"score":C}
 *   GET /proxy/a   one call (/a), its body passed on
 *
 * Benchmarks/run.sh builds it with `cc -O2 floor.c -lcurl` and measures it beside fanout and nginx: what fanout
 * costs above this server is fanout's own work; what this server costs above nginx is libcurl's.
 * Requests are assumed to arrive whole in one read and without a body (wrk's GETs); anything else closes.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { MAX_FD = 65536, CALLS = 3, BODY_MAX = 4096, OUT_MAX = 16384 };

struct client;

struct transfer {
    CURL *easy;
    struct client *client;
    int slot;
    size_t length;
    char body[BODY_MAX];
    struct transfer *next_free;
};

struct client {
    int fd;
    int pending;   /* calls still running */
    int calls;     /* calls of the current request: 3 (/overview) or 1 (/proxy/a) */
    int failed;
    struct transfer *transfers[CALLS];
    char in[4096];
    size_t in_length;
};

/* What epoll reports for an fd: a listener, a client, or one of libcurl's sockets. */
enum kind { NONE, LISTENER, CLIENT, CURL_SOCKET };
static enum kind kinds[MAX_FD];
static struct client *clients[MAX_FD];
static unsigned wanted[MAX_FD];     /* libcurl's socket: the events it asked for (0: left registered, unwatched) */
static unsigned registered[MAX_FD]; /* the events epoll has for the fd (0: not in epoll) */

static int epfd;
static CURLM *multi;
static long long deadline_ms = -1;  /* libcurl's timer: -1 none, else when it is due (CLOCK_MONOTONIC ms) */
static struct transfer *free_transfers;
static CURLU *urls[CALLS];
static const char *paths[CALLS] = {"/a", "/b", "/c"};
static const char *names[CALLS] = {"profile", "orders", "score"};

static void watch(int fd, unsigned events) {
    if (registered[fd] == events) return;
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(epfd, registered[fd] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0) {
        perror("epoll_ctl");
        exit(1);
    }
    registered[fd] = events;
}

static void unwatch(int fd) {
    if (registered[fd]) epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
    registered[fd] = 0;
}

static size_t on_body(char *data, size_t size, size_t count, void *user) {
    struct transfer *t = user;
    size_t n = size * count;
    if (t->length + n > BODY_MAX) return 0; /* aborts the transfer: a 502 */
    memcpy(t->body + t->length, data, n);
    t->length += n;
    return n;
}

/* libcurl's socket callback, with lazy deregistration: a socket it no longer wants stays in epoll. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *user, void *socket_user) {
    (void)easy; (void)user; (void)socket_user;
    if (fd < 0 || fd >= MAX_FD) return 0;
    kinds[fd] = CURL_SOCKET;
    if (what == CURL_POLL_REMOVE) {
        wanted[fd] = 0;
        return 0;
    }
    unsigned events = 0;
    if (what & CURL_POLL_IN) events |= EPOLLIN;
    if (what & CURL_POLL_OUT) events |= EPOLLOUT;
    wanted[fd] = events;
    watch(fd, events);
    return 0;
}

static int on_close(void *user, curl_socket_t fd) {
    (void)user;
    if (fd >= 0 && fd < MAX_FD) {
        unwatch(fd);
        wanted[fd] = 0;
        kinds[fd] = NONE;
    }
    return close(fd);
}

static long long now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static int on_timer(CURLM *m, long ms, void *user) {
    (void)m; (void)user;
    deadline_ms = ms < 0 ? -1 : now_ms() + ms;
    return 0;
}

static struct transfer *take_transfer(void) {
    struct transfer *t = free_transfers;
    if (t) {
        free_transfers = t->next_free;
        return t;
    }
    t = calloc(1, sizeof *t);
    t->easy = curl_easy_init();
    curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
    curl_easy_setopt(t->easy, CURLOPT_NOPROXY, "");
    curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(t->easy, CURLOPT_CLOSESOCKETFUNCTION, on_close);
    return t;
}

static void close_client(struct client *c) {
    unwatch(c->fd);
    kinds[c->fd] = NONE;
    clients[c->fd] = NULL;
    close(c->fd);
    c->fd = -1;
    if (c->pending == 0) free(c); /* else freed when its last call ends */
}

static void respond(struct client *c) {
    char out[OUT_MAX];
    char body[OUT_MAX - 256];
    size_t n = 0;
    if (c->failed) {
        n = (size_t)snprintf(body, sizeof body, "{\"error\":\"bad_gateway\"}");
    } else if (c->calls == 1) {
        memcpy(body, c->transfers[0]->body, c->transfers[0]->length);
        n = c->transfers[0]->length;
    } else {
        body[n++] = '{';
        for (int i = 0; i < CALLS; i++) {
            n += (size_t)snprintf(body + n, sizeof body - n, "%s\"%s\":", i ? "," : "", names[i]);
            memcpy(body + n, c->transfers[i]->body, c->transfers[i]->length);
            n += c->transfers[i]->length;
        }
        body[n++] = '}';
    }
    int head = snprintf(
        out, sizeof out, "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
        c->failed ? "502 Bad Gateway" : "200 OK", n);
    memcpy(out + head, body, n);
    for (int i = 0; i < c->calls; i++) {
        c->transfers[i]->next_free = free_transfers;
        free_transfers = c->transfers[i];
        c->transfers[i] = NULL;
    }
    if (c->fd < 0) {
        free(c);
        return;
    }
    ssize_t sent = send(c->fd, out, (size_t)head + n, MSG_NOSIGNAL);
    if (sent != (ssize_t)((size_t)head + n)) close_client(c); /* a benchmark client takes it whole */
}

static void start_calls(struct client *c, int calls) {
    c->calls = calls;
    c->pending = calls;
    c->failed = 0;
    for (int i = 0; i < calls; i++) {
        struct transfer *t = take_transfer();
        t->client = c;
        t->slot = i;
        t->length = 0;
        c->transfers[i] = t;
        curl_easy_setopt(t->easy, CURLOPT_CURLU, urls[i]);
        curl_multi_add_handle(multi, t->easy);
    }
}

static void read_client(struct client *c) {
    ssize_t n = recv(c->fd, c->in + c->in_length, sizeof c->in - c->in_length, 0);
    if (n <= 0) {
        if (n < 0 && errno == EAGAIN) return;
        close_client(c);
        return;
    }
    c->in_length += (size_t)n;
    char *end = memmem(c->in, c->in_length, "\r\n\r\n", 4);
    if (!end) {
        if (c->in_length == sizeof c->in) close_client(c);
        return;
    }
    int calls = 0;
    if (c->in_length >= 14 && memcmp(c->in, "GET /overview ", 14) == 0) calls = CALLS;
    else if (c->in_length >= 13 && memcmp(c->in, "GET /proxy/a ", 13) == 0) calls = 1;
    size_t used = (size_t)(end + 4 - c->in);
    if (calls == 0 || c->pending || used != c->in_length) { /* one request at a time, no pipelining */
        close_client(c);
        return;
    }
    c->in_length = 0;
    start_calls(c, calls);
}

static void finish_transfers(void) {
    int queued;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(multi, &queued))) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;
        struct transfer *t;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
        curl_multi_remove_handle(multi, easy);
        struct client *c = t->client;
        if (result != CURLE_OK) c->failed = 1;
        if (--c->pending == 0) respond(c);
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: floor PORT UPSTREAM_PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, 4096L);
    for (int i = 0; i < CALLS; i++) {
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%s%s", argv[2], paths[i]);
        urls[i] = curl_url();
        curl_url_set(urls[i], CURLUPART_URL, url, 0);
    }

    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 4096) != 0) {
        perror("listen");
        return 1;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    kinds[listener] = LISTENER;
    watch(listener, EPOLLIN);

    struct epoll_event events[256];
    for (;;) {
        long long wait_ms = deadline_ms < 0 ? -1 : deadline_ms - now_ms();
        int count = epoll_wait(epfd, events, 256, deadline_ms < 0 ? -1 : wait_ms < 0 ? 0 : (int)wait_ms);
        int running;
        for (int i = 0; i < count; i++) {
            int fd = events[i].data.fd;
            switch (kinds[fd]) {
            case LISTENER:
                for (;;) {
                    int client_fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (client_fd < 0) break;
                    if (client_fd >= MAX_FD) {
                        close(client_fd);
                        continue;
                    }
                    setsockopt(client_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct client *c = calloc(1, sizeof *c);
                    c->fd = client_fd;
                    clients[client_fd] = c;
                    kinds[client_fd] = CLIENT;
                    watch(client_fd, EPOLLIN | EPOLLRDHUP);
                }
                break;
            case CLIENT:
                read_client(clients[fd]);
                break;
            case CURL_SOCKET:
                if (wanted[fd] == 0) { /* left registered, stirring while no transfer wants it */
                    unwatch(fd);
                    break;
                }
                curl_multi_socket_action(
                    multi, fd,
                    ((events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) ? CURL_CSELECT_IN : 0)
                        | ((events[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0)
                        | ((events[i].events & EPOLLERR) ? CURL_CSELECT_ERR : 0),
                    &running);
                finish_transfers();
                break;
            case NONE:
                break;
            }
        }
        /* A 0 ms timer (a handle was just added) runs in the same turn, as fanout's loop does. */
        if (deadline_ms >= 0 && now_ms() >= deadline_ms) {
            deadline_ms = -1;
            curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
            finish_transfers();
        }
    }
}
