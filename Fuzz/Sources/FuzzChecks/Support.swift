/// Stops the process with `message` when a property does not hold. libFuzzer treats the trap as a crash and
/// saves the input as `crash-<sha1>` in the artifact folder.
func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("property violated: \(message())") }
}

/// Deterministic numbers derived from the input itself (FNV-1a of its bytes, then splitmix64 steps), so a
/// saved crash input replays exactly the same split points.
struct InputDerivedNumbers {
    private var state: UInt64

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        self.state = hash
    }

    /// The next number of the sequence.
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// `count` increasing offsets strictly inside `1..<length` (fewer when `length` is small): where the
    /// client's bytes are cut into separate arrivals.
    mutating func cutPoints(count: Int, length: Int) -> [Int] {
        guard length > 1 else { return [] }
        var points = Set<Int>()
        for _ in 0..<count { points.insert(1 + Int(self.next() % UInt64(length - 1))) }
        return points.sorted()
    }
}

/// The input cut at every `separator` byte (empty pieces kept): several independent values from one input.
func pieces(_ bytes: UnsafeBufferPointer<UInt8>, separator: UInt8) -> [[UInt8]] {
    bytes.split(separator: separator, omittingEmptySubsequences: false).map(Array.init)
}

/// The bytes as text the way fanout reads files and request fields: UTF-8 with invalid sequences repaired.
func text(_ bytes: some Collection<UInt8>) -> String {
    String(decoding: bytes, as: UTF8.self)
}

/// A short printable rendering of bytes for failure messages.
func show(_ bytes: some Collection<UInt8>) -> String {
    var out = ""
    for byte in bytes.prefix(300) {
        switch byte {
        case 0x0D: out += "\\r"
        case 0x0A: out += "\\n"
        case 0x5C: out += "\\\\"
        case 0x20...0x7E: out += String(UnicodeScalar(byte))
        default: out += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
        }
    }
    return bytes.count > 300 ? out + "…(\(bytes.count) bytes)" : out
}
