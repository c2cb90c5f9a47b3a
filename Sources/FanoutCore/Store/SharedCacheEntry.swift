/// The store keys of a cached call: the same on every replica for the same call.
///
/// `PREFIX` `cache:{` DIGEST `}` for the answer and `PREFIX` `lock:{` DIGEST `}` for the stale-while-revalidate
/// refresh lock, where DIGEST is 32 hex digits hashed (two 64-bit FNV-1a) from the call's key: method, URL,
/// every header line sent but the per-request ones, `Accept-Encoding`, and the transfer's limits (see
/// `CompositeExchange.coalescingKey`). The braces are a Redis Cluster hash tag: an answer and its lock live in
/// the same slot. The digest is not trusted alone: the entry carries the whole call key, and an entry whose key
/// differs is a miss.
public struct SharedCacheKeys: Sendable, Equatable {
    public var entry: String
    public var lock: String

    public init(prefix: String, callKey: String) {
        let digest = Self.digest(callKey)
        entry = prefix + "cache:{" + digest + "}"
        lock = prefix + "lock:{" + digest + "}"
    }

    /// 128 bits as 32 lowercase hex digits: FNV-1a 64 from two different offset bases.
    public static func digest(_ text: String) -> String {
        var first: UInt64 = 0xcbf2_9ce4_8422_2325
        var second: UInt64 = 0x6c62_272e_07bb_0142
        for byte in text.utf8 {
            first = (first ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            second = (second ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return hex(first) + hex(second)
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

/// One cached answer as the store holds it: what a worker's cache entry holds, plus when the answer arrived
/// (wall clock, so that another replica can tell its age) and the whole call key.
public struct SharedCacheEntry: Sendable, Equatable {
    public var callKey: String
    /// Wall-clock milliseconds since the epoch when the answer arrived from the partner.
    public var storedAtMs: Int
    public var status: Int
    public var contentType: String?
    public var headers: [HeaderField]
    public var body: [UInt8]
    public var httpVersion: String?
    public var declaredLength: Int?
    public var freshness: CacheFreshness

    public init(
        callKey: String, storedAtMs: Int, status: Int, contentType: String?, headers: [HeaderField], body: [UInt8],
        httpVersion: String?, declaredLength: Int?, freshness: CacheFreshness
    ) {
        self.callKey = callKey
        self.storedAtMs = storedAtMs
        self.status = status
        self.contentType = contentType
        self.headers = headers
        self.body = body
        self.httpVersion = httpVersion
        self.declaredLength = declaredLength
        self.freshness = freshness
    }

    /// The first bytes of every entry: a format version; an entry of another version is a miss.
    static let magic: [UInt8] = Array("FOC1".utf8)

    public func encoded() -> [UInt8] {
        var out = Self.magic
        out.reserveCapacity(body.count + callKey.utf8.count + 128)
        Self.put(string: callKey, &out)
        Self.put(Int64(storedAtMs), &out)
        Self.put(Int64(status), &out)
        Self.put(optional: contentType, &out)
        Self.put(optional: httpVersion, &out)
        Self.put(optional: declaredLength, &out)
        Self.put(optional: freshness.explicitFreshMs, &out)
        Self.put(optional: freshness.staleWhileRevalidateMs, &out)
        Self.put(optional: freshness.staleIfErrorMs, &out)
        out.append(freshness.staleForbidden ? 1 : 0)
        out.append(freshness.sharedMaxAge ? 1 : 0)
        Self.put(Int64(headers.count), &out)
        for field in headers {
            Self.put(string: field.name, &out)
            Self.put(string: field.value, &out)
        }
        Self.put(Int64(body.count), &out)
        out.append(contentsOf: body)
        return out
    }

    /// nil for bytes that are not an entry of this version (or are cut short).
    public init?(decoding bytes: [UInt8]) {
        var reader = Reader(bytes: bytes)
        guard bytes.starts(with: Self.magic) else { return nil }
        reader.position = Self.magic.count
        guard let callKey = reader.string(), let storedAt = reader.integer(), let status = reader.integer(),
            let contentType = reader.optionalString(), let httpVersion = reader.optionalString(),
            let declaredLength = reader.optionalInteger(), let fresh = reader.optionalInteger(),
            let swr = reader.optionalInteger(), let sie = reader.optionalInteger(), let forbidden = reader.byte(),
            let shared = reader.byte(), let headerCount = reader.integer(), headerCount >= 0, headerCount < 10_000
        else { return nil }
        var headers: [HeaderField] = []
        for _ in 0..<headerCount {
            guard let name = reader.string(), let value = reader.string() else { return nil }
            headers.append(HeaderField(name: name, value: value))
        }
        guard let body = reader.chunk(), reader.position == bytes.count else { return nil }
        self.init(
            callKey: callKey, storedAtMs: storedAt, status: status, contentType: contentType, headers: headers,
            body: body, httpVersion: httpVersion, declaredLength: declaredLength,
            freshness: CacheFreshness(
                explicitFreshMs: fresh, staleWhileRevalidateMs: swr, staleIfErrorMs: sie,
                staleForbidden: forbidden != 0, sharedMaxAge: shared != 0))
    }

    private static func put(_ value: Int64, _ out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    private static func put(string: String, _ out: inout [UInt8]) {
        put(Int64(string.utf8.count), &out)
        out.append(contentsOf: string.utf8)
    }

    private static func put(optional value: String?, _ out: inout [UInt8]) {
        out.append(value == nil ? 0 : 1)
        if let value { put(string: value, &out) }
    }

    private static func put(optional value: Int?, _ out: inout [UInt8]) {
        out.append(value == nil ? 0 : 1)
        if let value { put(Int64(value), &out) }
    }

    private struct Reader {
        let bytes: [UInt8]
        var position = 0

        mutating func byte() -> UInt8? {
            guard position < bytes.count else { return nil }
            defer { position += 1 }
            return bytes[position]
        }

        mutating func integer() -> Int? {
            guard position + 8 <= bytes.count else { return nil }
            var value: UInt64 = 0
            for index in 0..<8 { value |= UInt64(bytes[position + index]) << (8 * UInt64(index)) }
            position += 8
            return Int(Int64(bitPattern: value))
        }

        mutating func chunk() -> [UInt8]? {
            guard let count = integer(), count >= 0, position + count <= bytes.count else { return nil }
            defer { position += count }
            return Array(bytes[position..<(position + count)])
        }

        mutating func string() -> String? {
            chunk().map { String(decoding: $0, as: UTF8.self) }
        }

        /// `.some(nil)` for an absent value, nil for bytes cut short.
        mutating func optionalString() -> String?? {
            guard let flag = byte() else { return nil }
            if flag == 0 { return .some(nil) }
            guard let value = string() else { return nil }
            return .some(value)
        }

        mutating func optionalInteger() -> Int?? {
            guard let flag = byte() else { return nil }
            if flag == 0 { return .some(nil) }
            guard let value = integer() else { return nil }
            return .some(value)
        }
    }
}
