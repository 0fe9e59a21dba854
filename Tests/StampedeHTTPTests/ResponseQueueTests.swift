import Testing

@testable import StampedeHTTP

@Suite("ResponseQueue")
struct ResponseQueueTests {
    private let keepAlive = ResponseFraming(closesConnection: false, omitsBody: false, announcesKeepAlive: false)

    /// Answers given out of order are released only as a prefix, in request order.
    @Test func releasesAnswersInRequestOrder() {
        var queue = ResponseQueue()
        let first = queue.enqueue(keepAlive)
        let second = queue.enqueue(keepAlive)
        let third = queue.enqueue(keepAlive)
        #expect(queue.outstanding == 3)

        let thirdUnblocks = queue.complete(third, with: HTTPResponse(status: 203))
        let secondUnblocks = queue.complete(second, with: HTTPResponse(status: 202))
        #expect(!thirdUnblocks && !secondUnblocks)
        #expect(queue.popReady() == nil)

        let firstUnblocks = queue.complete(first, with: HTTPResponse(status: 201))
        #expect(firstUnblocks)
        #expect(queue.popReady()?.response.status == 201)
        #expect(queue.popReady()?.response.status == 202)
        #expect(queue.popReady()?.response.status == 203)
        #expect(queue.popReady() == nil)
        #expect(queue.outstanding == 0)
    }

    /// A second answer to the same request and answers for unknown sequence numbers are ignored.
    @Test func ignoresDuplicateAndUnknownAnswers() {
        var queue = ResponseQueue()
        let only = queue.enqueue(keepAlive)
        let accepted = queue.complete(only, with: HTTPResponse(status: 200))
        let duplicate = queue.complete(only, with: HTTPResponse(status: 500))
        let unknown = queue.complete(only + 7, with: HTTPResponse(status: 500))
        #expect(accepted && !duplicate && !unknown)
        #expect(queue.popReady()?.response.status == 200)
        let afterWrite = queue.complete(only, with: HTTPResponse(status: 500))
        #expect(!afterWrite)
        #expect(queue.popReady() == nil)
    }

    /// Sequence numbers keep increasing across many drained rounds, and slots stay bounded.
    @Test func sequencesSurviveManyRounds() {
        var queue = ResponseQueue()
        var held = queue.enqueue(keepAlive)
        for round in 0..<500 {
            let next = queue.enqueue(keepAlive)
            #expect(next == held + 1)
            _ = queue.complete(held, with: HTTPResponse(status: 200 + round % 100))
            #expect(queue.popReady()?.response.status == 200 + round % 100)
            held = next
        }
        #expect(queue.outstanding == 1)
    }

    /// A server-produced answer enqueued after pending requests waits for them.
    @Test func readyAnswerWaitsForEarlierSlots() {
        var queue = ResponseQueue()
        let pending = queue.enqueue(keepAlive)
        queue.enqueue(HTTPResponse(status: 400), framing: .closing)
        #expect(queue.popReady() == nil)
        _ = queue.complete(pending, with: HTTPResponse(status: 200))
        #expect(queue.popReady()?.response.status == 200)
        let last = queue.popReady()
        #expect(last?.response.status == 400)
        #expect(last?.framing.closesConnection == true)
    }
}
