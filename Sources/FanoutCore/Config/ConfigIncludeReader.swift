/// The file access `include` needs, given to `ConfigParser.parse` by whoever loads the configuration: the core
/// does no I/O (the runtime reads the disk, unit tests an in-memory map).
public protocol ConfigIncludeReader {
    /// The contents of the file at `path` (as `include` resolved it: relative to the working directory when
    /// the including file's path was relative).
    /// - Throws: why it cannot be read (`ConfigIncludeReadError.missing` when there is no such file).
    func read(_ path: String) throws(ConfigIncludeReadError) -> String

    /// The names in the directory at `path` (`""` is the working directory), without `.` and `..`, in any
    /// order; nil when there is no such directory.
    func entries(ofDirectory path: String) -> [String]?
}

/// Why `ConfigIncludeReader.read` found no text.
public enum ConfigIncludeReadError: Error, Sendable, Equatable {
    /// No file at the path; `lookedAt` is where it was looked for (an absolute path, when the reader knows it).
    case missing(lookedAt: String)
    /// The file exists but cannot be read; `reason` says why (`Permission denied`).
    case unreadable(reason: String)
}

/// A reader with no files: a glob matches nothing and a plain path is missing (what `ConfigParser.parse` uses
/// when it is given no reader).
public struct NoConfigIncludes: ConfigIncludeReader {
    public init() {}

    public func read(_ path: String) throws(ConfigIncludeReadError) -> String {
        throw .missing(lookedAt: path)
    }

    public func entries(ofDirectory path: String) -> [String]? { nil }
}

/// Path arithmetic and glob expansion for `include`, over a `ConfigIncludeReader`.
enum ConfigIncludePath {
    /// `path` relative to the directory of `includingFile` unless it is absolute, with `.` and `dir/..`
    /// components removed (so a cycle is found however its paths are spelt).
    static func resolve(_ path: String, from includingFile: String) -> String {
        if path.hasPrefix("/") { return normalize(path) }
        guard let slash = includingFile.lastIndex(of: "/") else { return normalize(path) }
        return normalize(String(includingFile[...slash]) + path)
    }

    /// Drops `.` components, empty components and `x/..` pairs (a leading `..` of a relative path stays).
    static func normalize(_ path: String) -> String {
        let absolute = path.hasPrefix("/")
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..":
                if let last = parts.last, last != ".." {
                    parts.removeLast()
                } else if !absolute {
                    parts.append(part)
                }
            default: parts.append(part)
            }
        }
        return (absolute ? "/" : "") + parts.joined(separator: "/")
    }

    /// True when `component` holds a glob character (`*`, `?` or `[`).
    static func isGlob(_ text: String) -> Bool {
        text.contains { $0 == "*" || $0 == "?" || $0 == "[" }
    }

    /// The existing paths a resolved glob names, component by component, sorted byte-wise at each wildcard
    /// component (the order of `glob(3)` in the C locale). Names starting with `.` match only a pattern that
    /// starts with `.`. A pattern matching nothing gives no paths.
    static func expand(_ pattern: String, reader: some ConfigIncludeReader) -> [String] {
        let absolute = pattern.hasPrefix("/")
        var prefixes = [absolute ? "/" : ""]
        var expanded = false
        for component in pattern.split(separator: "/", omittingEmptySubsequences: true) {
            let component = String(component)
            var next: [String] = []
            for prefix in prefixes {
                let joined = { (name: String) in
                    prefix.isEmpty || prefix.hasSuffix("/") ? prefix + name : prefix + "/" + name
                }
                guard isGlob(component) else {
                    // After a wildcard, keep only the paths that exist (`d*/x.conf` where some `d…` lacks it).
                    if !expanded || reader.entries(ofDirectory: prefix)?.contains(component) == true {
                        next.append(joined(component))
                    }
                    continue
                }
                let names = (reader.entries(ofDirectory: prefix) ?? [])
                    .filter { matches(Array($0.unicodeScalars), pattern: Array(component.unicodeScalars)) }
                    .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
                next.append(contentsOf: names.map(joined))
            }
            prefixes = next
            expanded = expanded || isGlob(component)
        }
        return prefixes
    }

    /// `fnmatch`-style matching of one path component: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`; a leading `.`
    /// must be matched literally.
    static func matches(_ name: [Unicode.Scalar], pattern: [Unicode.Scalar]) -> Bool {
        if name.first == ".", pattern.first != "." { return false }
        return match(name[...], pattern[...])
    }

    private static func match(_ name: ArraySlice<Unicode.Scalar>, _ pattern: ArraySlice<Unicode.Scalar>) -> Bool {
        guard let first = pattern.first else { return name.isEmpty }
        switch first {
        case "*":
            let rest = pattern.dropFirst()
            var suffix = name
            while true {
                if match(suffix, rest) { return true }
                if suffix.isEmpty { return false }
                suffix = suffix.dropFirst()
            }
        case "?":
            return !name.isEmpty && match(name.dropFirst(), pattern.dropFirst())
        case "[":
            guard let scalar = name.first, let (matched, rest) = matchClass(scalar, pattern.dropFirst()) else {
                // An unclosed `[` is an ordinary character.
                return name.first == "[" && match(name.dropFirst(), pattern.dropFirst())
            }
            return matched && match(name.dropFirst(), rest)
        default:
            return name.first == first && match(name.dropFirst(), pattern.dropFirst())
        }
    }

    /// Whether `scalar` is in the class starting after `[`, and the pattern after its `]`; nil when unclosed.
    private static func matchClass(
        _ scalar: Unicode.Scalar,
        _ pattern: ArraySlice<Unicode.Scalar>
    ) -> (Bool, ArraySlice<Unicode.Scalar>)? {
        var rest = pattern
        let negated = rest.first == "!" || rest.first == "^"
        if negated { rest = rest.dropFirst() }
        var found = false
        var first = true
        while let current = rest.first {
            if current == "]" && !first { return (found != negated, rest.dropFirst()) }
            first = false
            rest = rest.dropFirst()
            if rest.first == "-", let upper = rest.dropFirst().first, upper != "]" {
                if current <= scalar && scalar <= upper { found = true }
                rest = rest.dropFirst(2)
            } else if current == scalar {
                found = true
            }
        }
        return nil
    }
}
