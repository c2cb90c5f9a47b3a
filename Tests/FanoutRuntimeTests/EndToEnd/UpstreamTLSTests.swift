import FanoutCore
import FanoutRuntime
import FanoutTestSupport
import Foundation
import Testing

/// TLS and HTTP/2 to partners, end to end: a CA and certificates made with `openssl` per test, a Python
/// `ssl` partner that reports the server name, client certificate and Host it saw, and `nghttpd` for HTTP/2.
@Suite struct UpstreamTLSTests {
    /// A composite route calling `/seen` on `upstream partner { BLOCK }`.
    static func config(_ block: String, admin: Bool = false) -> String {
        (admin ? "admin_listen 127.0.0.1:0\n" : "") + """
            upstream partner {
                \(block)
            }
            route GET /p {
                call seen GET partner /seen
            }
            """
    }

    /// The one call entry of the last access-log line.
    static func loggedCall(_ server: TestServer) throws -> [String: Any] {
        #expect(waitUntil { !server.accessLog.all.isEmpty })
        let line = try #require(server.accessLog.all.last)
        let entry = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let calls = try #require(entry["calls"] as? [[String: Any]])
        return try #require(calls.first)
    }

    /// The `errors` entry of a failed required call.
    static func failureKind(_ response: RawHTTPResponse) throws -> String? {
        let body = try jsonObject(response)
        let errors = try #require(body["errors"] as? [[String: Any]])
        return errors.first?["kind"] as? String
    }

    @Test func verifiesThePartnerAgainstTheConfiguredCA() throws {
        let pki = try TestCertificates()
        let partner = try TLSPartner(certificates: pki)
        let server = try TestServer(Self.config("url https://127.0.0.1:\(partner.port); tls_ca \(pki.caCertificate)"))
        let response = try server.get("/p")
        #expect(response.status == 200, "\(response.bodyText)")
        let seen = try #require(try jsonObject(response)["seen"] as? [String: Any])
        #expect(seen["path"] as? String == "/seen")
        #expect(seen["client"] is NSNull)
        let call = try Self.loggedCall(server)
        #expect(call["http_version"] as? String == "1.1")
        #expect(call["failure"] == nil)
    }

    @Test func aPartnerOutsideTheSystemStoreIsATLSFailureNotASuccessNorAHang() throws {
        let pki = try TestCertificates()
        let partner = try TLSPartner(certificates: pki)
        let server = try TestServer(Self.config("url https://127.0.0.1:\(partner.port)"))
        let (response, elapsed) = try measureMs { try server.get("/p") }
        #expect(response.status == 502)
        #expect(try Self.failureKind(response) == "tls")
        #expect(elapsed < 1_500, "took \(elapsed) ms")
        let call = try Self.loggedCall(server)
        #expect(call["failure"] as? String == "tls")
        #expect(call["http_version"] == nil)
    }

    @Test func aCertificateForAnotherNameIsATLSFailure() throws {
        let pki = try TestCertificates()
        let partner = try TLSPartner(certificates: pki)
        // Reaches the right partner through connect_to, but the name asked for is not in its certificate.
        let server = try TestServer(
            Self.config(
                "url https://wrong.test:\(partner.port); connect_to 127.0.0.1:\(partner.port); "
                    + "tls_ca \(pki.caCertificate)"))
        let response = try server.get("/p")
        #expect(response.status == 502)
        #expect(try Self.failureKind(response) == "tls")
    }

    @Test func connectToKeepsTheURLHostForSNIHostAndTheCertificateName() throws {
        let pki = try TestCertificates()
        let partner = try TLSPartner(certificates: pki)
        let server = try TestServer(
            Self.config(
                "url https://partner.test:\(partner.port); connect_to 127.0.0.1:\(partner.port); "
                    + "tls_ca \(pki.caCertificate)"))
        let response = try server.get("/p")
        #expect(response.status == 200, "\(response.bodyText)")
        let seen = try #require(try jsonObject(response)["seen"] as? [String: Any])
        #expect(seen["sni"] as? String == "partner.test")
        #expect(seen["host"] as? String == "partner.test:\(partner.port)")
    }

    @Test func mutualTLSNeedsTheClientCertificate() throws {
        let pki = try TestCertificates()
        let partner = try TLSPartner(certificates: pki, requireClientCertificate: true)
        let server = try TestServer(
            """
            upstream with_cert {
                url https://127.0.0.1:\(partner.port)
                tls_ca \(pki.caCertificate)
                tls_cert \(pki.clientCertificate)
                tls_key \(pki.clientKey)
            }
            upstream without_cert {
                url https://127.0.0.1:\(partner.port)
                tls_ca \(pki.caCertificate)
            }
            route GET /with { call seen GET with_cert /seen }
            route GET /without { call seen GET without_cert /seen }
            """)
        let refused = try server.get("/without")
        #expect(refused.status == 502)
        #expect(try Self.failureKind(refused) == "tls", "\(refused.bodyText)")
        let accepted = try server.get("/with")
        #expect(accepted.status == 200, "\(accepted.bodyText)")
        let seen = try #require(try jsonObject(accepted)["seen"] as? [String: Any])
        #expect(seen["client"] as? String == TestCertificates.clientCommonName)
        // Once more without: the connection made with the certificate is not lent to the other upstream.
        let refusedAgain = try server.get("/without")
        #expect(refusedAgain.status == 502)
    }

    @Test func tlsVerifyOffReachesAPartnerWithAnUnknownCA() throws {
        let pki = try TestCertificates()
        let partner = try TLSPartner(certificates: pki)
        let server = try TestServer(Self.config("url https://127.0.0.1:\(partner.port); tls_verify off"))
        let response = try server.get("/p")
        #expect(response.status == 200, "\(response.bodyText)")
        #expect(server.server.config.warnings.count == 1)
        #expect(server.server.config.warnings.first?.contains("tls_verify off") == true)
    }

    // MARK: - HTTP/2

    @Test func http2MultiplexesParallelCallsOnOneConnection() throws {
        let pki = try TestCertificates()
        let partner = try HTTP2Partner(
            files: ["a.json": #"{"n":1}"#, "b.json": #"{"n":2}"#, "c.json": #"{"n":3}"#], certificates: pki)
        let server = try TestServer(
            """
            admin_listen 127.0.0.1:0
            upstream partner {
                url https://127.0.0.1:\(partner.port)
                tls_ca \(pki.caCertificate)
                http2 on
            }
            route GET /p {
                call a GET partner /a.json
                call b GET partner /b.json
                call c GET partner /c.json
            }
            """)
        let response = try server.get("/p")
        #expect(response.status == 200, "\(response.bodyText)")
        #expect(response.bodyText == #"{"a":{"n":1},"b":{"n":2},"c":{"n":3}}"#)
        #expect(waitUntil { !server.accessLog.all.isEmpty })
        let line = try #require(server.accessLog.all.last)
        #expect(line.components(separatedBy: #""http_version":"2""#).count == 4, "\(line)")
        // The three calls started together; PIPEWAIT made two of them wait for the first one's connection.
        let samples = try MetricsTests.scrape(server)
        #expect(samples[#"fanout_upstream_connections_opened_total{upstream="partner"}"#] == 1)
        #expect(samples[#"fanout_upstream_connections_reused_total{upstream="partner"}"#] == 2)
    }

    /// h2c with prior knowledge follows the loaded libcurl: 8.x carries it, reused connection included (two
    /// client requests of three calls: one connection, five reuses); 7.88.1 breaks it on reuse (curl #10634),
    /// so loading the same file refuses it, naming the version. `swift test` covers the 7.88.1 branch,
    /// scripts/test-libcurl8.sh the 8.14.1 one.
    @Test func cleartextHTTP2FollowsTheLoadedLibcurl() throws {
        let partner = try HTTP2Partner(
            files: ["a.json": #"{"n":1}"#, "b.json": #"{"n":2}"#, "c.json": #"{"n":3}"#], certificates: nil)
        let block = "upstream partner {\n    url http://127.0.0.1:\(partner.port)\n    http2 on\n}\n"
        let routes =
            "route GET /p {\n    call a GET partner /a.json\n    call b GET partner /b.json\n"
            + "    call c GET partner /c.json\n}\n"
        let libcurl = LibcurlVersion.current()
        guard libcurl.capabilities.cleartextHTTP2 else {
            let directory = NSTemporaryDirectory() + "fanout-h2c-\(getpid())-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = directory + "/proxy.conf"
            try (block + routes).write(toFile: path, atomically: true, encoding: .utf8)
            do throws(ConfigFile.LoadError) {
                _ = try ConfigFile.load(path: path)
                Issue.record("libcurl \(libcurl.version) accepted h2c")
            } catch {
                guard case .invalid(let invalid) = error else {
                    Issue.record("\(error)")
                    return
                }
                #expect(invalid.location == SourceLocation(file: path, line: 3, column: 5))
                #expect(invalid.description.contains("needs libcurl 8.0 or later and fanout runs with libcurl 7.88.1"))
            }
            return
        }
        let server = try TestServer("admin_listen 127.0.0.1:0\n" + block + routes)
        for _ in 0..<2 {
            let response = try server.get("/p")
            #expect(response.status == 200, "\(response.bodyText)")
            #expect(response.bodyText == #"{"a":{"n":1},"b":{"n":2},"c":{"n":3}}"#)
        }
        #expect(waitUntil { server.accessLog.all.count == 2 })
        for line in server.accessLog.all {
            #expect(line.components(separatedBy: #""http_version":"2""#).count == 4, "\(line)")
        }
        let samples = try MetricsTests.scrape(server)
        #expect(samples[#"fanout_upstream_connections_opened_total{upstream="partner"}"#] == 1)
        #expect(samples[#"fanout_upstream_connections_reused_total{upstream="partner"}"#] == 5)
    }

    @Test func http2OverTLSIsNegotiatedWithALPN() throws {
        let pki = try TestCertificates()
        let partner = try HTTP2Partner(files: ["seen": #"{"h2":true}"#], certificates: pki)
        let server = try TestServer(
            Self.config(
                "url https://partner.test:\(partner.port); connect_to 127.0.0.1:\(partner.port); "
                    + "tls_ca \(pki.caCertificate); http2 on"))
        let response = try server.get("/p")
        #expect(response.status == 200, "\(response.bodyText)")
        #expect(try Self.loggedCall(server)["http_version"] as? String == "2")
    }

    @Test func http2OffAsksForHTTP11EvenOverTLS() throws {
        // libcurl 7.88.1 would offer h2 by ALPN on its own; the Python partner offers both, so the version
        // logged is what fanout asked for.
        let pki = try TestCertificates()
        let partner = try TLSPartner(certificates: pki)
        let server = try TestServer(Self.config("url https://127.0.0.1:\(partner.port); tls_ca \(pki.caCertificate)"))
        #expect(try server.get("/p").status == 200)
        #expect(try Self.loggedCall(server)["http_version"] as? String == "1.1")
    }

    @Test func proxyRouteRelaysAnHTTP2AnswerAsWellFormedHTTP11() throws {
        let pki = try TestCertificates()
        let body = String(repeating: #"{"row":"0123456789"},"#, count: 2_000)
        let partner = try HTTP2Partner(files: ["big.json": "[\(body)1]"], certificates: pki)
        let server = try TestServer(
            """
            upstream partner {
                url https://127.0.0.1:\(partner.port)
                tls_ca \(pki.caCertificate)
                http2 on
            }
            route GET /files/{rest...} {
                proxy partner /{rest...}
            }
            """)
        let client = try RawHTTPClient(port: server.port)
        try client.send("GET /files/big.json HTTP/1.1\r\nHost: fanout\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.bodyText == "[\(body)1]")
        #expect(response.header("Content-Type") == "application/json")
        // Our own framing: exactly one of Content-Length or chunked, and the connection stays usable.
        #expect((response.header("Content-Length") != nil) != (response.header("Transfer-Encoding") != nil))
        try client.send("GET /files/big.json HTTP/1.1\r\nHost: fanout\r\nConnection: close\r\n\r\n")
        let raw = String(decoding: try client.readUntilClose(), as: UTF8.self)
        #expect(raw.hasPrefix("HTTP/1.1 200 "), "\(raw.prefix(200))")
        #expect(try Self.loggedCall(server)["http_version"] as? String == "2")
    }

    // MARK: - Loading the files

    @Test func loadingReportsAnUnreadableOrNonPEMFileAtItsDirective() throws {
        let pki = try TestCertificates()
        let path = pki.directory + "/proxy.conf"
        try "not a certificate\n".write(toFile: pki.directory + "/notes.txt", atomically: true, encoding: .utf8)
        func load(_ block: String) throws -> Result<FanoutConfig, ConfigFile.LoadError> {
            try "upstream partner {\n    url https://partner.test\n    \(block)\n}\n"
                .write(toFile: path, atomically: true, encoding: .utf8)
            do throws(ConfigFile.LoadError) {
                return .success(try ConfigFile.load(path: path))
            } catch {
                return .failure(error)
            }
        }
        // Relative to the configuration's directory: ca.pem is the one TestCertificates wrote there.
        guard case .success(let config) = try load("tls_ca ca.pem; tls_cert client.pem; tls_key client.key") else {
            Issue.record("the generated files were refused")
            return
        }
        #expect(config.upstreams[0].transport.caFile?.path == pki.caCertificate)
        guard case .failure(.invalid(let missing)) = try load("tls_ca missing.pem") else {
            Issue.record("a missing tls_ca file was accepted")
            return
        }
        #expect(missing.location == SourceLocation(file: path, line: 3, column: 12))
        #expect(missing.message.hasPrefix("tls_ca file '\(pki.directory)/missing.pem' cannot be read: open failed"))
        #expect(missing.description.hasPrefix("\(path):3:12: tls_ca file"))
        guard case .failure(.invalid(let notPEM)) = try load("tls_cert client.pem; tls_key notes.txt") else {
            Issue.record("a key file without a PEM block was accepted")
            return
        }
        #expect(notPEM.location == SourceLocation(file: path, line: 3, column: 34))
        #expect(notPEM.message.contains("holds no PEM block"))
    }
}
