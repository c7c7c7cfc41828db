import Devices
import Glibc

/// Process-wide signal dispositions for `hyve`: a closed console pipe must not kill the VMM, and
/// a signal that does end it must first give the user's terminal back its settings.
public enum ProcessSignals {
    /// Signals whose default action ends the process while the terminal may be in raw mode.
    static let terminating: [Int32] = [SIGHUP, SIGINT, SIGQUIT, SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL]

    public static func prepare() {
        signal(SIGPIPE, SIG_IGN)
        for number in terminating {
            signal(number) { number in
                StdioBackend.restoreTerminal()
                signal(number, SIG_DFL)
                raise(number)
            }
        }
    }
}
