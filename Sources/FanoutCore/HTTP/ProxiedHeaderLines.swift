/// The partner's response header fields that a proxy route passes back to its client, kept as the bytes of their
/// lines (`Name: value\r\n`), in the partner's order.
///
/// A proxied answer's fields go from libcurl's header callback to the client's head unchanged: making two Strings
/// of every field and writing them out again cost about 4,000 instructions per answer of five fields (callgrind),
/// for bytes that are copied, not read. The fields that describe the upstream hop or its framing
/// (``isDropped(_:)``) are left out as they arrive. The few paths that need the fields one by one (a
/// `response_headers` overlay, an answer without body bytes) read ``fields``.
public struct ProxiedHeaderLines: Sendable {
    /// Response fields that describe the upstream hop or its framing, not the content: never passed back.
    /// fanout writes its own `Date`, `X-Request-Id` and framing (the framing fields are also left out by
    /// `HTTPResponse.serializeHead` itself).
    public static let droppedNames: [String] = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "content-length", "date", "x-request-id",
    ]

    /// The lines, each `Name: value\r\n`.
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public var isEmpty: Bool { bytes.isEmpty }

    /// Forgets the lines of an earlier answer (after a 1xx, or for the handle's next transfer), keeping the
    /// storage.
    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
    }

    /// Appends one field, unless its name is one of ``droppedNames``. `name` and `value` are the bytes of one
    /// header line, without the colon, the surrounding whitespace or the line's end.
    public mutating func append(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        guard !ProxiedHeaderLines.isDropped(name) else { return }
        bytes.reserveCapacity(bytes.count + name.count + value.count + 4)
        bytes.append(contentsOf: name)
        bytes.append(UInt8(ascii: ":"))
        bytes.append(UInt8(ascii: " "))
        bytes.append(contentsOf: value)
        bytes.append(13)
        bytes.append(10)
    }

    /// The fields one by one, in order.
    public var fields: [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = []
        var lineStart = 0
        var colon: Int?
        for index in bytes.indices {
            switch bytes[index] {
            case UInt8(ascii: ":") where colon == nil:
                colon = index
            case 10:
                if let colon {
                    fields.append(
                        (
                            name: String(decoding: bytes[lineStart..<colon], as: UTF8.self),
                            value: String(decoding: bytes[(colon + 2)..<(index - 1)], as: UTF8.self)
                        ))
                }
                lineStart = index + 1
                colon = nil
            default:
                break
            }
        }
        return fields
    }

    /// Whether a field named `name` (any ASCII case) is one of ``droppedNames``. The length picks the one or two
    /// candidates, compared once over the name's bytes: a loop over the whole list cost about 1,000 instructions
    /// per proxied answer of five fields (callgrind). `ProxiedHeaderLinesTests` checks it against the list.
    public static func isDropped(_ name: UnsafeRawBufferPointer) -> Bool {
        switch name.count {
        case 2: return ASCIICase.equals(name, "te")
        case 4: return ASCIICase.equals(name, "date")
        case 7: return ASCIICase.equals(name, "trailer") || ASCIICase.equals(name, "upgrade")
        case 10: return ASCIICase.equals(name, "connection") || ASCIICase.equals(name, "keep-alive")
        case 12: return ASCIICase.equals(name, "x-request-id")
        case 14: return ASCIICase.equals(name, "content-length")
        case 16: return ASCIICase.equals(name, "proxy-connection")
        case 17: return ASCIICase.equals(name, "transfer-encoding")
        default: return false
        }
    }
}
