import CKVM
import Glibc
import VMM

/// SIGTERM presses the machine's power button, as in bhyve: the signal is taken through a
/// signalfd on the event loop instead of interrupting whichever thread it lands on.
enum PowerButton {
    /// Blocks SIGTERM on the calling thread (threads it starts inherit the mask) and presses
    /// `press` on the event loop whenever one arrives.
    static func wire(to loop: EventLoop, press: @escaping @Sendable () -> Void) throws {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let fd = signalfd(-1, &set, Int32(SFD_CLOEXEC | SFD_NONBLOCK))
        guard fd >= 0 else { throw SystemError("signalfd", errno) }
        try loop.register(fd) {
            var info = signalfd_siginfo()
            guard read(fd, &info, MemoryLayout<signalfd_siginfo>.size) > 0 else { return }
            press()
        }
    }
}
