import FanoutCore
import Glibc

/// What `include` reads from disk (blocking: at start-up, in `fanout check` and on SIGHUP, never on a worker
/// loop). Paths are used as `include` resolved them, so a relative one is taken from the working directory,
/// as the main file's is.
struct DiskConfigIncludes: ConfigIncludeReader {
    func read(_ path: String) throws(ConfigIncludeReadError) -> String {
        do {
            return try ConfigFile.readFile(path)
        } catch {
            if error.errno == ENOENT { throw .missing(lookedAt: ConfigFile.absolutePath(path)) }
            throw .unreadable(reason: "\(error)")
        }
    }

    /// The corresponding C functions are `opendir`, `readdir` and `closedir`; a directory that cannot be
    /// opened lists nothing (a glob over it matches nothing, as `glob(3)` does).
    func entries(ofDirectory path: String) -> [String]? {
        guard let directory = opendir(path.isEmpty ? "." : path) else { return nil }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
