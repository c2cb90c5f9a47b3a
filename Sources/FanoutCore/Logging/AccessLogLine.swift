/// One access-log entry: a single JSON object per request, followed by `\n`.
///
/// The runtime fills in the values; this type only formats them:
/// `{"time":"…","method":"GET","path":"/x","route":"GET /x","status":200,"duration_ms":12.3,
/// "request_id":"…","trace_id":"…","parent_id":"…","calls":[{"name":"a","status":200,"http_version":"1.1",
/// "duration_ms":10.1,"span_id":"…"}]}`.
/// `route` is `null` when no route matched; `trace_id` is `null` when the request was never dispatched (it
/// was refused before its head was read); `parent_id` appears only when the client's `traceparent` was taken
/// (it is the caller's span, so a partner that is itself fanout logs the calling call's `span_id` there). In
/// `client_abort` (`closed`: a FIN, `reset`: an RST or socket error; a ``ClientDeparture``) appears only when
/// the client went away before its answer was complete; the status is then 499. In
/// `calls`, `status` is left out when no response arrived, `http_version` (`1.1`, `2`) appears only when the
/// runtime knows the answer's version, `failure` (the ``CallFailure/kind``) only for failed calls, `span_id`
/// only for a call that was sent, and `span_ids` only for a `for_each` call (one per item sent, in item
/// order). `attempts` appears only for a call that took more than one attempt (retries, a hedge; summed over
/// a `for_each` call's items), and `"hedged":true` only when a hedge's answer won. `cache` appears only for a
/// call with a cache policy (a ``CacheUse``: `hit`, `miss`, `stale_revalidate`, `stale_error`; not for
/// `for_each`). `"cancelled":true` marks a call still running (or not yet started) when its client went away:
/// it was cancelled, its `duration_ms` is the time until then.
public struct AccessLogLine: Sendable {
    /// One upstream call as the access log shows it.
    public struct Call: Sendable {
        /// Which call of which configuration's route this is, by index: what the metrics count it under and the
        /// spans name its upstream by. Not logged.
        public struct Identity: Sendable, Equatable {
            /// The call's index in its route's calls (0 for a proxy route's one call).
            public var call: Int
            /// The index of the call's upstream in its configuration's upstreams.
            public var upstream: Int

            public init(call: Int, upstream: Int) {
                self.call = call
                self.upstream = upstream
            }
        }

        public var name: String
        /// Set by whoever made the call (an exchange, from its route's configuration), so nothing pairs calls
        /// with their route's calls or upstreams by position.
        public var identity: Identity
        /// The upstream's status; nil when no response arrived.
        public var status: Int?
        public var durationMs: Double
        /// The ``CallFailure/kind`` of a failed call.
        public var failure: String?
        /// The HTTP version the answer came with (`1.0`, `1.1`, `2`); nil when no answer arrived.
        public var httpVersion: String?
        /// The span id (16 hex digits) the call's `traceparent` carried; nil when it was never sent.
        public var spanID: String?
        /// For a `for_each` call: the span id of each item sent, in item order.
        public var itemSpanIDs: [String]?
        /// Attempts made, when retries or a hedge made more than one; nil otherwise.
        public var attempts: Int?
        /// Whether the answer came from a hedge.
        public var hedged = false
        /// How the call cache answered (``CacheUse`` raw value); nil for a call without a cache policy.
        public var cache: String?
        /// The call had not finished when its client went away, and was cancelled.
        public var cancelled = false
        /// When the call started, in milliseconds after its request's exchange started (for its trace span;
        /// not logged).
        public var startOffsetMs = 0.0

        public init(
            name: String, identity: Identity, status: Int?, durationMs: Double, failure: String?,
            spanID: String? = nil, itemSpanIDs: [String]? = nil, httpVersion: String? = nil, startOffsetMs: Double = 0
        ) {
            self.name = name
            self.startOffsetMs = startOffsetMs
            self.identity = identity
            self.status = status
            self.durationMs = durationMs
            self.failure = failure
            self.spanID = spanID
            self.itemSpanIDs = itemSpanIDs
            self.httpVersion = httpVersion
        }
    }

    /// ISO 8601 UTC timestamp, formatted by the caller.
    public var time: String
    public var method: String
    /// The request target as received.
    public var path: String
    /// The matched route's display name (`GET /products/{id}`), or nil.
    public var route: String?
    /// The status sent to the client; 499 when the client went away first.
    public var status: Int
    /// How the client went away before its answer was complete; nil when it was answered.
    public var clientAbort: ClientDeparture?
    public var durationMs: Double
    public var requestID: String
    /// The W3C trace id (32 hex digits) of a dispatched request.
    public var traceID: String?
    /// The parent id (16 hex digits) of the client's `traceparent`, when it was taken.
    public var parentID: String?
    /// One entry per upstream call.
    public var calls: [Call]
    /// An `Upgrade` tunnel's line (status 101, written when it ended): `"tunnel":{"bytes_up":N,"bytes_down":N,
    /// "end":"finished"}`, bytes from the client to the partner and back, and the ``TunnelStateMachine/EndReason``.
    public var tunnel: Tunnel?

    /// What an `Upgrade` tunnel passed on, and why it ended.
    public struct Tunnel: Sendable {
        public var bytesUp: UInt64
        public var bytesDown: UInt64
        public var end: String

        public init(bytesUp: UInt64, bytesDown: UInt64, end: String) {
            self.bytesUp = bytesUp
            self.bytesDown = bytesDown
            self.end = end
        }
    }

    public init(
        time: String,
        method: String,
        path: String,
        route: String?,
        status: Int,
        durationMs: Double,
        requestID: String,
        traceID: String? = nil,
        parentID: String? = nil,
        calls: [Call] = [],
        clientAbort: ClientDeparture? = nil
    ) {
        self.time = time
        self.method = method
        self.path = path
        self.route = route
        self.status = status
        self.durationMs = durationMs
        self.requestID = requestID
        self.traceID = traceID
        self.parentID = parentID
        self.calls = calls
        self.clientAbort = clientAbort
    }

    /// The entry as one line of JSON, terminated by `\n`.
    public func serialized() -> [UInt8] {
        var writer = JSONWriter(capacity: 200 + self.path.utf8.count + self.calls.count * 96)
        writer.append(#"{"time":"#)
        writer.appendString(self.time)
        writer.append(#","method":"#)
        writer.appendString(self.method)
        writer.append(#","path":"#)
        writer.appendString(self.path)
        writer.append(#","route":"#)
        if let route = self.route {
            writer.appendString(route)
        } else {
            writer.append("null")
        }
        writer.append(#","status":"#)
        writer.appendInt(self.status)
        if let clientAbort = self.clientAbort {
            writer.append(#","client_abort":"#)
            writer.appendString(clientAbort.rawValue)
        }
        writer.append(#","duration_ms":"#)
        writer.appendDouble(milliseconds: self.durationMs)
        writer.append(#","request_id":"#)
        writer.appendString(self.requestID)
        writer.append(#","trace_id":"#)
        if let traceID = self.traceID {
            writer.appendString(traceID)
        } else {
            writer.append("null")
        }
        if let parentID = self.parentID {
            writer.append(#","parent_id":"#)
            writer.appendString(parentID)
        }
        if let tunnel = self.tunnel {
            writer.append(#","tunnel":{"bytes_up":"#)
            writer.appendInt(Int(clamping: tunnel.bytesUp))
            writer.append(#","bytes_down":"#)
            writer.appendInt(Int(clamping: tunnel.bytesDown))
            writer.append(#","end":"#)
            writer.appendString(tunnel.end)
            writer.append("}")
        }
        writer.append(#","calls":["#)
        for (index, call) in self.calls.enumerated() {
            writer.append(index == 0 ? #"{"name":"# : #",{"name":"#)
            writer.appendString(call.name)
            if let status = call.status {
                writer.append(#","status":"#)
                writer.appendInt(status)
            }
            if let httpVersion = call.httpVersion {
                writer.append(#","http_version":"#)
                writer.appendString(httpVersion)
            }
            writer.append(#","duration_ms":"#)
            writer.appendDouble(milliseconds: call.durationMs)
            if let failure = call.failure {
                writer.append(#","failure":"#)
                writer.appendString(failure)
            }
            if let spanID = call.spanID {
                writer.append(#","span_id":"#)
                writer.appendString(spanID)
            }
            if let attempts = call.attempts {
                writer.append(#","attempts":"#)
                writer.appendInt(attempts)
            }
            if call.hedged { writer.append(#","hedged":true"#) }
            if call.cancelled { writer.append(#","cancelled":true"#) }
            if let itemSpanIDs = call.itemSpanIDs {
                writer.append(#","span_ids":["#)
                for (position, spanID) in itemSpanIDs.enumerated() {
                    if position > 0 { writer.append(",") }
                    writer.appendString(spanID)
                }
                writer.append("]")
            }
            if let cache = call.cache {
                writer.append(#","cache":"#)
                writer.appendString(cache)
            }
            writer.append("}")
        }
        writer.append("]}\n")
        return writer.bytes
    }
}
