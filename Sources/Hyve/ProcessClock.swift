import Glibc

/// Wall and CPU time since `hyve` started, for the boot timer's reports.
public enum ProcessClock {
    // Written once by `main` before any other thread exists.
    private nonisolated(unsafe) static var start = timespec()

    /// Records the start; call first thing in `main`.
    public static func markStart() {
        clock_gettime(CLOCK_MONOTONIC, &start)
    }

    /// Milliseconds of wall time since ``markStart()``.
    public static var wallMilliseconds: Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return milliseconds(now) - milliseconds(start)
    }

    /// Milliseconds of CPU time the process has used, on every thread, since exec.
    public static var cpuMilliseconds: Double {
        var now = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
        return milliseconds(now)
    }

    /// The boot timer's report for `code`.
    public static func markerLine(code: UInt8) -> String {
        let hex = String(code, radix: 16)
        return "boot marker 0x\(hex.count < 2 ? "0" + hex : hex): \(format(wallMilliseconds)) ms wall, \(format(cpuMilliseconds)) ms CPU since start"
    }

    private static func milliseconds(_ time: timespec) -> Double {
        Double(time.tv_sec) * 1000 + Double(time.tv_nsec) / 1_000_000
    }

    private static func format(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
