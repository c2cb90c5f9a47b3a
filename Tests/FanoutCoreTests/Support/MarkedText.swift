import FanoutCore
import Testing

/// Source text with one `1️⃣` marker at the position an error is expected (swift-format's
/// `MarkedText` idea). The marker is removed; `line` and `column` are 1-based, columns in Unicode scalars
/// like `ConfigError`.
struct MarkedText {
    static let marker = "1️⃣"

    let text: String
    let line: Int
    let column: Int

    init(_ marked: String) {
        let scalars = Array(marked.unicodeScalars)
        let markerScalars = Array(Self.marker.unicodeScalars)
        var line = 1
        var column = 1
        var found: (line: Int, column: Int)?
        var output = String.UnicodeScalarView()
        var index = 0
        while index < scalars.count {
            if found == nil, index + markerScalars.count <= scalars.count,
                Array(scalars[index..<(index + markerScalars.count)]) == markerScalars
            {
                found = (line, column)
                index += markerScalars.count
                continue
            }
            let scalar = scalars[index]
            output.append(scalar)
            if scalar == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
            index += 1
        }
        precondition(found != nil, "no \(Self.marker) marker in test text")
        self.text = String(output)
        self.line = found!.line
        self.column = found!.column
    }
}

/// Parses `marked` (with its 1️⃣ marker) and expects a `ConfigError` at the marker whose message is `message`
/// exactly, or contains it when `message` starts with "…".
func expectConfigError(_ marked: String, _ message: String, environment: [String: String] = [:]) {
    let text = MarkedText(marked)
    do {
        let config = try ConfigParser.parse(text.text, file: "proxy.conf", environment: environment)
        Issue.record("expected an error, parsed \(config.routes.count) routes")
    } catch {
        #expect(error.location == SourceLocation(file: "proxy.conf", line: text.line, column: text.column))
        if message.hasPrefix("…") {
            #expect(error.message.contains(message.dropFirst()), "\(error.message)")
        } else {
            #expect(error.message == message)
        }
    }
}
