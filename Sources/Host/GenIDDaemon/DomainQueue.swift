/// Runs work for one domain strictly one piece at a time, in arrival order,
/// while different domains proceed in parallel. An event, a reconciliation
/// and a control request for the same domain each look at the domain and
/// act on what they saw; interleaved at an `await`, the second would act on
/// a state the first was changing.
actor DomainQueue {
    private var tails: [String: (id: Int, task: Task<Void, Never>)] = [:]
    private var nextID = 0

    /// Runs `body` after everything queued earlier for `key` has finished.
    func run<T: Sendable>(_ key: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let previous = tails[key]?.task
        let work = Task {
            await previous?.value
            return try await body()
        }
        nextID += 1
        let id = nextID
        tails[key] = (id, Task {
            _ = await work.result
            self.finished(key, id: id)
        })
        return try await work.value
    }

    /// Forgets a domain's queue once its last piece of work is done, so an
    /// idle domain costs nothing.
    private func finished(_ key: String, id: Int) {
        if tails[key]?.id == id { tails[key] = nil }
    }

    /// How many domains have work queued or running (for tests).
    var busyDomains: Int { tails.count }
}
