/// Identifies a scheduled timer so it can be cancelled or moved. A timer that fired or was cancelled is no
/// longer found: its slot's generation moved on.
struct TimerID: Hashable, Sendable {
    fileprivate let slot: Int32
    fileprivate let generation: UInt32
}

/// One-shot timers kept in user space: a binary min-heap of deadlines over a table of slots.
///
/// Each slot knows its entry's place in the heap, so cancelling or moving a timer is a removal or a sift in
/// place (O(log n), no hashing), and the heap only ever holds live timers: libcurl's timer, changed several
/// times per transfer, does not leave thousands of dead entries behind (it did with lazy deletion). Timers
/// with the same deadline fire in the order they were scheduled. The earliest deadline becomes the
/// `epoll_wait` timeout, so no timerfd and no syscall per timer.
struct TimerHeap {
    private struct Entry {
        var deadline: UInt64
        /// Scheduling order, for ties.
        var sequence: UInt64
        var slot: Int32
    }
    private struct Slot {
        var action: (() -> Void)?
        var generation: UInt32 = 0
        /// The entry's index in `heap`; -1 while the slot is free.
        var position = -1
    }
    private var heap: [Entry] = []
    private var slots: [Slot] = []
    private var freeSlots: [Int32] = []
    private var nextSequence: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }

    mutating func schedule(at deadline: UInt64, _ action: @escaping () -> Void) -> TimerID {
        let slot: Int32
        if let free = freeSlots.popLast() {
            slot = free
        } else {
            slot = Int32(slots.count)
            slots.append(Slot())
        }
        slots[Int(slot)].action = action
        slots[Int(slot)].position = heap.count
        heap.append(Entry(deadline: deadline, sequence: nextSequence, slot: slot))
        nextSequence &+= 1
        siftUp(heap.count - 1)
        return TimerID(slot: slot, generation: slots[Int(slot)].generation)
    }

    /// Removes `timer`; nothing happens if it already fired or was cancelled.
    mutating func cancel(_ timer: TimerID) {
        guard let position = position(of: timer) else { return }
        remove(at: position)
        release(timer.slot)
    }

    /// Moves `timer` to `deadline`, keeping its action; false if it already fired or was cancelled.
    mutating func reschedule(_ timer: TimerID, at deadline: UInt64) -> Bool {
        guard let position = position(of: timer) else { return false }
        heap[position].deadline = deadline
        heap[position].sequence = nextSequence
        nextSequence &+= 1
        siftUp(position)
        siftDown(slots[Int(timer.slot)].position)
        return true
    }

    /// The earliest deadline, if any.
    func earliestDeadline() -> UInt64? {
        heap.first?.deadline
    }

    /// Removes and returns the action of the earliest timer due at or before `now`.
    mutating func popExpired(now: UInt64) -> (() -> Void)? {
        guard let top = heap.first, top.deadline <= now else { return nil }
        remove(at: 0)
        let action = slots[Int(top.slot)].action
        release(top.slot)
        return action
    }

    private func position(of timer: TimerID) -> Int? {
        let index = Int(timer.slot)
        guard index < slots.count, slots[index].generation == timer.generation, slots[index].position >= 0 else {
            return nil
        }
        return slots[index].position
    }

    private mutating func release(_ slot: Int32) {
        slots[Int(slot)].action = nil
        slots[Int(slot)].position = -1
        slots[Int(slot)].generation &+= 1
        freeSlots.append(slot)
    }

    private mutating func remove(at position: Int) {
        let last = heap.removeLast()
        guard position < heap.count else { return }
        heap[position] = last
        slots[Int(last.slot)].position = position
        siftUp(position)
        siftDown(slots[Int(last.slot)].position)
    }

    private func earlier(_ a: Int, _ b: Int) -> Bool {
        heap[a].deadline < heap[b].deadline
            || (heap[a].deadline == heap[b].deadline && heap[a].sequence < heap[b].sequence)
    }

    private mutating func swapEntries(_ a: Int, _ b: Int) {
        heap.swapAt(a, b)
        slots[Int(heap[a].slot)].position = a
        slots[Int(heap[b].slot)].position = b
    }

    private mutating func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            if !earlier(child, parent) { break }
            swapEntries(parent, child)
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
            if right < count && earlier(right, left) { smallest = right }
            if !earlier(smallest, parent) { return }
            swapEntries(parent, smallest)
            parent = smallest
        }
    }
}
