/// The JSON body of an error answered by the proxy itself (400, 404, 502, 504…).
public enum ErrorBody {
    /// `{"error":"<error>","message":"<message>"}`, both values JSON-escaped.
    ///
    /// - Parameters:
    ///   - error: a stable machine-readable code such as `not_found`.
    ///   - message: short human text, e.g. `no route for GET /x`.
    public static func json(error: String, message: String) -> [UInt8] {
        var writer = JSONWriter(capacity: error.utf8.count + message.utf8.count + 32)
        writer.append(#"{"error":"#)
        writer.appendString(error)
        writer.append(#","message":"#)
        writer.appendString(message)
        writer.append("}")
        return writer.bytes
    }
}
