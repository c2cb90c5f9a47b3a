import Testing

@testable import FanoutCore

/// Inputs the libFuzzer targets in `Fuzz/` (run by `scripts/fuzz.sh`) found, reduced by hand to what they
/// showed. Each test names its target; the fuzz target's property is checked here without libFuzzer.
@Suite struct FuzzRegressionTests {
    /// Whether `location` points into `text`: a line that exists, a column within it or just after its end.
    private func isInside(_ location: FanoutCore.SourceLocation, _ text: String) -> Bool {
        let lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
        guard location.line >= 1, location.line <= lines.count, location.column >= 1 else { return false }
        return location.column <= lines[location.line - 1].count + 1
    }

    private func configError(_ text: String, environment: [String: String] = [:]) -> ConfigError? {
        do {
            _ = try ConfigParser.parse(text, file: "fuzz.conf", environment: environment)
            return nil
        } catch {
            return error
        }
    }

    /// FuzzConfig, `crash-193cea20…` (`listen E5<bytes>${LONG}:…`): an error inside a token whose `${VAR}`
    /// value is longer than the `${VAR}` itself was reported at the column the offset had in the substituted
    /// text, past the end of the line. Columns now map back to the source: a position after the `${…}` is
    /// exact, one inside its value points at its `$`.
    @Test func errorAfterALongInterpolationPointsIntoTheLine() throws {
        let text = "listen ${LONG}:x"
        let error = try #require(configError(text, environment: ["LONG": String(repeating: "h", count: 80)]))
        #expect(error.message.hasPrefix("invalid port"))
        #expect(self.isInside(error.location, text), "\(error.location)")
        #expect(error.location.line == 1 && error.location.column == 16, "\(error.location)")  // the 'x'
    }

    /// FuzzConfig, same fix: a position inside the substituted value itself is reported at the `$`.
    @Test func errorInsideAnInterpolatedValuePointsAtTheDollar() throws {
        let text = "listen ${ADDRESS}"
        let error = try #require(configError(text, environment: ["ADDRESS": "127.0.0.1:99999"]))
        #expect(error.message.hasPrefix("invalid port"))
        #expect(error.location.line == 1 && error.location.column == 8, "\(error.location)")
    }

    /// FuzzConfig, same fix: a template error after a `${…}` in the same token is at its exact column (it was
    /// shifted by the value's length minus the `${…}`'s).
    @Test func templateErrorAfterAnInterpolationIsExact() throws {
        let text = "upstream u { url http://u.test:1 }\nroute GET /x/{id} {\n    call a GET u /y/${P}/{idd}\n}\n"
        let error = try #require(configError(text, environment: ["P": "abcdefgh"]))
        #expect(error.message.hasPrefix("unknown route parameter 'idd'"))
        #expect(error.location.line == 3 && error.location.column == 26, "\(error.location)")  // the '{'
    }

    /// FuzzConfig, same fix: escapes in a quoted token no longer shift the columns after them.
    @Test func templateErrorAfterAnEscapeIsExact() throws {
        let line = #"    call a GET u /y "header=X-Note:a\tb {idd}""#
        let text = "upstream u { url http://u.test:1 }\nroute GET /x/{id} {\n\(line)\n}\n"
        let error = try #require(configError(text))
        #expect(error.message.hasPrefix("unknown route parameter 'idd'"))
        let column = line.unicodeScalars.split(separator: "{").first!.count + 1
        #expect(error.location.line == 3 && error.location.column == column, "\(error.location)")
    }

    /// FuzzConfig, same function: an error inside a backtick string that spans lines was reported on the
    /// string's first line at a column counted through the newlines, past that line's end.
    @Test func errorInsideAMultiLineBacktickStringIsOnItsOwnLine() throws {
        let text =
            "upstream u { url http://u.test:1 }\nroute POST /x {\n"
            + "    call a POST u /y { body `{\n  \"k\": {nope.}\n}` }\n}\n"
        let error = try #require(configError(text))
        #expect(self.isInside(error.location, text), "\(error.location)")
        #expect(error.location.line == 4 && error.location.column == 14, "\(error.location)")  // the '}' after 'nope.'
    }
}
