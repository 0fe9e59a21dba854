/// The Redis keys of one exclusive group. Every key carries the hash tag `{<group_id>~group}`: `~`
/// is not in an identifier's alphabet, so no sale's tag `{<sale_id>}` can equal it, and the
/// group's claims live in one slot (one primary) whatever primaries its sales live on.
public struct GroupKeys: Sendable, Equatable {
    /// Hash: `limit`, and the epoch of the claims: `run`, `gen`.
    public let group: String
    /// Hash: user id → units claimed across the group's sales (held, or being decided).
    public let claims: String
    /// Hash: order id → claim record `user|qty|sale|created_ms`, one per claim: releases are once
    /// per order, and the reconciler finds claims whose purchase never happened.
    public let entries: String
    /// Sorted set: order id → when it was claimed (ms), for claims the reconciler has not yet
    /// seen committed or released: its pass reads only those older than the grace, never every
    /// claim of the group.
    public let unconfirmed: String

    public init(groupID: String) {
        let tag = "{" + groupID + "~group}"
        group = tag + ":group"
        claims = tag + ":claims"
        entries = tag + ":entries"
        unconfirmed = tag + ":unconfirmed"
    }
}
