import CCurl
import FanoutCore

/// The libcurl side of one `Upgrade` tunnel: a connect-only transfer in a multi handle of its own, driven by
/// the worker's loop like ``UpstreamClient`` drives its multi handle (socket and timer callbacks only record
/// epoll interest and one loop timer).
///
/// Why not the worker's multi handle: libcurl keeps a connect-only connection in its multi handle's
/// connection cache for as long as the handle is in it (7.88.1 closes the connection when the handle is
/// removed, and finds it for `curl_easy_send`/`recv` through the multi handle only). That cache's dead-
/// connection sweep, run when another transfer opens a connection, does not skip connect-only connections: a
/// tunnel idle in libcurl's eyes for `CURLOPT_MAXAGE_CONN` (118 s), or with unread bytes waiting, would be
/// closed under the tunnel. A multi handle per tunnel holds one connection and never opens another.
/// Tunnels are also not calls: no admission slot, queue or breaker applies to them.
final class TunnelConnection: EventHandler {
    private let loop: EventLoop
    private let multi: UnsafeMutableRawPointer
    let transfer: CurlTransfer
    private var timer: TimerID?
    /// Sockets this object registered with the loop while connecting.
    private var watched: Set<Int32> = []
    private var done: ((CURLcode) -> Void)?
    private var closed = false

    /// Starts connecting to `url`; `done` runs once, on the loop thread and outside libcurl callbacks, with
    /// CURLE_OK when the connection (TLS included) is up. Nil when libcurl could not make its handles.
    init?(
        loop: EventLoop, url: String, transport: TransportOptions, connectTimeoutMs: Int,
        done: @escaping (CURLcode) -> Void
    ) {
        guard let multi = curl_multi_init() else { return nil }
        guard let transfer = CurlTransfer() else {
            curl_multi_cleanup(multi)
            return nil
        }
        self.loop = loop
        self.multi = multi
        self.transfer = transfer
        self.done = done
        transfer.prepareConnectOnly(url: url, transport: transport, connectTimeoutMs: connectTimeoutMs)
        let me = Unmanaged.passUnretained(self).toOpaque()
        _ = ccurl_multi_setopt_socket_function(multi, tunnelSocketCallback)
        _ = ccurl_multi_setopt_pointer(multi, CURLMOPT_SOCKETDATA, me)
        _ = ccurl_multi_setopt_timer_function(multi, tunnelTimerCallback)
        _ = ccurl_multi_setopt_pointer(multi, CURLMOPT_TIMERDATA, me)
        guard curl_multi_add_handle(multi, transfer.easy) == CURLM_OK else {
            self.done = nil
            close()
            return nil
        }
    }

    func handleEvent(fd: Int32, events: UInt32) {
        var bits: Int32 = 0
        if events & (Interest.read.rawValue | Interest.hangup.rawValue | Interest.error.rawValue) != 0 {
            bits |= CURL_CSELECT_IN
        }
        if events & Interest.write.rawValue != 0 { bits |= CURL_CSELECT_OUT }
        if events & Interest.error.rawValue != 0 { bits |= CURL_CSELECT_ERR }
        act(on: fd, bits: bits)
    }

    private func act(on fd: Int32, bits: Int32) {
        withExtendedLifetime(self) {
            guard !closed else { return }
            var running: Int32 = 0
            _ = curl_multi_socket_action(multi, fd, bits, &running)
            var queued: Int32 = 0
            let message = ccurl_multi_info_read_done(multi, &queued)
            guard message.done != 0, let done else { return }
            self.done = nil
            // libcurl no longer watches the socket: the tunnel does from now on.
            for socket in watched { loop.deregister(fd: socket) }
            watched = []
            if let timer { loop.cancel(timer) }
            timer = nil
            done(message.result)
        }
    }

    fileprivate func socketChanged(fd: Int32, what: Int32) {
        guard !closed, done != nil else { return }  // connected: the socket is the tunnel's
        if what == CURL_POLL_REMOVE {
            if watched.remove(fd) != nil { loop.deregister(fd: fd) }
            return
        }
        var interest: Interest = []
        if what & CURL_POLL_IN != 0 { interest.insert(.read) }
        if what & CURL_POLL_OUT != 0 { interest.insert(.write) }
        if watched.contains(fd) {
            loop.setInterest(fd: fd, interest)
        } else {
            watched.insert(fd)
            loop.register(fd: fd, interest: interest, handler: self)
        }
    }

    fileprivate func timerChanged(milliseconds: Int) {
        if let timer { loop.cancel(timer) }
        timer = nil
        guard milliseconds >= 0, !closed else { return }
        timer = loop.schedule(afterMilliseconds: milliseconds) { [weak self] in
            guard let self else { return }
            self.timer = nil
            self.act(on: CURL_SOCKET_TIMEOUT, bits: 0)
        }
    }

    /// Closes the connection and frees the handles. The caller has stopped watching the socket. Idempotent.
    func close() {
        guard !closed else { return }
        closed = true
        done = nil
        if let timer { loop.cancel(timer) }
        timer = nil
        for socket in watched { loop.deregister(fd: socket) }
        watched = []
        curl_multi_remove_handle(multi, transfer.easy)
        transfer.destroy()
        curl_multi_cleanup(multi)
    }
}

private let tunnelSocketCallback: curl_socket_callback = { _, fd, what, clientp, _ in
    guard let clientp else { return 0 }
    Unmanaged<TunnelConnection>.fromOpaque(clientp).takeUnretainedValue().socketChanged(fd: fd, what: what)
    return 0
}

private let tunnelTimerCallback: curl_multi_timer_callback = { _, timeoutMs, clientp in
    guard let clientp else { return 0 }
    Unmanaged<TunnelConnection>.fromOpaque(clientp).takeUnretainedValue().timerChanged(milliseconds: timeoutMs)
    return 0
}
