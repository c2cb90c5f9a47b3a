/// Identifies a scheduled timer so it can be cancelled.
struct TimerID: Hashable, Sendable {
    fileprivate let raw: UInt64
}

/// One-shot timers kept in user space: a binary min-heap of deadlines and a table of actions.
/// Cancelling removes the action; its heap entry is skipped when it surfaces (lazy deletion).
/// The earliest deadline becomes the `epoll_wait` timeout, so no timerfd and no syscall per timer.
struct TimerHeap {
    private struct Entry {
        var deadline: UInt64
        var id: UInt64
    }
    private var heap: [Entry] = []
    private var actions: [UInt64: () -> Void] = [:]
    private var nextID: UInt64 = 1

    var isEmpty: Bool { actions.isEmpty }

    mutating func schedule(at deadline: UInt64, _ action: @escaping () -> Void) -> TimerID {
        let id = nextID
        nextID += 1
        actions[id] = action
        heap.append(Entry(deadline: deadline, id: id))
        siftUp(heap.count - 1)
        return TimerID(raw: id)
    }

    mutating func cancel(_ timer: TimerID) {
        actions.removeValue(forKey: timer.raw)
        // Drop cancelled entries from the top so an idle loop does not wake for a timer nobody wants.
        while let top = heap.first, actions[top.id] == nil { popTop() }
    }

    /// The earliest live deadline, if any.
    mutating func earliestDeadline() -> UInt64? {
        while let top = heap.first {
            if actions[top.id] != nil { return top.deadline }
            popTop()
        }
        return nil
    }

    /// Removes and returns the action of the earliest timer due at or before `now`.
    mutating func popExpired(now: UInt64) -> (() -> Void)? {
        while let top = heap.first, top.deadline <= now {
            popTop()
            if let action = actions.removeValue(forKey: top.id) { return action }
        }
        return nil
    }

    private mutating func popTop() {
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            siftDown(0)
        }
    }

    private mutating func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            if heap[parent].deadline <= heap[child].deadline { break }
            heap.swapAt(parent, child)
            child = parent
        }
    }

    private mutating func siftDown(_ index: Int) {
        var parent = index
        let count = heap.count
        while true {
            let left = 2 * parent + 1
            if left >= count { return }
            var smallest = left
            let right = left + 1
            if right < count && heap[right].deadline < heap[left].deadline { smallest = right }
            if heap[parent].deadline <= heap[smallest].deadline { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
