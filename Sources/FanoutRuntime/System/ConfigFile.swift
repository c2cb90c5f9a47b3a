import FanoutCore
import Glibc

/// Reads `proxy.conf` (and the files it `include`s) from disk and parses it with the process environment (blocking I/O: at start-up, and on
/// SIGHUP on the main thread, never on a worker loop), then checks that the files it names can be used.
///
/// The file check lives here, not in the parser: FanoutCore does no I/O, and every path to a running or
/// checked configuration (`fanout serve`, `fanout check`, a SIGHUP reload) comes through `load`, so a missing
/// certificate is reported at `file:line:column` before any partner is called, not as a `tls` failure later.
public enum ConfigFile {
    public enum LoadError: Error, CustomStringConvertible {
        /// No file at `path` (`ENOENT`); `absolutePath` is where it was looked for.
        case missing(path: String, absolutePath: String)
        case unreadable(path: String, SystemError)
        case invalid(ConfigError)
        /// `FANOUT_ADMIN` holds no `admin_listen` value (``loadForServing(path:)`` only).
        case invalidEnvironment(AdminListenOverride.InvalidValue)

        public var description: String {
            switch self {
            case .missing(_, let absolutePath): return "no configuration file at \(absolutePath)"
            case .unreadable(let path, let error): return "\(path): cannot read: \(error)"
            case .invalid(let error): return error.description
            case .invalidEnvironment(let error): return error.description
            }
        }
    }

    public static func load(path: String) throws(LoadError) -> FanoutConfig {
        let text: String
        do {
            text = try readFile(path)
        } catch {
            throw error.errno == ENOENT
                ? .missing(path: path, absolutePath: absolutePath(path)) : .unreadable(path: path, error)
        }
        let config: FanoutConfig
        do {
            config = try ConfigParser.parse(
                text,
                file: path,
                environment: processEnvironment(),
                includes: DiskConfigIncludes(),
                libcurl: LibcurlVersion.current().capabilities
            )
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

    /// ``load(path:)`` for `fanout serve` and its reloads: the file, then ``AdminListenOverride`` from
    /// `FANOUT_ADMIN`. `notes` holds the line to log when the override replaces the file's `admin_listen`.
    public static func loadForServing(path: String) throws(LoadError) -> (config: FanoutConfig, notes: [String]) {
        var config = try load(path: path)
        let override: AdminListenOverride?
        do {
            override = try AdminListenOverride.from(environment: processEnvironment())
        } catch {
            throw .invalidEnvironment(error)
        }
        let note = override?.apply(to: &config, file: path)
        return (config, note.map { [$0] } ?? [])
    }

    /// `path` from the working directory when it is relative (what `open` looked for). The corresponding C
    /// function is `getcwd`.
    public static func absolutePath(_ path: String) -> String {
        guard !path.hasPrefix("/") else { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let directory = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let relative = path.hasPrefix("./") ? String(path.dropFirst(2)) : path
        return directory == "/" ? "/\(relative)" : "\(directory)/\(relative)"
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
                message:
                    "\(file.directive) file '\(file.path)' holds no PEM block ('-----BEGIN …'); expected a PEM file")
        }
        return nil
    }

    static func readFile(_ path: String) throws(SystemError) -> String {
        let fd = try blockingSyscall("open") { open(path, O_RDONLY | O_CLOEXEC) }
        defer { closeDescriptor(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = try blockingSyscall("read") {
                chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            }
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
