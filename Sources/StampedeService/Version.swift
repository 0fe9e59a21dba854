/// Stampede's release identity. The version is written here and only here (semantic
/// versioning); `stampede --version`, the build-info metric (`MetricFamily.buildInfo`) and the test that checks
/// `CHANGELOG.md` has an entry for it all read it from this file.
public enum StampedeVersion {
    /// The semantic version of this source tree.
    public static let version = "1.0.0"

    /// `debug` or `release`: how the binary was compiled.
    public static var buildConfiguration: String {
        #if DEBUG
        return "debug"
        #else
        return "release"
        #endif
    }

    /// The Swift compiler's language version the binary was built with (major.minor).
    public static var swiftVersion: String {
        #if compiler(>=6.3)
        return "6.3"
        #elseif compiler(>=6.2)
        return "6.2"
        #elseif compiler(>=6.1)
        return "6.1"
        #else
        return "6.0"
        #endif
    }
}
