import CCurl
import FanoutCore

/// The libcurl fanout runs with (the shared library loaded now, not the headers it was built against): its
/// version, the libraries it uses (TLS backend, zlib, brotli, zstd, nghttp2, QUIC) and the features of
/// interest to a proxy, for `fanout --version`. The corresponding C function is `curl_version_info`.
public struct LibcurlVersion: Sendable, CustomStringConvertible {
    /// Like `7.88.1`.
    public var version: String
    /// Like `OpenSSL/3.0.17`, `zlib/1.2.13`, `brotli/1.0.9`, `zstd/1.5.4`, `nghttp2/1.52.0`, in that order.
    public var libraries: [String]
    /// Lowercase names (`ssl`, `http2`, `brotli`, `zstd`, …) of the features the library was built with.
    public var features: [String]

    /// Feature bits of `curl_version_info_data.features` that decide what upstream calls can do. The bit mask
    /// is read rather than `feature_names`, which only libcurl 7.87 and later fill in.
    private static let featureBits: [(bit: Int32, name: String)] = [
        (CURL_VERSION_SSL, "ssl"), (CURL_VERSION_HTTP2, "http2"), (CURL_VERSION_HTTP3, "http3"),
        (CURL_VERSION_LIBZ, "libz"), (CURL_VERSION_BROTLI, "brotli"), (CURL_VERSION_ZSTD, "zstd"),
        (CURL_VERSION_IPV6, "ipv6"), (CURL_VERSION_ASYNCHDNS, "asynchdns"), (CURL_VERSION_LARGEFILE, "largefile"),
        (CURL_VERSION_UNIX_SOCKETS, "unix-sockets"), (CURL_VERSION_HTTPS_PROXY, "https-proxy"),
        (CURL_VERSION_ALTSVC, "alt-svc"), (CURL_VERSION_HSTS, "hsts"), (CURL_VERSION_IDN, "idn"),
        (CURL_VERSION_PSL, "psl"), (CURL_VERSION_THREADSAFE, "threadsafe"),
    ]

    /// What the loaded libcurl reports.
    public static func current() -> LibcurlVersion {
        guard let info = curl_version_info(ccurl_version_now)?.pointee else {
            return LibcurlVersion(version: "unknown", libraries: [], features: [])
        }
        let age = info.age.rawValue
        // Fields newer than the library's struct (`age`) are past its end: read only those it has. The TLS and
        // QUIC strings name their library already (`OpenSSL/3.0.17`); the others are bare version numbers.
        var named: [(name: String?, version: UnsafePointer<CChar>?)] = [
            (nil, info.ssl_version), ("zlib", info.libz_version),
        ]
        if age >= CURLVERSION_FIFTH.rawValue { named.append(("brotli", info.brotli_version)) }
        if age >= CURLVERSION_EIGHTH.rawValue { named.append(("zstd", info.zstd_version)) }
        if age >= CURLVERSION_SIXTH.rawValue { named += [("nghttp2", info.nghttp2_version), (nil, info.quic_version)] }
        // libcurl 8 names brotli and zstd itself (`brotli/1.0.9`), 7.88.1 does not (`1.0.9`).
        let libraries = named.compactMap { name, version -> String? in
            guard let version, version.pointee != 0 else { return nil }
            let text = String(cString: version)
            guard let name, !text.hasPrefix("\(name)/") else { return text }
            return "\(name)/\(text)"
        }
        let features = featureBits.filter { info.features & $0.bit != 0 }.map(\.name)
        let version = info.version.map { String(cString: $0) } ?? "unknown"
        return LibcurlVersion(version: version, libraries: libraries, features: features)
    }

    /// What the configuration may ask of this library; Debian bookworm's 7.88.1 when the version cannot be read.
    public var capabilities: LibcurlCapabilities {
        LibcurlCapabilities(version: version) ?? .bookworm
    }

    /// Two lines: `libcurl 7.88.1 (OpenSSL/3.0.17, zlib/1.2.13, …)` and `libcurl features: ssl http2 …`.
    public var description: String {
        let libraries = self.libraries.isEmpty ? "" : " (\(self.libraries.joined(separator: ", ")))"
        return "libcurl \(version)\(libraries)\nlibcurl features: \(features.joined(separator: " "))"
    }
}
