// Typed, non-variadic wrappers around libcurl's variadic setopt/getinfo calls.
//
// Swift imports C variadic functions as unavailable, and a fixed-arity re-declaration with the wrong argument
// type is undefined behaviour; so each argument kind gets its own tiny inline function and the C compiler does
// the right promotions (long for long options, curl_off_t for *_LARGE ones). No logic lives here.
// Found through pkg-config (`libcurl`); on Debian the headers come from libcurl4-openssl-dev.
#ifndef FANOUT_CCURL_SHIM_H
#define FANOUT_CCURL_SHIM_H

#include <curl/curl.h>

static inline CURLcode ccurl_easy_setopt_long(CURL *_Nonnull h, CURLoption o, long v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode ccurl_easy_setopt_off(CURL *_Nonnull h, CURLoption o, curl_off_t v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode ccurl_easy_setopt_string(CURL *_Nonnull h, CURLoption o, const char *_Nullable v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode ccurl_easy_setopt_pointer(CURL *_Nonnull h, CURLoption o, void *_Nullable v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode ccurl_easy_setopt_slist(CURL *_Nonnull h, CURLoption o, struct curl_slist *_Nullable v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode ccurl_easy_setopt_write_function(CURL *_Nonnull h, curl_write_callback _Nullable cb) {
    return curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cb);
}
static inline CURLcode ccurl_easy_setopt_header_function(CURL *_Nonnull h, curl_write_callback _Nullable cb) {
    return curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, cb);
}
static inline CURLcode ccurl_easy_setopt_read_function(CURL *_Nonnull h, curl_read_callback _Nullable cb) {
    return curl_easy_setopt(h, CURLOPT_READFUNCTION, cb);
}
static inline CURLcode ccurl_easy_setopt_closesocket_function(
    CURL *_Nonnull h, curl_closesocket_callback _Nullable cb) {
    return curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, cb);
}
static inline CURLcode ccurl_easy_setopt_sockopt_function(CURL *_Nonnull h, curl_sockopt_callback _Nullable cb) {
    return curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, cb);
}
static inline CURLcode ccurl_easy_getinfo_long(CURL *_Nonnull h, CURLINFO i, long *_Nonnull out) {
    return curl_easy_getinfo(h, i, out);
}
static inline CURLcode ccurl_easy_getinfo_socket(CURL *_Nonnull h, CURLINFO i, curl_socket_t *_Nonnull out) {
    return curl_easy_getinfo(h, i, out);
}
static inline CURLcode ccurl_easy_getinfo_pointer(CURL *_Nonnull h, CURLINFO i, char *_Nullable *_Nonnull out) {
    return curl_easy_getinfo(h, i, out);
}
static inline CURLMcode ccurl_multi_setopt_long(CURLM *_Nonnull m, CURLMoption o, long v) {
    return curl_multi_setopt(m, o, v);
}
static inline CURLMcode ccurl_multi_setopt_pointer(CURLM *_Nonnull m, CURLMoption o, void *_Nullable v) {
    return curl_multi_setopt(m, o, v);
}
static inline CURLMcode ccurl_multi_setopt_socket_function(CURLM *_Nonnull m, curl_socket_callback _Nullable cb) {
    return curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, cb);
}
static inline CURLMcode ccurl_multi_setopt_timer_function(CURLM *_Nonnull m, curl_multi_timer_callback _Nullable cb) {
    return curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, cb);
}

// Return values and pause bits whose macros Swift does not import (they are expressions of other macros).
static const size_t ccurl_writefunc_pause = CURL_WRITEFUNC_PAUSE;
static const size_t ccurl_readfunc_pause = CURL_READFUNC_PAUSE;
// The curl_version_info_data layout these headers describe (a macro naming an enum constant).
static const CURLversion ccurl_version_now = CURLVERSION_NOW;
static const size_t ccurl_readfunc_abort = CURL_READFUNC_ABORT;
static const int ccurl_pause_recv = CURLPAUSE_RECV;
static const int ccurl_pause_send = CURLPAUSE_SEND;
static const int ccurl_pause_cont = CURLPAUSE_CONT;

/// The fields of a CURLMsg that a DONE handler needs, copied out: the message struct is invalid once its
/// handle is removed, and its `data` union does not import usefully into Swift.
typedef struct {
    CURL *_Nullable easy;
    CURLcode result;
    int done;
} ccurl_done_message;

static inline ccurl_done_message ccurl_multi_info_read_done(CURLM *_Nonnull m, int *_Nonnull queued) {
    ccurl_done_message out = { 0, CURLE_OK, 0 };
    for (;;) {
        CURLMsg *msg = curl_multi_info_read(m, queued);
        if (!msg) return out;
        if (msg->msg == CURLMSG_DONE) {
            out.easy = msg->easy_handle;
            out.result = msg->data.result;
            out.done = 1;
            return out;
        }
    }
}

#endif
