import FanoutCore
import Glibc

/// Reads `proxy.conf` from disk and parses it with the process environment (blocking I/O: at start-up, and on
/// SIGHUP on the main thread, never on a worker loop).
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
        do {
            return try ConfigParser.parse(text, file: path, environment: processEnvironment())
        } catch {
            throw .invalid(error)
        }
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
