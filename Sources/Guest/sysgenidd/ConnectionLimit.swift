/// How many provider connections each uid holds, and the cap: the socket
/// is world-connectable, so without one a single local user could take
/// every descriptor the provider has. Root is not counted: it can stop the
/// provider anyway, and the hooks and root's services must never be refused.
struct ConnectionLimit {
    let perUID: Int
    private var counts: [UInt32: Int] = [:]
    /// uids already logged as refused, until they drop below the cap again
    /// (one line per episode, not one per attempt, in the journal).
    private var reported: Set<UInt32> = []

    init(perUID: Int) { self.perUID = perUID }

    /// Counts one more connection of `uid`; false (nothing counted) at the cap.
    mutating func admit(_ uid: UInt32) -> Bool {
        if uid == 0 { return true }
        let count = counts[uid, default: 0]
        guard count < perUID else { return false }
        counts[uid] = count + 1
        return true
    }

    mutating func release(_ uid: UInt32) {
        guard uid != 0, let count = counts[uid] else { return }
        counts[uid] = count > 1 ? count - 1 : nil
        reported.remove(uid)
    }

    /// True the first time `uid` is refused in an episode: log it then.
    mutating func shouldReport(_ uid: UInt32) -> Bool { reported.insert(uid).inserted }
}
