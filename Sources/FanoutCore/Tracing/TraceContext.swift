/// W3C Trace Context (level 1, https://www.w3.org/TR/trace-context/): the trace a request belongs to, taken
/// from the client's `traceparent`/`tracestate` or started here, and the `traceparent` each upstream call
/// carries (same trace id, a span id of its own).
///
/// Parsing is strict, as the spec asks: lowercase hex only, all-zero ids invalid, version `ff` invalid, a
/// version-00 value exactly 55 characters. A higher version is read by its first four fields when it is at
/// least 55 characters and the flags are followed by the end or a `-` (the spec's forward-compatibility rule).
/// Only the `sampled` flag (bit 0) is understood, so only it is carried on. The runtime supplies the random
/// ids; this type only parses and formats.
public struct TraceContext: Sendable, Equatable {
    /// The 16-byte trace id, as two big-endian halves (never both zero).
    public var traceIDHigh: UInt64
    public var traceIDLow: UInt64
    /// The caller's span (`parent-id`) when the trace was continued; nil when it was started here.
    public var parentID: UInt64?
    public var sampled: Bool
    /// The client's `tracestate`, passed on unchanged; nil when absent or rejected.
    public var traceState: String?

    /// Longest `tracestate` passed on (the spec's 512-character guidance); longer ones are dropped whole.
    public static let maxTraceStateBytes = 512
    /// Most list members a `tracestate` may hold (spec §3.3.1).
    static let maxTraceStateMembers = 32

    public init(
        traceIDHigh: UInt64, traceIDLow: UInt64, parentID: UInt64? = nil, sampled: Bool, traceState: String? = nil
    ) {
        self.traceIDHigh = traceIDHigh
        self.traceIDLow = traceIDLow
        self.parentID = parentID
        self.sampled = sampled
        self.traceState = traceState
    }

    /// The trace the client's headers continue: nil unless exactly one `traceparent` field is present and
    /// valid. `tracestate` fields are joined with commas (a list header) and kept when they look valid.
    public init?(traceparent: [String], tracestate: [String]) {
        guard traceparent.count == 1, let parsed = Self.parseTraceparent(traceparent[0]) else { return nil }
        self = parsed
        self.traceState = Self.acceptedTraceState(tracestate)
    }

    // MARK: - Parsing

    /// Reads one `traceparent` value; nil when it is invalid (the caller then starts a new trace).
    public static func parseTraceparent(_ value: String) -> TraceContext? {
        var value = value
        return value.withUTF8 { bytes -> TraceContext? in
            guard bytes.count >= 55, let version = hexByte(bytes, at: 0), version != 0xff else { return nil }
            if version == 0 {
                guard bytes.count == 55 else { return nil }
            } else if bytes.count > 55, bytes[55] != UInt8(ascii: "-") {
                return nil
            }
            guard bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-"),
                let high = hex64(bytes, at: 3), let low = hex64(bytes, at: 19), let parent = hex64(bytes, at: 36),
                let flags = hexByte(bytes, at: 53), high != 0 || low != 0, parent != 0
            else { return nil }
            return TraceContext(traceIDHigh: high, traceIDLow: low, parentID: parent, sampled: flags & 1 == 1)
        }
    }

    /// The `tracestate` to pass on: the fields joined by commas when the result is at most
    /// ``maxTraceStateBytes`` long, holds at most 32 members, and each member is `key=value` with a key of
    /// lowercase letters, digits and `_-*/@` and a value of printable ASCII without `,` and `=` (spec §3.3.1);
    /// else nil. Empty members (`a=1,,b=2`) are allowed, as the spec's list syntax allows them.
    public static func acceptedTraceState(_ fields: [String]) -> String? {
        guard !fields.isEmpty else { return nil }
        let joined = fields.count == 1 ? fields[0] : fields.joined(separator: ",")
        guard joined.utf8.count <= maxTraceStateBytes else { return nil }
        var members = 0
        for member in joined.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            guard let trimmed = trimmedOWS(member) else { continue }
            members += 1
            guard members <= maxTraceStateMembers, isTraceStateMember(trimmed) else { return nil }
        }
        return members == 0 ? nil : joined
    }

    private static func trimmedOWS(_ bytes: Substring.UTF8View) -> Substring.UTF8View? {
        var slice = bytes[...]
        while let first = slice.first, first == 0x20 || first == 0x09 { slice = slice.dropFirst() }
        while let last = slice.last, last == 0x20 || last == 0x09 { slice = slice.dropLast() }
        return slice.isEmpty ? nil : slice
    }

    private static func isTraceStateMember(_ member: Substring.UTF8View) -> Bool {
        guard let equals = member.firstIndex(of: UInt8(ascii: "=")) else { return false }
        let key = member[..<equals]
        let value = member[member.index(after: equals)...]
        guard (1...256).contains(key.count), (1...256).contains(value.count) else { return false }
        for byte in key {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"),
                UInt8(ascii: "-"), UInt8(ascii: "*"), UInt8(ascii: "/"), UInt8(ascii: "@"):
                continue
            default:
                return false
            }
        }
        guard let first = key.first, first != UInt8(ascii: "_"), first != UInt8(ascii: "-"),
            first != UInt8(ascii: "*"), first != UInt8(ascii: "/"), first != UInt8(ascii: "@")
        else { return false }
        // Printable ASCII except `,` and `=`; a trailing space was trimmed as OWS.
        return value.allSatisfy { (0x20...0x7e).contains($0) && $0 != UInt8(ascii: ",") && $0 != UInt8(ascii: "=") }
    }

    /// Two lowercase hex digits at `offset`.
    private static func hexByte(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int) -> UInt8? {
        guard let high = hexDigit(bytes[offset]), let low = hexDigit(bytes[offset + 1]) else { return nil }
        return high << 4 | low
    }

    /// Sixteen lowercase hex digits at `offset`.
    private static func hex64(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int) -> UInt64? {
        var result: UInt64 = 0
        for index in offset..<offset + 16 {
            guard let digit = hexDigit(bytes[index]) else { return nil }
            result = result << 4 | UInt64(digit)
        }
        return result
    }

    private static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        default: return nil
        }
    }

    // MARK: - Formatting

    /// The trace id as 32 lowercase hex digits (the access log's `trace_id`).
    public var traceIDHex: String {
        String(unsafeUninitializedCapacity: 32) { buffer in
            Self.writeHex(self.traceIDHigh, into: buffer, at: 0)
            Self.writeHex(self.traceIDLow, into: buffer, at: 16)
            return 32
        }
    }

    /// The `traceparent` value for one upstream call: version 00, this trace, `spanID` as the parent-id, and
    /// the sampled flag (`01` or `00`; other flag bits are not carried on).
    public func traceparent(spanID: UInt64) -> String {
        String(unsafeUninitializedCapacity: 55) { buffer in
            self.writeTraceparent(spanID: spanID, into: buffer, at: 0)
            return 55
        }
    }

    /// `traceparent: ` and ``traceparent(spanID:)``: the header line of one upstream call, made as one String
    /// (the value and then the line concatenated cost two allocations and a copy per call).
    public func traceparentHeaderLine(spanID: UInt64) -> String {
        let name: StaticString = "traceparent: "
        let nameLength = name.utf8CodeUnitCount
        return String(unsafeUninitializedCapacity: nameLength + 55) { buffer in
            UnsafeMutableRawBufferPointer(buffer).copyMemory(
                from: UnsafeRawBufferPointer(start: name.utf8Start, count: nameLength))
            self.writeTraceparent(spanID: spanID, into: buffer, at: nameLength)
            return nameLength + 55
        }
    }

    /// Writes the 55 bytes of the `traceparent` value at `offset`.
    private func writeTraceparent(spanID: UInt64, into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
        buffer[offset] = UInt8(ascii: "0")
        buffer[offset + 1] = UInt8(ascii: "0")
        buffer[offset + 2] = UInt8(ascii: "-")
        Self.writeHex(self.traceIDHigh, into: buffer, at: offset + 3)
        Self.writeHex(self.traceIDLow, into: buffer, at: offset + 19)
        buffer[offset + 35] = UInt8(ascii: "-")
        Self.writeHex(spanID, into: buffer, at: offset + 36)
        buffer[offset + 52] = UInt8(ascii: "-")
        buffer[offset + 53] = UInt8(ascii: "0")
        buffer[offset + 54] = self.sampled ? UInt8(ascii: "1") : UInt8(ascii: "0")
    }

    /// A span id as 16 lowercase hex digits (the access log's `span_id`).
    public static func spanIDHex(_ spanID: UInt64) -> String {
        String(unsafeUninitializedCapacity: 16) { buffer in
            writeHex(spanID, into: buffer, at: 0)
            return 16
        }
    }

    /// Writes `value` as 16 lowercase hex digits at `offset`, eight at a time: the digits of a 32-bit half are
    /// spread one per byte of a word and turned into ASCII with a few word operations (a loop per digit cost
    /// about 15 instructions each, 48 digits per `traceparent`, callgrind).
    private static func writeHex(_ value: UInt64, into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
        precondition(offset >= 0 && offset + 16 <= buffer.count)
        let raw = UnsafeMutableRawPointer(buffer.baseAddress!) + offset
        raw.storeBytes(of: hexDigits(UInt32(truncatingIfNeeded: value >> 32)), as: UInt64.self)
        (raw + 8).storeBytes(of: hexDigits(UInt32(truncatingIfNeeded: value)), as: UInt64.self)
    }

    /// The 8 hex digits of `value` as the bytes of a word, most significant digit first in memory.
    static func hexDigits(_ value: UInt32) -> UInt64 {
        var x = UInt64(value)
        x = (x & 0xFFFF_0000) << 16 | (x & 0xFFFF)
        x = (x & 0x0000_FF00_0000_FF00) << 8 | (x & 0x0000_00FF_0000_00FF)
        x = (x & 0x00F0_00F0_00F0_00F0) << 4 | (x & 0x000F_000F_000F_000F)
        // One nibble per byte, least significant digit in the lowest byte; 1 in each byte whose digit is ≥ 10.
        let letters = ((x &+ 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101
        x = x &+ 0x3030_3030_3030_3030 &+ letters &* 0x27  // "0" + digit, and "a" - "0" - 10 more for letters
        return x.bigEndian  // most significant digit first in memory
    }
}
