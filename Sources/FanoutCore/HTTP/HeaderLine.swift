/// Header line checks before anything reaches libcurl, which sends CURLOPT_HTTPHEADER strings verbatim,
/// CR and LF included (docs/design/hardening.md, "Header values reach the wire verbatim").
public enum HeaderLine {
    /// Whether `value` may go on a header line: no NUL, CR nor LF.
    public static func isSafeValue(_ value: String) -> Bool {
        // Over the contiguous bytes: iterating `String.UTF8View` cost about 30 instructions per byte
        // (callgrind: 500 for a 15-byte `Host`).
        let checked = value.utf8.withContiguousStorageIfAvailable { bytes in
            !bytes.contains { $0 == 0 || $0 == 10 || $0 == 13 }
        }
        if let checked { return checked }
        for byte in value.utf8 where byte == 0 || byte == 10 || byte == 13 { return false }
        return true
    }

    /// `Name: value` lines of `fields`, without the fields whose name or value is not safe.
    public static func lines(_ fields: [HeaderField]) -> [String] {
        fields.compactMap { isSafeValue($0.value) && isSafeValue($0.name) ? "\($0.name): \($0.value)" : nil }
    }
}
