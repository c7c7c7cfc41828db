import Devices
import Glibc
import Synchronization

/// Process-wide signal dispositions for `hyve`: a closed console pipe must not kill the VMM, and
/// a signal that does end it must first give the user's terminal back its settings.
public enum ProcessSignals {
    /// Signals whose default action ends the process while the terminal may be in raw mode.
    static let terminating: [Int32] = [SIGHUP, SIGINT, SIGQUIT, SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL]

    public static func prepare() {
        signal(SIGPIPE, SIG_IGN)
        // A parent such as a libdispatch worker may hand down a mask that blocks these, which
        // would leave the process deaf to them.
        var set = sigset_t()
        sigemptyset(&set)
        for number in terminating { sigaddset(&set, number) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        for number in terminating {
            signal(number) { number in
                StdioBackend.restoreTerminal()
                if let path = UnsafePointer<CChar>(bitPattern: ProcessSignals.socketToRemove.load(ordering: .acquiring)) { unlink(path) }
                signal(number, SIG_DFL)
                raise(number)
            }
        }
    }

    /// Makes the terminating signals remove the control socket at `path` before the process
    /// ends, so that `hyvectl --list` does not have to skip it; unlink(2) is async-signal-safe.
    static func removeOnTermination(_ path: String) {
        let copy = UInt(bitPattern: strdup(path))
        free(UnsafeMutableRawPointer(bitPattern: socketToRemove.exchange(copy, ordering: .acquiringAndReleasing)))
    }

    /// The address of the C string naming the socket the signal handlers remove (0: none).
    private static let socketToRemove = Atomic<UInt>(0)
}
