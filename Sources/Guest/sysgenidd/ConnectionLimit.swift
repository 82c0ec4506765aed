/// How many provider connections each uid holds, and the caps: the socket
/// is world-connectable, so without them local users could take every
/// descriptor the provider has, and with it the /proc reads that decide
/// root's TRIGGER. One uid holds at most `perUID`; all uids other than root
/// together at most `total` (a user with subordinate uid ranges connects
/// from thousands of uids). Root is not counted: it can stop the provider
/// anyway, and the hooks and root's services must never be refused; the
/// descriptors above `total` are its reserve.
struct ConnectionLimit {
    enum Refusal: Equatable { case perUID, total }

    let perUID: Int
    let total: Int
    private var counts: [UInt32: Int] = [:]
    private var counted = 0
    /// uids already logged as refused, until they drop below the cap again
    /// (one line per episode, not one per attempt, in the journal); the
    /// same for the total.
    private var reported: Set<UInt32> = []
    private var reportedTotal = false

    init(perUID: Int, total: Int) {
        self.perUID = perUID
        self.total = total
    }

    /// Counts one more connection of `uid`; the cap it hit (nothing counted) otherwise.
    mutating func admit(_ uid: UInt32) -> Refusal? {
        if uid == 0 { return nil }
        let count = counts[uid, default: 0]
        guard count < perUID else { return .perUID }
        guard counted < total else { return .total }
        counts[uid] = count + 1
        counted += 1
        return nil
    }

    mutating func release(_ uid: UInt32) {
        guard uid != 0, let count = counts[uid] else { return }
        counts[uid] = count > 1 ? count - 1 : nil
        counted -= 1
        reported.remove(uid)
        reportedTotal = false
    }

    /// True the first time `uid` is refused in an episode: log it then.
    mutating func shouldReport(_ uid: UInt32, _ refusal: Refusal) -> Bool {
        switch refusal {
        case .perUID: return reported.insert(uid).inserted
        case .total:
            defer { reportedTotal = true }
            return !reportedTotal
        }
    }

    /// The total cap that leaves root `reserve` descriptors below a
    /// descriptor limit of `descriptors`, and at least half of them.
    static func total(configured: Int, descriptors: Int, reserve: Int = 512) -> Int {
        max(1, min(configured, max(descriptors / 2, descriptors - reserve)))
    }
}
