import FanoutCore
import Glibc

/// Reads `proxy.conf` from disk and parses it with the process environment (blocking I/O: at start-up, and on
/// SIGHUP on the main thread, never on a worker loop), then checks that the files it names can be used.
///
/// The file check lives here, not in the parser: FanoutCore does no I/O, and every path to a running or
/// checked configuration (`fanout serve`, `fanout check`, a SIGHUP reload) comes through `load`, so a missing
/// certificate is reported at `file:line:column` before any partner is called, not as a `tls` failure later.
public enum ConfigFile {
    public enum LoadError: Error, CustomStringConvertible {
        case unreadable(path: String, SystemError)
        case invalid(ConfigError)

        public var description: String {
            switch self {
            case .unreadable(let path, let error): return "\(path): cannot read: \(error)"
            case .invalid(let error): return error.description
            }
        }
    }

    public static func load(path: String) throws(LoadError) -> FanoutConfig {
        let text: String
        do {
            text = try readFile(path)
        } catch {
            throw .unreadable(path: path, error)
        }
        let config: FanoutConfig
        do {
            config = try ConfigParser.parse(text, file: path, environment: processEnvironment())
        } catch {
            throw .invalid(error)
        }
        for upstream in config.upstreams {
            for file in upstream.transport.files {
                if let error = pemFileError(file) { throw .invalid(error) }
            }
        }
        return config
    }

    /// Why the PEM file a directive names (`tls_ca`, `tls_cert`, `tls_key`) cannot be used, located at its
    /// path argument; nil when it reads and holds a PEM block. Whether its contents suit libcurl is known only
    /// at the first handshake (a `tls` failure).
    static func pemFileError(_ file: ConfigFileReference) -> ConfigError? {
        let text: String
        do {
            text = try readFile(file.path)
        } catch {
            return ConfigError(
                location: file.location,
                message: "\(file.directive) file '\(file.path)' cannot be read: \(error); expected a readable PEM file")
        }
        guard text.contains("-----BEGIN ") else {
            return ConfigError(
                location: file.location,
                message: "\(file.directive) file '\(file.path)' holds no PEM block ('-----BEGIN …'); expected a PEM file")
        }
        return nil
    }

    static func readFile(_ path: String) throws(SystemError) -> String {
        let fd = try blockingSyscall("open") { open(path, O_RDONLY | O_CLOEXEC) }
        defer { closeDescriptor(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = try blockingSyscall("read") { chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public static func processEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}
