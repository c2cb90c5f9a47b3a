import Testing

@testable import FanoutCore

@Suite struct ConfigValueTests {
    @Test(arguments: [
        ("250ms", 250), ("2s", 2_000), ("1.5s", 1_500), ("1m", 60_000), ("1h", 3_600_000), ("0.25s", 250),
        ("1.001s", 1_001), ("10ms", 10),
    ])
    func parsesDurations(text: String, milliseconds: Int) throws {
        #expect(try ConfigValue.duration(text).get() == milliseconds)
    }

    @Test(arguments: ["", "10", "s", "1.s", ".5s", "1.0001s", "0s", "0", "-1s", "1 s", "1sec", "1.2.3s", "1e3ms"])
    func rejectsInvalidDurations(text: String) {
        #expect(throws: ConfigValue.Failure.self) { try ConfigValue.duration(text).get() }
    }

    @Test func zeroDurationOnlyWhenAllowed() throws {
        #expect(try ConfigValue.duration("0", allowZero: true).get() == 0)
        #expect(try ConfigValue.duration("0ms", allowZero: true).get() == 0)
    }

    @Test(arguments: [
        ("512", 512), ("8k", 8_192), ("8K", 8_192), ("8KiB", 8_192), ("1m", 1 << 20), ("1MiB", 1 << 20),
        ("2g", 2 << 30),
    ])
    func parsesSizes(text: String, bytes: Int) throws {
        #expect(try ConfigValue.size(text).get() == bytes)
    }

    @Test(arguments: ["", "0", "k", "8kb", "1.5m", "-1", "8 k", "100g"])
    func rejectsInvalidSizes(text: String) {
        #expect(throws: ConfigValue.Failure.self) { try ConfigValue.size(text).get() }
    }

    @Test(arguments: [
        ("127.0.0.1:8080", "127.0.0.1", 8080), ("[::1]:8080", "::1", 8080), ("*:80", "*", 80), (":80", "*", 80),
        ("0.0.0.0:0", "0.0.0.0", 0), ("[2001:db8::1]:443", "2001:db8::1", 443),
        ("[::ffff:10.0.0.1]:1", "::ffff:10.0.0.1", 1),
    ])
    func parsesListenAddresses(text: String, host: String, port: Int) throws {
        #expect(try ConfigValue.listenAddress(text).get() == ListenAddress(host: host, port: UInt16(port)))
    }

    @Test(arguments: [
        "8080", "localhost:80", "1.2.3:80", "256.0.0.1:80", "[::1]", "::1:80", "[1::2::3]:80", "1.2.3.4:", "1.2.3.4:x",
        "[1:2:3:4:5:6:7:8:9]:80",
    ])
    func rejectsInvalidListenAddresses(text: String) {
        #expect(throws: ConfigValue.Failure.self) { try ConfigValue.listenAddress(text).get() }
    }

    @Test func baseURLDropsTrailingSlashAndLowercasesHost() throws {
        let origin = try UpstreamURL.base("HTTPS://Example.COM:8443/a/b/").get()
        #expect(origin == UpstreamOrigin(scheme: "https", host: "example.com", port: 8443, basePath: "/a/b"))
        #expect(try UpstreamURL.base("http://[::1]").get().host == "[::1]")
        #expect(try UpstreamURL.base("http://h/").get().basePath == "")
    }

    @Test(arguments: [
        "http://", "http://h:0", "http://h/a/../b", "http://h/a//b", "http://h/%zz", "http://h/a b", "http://[::1",
        "http://h/{x}", "http://u:p@h/", "file:///etc/passwd",
    ])
    func rejectsInvalidBaseURLs(text: String) {
        #expect(throws: ConfigValue.Failure.self) { try UpstreamURL.base(text).get() }
    }

    @Test func implicitNameOmitsDefaultPort() {
        #expect(
            UpstreamURL.implicitName(of: UpstreamOrigin(scheme: "http", host: "h", port: 80, basePath: ""))
                == "http://h"
        )
        #expect(
            UpstreamURL.implicitName(of: UpstreamOrigin(scheme: "https", host: "h", port: 80, basePath: "/p"))
                == "https://h:80/p"
        )
    }

    @Test func suggestsWithinEditDistanceTwo() {
        #expect(Suggestion.closest(to: "cal", among: ["call", "proxy"]) == "call")
        #expect(Suggestion.closest(to: "dedline", among: ["deadline", "delay"]) == "deadline")
        #expect(Suggestion.closest(to: "zzzz", among: ["call", "proxy"]) == nil)
        #expect(Suggestion.editDistance("kitten", "sitting") == 3)
    }
}
