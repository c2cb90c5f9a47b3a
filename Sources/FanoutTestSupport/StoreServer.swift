import Foundation

/// A real `redis-server` (or `valkey-server`) run as a child process on a free loopback port, without
/// persistence (`--save "" --appendonly no`). ``stop()`` kills it (SIGKILL, as a crash would) and ``start()``
/// starts it again on the same port, empty.
///
/// With ``TLS``, the server listens with TLS only (`--port 0 --tls-port N`), with the server certificate of a
/// ``TestCertificates``; ``command(_:)`` then goes through `redis-cli --tls` (its output, not raw RESP).
public final class StoreServer: @unchecked Sendable {
    /// TLS only, with `certificates`' server certificate; `authClients`: clients must present a certificate
    /// signed by its CA (`--tls-auth-clients yes`, Redis' default).
    public struct TLS: Sendable {
        public let certificates: TestCertificates
        public let authClients: Bool

        public init(certificates: TestCertificates, authClients: Bool) {
            self.certificates = certificates
            self.authClients = authClients
        }
    }

    public let executable: String
    /// Chosen once, when the server is made; ``start()`` uses it again.
    public private(set) var port: UInt16 = 0
    private let password: String?
    public let tls: TLS?
    private let extraArguments: [String]
    private var process: Process?

    /// Whether `name` (`redis-server`, `valkey-server`) is installed in `/usr/bin`.
    public static func isInstalled(_ name: String) -> Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/\(name)")
    }

    /// Starts the server and waits until it answers `PING`.
    /// - Throws: ``TestSupportError`` when it is not installed, exits, or does not answer within 15 s.
    /// - Parameter extraArguments: more `redis-server` options (`--cluster-enabled yes` …).
    public init(
        executable: String = "redis-server", password: String? = nil, tls: TLS? = nil, extraArguments: [String] = []
    ) throws {
        self.executable = executable
        self.password = password
        self.tls = tls
        self.extraArguments = extraArguments
        // A port found free can still be taken before the server binds it (``freeTCPPort()`` makes it rare), and
        // a cluster node also binds port + 10000 for its bus, which may fall in the range outgoing connections
        // take their local ports from. A server that exits before answering is started on another port, up to
        // five times.
        let busOffset: UInt16 = extraArguments.contains("--cluster-enabled") ? 10_000 : 0
        for _ in 1...5 {
            repeat { port = try freeTCPPort() } while port > UInt16.max - busOffset
            if try launch() { return }
        }
        throw TestSupportError(
            kind: .malformed, call: executable, detail: "exited before answering on five free ports (last \(port))")
    }

    deinit {
        stop()
    }

    /// Starts the server (again) on ``port`` and waits until it answers.
    public func start() throws {
        guard try launch() else {
            throw TestSupportError(kind: .malformed, call: executable, detail: "exited on port \(port)")
        }
    }

    /// Starts the server on ``port`` and waits until it answers: false when it exited first (its port taken).
    /// - Throws: ``TestSupportError`` when it does not answer within 15 s.
    private func launch() throws -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/\(executable)")
        var arguments = [
            "--port", tls == nil ? String(port) : "0", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--daemonize", "no",
            "--loglevel", "warning",
        ]
        if let password { arguments += ["--requirepass", password] }
        if let tls {
            let pki = tls.certificates
            arguments += [
                "--tls-port", String(port), "--tls-cert-file", pki.serverCertificate, "--tls-key-file",
                pki.serverKey, "--tls-ca-cert-file", pki.caCertificate, "--tls-auth-clients",
                tls.authClients ? "yes" : "no",
            ]
        }
        process.arguments = arguments + extraArguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        // 15 s: the whole suite runs in parallel, under AddressSanitizer on CI; 5 s was once too short there.
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline, process.isRunning {
            if let reply = try? command(["PING"]),
                reply.hasPrefix("+PONG") || reply.hasPrefix("-NOAUTH") || reply.hasPrefix("PONG")
            {
                return true
            }
            usleep(10_000)
        }
        let exited = !process.isRunning
        stop()
        if exited { return false }
        throw TestSupportError(kind: .malformed, call: executable, detail: "no PONG on port \(port) within 15 s")
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
        if let tls { return try cliCommand(arguments, tls: tls) }
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

    /// `redis-cli --tls` (with the client certificate) running `arguments`; its standard output.
    private func cliCommand(_ arguments: [String], tls: TLS) throws -> String {
        let pki = tls.certificates
        let process = Process()
        let cli = executable.replacingOccurrences(of: "-server", with: "-cli")
        process.executableURL = URL(fileURLWithPath: "/usr/bin/\(cli)")
        var options = [
            "--tls", "--cacert", pki.caCertificate, "--cert", pki.clientCertificate, "--key", pki.clientKey,
            "-h", "127.0.0.1", "-p", String(port),
        ]
        if let password { options += ["--no-auth-warning", "-a", password] }
        process.arguments = options + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
