import Glibc

/// The signal that knocks a vCPU thread out of `KVM_RUN`. Its handler does nothing: the point is
/// the EINTR, and `immediate_exit` covers a signal that lands just before the ioctl.
enum KickSignal {
    static let number = SIGUSR1

    private static let installed: Bool = {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        // No SA_RESTART: KVM_RUN must return rather than be restarted.
        action.sa_flags = 0
        return sigaction(number, &action, nil) == 0
    }()

    /// Installs the handler once per process.
    static func install() -> Bool { installed }

    /// Lets the calling thread receive the kick. Threads inherit their creator's signal mask, and
    /// a creator such as a libdispatch worker blocks nearly every signal.
    static func unblockOnCurrentThread() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, number)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}
