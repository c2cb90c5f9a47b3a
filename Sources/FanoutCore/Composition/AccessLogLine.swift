/// One access-log entry: a single JSON object per request, followed by `\n`.
///
/// The runtime fills in the values; this type only formats them:
/// `{"time":"…","method":"GET","path":"/x","route":"GET /x","status":200,"duration_ms":12.3,
/// "request_id":"…","calls":[{"name":"a","status":200,"duration_ms":10.1}]}`.
/// `route` is `null` when no route matched. In `calls`, `status` is left out when no response arrived and
/// `failure` (the ``CallFailure/kind``) appears only for failed calls.
public struct AccessLogLine: Sendable {
    /// ISO 8601 UTC timestamp, formatted by the caller.
    public var time: String
    public var method: String
    /// The request target as received.
    public var path: String
    /// The matched route's display name (`GET /products/{id}`), or nil.
    public var route: String?
    /// The status sent to the client.
    public var status: Int
    public var durationMs: Double
    public var requestID: String
    /// One entry per upstream call; `failure` is the failure kind.
    public var calls: [(name: String, status: Int?, durationMs: Double, failure: String?)]

    public init(
        time: String,
        method: String,
        path: String,
        route: String?,
        status: Int,
        durationMs: Double,
        requestID: String,
        calls: [(name: String, status: Int?, durationMs: Double, failure: String?)] = []
    ) {
        self.time = time
        self.method = method
        self.path = path
        self.route = route
        self.status = status
        self.durationMs = durationMs
        self.requestID = requestID
        self.calls = calls
    }

    /// The entry as one line of JSON, terminated by `\n`.
    public func serialized() -> [UInt8] {
        var writer = JSONWriter(capacity: 160 + self.path.utf8.count + self.calls.count * 64)
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
        writer.append(#","duration_ms":"#)
        writer.appendDouble(milliseconds: self.durationMs)
        writer.append(#","request_id":"#)
        writer.appendString(self.requestID)
        writer.append(#","calls":["#)
        for (index, call) in self.calls.enumerated() {
            writer.append(index == 0 ? #"{"name":"# : #",{"name":"#)
            writer.appendString(call.name)
            if let status = call.status {
                writer.append(#","status":"#)
                writer.appendInt(status)
            }
            writer.append(#","duration_ms":"#)
            writer.appendDouble(milliseconds: call.durationMs)
            if let failure = call.failure {
                writer.append(#","failure":"#)
                writer.appendString(failure)
            }
            writer.append("}")
        }
        writer.append("]}\n")
        return writer.bytes
    }
}
