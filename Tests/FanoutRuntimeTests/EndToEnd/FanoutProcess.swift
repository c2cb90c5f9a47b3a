import FanoutTestSupport
import Foundation

/// Why the `fanout` executable could not be used by a test.
struct FanoutExecutableNotFound: Error, CustomStringConvertible {
    var searched: [String]

    var description: String {
        "the fanout executable was not found (searched \(searched.joined(separator: ", "))); "
            + "build it first with `swift build` (`swift test` builds it too)"
    }
}

/// The `fanout` executable running as a child process, as a user runs it: stdout and stderr go to temporary
/// files, so a test can poll stderr while the process runs without a pipe filling up.
final class FanoutProcess {
    let process = Process()
    private let stdoutURL: URL
    private let stderrURL: URL

    /// The `fanout` executable SwiftPM built next to the test bundle: looked up from the running test
    /// binary's directory upwards. Throws ``FanoutExecutableNotFound`` rather than letting a test skip.
    static func executable() throws -> URL {
        var starts = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            starts.insert(URL(fileURLWithPath: exe).deletingLastPathComponent(), at: 0)
        }
        var searched: [String] = []
        for start in starts {
            var directory = start.standardizedFileURL
            while directory.path != "/" {
                let candidate = directory.appendingPathComponent("fanout")
                var isDirectory: ObjCBool = false
                let exists = FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory)
                if exists && !isDirectory.boolValue && FileManager.default.isExecutableFile(atPath: candidate.path) {
                    return candidate
                }
                searched.append(directory.path)
                directory.deleteLastPathComponent()
            }
        }
        throw FanoutExecutableNotFound(searched: searched)
    }

    /// Starts `fanout ARGUMENTS` with the test's environment plus `environment`; with `wrapper`, as
    /// `WRAPPER… fanout ARGUMENTS` (a command that execs it in the same process, like `prlimit`); with
    /// `workingDirectory`, in that directory.
    init(
        _ arguments: [String], environment: [String: String] = [:], wrapper: [String] = [], workingDirectory: URL? = nil
    ) throws {
        let directory = FileManager.default.temporaryDirectory
        let unique = "fanout-\(getpid())-\(UUID().uuidString)"
        stdoutURL = directory.appendingPathComponent("\(unique).stdout")
        stderrURL = directory.appendingPathComponent("\(unique).stderr")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        if let launcher = wrapper.first {
            process.executableURL = URL(fileURLWithPath: launcher)
            process.arguments = Array(wrapper.dropFirst()) + [try Self.executable().path] + arguments
        } else {
            process.executableURL = try Self.executable()
            process.arguments = arguments
        }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        if let workingDirectory { process.currentDirectoryURL = workingDirectory }
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        try process.run()
    }

    deinit {
        // Always reap: Foundation's Process stays retained by its run-loop source until waitUntilExit() returns,
        // even after the child has exited (LeakSanitizer reported the Process, its pipes and environment).
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: stdoutURL)
        try? FileManager.default.removeItem(at: stderrURL)
    }

    // FileContents, not String(contentsOf:): Foundation's reader leaks its buffer on a file still being written.
    var stderr: String { FileContents.bytes(atPath: stderrURL.path).map { String(decoding: $0, as: UTF8.self) } ?? "" }
    var stdout: String { FileContents.bytes(atPath: stdoutURL.path).map { String(decoding: $0, as: UTF8.self) } ?? "" }

    var pid: Int32 { process.processIdentifier }

    func send(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Polls stderr until it has `count` lines containing `text`, for up to `timeoutMs`.
    func waitForStderr(containing text: String, count: Int = 1, timeoutMs: Int = 5_000) -> Bool {
        waitUntil(timeoutMs: timeoutMs) {
            self.stderr.components(separatedBy: "\n").count { $0.contains(text) } >= count
        }
    }

    /// Waits up to `timeoutMs` for the process to exit; its exit status, or nil if it is still running.
    func waitForExit(timeoutMs: Int = 5_000) -> Int32? {
        guard waitUntil(timeoutMs: timeoutMs, { !self.process.isRunning }) else { return nil }
        return process.terminationStatus
    }

    /// Polls until `port` answers `GET path` with 200, for up to `timeoutMs`.
    static func waitUntilServing(port: UInt16, path: String, timeoutMs: Int = 10_000) -> Bool {
        waitUntil(timeoutMs: timeoutMs) { (try? httpGet(port: port, path: path, timeoutMs: 500))?.status == 200 }
    }
}
