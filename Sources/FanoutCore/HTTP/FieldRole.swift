/// What a header field's name says about whether fanout passes it from one hop to the next: the one list behind
/// the serializer (which leaves hop fields out of any answer), a proxy route's partner lines (which also leave out
/// the fields fanout writes itself) and the configuration's checks (which refuse to set hop fields).
public enum FieldRole: Sendable, Equatable {
    /// Frames the message or describes the connection (RFC 9110 §7.6.1, RFC 9112 §6): `Connection`,
    /// `Keep-Alive`, `Proxy-Connection`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`, `Content-Length`.
    /// fanout frames each message itself.
    case hop
    /// Written by fanout on every answer: `Date`, `X-Request-Id`.
    case setByFanout
    /// Any other field: it describes the content and passes.
    case endToEnd

    /// The names of ``hop`` fields, lowercase.
    public static let hopNames: [String] = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "content-length",
    ]
    /// The names of ``setByFanout`` fields, lowercase.
    public static let setByFanoutNames: [String] = ["date", "x-request-id"]

    /// The role of a field named `name` (any ASCII case). The length picks the one or two candidates, compared
    /// once over the name's bytes: a loop over a list cost about 1,000 instructions per proxied answer of five
    /// fields (callgrind). `FieldRoleTests` checks it against the lists.
    @inlinable
    public static func of(_ name: UnsafeRawBufferPointer) -> FieldRole {
        switch name.count {
        case 2: return ASCIICase.equals(name, "te") ? .hop : .endToEnd
        case 4: return ASCIICase.equals(name, "date") ? .setByFanout : .endToEnd
        case 7: return ASCIICase.equals(name, "trailer") || ASCIICase.equals(name, "upgrade") ? .hop : .endToEnd
        case 10:
            return ASCIICase.equals(name, "connection") || ASCIICase.equals(name, "keep-alive") ? .hop : .endToEnd
        case 12: return ASCIICase.equals(name, "x-request-id") ? .setByFanout : .endToEnd
        case 14: return ASCIICase.equals(name, "content-length") ? .hop : .endToEnd
        case 16: return ASCIICase.equals(name, "proxy-connection") ? .hop : .endToEnd
        case 17: return ASCIICase.equals(name, "transfer-encoding") ? .hop : .endToEnd
        default: return .endToEnd
        }
    }

    /// The role of a field named `name` (any ASCII case).
    @inlinable
    public static func of(_ name: String) -> FieldRole {
        var name = name
        return name.withUTF8 { of(UnsafeRawBufferPointer($0)) }
    }
}
