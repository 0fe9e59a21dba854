/// The answers a connection owes, in request order.
///
/// Each dispatched request takes the next sequence number and a slot; answers fill slots in any
/// order, and only the ready prefix can be written, so pipelined responses leave in the order the
/// requests arrived even when a later handler answers first.
struct ResponseQueue {
    private struct Slot {
        let framing: ResponseFraming
        var response: HTTPResponse?
    }

    private var slots: [Slot] = []
    /// Index in `slots` of the oldest unwritten answer; slots before it are spent.
    private var head = 0
    /// The sequence number of `slots[head]`.
    private var headSequence: UInt64 = 0

    /// Requests dispatched whose answers have not been taken for writing.
    var outstanding: Int { slots.count - head }

    /// Adds a slot for a dispatched request; returns the sequence number its answer must carry.
    mutating func enqueue(_ framing: ResponseFraming) -> UInt64 {
        slots.append(Slot(framing: framing, response: nil))
        return headSequence + UInt64(outstanding - 1)
    }

    /// Adds a slot that is already answered (server-produced errors).
    mutating func enqueue(_ response: HTTPResponse, framing: ResponseFraming) {
        slots.append(Slot(framing: framing, response: response))
    }

    /// Fills the slot `sequence`; returns whether the oldest answer is now ready to write.
    /// Unknown sequence numbers and second answers are ignored.
    mutating func complete(_ sequence: UInt64, with response: HTTPResponse) -> Bool {
        guard sequence >= headSequence else { return false }
        let index = head + Int(sequence - headSequence)
        guard index < slots.count, slots[index].response == nil else { return false }
        slots[index].response = response
        return index == head
    }

    /// Takes the oldest answer if it is ready, with the framing its request asked for.
    mutating func popReady() -> (response: HTTPResponse, framing: ResponseFraming)? {
        guard head < slots.count, let response = slots[head].response else { return nil }
        let framing = slots[head].framing
        head += 1
        headSequence += 1
        if head == slots.count {
            slots.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64 {
            slots.removeFirst(head)
            head = 0
        }
        return (response, framing)
    }
}
