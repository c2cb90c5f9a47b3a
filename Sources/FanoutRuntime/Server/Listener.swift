import Glibc

/// A worker's listening socket: accepts connections and hands them to new `ClientConnection`s.
final class Listener: EventHandler {
    private var fd: Int32
    private unowned let worker: Worker
    private var pausedTimer: TimerID?

    init(fd: Int32, worker: Worker) {
        self.fd = fd
        self.worker = worker
    }

    func start() {
        worker.loop.register(fd: fd, interest: .read, handler: self)
    }

    func close() {
        guard fd >= 0 else { return }
        if let timer = pausedTimer { worker.loop.cancel(timer) }
        worker.loop.deregister(fd: fd)
        closeDescriptor(fd)
        fd = -1
    }

    func handleEvent(fd: Int32, events: UInt32) {
        // Bounded per wake-up so one busy listener cannot starve the connections already accepted.
        for _ in 0..<64 {
            do {
                switch try Socket.accept(fd) {
                case .wouldBlock:
                    return
                case .processed(let (client, peer)):
                    let connection = ClientConnection(fd: client, peer: peer?.host ?? "unknown", worker: worker)
                    worker.adopt(connection)
                    connection.start()
                }
            } catch {
                switch error.errno {
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors: with level-triggered epoll, retrying at once would spin. Pause accepting.
                    ErrorLog.write("accept: \(error); pausing accepts for 100 ms")
                    worker.loop.setInterest(fd: fd, [])
                    pausedTimer = worker.loop.schedule(afterMilliseconds: 100) { [weak self] in
                        guard let self, self.fd >= 0 else { return }
                        self.pausedTimer = nil
                        self.worker.loop.setInterest(fd: self.fd, .read)
                    }
                    return
                default:
                    // ECONNABORTED and friends concern one connection only.
                    continue
                }
            }
        }
    }
}
