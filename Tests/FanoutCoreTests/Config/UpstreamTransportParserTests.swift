import Testing

@testable import FanoutCore

/// `tls_verify`, `tls_ca`, `tls_cert`, `tls_key`, `connect_to` and `http2` in an upstream block.
@Suite struct UpstreamTransportParserTests {
    @Test func defaultsVerifyWithTheSystemStoreOverHTTP11() throws {
        let config = try ConfigParser.parse(
            "upstream a { url https://a.test }\nroute GET /x { call x GET https://b.test/x }",
            file: "proxy.conf", environment: [:])
        for upstream in config.upstreams {
            #expect(upstream.transport == UpstreamTransport())
        }
        #expect(UpstreamTransport().verifyPeer)
        #expect(!UpstreamTransport().http2)
        #expect(config.warnings.isEmpty)
    }

    @Test func readsEveryDirectiveWithPathsRelativeToTheConfigurationFile() throws {
        let config = try ConfigParser.parse(
            """
            upstream partner {
                url https://partner.example:8443/api
                tls_ca certs/ca.pem
                tls_cert /etc/fanout/client.pem
                tls_key ${KEY}
                connect_to 10.0.0.7:9443
                http2 on
            }
            upstream loose { url https://loose.test; tls_verify off; connect_to [::1]:443; http2 off }
            """,
            file: "/etc/fanout/proxy.conf", environment: ["KEY": "keys/client.key"])
        let transport = config.upstreams[0].transport
        #expect(transport.verifyPeer)
        #expect(transport.caFile?.path == "/etc/fanout/certs/ca.pem")
        #expect(transport.caFile?.directive == "tls_ca")
        #expect(transport.caFile?.location == SourceLocation(file: "/etc/fanout/proxy.conf", line: 3, column: 12))
        #expect(transport.clientCertificate?.path == "/etc/fanout/client.pem")
        #expect(transport.clientKey?.path == "/etc/fanout/keys/client.key")
        #expect(transport.connectTo == ConnectAddress(host: "10.0.0.7", port: 9443))
        #expect(transport.http2)
        #expect(transport.files.map(\.directive) == ["tls_ca", "tls_cert", "tls_key"])
        let loose = config.upstreams[1].transport
        #expect(!loose.verifyPeer)
        #expect(loose.connectTo == ConnectAddress(host: "[::1]", port: 443))
        #expect(!loose.http2)
        #expect(config.warnings.count == 1)
        #expect(config.warnings[0].hasPrefix("/etc/fanout/proxy.conf:9:1: warning: upstream loose has tls_verify off"))
    }

    @Test func aConfigurationWithoutADirectoryKeepsRelativePathsAsWritten() throws {
        let config = try ConfigParser.parse(
            "upstream a { url https://a.test; tls_ca ca.pem }", file: "proxy.conf", environment: [:])
        #expect(config.upstreams[0].transport.caFile?.path == "ca.pem")
    }

    @Test func cleartextHTTP2IsAcceptedWithLibcurl8AndRefusedWith7() throws {
        let text = "upstream a {\n  url http://a:1\n  http2 on\n}"
        for version in ["8.0.0", "8.14.1", "9.1.0"] {
            let libcurl = try #require(LibcurlCapabilities(version: version))
            let config = try ConfigParser.parse(text, file: "proxy.conf", environment: [:], libcurl: libcurl)
            #expect(config.upstreams[0].transport.http2, "\(version)")
        }
        for version in ["7.88.1", "7.99.99"] {
            let libcurl = try #require(LibcurlCapabilities(version: version))
            #expect(throws: ConfigError.self, "\(version)") {
                try ConfigParser.parse(text, file: "proxy.conf", environment: [:], libcurl: libcurl)
            }
        }
        // TLS settings still need https, whatever the library.
        #expect(throws: ConfigError.self) {
            try ConfigParser.parse(
                "upstream a { url http://a:1; http2 on; tls_verify off }", file: "proxy.conf", environment: [:],
                libcurl: LibcurlCapabilities(major: 8, minor: 14, patch: 1))
        }
    }

    @Test func libcurlVersionStringsAreRead() {
        #expect(LibcurlCapabilities(version: "7.88.1") == .bookworm)
        #expect(LibcurlCapabilities(version: "8.14.1")?.description == "8.14.1")
        #expect(LibcurlCapabilities(version: "8.15.0-DEV") == LibcurlCapabilities(major: 8, minor: 15, patch: 0))
        #expect(LibcurlCapabilities(version: "8.2") == LibcurlCapabilities(major: 8, minor: 2, patch: 0))
        #expect(LibcurlCapabilities(version: "unknown") == nil)
        #expect(LibcurlCapabilities(version: "8") == nil)
        #expect(!LibcurlCapabilities.bookworm.cleartextHTTP2)
        #expect(LibcurlCapabilities(major: 8, minor: 0, patch: 0).cleartextHTTP2)
    }

    @Test func connectToWorksForPlainHTTPToo() throws {
        let config = try ConfigParser.parse(
            "upstream a { url http://a.test; connect_to backend.internal:8080 }", file: "p.conf", environment: [:])
        #expect(config.upstreams[0].transport.connectTo == ConnectAddress(host: "backend.internal", port: 8080))
    }

    static let errorCases: [ConfigParserErrorTests.Case] = [
        .init(
            name: "tls_verify takes on or off",
            marked: "upstream a {\n  url https://a:1\n  tls_verify 1️⃣no\n}",
            message: "invalid tls_verify 'no'; expected 'on' or 'off'"),
        .init(
            name: "http2 takes on or off",
            marked: "upstream a {\n  url https://a:1\n  http2 1️⃣2\n}",
            message: "invalid http2 '2'; expected 'on' or 'off'"),
        .init(
            name: "tls_ca needs a file",
            marked: "upstream a {\n  url https://a:1\n  1️⃣tls_ca\n}",
            message: "missing argument for 'tls_ca'; expected a PEM file of CA certificates"),
        .init(
            name: "tls_cert without tls_key",
            marked: "upstream a {\n  url https://a:1\n  1️⃣tls_cert c.pem\n}",
            message:
                "'tls_cert' without 'tls_key' in upstream a; expected both a client certificate and its key, or neither"
        ),
        .init(
            name: "tls_key without tls_cert",
            marked: "upstream a {\n  url https://a:1\n  1️⃣tls_key c.key\n}",
            message:
                "'tls_key' without 'tls_cert' in upstream a; expected both a client certificate and its key, or neither"
        ),
        .init(
            name: "TLS settings need an https url",
            marked: "upstream a {\n  url http://a:1\n  1️⃣tls_verify off\n  tls_ca x.pem\n}",
            message: "'tls_verify' in upstream a, whose url is http://; expected an https:// url for TLS settings"),
        .init(
            name: "http2 over http needs libcurl 8 (the default: bookworm's 7.88.1)",
            marked: "upstream a {\n  url http://a:1\n  1️⃣http2 on\n}",
            message:
                "'http2 on' in upstream a, whose url is http://; cleartext HTTP/2 (h2c) needs libcurl 8.0 or later "
                + "and fanout runs with libcurl 7.88.1; expected an https:// url (HTTP/2 negotiated with TLS) "
                + "or 'http2 off'"),
        .init(
            name: "duplicate tls_ca",
            marked: "upstream a {\n  url https://a:1\n  tls_ca a.pem\n  1️⃣tls_ca b.pem\n}",
            message: "duplicate 'tls_ca' in upstream a; it is already set at line 3, expected it once"),
        .init(
            name: "connect_to needs a port",
            marked: "upstream a {\n  url https://a:1\n  connect_to 1️⃣10.0.0.7\n}",
            message:
                "invalid connect_to address '10.0.0.7'; expected HOST:PORT, like 10.0.0.7:8443, [::1]:8443 or "
                + "backend.internal:443"),
        .init(
            name: "connect_to port out of range",
            marked: "upstream a {\n  url https://a:1\n  connect_to 10.0.0.7:1️⃣70000\n}",
            message: "70000 is out of range; expected 1...65535"),
        .init(
            name: "connect_to host with a bad character",
            marked: "upstream a {\n  url https://a:1\n  connect_to 1️⃣a/b:80\n}",
            message:
                "invalid host 'a/b' in connect_to; expected HOST:PORT, like 10.0.0.7:8443, [::1]:8443 or "
                + "backend.internal:443"),
        .init(
            name: "connect_to with an unbracketed IPv6 address",
            marked: "upstream a {\n  url https://a:1\n  connect_to 1️⃣::1:80\n}",
            message:
                "invalid host '::1' in connect_to; expected HOST:PORT, like 10.0.0.7:8443, [::1]:8443 or "
                + "backend.internal:443"),
    ]

    @Test(arguments: errorCases)
    func reportsErrorAtMarkedPosition(_ testCase: ConfigParserErrorTests.Case) {
        expectConfigError(testCase.marked, testCase.message, environment: testCase.environment)
    }
}
