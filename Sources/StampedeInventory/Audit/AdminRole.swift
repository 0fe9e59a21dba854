/// What an admin credential may do: `admin` everything under `/admin`, `viewer` only read.
public enum AdminRole: String, Sendable, Equatable, CaseIterable {
    case admin
    case viewer
}
