/// Facts about request methods.
public enum HTTPMethod {
    /// RFC 9110 §9.2.2: methods whose request may be repeated with the same effect. fanout never repeats any
    /// other request, and makes sure libcurl does not either.
    public static func isIdempotent(_ method: String) -> Bool {
        switch method {
        case "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE": return true
        default: return false
        }
    }
}
