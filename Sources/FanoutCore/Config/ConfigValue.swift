/// Parsers for directive argument values (durations, sizes, counts, addresses, header fields). They return
/// a `Failure` with an offset into the argument; the cursor turns it into a located `ConfigError`.
enum ConfigValue {
    /// Why a value was refused. `offset` counts Unicode scalars from the start of the argument's text.
    struct Failure: Error, Equatable {
        var message: String
        var offset: Int = 0
    }

    // MARK: - Durations and sizes

    private static let durationUnits: [(suffix: String, milliseconds: Int)] = [
        ("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000),
    ]

    /// `busy_poll`: `off` (0) or a number of microseconds from 1 to 1000, like `50us`.
    static func busyPoll(_ text: String) -> Result<Int, Failure> {
        let expected = "expected off or microseconds from 1us to 1000us, like 50us"
        if text == "off" { return .success(0) }
        guard text.hasSuffix("us"), let value = Int(text.dropLast(2)), (1...1000).contains(value) else {
            return .failure(Failure(message: "invalid busy_poll '\(text)'; \(expected)"))
        }
        return .success(value)
    }

    /// `hedge` and `hedge=`: a duration, or `off` (0).
    static func hedgeDelay(_ text: String) -> Result<Int, Failure> {
        if text == "off" { return .success(0) }
        return duration(text).mapError { Failure(message: $0.message + ", or off", offset: $0.offset) }
    }

    /// `250ms`, `2s`, `1.5s`, `1m`, `1h` → milliseconds. The result must be a whole number of milliseconds
    /// and greater than 0; with `allowZero`, `0` (with or without a unit) is accepted too.
    static func duration(_ text: String, allowZero: Bool = false) -> Result<Int, Failure> {
        let expected = "expected a number followed by ms, s, m or h, like 250ms, 2s or 1.5s"
        if allowZero && text == "0" { return .success(0) }
        let digits = text.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        let unit = text.dropFirst(digits.count)
        guard let scale = durationUnits.first(where: { $0.suffix == unit })?.milliseconds else {
            if unit.isEmpty && !digits.isEmpty {
                return .failure(Failure(message: "duration '\(text)' has no unit; \(expected)"))
            }
            return .failure(Failure(message: "invalid duration '\(text)'; \(expected)"))
        }
        let parts = digits.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), !parts[0].isEmpty, parts[0].count <= 9,
            parts.count == 1 || (!parts[1].isEmpty && parts[1].count <= 6),
            let whole = Int(parts[0])
        else {
            return .failure(Failure(message: "invalid duration '\(text)'; \(expected)"))
        }
        var total = whole * scale
        if parts.count == 2 {
            var divisor = 1
            for _ in parts[1] { divisor *= 10 }
            let fraction = Int(parts[1])! * scale
            guard fraction % divisor == 0 else {
                return .failure(
                    Failure(message: "duration '\(text)' is not a whole number of milliseconds; \(expected)")
                )
            }
            total += fraction / divisor
        }
        if total == 0 && !allowZero {
            return .failure(Failure(message: "duration '\(text)' must be greater than 0; \(expected)"))
        }
        return .success(total)
    }

    private static let sizeUnits: [(suffix: String, bytes: Int)] = [
        ("", 1), ("k", 1 << 10), ("K", 1 << 10), ("KiB", 1 << 10), ("m", 1 << 20), ("M", 1 << 20),
        ("MiB", 1 << 20), ("g", 1 << 30), ("G", 1 << 30), ("GiB", 1 << 30),
    ]

    /// `512`, `8k`/`8K`/`8KiB`, `1m`/`1M`/`1MiB`, `1g`/`1G`/`1GiB` → bytes (binary multiples), greater
    /// than 0 and at most 64 GiB.
    static func size(_ text: String) -> Result<Int, Failure> {
        let expected = "expected a number of bytes with an optional k, m or g suffix, like 512, 8k or 1MiB"
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        let unit = text.dropFirst(digits.count)
        guard !digits.isEmpty, digits.count <= 12, let value = Int(digits),
            let scale = sizeUnits.first(where: { $0.suffix == unit })?.bytes
        else {
            return .failure(Failure(message: "invalid size '\(text)'; \(expected)"))
        }
        let bytes = value * scale
        guard bytes > 0, bytes <= 64 << 30 else {
            return .failure(Failure(message: "size '\(text)' must be between 1 byte and 64 GiB"))
        }
        return .success(bytes)
    }

    /// `1k/s`, `512/s`, `1MiB/s`: a ``size(_:)`` followed by `/s` → bytes per second.
    static func byteRate(_ text: String) -> Result<Int, Failure> {
        let expected = "expected a size per second like 1k/s or 512/s"
        guard text.hasSuffix("/s") else {
            return .failure(Failure(message: "invalid rate '\(text)'; \(expected)"))
        }
        return size(String(text.dropLast(2))).mapError { Failure(message: "\($0.message) in rate '\(text)'") }
    }

    /// A decimal integer in `range`.
    static func count(_ text: String, in range: ClosedRange<Int>) -> Result<Int, Failure> {
        guard !text.isEmpty, text.count <= 10, text.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(text)
        else {
            return .failure(Failure(message: "invalid number '\(text)'; expected an integer"))
        }
        guard range.contains(value) else {
            return .failure(
                Failure(message: "\(value) is out of range; expected \(range.lowerBound)...\(range.upperBound)")
            )
        }
        return .success(value)
    }

    // MARK: - Addresses

    /// `127.0.0.1:8080`, `[::1]:8080`, `*:8080` or `:8080` (all IPv4). Port 0 asks the kernel for a free port.
    static func listenAddress(_ text: String) -> Result<ListenAddress, Failure> {
        let expected = "expected IPv4:port, [IPv6]:port, *:port or :port, like 127.0.0.1:8080"
        guard let colon = text.lastIndex(of: ":") else {
            return .failure(Failure(message: "invalid listen address '\(text)'; \(expected)"))
        }
        var host = String(text[..<colon])
        let portText = text[text.index(after: colon)...]
        guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
            let port = Int(portText), port <= 65_535
        else {
            let offset = text.unicodeScalars.distance(from: text.startIndex, to: colon) + 1
            return .failure(Failure(message: "invalid port in '\(text)'; expected 0...65535", offset: offset))
        }
        if host.isEmpty || host == "*" {
            host = "*"
        } else if host.hasPrefix("[") && host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
            guard isIPv6(host) else {
                return .failure(Failure(message: "invalid IPv6 address in '\(text)'; \(expected)"))
            }
        } else if !isIPv4(host) {
            return .failure(Failure(message: "invalid listen address '\(text)'; \(expected)"))
        }
        return .success(ListenAddress(host: host, port: UInt16(port)))
    }

    /// Dotted-quad IPv4, each part 0...255.
    static func isIPv4<S: StringProtocol>(_ text: S) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4
            && parts.allSatisfy { part in
                !part.isEmpty && part.count <= 3 && part.allSatisfy { $0.isASCII && $0.isNumber }
                    && Int(part)! <= 255
            }
    }

    /// An IPv6 literal without brackets (RFC 4291 §2.2: groups of up to 4 hex digits, one optional `::`,
    /// an optional trailing dotted IPv4).
    static func isIPv6<S: StringProtocol>(_ text: S) -> Bool {
        guard text.contains(":") else { return false }
        let halves = splitOnDoubleColon(Substring(text))
        guard halves.count <= 2 else { return false }
        var groups = 0
        for (halfIndex, half) in halves.enumerated() where !half.isEmpty {
            let parts = half.split(separator: ":", omittingEmptySubsequences: false)
            for (index, part) in parts.enumerated() {
                let isLastOverall = halfIndex == halves.count - 1 && index == parts.count - 1
                if isLastOverall && part.contains(".") {
                    guard isIPv4(part) else { return false }
                    groups += 2
                } else {
                    guard (1...4).contains(part.count), part.allSatisfy(\.isHexDigit) else { return false }
                    groups += 1
                }
            }
        }
        return halves.count == 2 ? groups <= 7 : groups == 8
    }

    /// Splits on `::` (there is no Foundation `components(separatedBy:)` here).
    private static func splitOnDoubleColon(_ text: Substring) -> [Substring] {
        var halves: [Substring] = []
        var start = text.startIndex
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(after: index)
            if text[index] == ":" && next < text.endIndex && text[next] == ":" {
                halves.append(text[start..<index])
                index = text.index(after: next)
                start = index
            } else {
                index = next
            }
        }
        halves.append(text[start...])
        return halves
    }

    // MARK: - HTTP syntax

    /// RFC 9110 `token`: header names and methods.
    static func isToken<S: StringProtocol>(_ text: S) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy(isTokenCharacter)
    }

    private static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// A header value: no CR, LF, NUL or other control character except tab (RFC 9110 §5.5).
    static func headerValueFailure(_ value: String, offset: Int = 0) -> Failure? {
        for (index, scalar) in value.unicodeScalars.enumerated() where scalar != "\t" {
            if scalar.value < 0x20 || scalar.value == 0x7F {
                return Failure(
                    message: "header value contains a control character (CR, LF, NUL, …); expected visible text",
                    offset: offset + index
                )
            }
        }
        return nil
    }

    /// A header name: a token, not one the proxy manages (a ``FieldRole/hop`` field: libcurl and the proxy
    /// frame each hop, and the serializer would leave it out of an answer anyway).
    static func headerNameFailure(_ name: String, offset: Int = 0) -> Failure? {
        guard isToken(name) else {
            return Failure(message: "invalid header name '\(name)'; expected a token like X-Api-Key", offset: offset)
        }
        if FieldRole.of(name) == .hop {
            return Failure(message: "header '\(name)' is managed by the proxy and cannot be set", offset: offset)
        }
        return nil
    }
}
