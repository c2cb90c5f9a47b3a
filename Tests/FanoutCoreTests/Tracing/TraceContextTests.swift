import Testing

@testable import FanoutCore

@Suite struct TraceContextTests {
    static let traceID = "0af7651916cd43dd8448eb211c80319c"
    static let parentID = "b7ad6b7169203331"

    @Test func readsTheSpecExample() throws {
        let trace = try #require(TraceContext.parseTraceparent("00-\(Self.traceID)-\(Self.parentID)-01"))
        #expect(trace.traceIDHigh == 0x0af7_6519_16cd_43dd)
        #expect(trace.traceIDLow == 0x8448_eb21_1c80_319c)
        #expect(trace.parentID == 0xb7ad_6b71_6920_3331)
        #expect(trace.sampled)
        #expect(trace.traceIDHex == Self.traceID)
    }

    /// The sampled flag is bit 0; the other bits are not understood (level 1) and not carried on.
    static let flagCases: [(String, Bool)] = [
        ("00", false), ("01", true), ("02", false), ("03", true), ("09", true), ("fe", false), ("ff", true),
    ]

    @Test(arguments: flagCases)
    func readsTheSampledBit(flags: String, sampled: Bool) throws {
        let trace = try #require(TraceContext.parseTraceparent("00-\(Self.traceID)-\(Self.parentID)-\(flags)"))
        #expect(trace.sampled == sampled)
        #expect(trace.traceparent(spanID: 1).hasSuffix(sampled ? "-01" : "-00"))
    }

    /// A version above 00 is read by its first four fields (spec §3.2.4, "Versioning of traceparent").
    static let higherVersions: [String] = [
        "cc-\(traceID)-\(parentID)-01",
        "cc-\(traceID)-\(parentID)-01-what-the-future-will-be-like",
        "01-\(traceID)-\(parentID)-01-",
    ]

    @Test(arguments: higherVersions)
    func readsAHigherVersionByItsFirstFourFields(_ value: String) throws {
        let trace = try #require(TraceContext.parseTraceparent(value))
        #expect(trace.traceIDHex == Self.traceID)
        #expect(trace.sampled)
    }

    static let invalidTraceparents: [(String, String)] = [
        ("empty", ""),
        ("version ff", "ff-\(traceID)-\(parentID)-01"),
        ("version 00 with more after the flags", "00-\(traceID)-\(parentID)-01-extra"),
        ("version 00 one character short", "00-\(traceID)-\(parentID)-1"),
        ("higher version, flags not followed by a dash", "cc-\(traceID)-\(parentID)-01.what"),
        ("higher version too short", "cc-\(traceID)-\(parentID)-1"),
        ("uppercase version", "0A-\(traceID)-\(parentID)-01"),
        ("uppercase trace id", "00-0AF7651916CD43DD8448EB211C80319C-\(parentID)-01"),
        ("uppercase parent id", "00-\(traceID)-B7AD6B7169203331-01"),
        ("uppercase flags", "00-\(traceID)-\(parentID)-0A"),
        ("all-zero trace id", "00-00000000000000000000000000000000-\(parentID)-01"),
        ("all-zero parent id", "00-\(traceID)-0000000000000000-01"),
        ("non-hex in trace id", "00-0af7651916cd43dd8448eb211c80319g-\(parentID)-01"),
        ("non-hex in parent id", "00-\(traceID)-b7ad6b716920333z-01"),
        ("non-hex version", "0g-\(traceID)-\(parentID)-01"),
        ("underscore separators", "00_\(traceID)_\(parentID)_01"),
        ("short trace id", "00-0af7651916cd43dd8448eb211c80319-b7ad6b71692033311-01"),
        ("leading space inside the value", " 00-\(traceID)-\(parentID)-0"),
        ("non-ASCII", "00-\(traceID)-\(parentID)-é"),
    ]

    @Test(arguments: invalidTraceparents)
    func refusesAnInvalidTraceparent(name: String, value: String) {
        #expect(TraceContext.parseTraceparent(value) == nil, "\(name)")
    }

    @Test func refusesTwoTraceparentFields() {
        let value = "00-\(Self.traceID)-\(Self.parentID)-01"
        #expect(TraceContext(traceparent: [value, value], tracestate: []) == nil)
        #expect(TraceContext(traceparent: [], tracestate: ["a=1"]) == nil)
        #expect(TraceContext(traceparent: [value], tracestate: ["a=1"])?.traceState == "a=1")
    }

    static let validTraceStates: [([String], String)] = [
        (["rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"], "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
        (["rojo=00f067aa0ba902b7", "congo=t61rcWkgMzE"], "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
        (["a=1,,b=2"], "a=1,,b=2"),
        (["a=1 , b=2"], "a=1 , b=2"),
        (["tenant1@vendor=x"], "tenant1@vendor=x"),
        (["k=v with spaces"], "k=v with spaces"),
    ]

    @Test(arguments: validTraceStates)
    func keepsAValidLookingTracestateUnchanged(fields: [String], kept: String) {
        #expect(TraceContext.acceptedTraceState(fields) == kept)
    }

    static let invalidTraceStates: [(String, [String])] = [
        ("none", []),
        ("only empty members", [" , "]),
        ("uppercase key", ["Rojo=1"]),
        ("no equals sign", ["rojo"]),
        ("empty value", ["rojo="]),
        ("empty key", ["=1"]),
        ("equals sign in the value", ["rojo=a=b"]),
        ("control character", ["rojo=a\u{7}b"]),
        ("non-ASCII value", ["rojo=é"]),
        ("key starting with a dash", ["-rojo=1"]),
        ("longer than 512 bytes", [String(repeating: "a", count: 510) + "=1"]),
        ("33 members", [(0..<33).map { "k\($0)=1" }.joined(separator: ",")]),
    ]

    @Test(arguments: invalidTraceStates)
    func dropsAnInvalidTracestate(name: String, fields: [String]) {
        #expect(TraceContext.acceptedTraceState(fields) == nil, "\(name)")
    }

    @Test func keepsA512ByteTracestateAnd32Members() {
        let long = String(repeating: "a", count: 256) + "=" + String(repeating: "b", count: 255)
        #expect(long.utf8.count == 512)
        #expect(TraceContext.acceptedTraceState([long]) == long)
        let many = (0..<32).map { "k\($0)=1" }.joined(separator: ",")
        #expect(TraceContext.acceptedTraceState([many]) == many)
    }

    @Test func formatsAVersion00TraceparentWithTheCallsSpan() throws {
        let trace = try #require(TraceContext.parseTraceparent("cc-\(Self.traceID)-\(Self.parentID)-03-future"))
        #expect(trace.traceparent(spanID: 0x00f0_67aa_0ba9_02b7) == "00-\(Self.traceID)-00f067aa0ba902b7-01")
        let started = TraceContext(traceIDHigh: 1, traceIDLow: 0xffff_ffff_ffff_ffff, sampled: false)
        #expect(started.parentID == nil)
        #expect(
            started.traceparent(spanID: 0xab) == "00-0000000000000001ffffffffffffffff-00000000000000ab-00")
        #expect(TraceContext.spanIDHex(0x0123_4567_89ab_cdef) == "0123456789abcdef")
    }

    @Test func formatsTheHeaderLineAsNameAndValue() throws {
        let trace = try #require(TraceContext.parseTraceparent("00-\(Self.traceID)-\(Self.parentID)-01"))
        #expect(
            trace.traceparentHeaderLine(spanID: 0xfedc_ba98_7654_3210)
                == "traceparent: 00-\(Self.traceID)-fedcba9876543210-01")
    }

    /// The word-at-a-time hex digits against the standard library's, for every digit in every position.
    @Test func writesEveryHexDigitInEveryPosition() {
        var values: [UInt64] = [0, .max, 0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210, 0x9a9a_9a9a_a9a9_a9a9]
        for digit in UInt64(0)...15 {
            for position in UInt64(0)..<16 { values.append(digit << (position * 4)) }
        }
        var random = SystemRandomNumberGenerator()
        for _ in 0..<200 { values.append(random.next()) }
        for value in values {
            let expected = String(repeating: "0", count: 16 - String(value, radix: 16).count) + String(value, radix: 16)
            #expect(TraceContext.spanIDHex(value) == expected)
        }
    }

    @Test func roundTripsThroughFormatting() throws {
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let trace = try #require(TraceContext.parseTraceparent(value))
        let parent = try #require(trace.parentID)
        #expect(trace.traceparent(spanID: parent) == value)
    }
}
