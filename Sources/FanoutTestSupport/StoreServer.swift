import Foundation

/// A real `redis-server` (or `valkey-server`) run as a child process on a free loopback port, without
/// persistence (`--save "" --appendonly no`). ``stop()`` kills it (SIGKILL, as a crash would) and ``start()``
/// starts it again on the same port, empty.
public final class StoreServer: @unchecked Sendable {
    public let executable: String
    public let port: UInt16
    private let password: String?
    private let extraArguments: [String]
    private var process: Process?

    /// Whether `name` (`redis-server`, `valkey-server`) is installed in `/usr/bin`.
    public static func isInstalled(_ name: String) -> Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/\(name)")
    }

    /// Starts the server and waits until it answers `PING`.
    /// - Throws: ``TestSupportError`` when it is not installed or does not answer within 5 s.
    /// - Parameter extraArguments: more `redis-server` options (`--cluster-enabled yes` …).
    public init(executable: String = "redis-server", password: String? = nil, extraArguments: [String] = []) throws {
        self.executable = executable
        self.password = password
        self.extraArguments = extraArguments
        port = try freeTCPPort()
        try start()
    }

    deinit {
        stop()
    }

    /// Starts the server (again) on ``port`` and waits until it answers.
    public func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/\(executable)")
        var arguments = [
            "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--loglevel", "warning",
        ]
        if let password { arguments += ["--requirepass", password] }
        process.arguments = arguments + extraArguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if let reply = try? command(["PING"]), reply.hasPrefix("+PONG") || reply.hasPrefix("-NOAUTH") { return }
            usleep(10_000)
        }
        stop()
        throw TestSupportError(kind: .malformed, call: executable, detail: "no PONG on port \(port) within 5 s")
    }

    /// Kills the server (SIGKILL: no goodbye to its clients) and waits for it to exit.
    public func stop() {
        guard let process else { return }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            kill(process.processIdentifier, SIGCONT)
        }
        process.waitUntilExit()
        self.process = nil
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is answered. ``resume()`` undoes it.
    public func pause() {
        if let process, process.isRunning { kill(process.processIdentifier, SIGSTOP) }
    }

    public func resume() {
        if let process, process.isRunning { kill(process.processIdentifier, SIGCONT) }
    }

    /// Sends one command on a new connection (after `AUTH` when the server has a password) and returns the raw
    /// reply (`+OK\r\n`, `$3\r\nfoo\r\n`, …), read until 100 ms pass without more bytes.
    public func command(_ arguments: [String]) throws -> String {
        let fd = try TCPSocket.connect(host: "127.0.0.1", port: port, timeoutMs: 1000)
        defer { TCPSocket.close(fd) }
        var bytes: [UInt8] = []
        var commands = [arguments]
        if let password, arguments != ["PING"] { commands.insert(["AUTH", password], at: 0) }
        for command in commands {
            bytes += Array("*\(command.count)\r\n".utf8)
            for argument in command { bytes += Array("$\(argument.utf8.count)\r\n\(argument)\r\n".utf8) }
        }
        try TCPSocket.sendAll(fd, bytes)
        try TCPSocket.setTimeouts(fd, milliseconds: 100)
        var reply: [UInt8] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 1)
        defer { buffer.deallocate() }
        while true {
            guard let n = try? TCPSocket.receive(fd, into: buffer), n > 0 else { break }
            reply += buffer[0..<n]
        }
        if password != nil, arguments != ["PING"], reply.starts(with: Array("+OK\r\n".utf8)) { reply.removeFirst(5) }
        return String(decoding: reply, as: UTF8.self)
    }
}
