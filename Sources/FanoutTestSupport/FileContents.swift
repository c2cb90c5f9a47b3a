import Glibc

/// Whole files read with `fopen`/`fread` until EOF. Foundation's readers fall short here in two ways
/// (measured): `String(contentsOfFile:)` returns only the first 4 KiB of a `/proc` file (which reports size 0),
/// and `FileManager.contents(atPath:)` leaks its 4 KiB buffer on a file another process is still appending to
/// (LeakSanitizer, swift-foundation with Swift 6.3).
public enum FileContents {
    /// The file's bytes; nil when it cannot be opened.
    public static func bytes(atPath path: String) -> [UInt8]? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if count == 0 { break }
            bytes += buffer[0..<count]
        }
        return bytes
    }
}
