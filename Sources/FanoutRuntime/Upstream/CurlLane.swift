import CCurl

/// One of an ``UpstreamClient``'s libcurl multi handles, with its own connection cache and timer.
///
/// libcurl 7.88.1 looks for a free connection by walking its cache's list for the host in creation order,
/// skipping the ones in use (about 76 instructions each): with 1,000 transfers in flight to one host, a new
/// transfer walked about 470 busy connections, 36k instructions (the wide fan-out, callgrind). A transfer goes
/// to the first lane with fewer than ``UpstreamClient/laneCapacity`` transfers in flight, so each lane's list
/// stays that short; under that load everything runs on lane 0, as with one multi handle. A lane keeps its
/// connections: a connection opened on one lane is reused on it only (see `docs/design/libcurl-and-epoll.md`).
final class CurlLane {
    let index: Int
    let multi: UnsafeMutableRawPointer
    /// libcurl's timer for this multi handle (CURLMOPT_TIMERFUNCTION), as a loop timer.
    var timer: TimerID?
    /// Transfers added to this multi handle now.
    var inFlight = 0
    /// The transfer that makes libcurl discard this lane's dead connections
    /// (`UpstreamClient.startPruneTransfers()`).
    var pruneTransfer: CurlTransfer?
    /// Not retained (a checked `unowned` cost about 330 instructions per wide call, and an `unowned(unsafe)`
    /// reference was still retained around each callback's call): the client owns its lanes, libcurl calls back
    /// only inside the client's own calls into the multi handle, and `UpstreamClient.close()` cleans every multi
    /// handle up before the client can go.
    private let client: Unmanaged<UpstreamClient>
    /// What the loop timer runs (``UpstreamClient/timerFired(_:)``), made once per lane: libcurl's timer is
    /// made anew (not moved) about once per `/overview` request, and a closure made each time was an allocation.
    /// The client is held weakly, as that closure held it: the loop may run it after the client has gone
    /// (the client has a weak reference's side table anyway: its trim timer's). The lane is unowned, not weak:
    /// a side table on the lane made every retain and release of it take the slow path (callgrind: about
    /// 3,000 instructions per `/overview` request).
    private(set) var timerAction: () -> Void = {}

    init?(index: Int, client: UpstreamClient) {
        guard let multi = curl_multi_init() else { return nil }
        self.index = index
        self.multi = multi
        self.client = Unmanaged.passUnretained(client)
        let me = Unmanaged.passUnretained(self).toOpaque()
        _ = ccurl_multi_setopt_socket_function(multi, curlSocketCallback)
        _ = ccurl_multi_setopt_pointer(multi, CURLMOPT_SOCKETDATA, me)
        _ = ccurl_multi_setopt_timer_function(multi, curlTimerCallback)
        _ = ccurl_multi_setopt_pointer(multi, CURLMOPT_TIMERDATA, me)
        timerAction = { [weak client, unowned self] in
            guard let client else { return }
            client.timerFired(self)
        }
    }
}

extension CurlLane {
    /// Runs `body` with the lane a C callback's user pointer names and its client, retaining neither: libcurl
    /// calls back only inside the client's own calls into the lane's multi handle, while the client holds the
    /// lane. A retain and a release of each per callback cost about 200 instructions (libcurl calls these about
    /// 24 times per `/overview`, callgrind).
    @inline(__always)
    fileprivate static func borrowing(
        _ pointer: UnsafeMutableRawPointer, _ body: (CurlLane, UpstreamClient) -> Void
    ) {
        Unmanaged<CurlLane>.fromOpaque(pointer)._withUnsafeGuaranteedRef { lane in
            lane.client._withUnsafeGuaranteedRef { body(lane, $0) }
        }
    }
}

private let curlSocketCallback: curl_socket_callback = { easy, fd, what, lanep, _ in
    guard let lanep else { return 0 }
    CurlLane.borrowing(lanep) { $1.socketChanged(lane: $0, easy: easy, fd: fd, what: what) }
    return 0
}

private let curlTimerCallback: curl_multi_timer_callback = { _, timeoutMs, lanep in
    guard let lanep else { return 0 }
    CurlLane.borrowing(lanep) { $1.timerChanged(lane: $0, milliseconds: timeoutMs) }
    return 0
}
