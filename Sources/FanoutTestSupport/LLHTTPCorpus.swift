import Foundation

/// The llhttp request corpus (`Tests/FanoutCoreTests/Resources/llhttp-request-cases.json`, see
/// docs/design/hardening.md "Request parsing: the RFC rules"): 131 raw requests from llhttp's test suite, each
/// labelled `accept` or `reject(STATUS)` (what a strict server answers).
///
/// Most llhttp cases are HTTP/1.1 requests without a Host field, which RFC 9112 §3.2 says a server MUST refuse
/// with 400. So that each case still tests what it was written for, ``Case/addingHost()`` gives the same bytes
/// with `Host: llhttp.test` after every HTTP/1.1 request line; tests check the case as given (400 for the missing
/// Host) and that variant (the label).
public enum LLHTTPCorpus {
    /// One corpus entry.
    public struct Case: Sendable {
        /// Position in the JSON array.
        public var index: Int
        /// The llhttp test file, e.g. `transfer-encoding.md`.
        public var file: String
        /// The llhttp test title.
        public var title: String
        /// The raw bytes a client sends.
        public var request: [UInt8]
        /// The corpus label: `accept` or `reject(STATUS)`.
        public var expect: String
        /// True for a variant made by ``addingHost()``.
        public var hostAdded = false

        /// `file: title`, unique in the corpus (the variant shares its original's key).
        public var key: String { "\(self.file): \(self.title)" }

        /// The status of a `reject(STATUS)` label; nil for `accept`.
        public var rejectStatus: Int? {
            guard self.expect.hasPrefix("reject("), self.expect.hasSuffix(")") else { return nil }
            return Int(self.expect.dropFirst("reject(".count).dropLast())
        }

        /// Whether the request has an HTTP/1.1 request line (see ``addingHost()``) but no line anywhere that
        /// starts with `Host`, optional whitespace and a colon (any case).
        public var lacksHostOnHTTP11: Bool {
            let lines = self.request.split(separator: 0x0A, omittingEmptySubsequences: false)
            let hasHost = lines.contains { line in
                guard line.count >= 4, String(decoding: line.prefix(4), as: UTF8.self).lowercased() == "host" else {
                    return false
                }
                return line.dropFirst(4).first { $0 != 0x20 && $0 != 0x09 } == 0x3A
            }
            return !hasHost && !LLHTTPCorpus.requestLineEnds(in: self.request).isEmpty
        }

        /// The same bytes with `Host: llhttp.test\r\n` after every line that looks like an HTTP/1.1 request line
        /// (`token SP target SP HTTP/1.1 CRLF` at the start of the input or of a line), or nil when there is none.
        ///
        /// The rule is textual, so it would also touch a request line inside a body: in the corpus that happens
        /// once (`content-length.md: Content-Length reset when no body is received`), whose 123-byte body stays
        /// incomplete either way.
        public func addingHost() -> Case? {
            let ends = LLHTTPCorpus.requestLineEnds(in: self.request)
            guard !ends.isEmpty else { return nil }
            var bytes: [UInt8] = []
            var start = 0
            for end in ends {
                bytes += self.request[start..<end]
                bytes += Array("Host: llhttp.test\r\n".utf8)
                start = end
            }
            bytes += self.request[start...]
            var variant = self
            variant.request = bytes
            variant.hostAdded = true
            return variant
        }
    }

    /// Loads the corpus from `url`.
    /// - Throws: ``TestSupportError`` (`.malformed`) when the file cannot be read or an entry lacks a field.
    public static func load(from url: URL) throws -> [Case] {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TestSupportError.malformed(call: "LLHTTPCorpus.load", detail: "\(url.path): \(error)")
        }
        guard let list = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            throw TestSupportError.malformed(call: "LLHTTPCorpus.load", detail: "\(url.path) is not a JSON array")
        }
        return try list.enumerated().map { index, entry in
            guard let file = entry["file"] as? String, let title = entry["title"] as? String,
                let request = entry["request"] as? String, let expect = entry["expect"] as? String
            else {
                throw TestSupportError.malformed(call: "LLHTTPCorpus.load", detail: "entry \(index) lacks a field")
            }
            return Case(index: index, file: file, title: title, request: Array(request.utf8), expect: expect)
        }
    }

    /// Offsets just past each `token SP target SP HTTP/1.1 CRLF` that starts the input or follows an LF.
    static func requestLineEnds(in bytes: [UInt8]) -> [Int] {
        let version = Array(" HTTP/1.1\r\n".utf8)
        var ends: [Int] = []
        var lineStart = 0
        while lineStart < bytes.count {
            let lineEnd = bytes[lineStart...].firstIndex(of: 0x0A).map { $0 + 1 } ?? bytes.count
            let line = bytes[lineStart..<lineEnd]
            if line.count > version.count, line.suffix(version.count).elementsEqual(version) {
                let head = line.dropLast(version.count)
                let parts = head.split(separator: 0x20, omittingEmptySubsequences: false)
                let visible = parts.allSatisfy { part in
                    !part.isEmpty && part.allSatisfy { (0x21...0x7E).contains($0) }
                }
                if parts.count == 2 && visible { ends.append(lineEnd) }
            }
            lineStart = lineEnd
        }
        return ends
    }
}
