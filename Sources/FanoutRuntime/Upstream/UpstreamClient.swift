import CCurl
import FanoutCore
import Glibc

/// Identifies an upstream call so it can be cancelled.
struct TransferID: Hashable {
    fileprivate let raw: UInt64
}

/// A worker's upstream HTTP client: one libcurl multi handle driven by the worker's `EventLoop` through
/// `curl_multi_socket_action` (the ephiperfifo pattern, without its shortcuts; see
/// `../shared/notes/libcurl-epoll.md`).
///
/// - The socket and timer callbacks only record state (epoll interest, one loop timer); they never call libcurl.
/// - Easy handles are pooled and reused; options that never change are set once.
/// - Admission control is ours: at most `limits[slot]` transfers per admission slot (one per upstream
///   identity, see ``AdmissionSlots``) are inside libcurl at once; the rest wait in a FIFO (libcurl 7.88.1's
///   own pending queue is expensive, notes §2.1). Slots are stable across reloads, so a reload only
///   changes limits (``setLimits(_:)``); counts and queues carry over.
/// - Completions run after `curl_multi_info_read` is drained, never inside a libcurl callback, so a
///   completion may start or cancel other transfers.
final class UpstreamClient: EventHandler {
    private let loop: EventLoop
    private let multi: UnsafeMutableRawPointer
    private var free: [CurlTransfer] = []
    private var active: [UInt64: CurlTransfer] = [:]
    /// Per admission slot (`AdmissionSlot.raw`): queued calls, the index of the queue's head, calls inside
    /// libcurl, and the limit of the latest configuration that named the slot.
    private var queues: [[QueuedCall]] = []
    private var queueHeads: [Int] = []
    private var inFlight: [Int] = []
    private var limits: [Int] = []
    private var queuedIDs: Set<UInt64> = []
    private var nextID: UInt64 = 1
    private var curlTimer: TimerID?
    private var closed = false
    /// Connections opened and reused, per upstream name, over finished transfers (cancelled ones are not
    /// counted). Read by `Worker.metricsSnapshot()` on the loop thread.
    private(set) var connectionUse: [String: ServerMetrics.ConnectionUse] = [:]

    private struct QueuedCall {
        var id: UInt64
        var request: UpstreamRequest
        var startedAt: UInt64
        var completion: (UpstreamResult) -> Void
    }

    /// Call ``setLimits(_:)`` before starting calls.
    init?(loop: EventLoop) {
        guard let multi = curl_multi_init() else { return nil }
        self.loop = loop
        self.multi = multi
        let me = Unmanaged.passUnretained(self).toOpaque()
        _ = ccurl_multi_setopt_socket_function(multi, curlSocketCallback)
        _ = ccurl_multi_setopt_pointer(multi, CURLMOPT_SOCKETDATA, me)
        _ = ccurl_multi_setopt_timer_function(multi, curlTimerCallback)
        _ = ccurl_multi_setopt_pointer(multi, CURLMOPT_TIMERDATA, me)
    }

    /// Installs a configuration's admission limits: for each slot, how many transfers may be in libcurl at
    /// once on this worker. Slots not named keep their last limit (an upstream a reload removed: its queued
    /// calls still drain). A raised limit admits queued calls at once; a lowered one lets running calls
    /// finish and holds new ones back. Call on the loop thread.
    func setLimits(_ slotLimits: [(slot: AdmissionSlot, limit: Int)]) {
        for (slot, limit) in slotLimits {
            while limits.count <= slot.raw {
                limits.append(1)
                queues.append([])
                queueHeads.append(0)
                inFlight.append(0)
            }
            limits[slot.raw] = limit
        }
        // An explicit idle-pool size: the default (4 × handles currently added) collapses after a burst.
        // libcurl's connection cache is kept across reloads: warm connections to unchanged origins stay.
        let total = slotLimits.reduce(0) { $0 + $1.limit }
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, max(16, min(4096, total)))
        guard !closed else { return }
        for (slot, _) in slotLimits { admitNext(slot: slot.raw) }
    }

    // MARK: - Starting and cancelling

    /// Starts `request`; `completion` runs later on the loop thread, exactly once, unless `cancel` is called first.
    @discardableResult
    func start(_ request: UpstreamRequest, completion: @escaping (UpstreamResult) -> Void) -> TransferID {
        let id = nextID
        nextID += 1
        let call = QueuedCall(id: id, request: request, startedAt: loop.now, completion: completion)
        if closed {
            loop.schedule(afterMilliseconds: 0) {
                completion(UpstreamResult(outcome: .failure(.connection("worker is shutting down")), elapsedMs: 0))
            }
        } else if inFlight[request.slot.raw] < limits[request.slot.raw] {
            launch(call)
        } else {
            queues[request.slot.raw].append(call)
            queuedIDs.insert(id)
        }
        return TransferID(raw: id)
    }

    /// Stops a call without running its completion. A started HTTP/1.1 connection is closed by libcurl,
    /// not reused.
    func cancel(_ transferID: TransferID) {
        if queuedIDs.remove(transferID.raw) != nil { return }  // skipped when it reaches the queue's head
        guard let transfer = active.removeValue(forKey: transferID.raw) else { return }
        curl_multi_remove_handle(multi, transfer.easy)
        recycle(transfer)
        admitNext(slot: transfer.slot)
    }

    /// Lets a paused streamed transfer go on: receiving (the client took the answer's bytes) or sending (the
    /// client sent more body). Never call from inside a libcurl callback.
    func resume(_ transferID: TransferID, receiving: Bool) {
        guard let transfer = active[transferID.raw] else { return }
        if receiving {
            guard transfer.receivePaused else { return }
            transfer.receivePaused = false
        } else {
            guard transfer.sendPaused else { return }
            transfer.sendPaused = false
        }
        let stillPaused = (transfer.receivePaused ? ccurl_pause_recv : 0) | (transfer.sendPaused ? ccurl_pause_send : 0)
        // May call the write callback at once with the bytes held back (which may pause again).
        _ = curl_easy_pause(transfer.easy, stillPaused)
        // 7.88.1 does not always re-check the connection after unpausing (curl PR #4001): ask it to.
        var running: Int32 = 0
        _ = curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running)
        completeFinishedTransfers()
    }

    private func launch(_ call: QueuedCall) {
        let remainingMs = call.request.deadline > loop.now ? Int((call.request.deadline - loop.now) / 1_000_000) : 0
        if remainingMs <= 0 {
            finish(call.completion, .failure(.timeout), startedAt: call.startedAt)
            return
        }
        guard let transfer = free.popLast() ?? CurlTransfer() else {
            finish(call.completion, .failure(.connection("could not create a libcurl handle")), startedAt: call.startedAt)
            return
        }
        transfer.id = call.id
        transfer.slot = call.request.slot.raw
        transfer.upstreamName = call.request.upstreamName
        transfer.startedAt = call.startedAt
        transfer.completion = call.completion
        transfer.prepare(call.request, timeoutMs: min(call.request.timeoutMs, remainingMs))
        active[call.id] = transfer
        inFlight[call.request.slot.raw] += 1
        let code = curl_multi_add_handle(multi, transfer.easy)
        if code != CURLM_OK {
            active.removeValue(forKey: call.id)
            inFlight[call.request.slot.raw] -= 1
            transfer.completion = nil
            transfer.bodySource = nil
            transfer.receiver = nil
            free.append(transfer)
            finish(call.completion, .failure(.connection(String(cString: curl_multi_strerror(code)))), startedAt: call.startedAt)
        }
    }

    private func recycle(_ transfer: CurlTransfer) {
        inFlight[transfer.slot] -= 1
        transfer.completion = nil
        transfer.body = []
        transfer.bodySource = nil
        transfer.receiver = nil
        free.append(transfer)
    }

    private func admitNext(slot: Int) {
        while inFlight[slot] < limits[slot], queueHeads[slot] < queues[slot].count {
            let call = queues[slot][queueHeads[slot]]
            queueHeads[slot] += 1
            if queueHeads[slot] == queues[slot].count {
                queues[slot].removeAll(keepingCapacity: true)
                queueHeads[slot] = 0
            }
            if queuedIDs.remove(call.id) == nil { continue }  // cancelled while queued
            launch(call)
        }
    }

    private func finish(_ completion: (UpstreamResult) -> Void, _ outcome: Result<UpstreamResponse, CallFailure>, startedAt: UInt64) {
        loop.refreshNow()
        completion(UpstreamResult(outcome: outcome, elapsedMs: Double(loop.now &- startedAt) / 1_000_000))
    }

    // MARK: - Loop integration

    func handleEvent(fd: Int32, events: UInt32) {
        var bits: Int32 = 0
        if events & (Interest.read.rawValue | Interest.hangup.rawValue | Interest.error.rawValue) != 0 { bits |= CURL_CSELECT_IN }
        if events & Interest.write.rawValue != 0 { bits |= CURL_CSELECT_OUT }
        if events & Interest.error.rawValue != 0 { bits |= CURL_CSELECT_ERR }
        var running: Int32 = 0
        _ = curl_multi_socket_action(multi, fd, bits, &running)
        completeFinishedTransfers()
    }

    fileprivate func socketChanged(fd: Int32, what: Int32) {
        switch what {
        case CURL_POLL_REMOVE:
            loop.deregister(fd: fd)
        default:
            var interest: Interest = []
            if what & CURL_POLL_IN != 0 { interest.insert(.read) }
            if what & CURL_POLL_OUT != 0 { interest.insert(.write) }
            if loop.isRegistered(fd: fd) {
                loop.setInterest(fd: fd, interest)
            } else {
                loop.register(fd: fd, interest: interest, handler: self)
            }
        }
    }

    fileprivate func timerChanged(milliseconds: Int) {
        if let timer = curlTimer { loop.cancel(timer) }
        curlTimer = nil
        guard milliseconds >= 0 else { return }
        curlTimer = loop.schedule(afterMilliseconds: milliseconds) { [weak self] in
            guard let self else { return }
            self.curlTimer = nil
            var running: Int32 = 0
            _ = curl_multi_socket_action(self.multi, CURL_SOCKET_TIMEOUT, 0, &running)
            self.completeFinishedTransfers()
        }
    }

    private func completeFinishedTransfers() {
        var queued: Int32 = 0
        var finished: [(CurlTransfer, CURLcode, overran: Bool)] = []
        while true {
            let message = ccurl_multi_info_read_done(multi, &queued)
            guard message.done != 0, let easy = message.easy else { break }
            var privatePointer: UnsafeMutablePointer<CChar>?
            _ = ccurl_easy_getinfo_pointer(easy, CURLINFO_PRIVATE, &privatePointer)
            guard let privatePointer else { continue }
            let transfer = CurlTransfer.from(UnsafeMutableRawPointer(privatePointer))
            // Asked while the handle is still in the multi handle (see CurlTransfer+Framing.swift).
            let overran = message.result == CURLE_OK && transfer.answerOverranContentLength()
            // CURLINFO_NUM_CONNECTS: connections this transfer had to open (0: it reused a pooled one).
            var connects = 0
            _ = ccurl_easy_getinfo_long(easy, CURLINFO_NUM_CONNECTS, &connects)
            var status = 0
            _ = ccurl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
            connectionUse[transfer.upstreamName, default: ServerMetrics.ConnectionUse()].record(
                opened: connects, answered: status > 0)
            curl_multi_remove_handle(multi, easy)
            finished.append((transfer, message.result, overran))
        }
        for (transfer, code, overran) in finished {
            guard active.removeValue(forKey: transfer.id) != nil, let completion = transfer.completion else { continue }
            let outcome = result(of: transfer, code: code, overran: overran)
            let startedAt = transfer.startedAt
            let slot = transfer.slot
            recycle(transfer)
            finish(completion, outcome, startedAt: startedAt)
            admitNext(slot: slot)
        }
    }

    private func result(
        of transfer: CurlTransfer, code: CURLcode, overran: Bool
    ) -> Result<UpstreamResponse, CallFailure> {
        if code == CURLE_OK && overran {
            return .failure(.connection("response longer than its Content-Length of \(transfer.contentLength ?? "?") bytes"))
        }
        if code == CURLE_OK {
            var status = 0
            _ = ccurl_easy_getinfo_long(transfer.easy, CURLINFO_RESPONSE_CODE, &status)
            return .success(
                UpstreamResponse(
                    status: status, contentType: transfer.contentType, headers: transfer.headers, body: transfer.body,
                    cacheControl: transfer.cacheControl, vary: transfer.vary))
        }
        if let reason = transfer.abortReason {
            switch reason {
            case .bodyTooLarge: return .failure(.tooLarge)
            case .headersTooLarge: return .failure(.connection("response headers over \(CurlTransfer.maxHeaderBytes) bytes"))
            case .tooManyHeaderFields:
                return .failure(.connection("response has more than \(CurlTransfer.maxHeaderFields) header fields"))
            case .conflictingContentLength: return .failure(.connection("conflicting Content-Length headers"))
            }
        }
        switch code {
        case CURLE_OPERATION_TIMEDOUT:
            return .failure(.timeout)
        case CURLE_COULDNT_CONNECT:
            return .failure(.refused)
        case CURLE_COULDNT_RESOLVE_HOST:
            return .failure(.unreachable(transfer.errorText(code)))
        default:
            return .failure(.connection(transfer.errorText(code)))
        }
    }

    // MARK: - Shutdown

    /// Fails queued calls, aborts running ones and frees every libcurl handle. Call on the loop thread while
    /// the loop still exists (never from a deinit: libcurl calls back into this object during cleanup).
    func close() {
        guard !closed else { return }
        closed = true
        if let timer = curlTimer { loop.cancel(timer) }
        curlTimer = nil
        for (_, transfer) in active {
            curl_multi_remove_handle(multi, transfer.easy)
            transfer.destroy()
        }
        active.removeAll()
        for transfer in free { transfer.destroy() }
        free.removeAll()
        queuedIDs.removeAll()
        curl_multi_cleanup(multi)
    }
}


private let curlSocketCallback: curl_socket_callback = { _, fd, what, clientp, _ in
    guard let clientp else { return 0 }
    Unmanaged<UpstreamClient>.fromOpaque(clientp).takeUnretainedValue().socketChanged(fd: fd, what: what)
    return 0
}

private let curlTimerCallback: curl_multi_timer_callback = { _, timeoutMs, clientp in
    guard let clientp else { return 0 }
    Unmanaged<UpstreamClient>.fromOpaque(clientp).takeUnretainedValue().timerChanged(milliseconds: timeoutMs)
    return 0
}
