import Foundation

/// A real OTLP/HTTP trace receiver: `scripts/otlp-receiver.py`, which decodes every export request with the
/// `opentelemetry-proto` package (in the venv `scripts/otlp-venv.sh` makes under `.build/`), run as a child
/// process on 127.0.0.1 with a kernel-chosen port. Each decoded span becomes one JSON line in a file that
/// ``spans`` reads.
///
/// Throws, never skips, when the venv or the package cannot be installed: a test that asks for a receiver
/// fails loudly then.
public final class OTLPReceiver: @unchecked Sendable {
    /// One decoded span, as the receiver wrote it.
    public struct Span: Sendable {
        public var traceID: String
        public var spanID: String
        /// Empty for a root span.
        public var parentSpanID: String
        public var traceState: String
        public var name: String
        /// OTLP SpanKind: 2 server, 3 client.
        public var kind: Int
        public var start: UInt64
        public var end: UInt64
        /// OTLP status code: 0 unset, 2 error.
        public var status: Int
        public var service: String
        public var contentType: String
        /// Attribute values as text (`true`/`false`, decimal numbers).
        public var attributes: [String: String]
    }

    private let process = Process()
    private let outputPath: String
    public let port: UInt16
    /// The URL to put in `otlp_endpoint`.
    public var endpoint: String { "http://127.0.0.1:\(port)/v1/traces" }

    /// The repository's root, from this file's place in it.
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    public init() throws {
        let python = try Self.venvPython()
        outputPath = NSTemporaryDirectory() + "otlp-spans-\(UUID().uuidString).jsonl"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [Self.repositoryRoot + "/scripts/otlp-receiver.py", outputPath]
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
        var line: [UInt8] = []
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(contentsOf: chunk)
        }
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let port = UInt16(text) else {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            throw TestSupportError(kind: .malformed, call: "otlp-receiver.py", detail: "no port reported: '\(text)'")
        }
        self.port = port
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: outputPath)
    }

    /// Stops the receiver (SIGKILL: the child inherits a signal mask that blocks SIGTERM; see ``TLSPartner``).
    public func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// The spans received so far, in arrival order.
    public var spans: [Span] {
        guard let data = FileContents.bytes(atPath: outputPath).map({ Data($0) }) else { return [] }
        return data.split(separator: UInt8(ascii: "\n")).compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { return nil }
            let attributes = object["attributes"] as? [String: String] ?? [:]
            return Span(
                traceID: object["trace_id"] as? String ?? "", spanID: object["span_id"] as? String ?? "",
                parentSpanID: object["parent_span_id"] as? String ?? "",
                traceState: object["trace_state"] as? String ?? "", name: object["name"] as? String ?? "",
                kind: (object["kind"] as? NSNumber)?.intValue ?? 0,
                start: (object["start"] as? NSNumber)?.uint64Value ?? 0,
                end: (object["end"] as? NSNumber)?.uint64Value ?? 0,
                status: (object["status"] as? NSNumber)?.intValue ?? 0, service: object["service"] as? String ?? "",
                contentType: object["content_type"] as? String ?? "", attributes: attributes)
        }
    }

    /// Polls until at least `count` spans arrived or `timeoutMs` passed; returns the spans then.
    public func waitForSpans(count: Int, timeoutMs: Int = 5_000) -> [Span] {
        let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1_000)
        while true {
            let received = spans
            if received.count >= count || Date() >= deadline { return received }
            usleep(10_000)
        }
    }

    /// `scripts/otlp-venv.sh`: makes the venv when missing, prints its python.
    static func venvPython() throws -> String {
        let script = Process()
        let output = Pipe()
        script.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        script.arguments = ["bash", repositoryRoot + "/scripts/otlp-venv.sh"]
        script.standardOutput = output
        script.standardError = FileHandle.standardError
        try script.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        script.waitUntilExit()
        let path = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard script.terminationStatus == 0, FileManager.default.isExecutableFile(atPath: path) else {
            throw TestSupportError(
                kind: .malformed, call: "scripts/otlp-venv.sh",
                detail: "the OTLP receiver's venv with opentelemetry-proto could not be made (exit "
                    + "\(script.terminationStatus)); python3-venv and PyPI are needed")
        }
        return path
    }
}
