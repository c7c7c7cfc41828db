import Dispatch
import Glibc
import KVM
import Synchronization
import Testing
import TestSupport
import VMM

extension ControlGuestTests {
    /// Work run on a vCPU's own thread while its guest spins, and events injected through the run
    /// loop's nested-exception merge, under real KVM.
    @Suite
    struct VCPURequestTests {
        /// Starts control-target and waits for its report.
        static func start(_ program: String = ControlTarget.program,
                          cpus: Int = 1) throws -> (GuestSession, ControlTarget, @Sendable () throws -> GuestRun) {
            let session = try GuestSession(program, cpus: cpus)
            let wait = session.runInBackground()
            #expect(session.waitForOutput("ready\n"))
            let target = try #require(ControlTarget(output: session.output), "output: \(session.output)")
            return (session, target, wait)
        }

        @Test(arguments: [ControlTarget.spinningProgram, ControlTarget.program])
        func requestRunsOnTheVCPUThreadWhileTheGuestSpinsOrHalts(program: String) throws {
            let (session, target, wait) = try Self.start(program)
            let vcpu = session.machine.vm.vcpus[0]
            let caller = pthread_self()
            let first = try vcpu.perform { _ in pthread_self() }
            let (thread, rip) = try vcpu.perform { vcpu in (pthread_self(), try vcpu.kvm.registers().rip) }
            #expect(pthread_equal(first, caller) == 0)
            #expect(pthread_equal(first, thread) != 0)
            #expect(target.loop.contains(rip), "RIP 0x\(String(rip, radix: 16))")
            #expect(session.machine.vm.suspendReason == nil)
            session.machine.vm.suspend(.powerOff)
            #expect(try wait().outcome.reason == .powerOff)
        }

        @Test func requestPostedFromTheVCPUThreadRunsAtOnceInsteadOfWaitingForItself() throws {
            let (session, _, wait) = try Self.start()
            let sameThread = try session.machine.vm.vcpus[0].perform { vcpu in
                let inner = try vcpu.perform(timeout: .milliseconds(100)) { _ in pthread_self() }
                return pthread_equal(inner, pthread_self()) != 0
            }
            #expect(sameThread)
            session.machine.vm.suspend(.powerOff)
            _ = try wait()
        }

        @Test func requestRunsOnTheCallersThreadWhenTheVMIsNotRunning() throws {
            let session = try GuestSession(ControlTarget.program)
            let vcpu = session.machine.vm.vcpus[0]
            let caller = pthread_self()
            #expect(pthread_equal(try vcpu.perform { _ in pthread_self() }, caller) != 0)
            try vcpu.perform { try $0.kvm.setRegisters(ResetState.registers) }
            #expect(try vcpu.perform { try $0.kvm.registers().rip } == ResetState.registers.rip)
        }

        @Test func concurrentRequestsAreServedOneAtATime() throws {
            let (session, _, wait) = try Self.start()
            let vcpu = session.machine.vm.vcpus[0]
            let failures = Mutex(0)
            DispatchQueue.concurrentPerform(iterations: 4) { _ in
                for _ in 0..<25 {
                    do {
                        // A read-modify-write of R13: two requests overlapping would lose an update.
                        try vcpu.perform { vcpu in
                            var registers = try vcpu.kvm.registers()
                            registers.r13 += 1
                            try vcpu.kvm.setRegisters(registers)
                        }
                    } catch {
                        failures.withLock { $0 += 1 }
                    }
                }
            }
            #expect(failures.withLock { $0 } == 0)
            #expect(try vcpu.perform { try $0.kvm.registers().r13 } == 100)
            #expect(vcpu.statistics["number of control requests served"]! >= 101)
            session.machine.vm.suspend(.powerOff)
            #expect(try wait().outcome.reason == .powerOff)
        }

        @Test func requestThatTheVCPUDoesNotReachInTimeIsWithdrawnAndNeverRuns() throws {
            let (session, _, wait) = try Self.start()
            let vcpu = session.machine.vm.vcpus[0]
            let blocker = DispatchSemaphore(value: 0)
            let blocking = DispatchSemaphore(value: 0)
            DispatchQueue.global().async {
                _ = try? vcpu.perform { _ in
                    blocking.signal()
                    blocker.wait()
                }
            }
            blocking.wait()
            let ran = Atomic<Bool>(false)
            #expect(throws: VCPURequestError.timedOut(vcpu: 0)) {
                try vcpu.perform(timeout: .milliseconds(100)) { _ in ran.store(true, ordering: .relaxed) }
            }
            blocker.signal()
            #expect(try vcpu.perform { _ in 7 } == 7)
            let didRun = ran.load(ordering: .relaxed)
            #expect(!didRun)
            session.machine.vm.suspend(.powerOff)
            #expect(try wait().outcome.reason == .powerOff)
        }

        @Test func exceptionInjectedOnTopOfAnInFlightPageFaultBecomesADoubleFault() throws {
            let (session, target, wait) = try Self.start()
            try session.machine.vm.vcpus[0].perform { vcpu in
                var events = try vcpu.kvm.events()
                events.exception = VCPUEvents.Exception(vector: 14, errorCode: 2, injected: true)
                try vcpu.kvm.setEvents(events)
                try vcpu.injectException(vector: 13, errorCode: 0, restartInstruction: true)
            }
            let run = try wait()
            let report = try #require(run.output.split(separator: "\n").last.map(String.init))
            #expect(report.hasPrefix("exception 0x08 error 0x0000000000000000 rip "), "output: \(run.output)")
            #expect(ControlTarget.hex(report.split(separator: " ").last!).map(target.loop.contains) == true)
            #expect(run.outcome.reason == .debugExit(0x01))
            #expect(run.vm.vcpus[0].statistics["number of exceptions injected"] == 1)
        }

        @Test func faultWhileDeliveringADoubleFaultIsATripleFaultThatSuspendsTheVM() throws {
            let (session, _, wait) = try Self.start()
            try session.machine.vm.vcpus[0].perform { vcpu in
                var events = try vcpu.kvm.events()
                events.exception = VCPUEvents.Exception(vector: 8, errorCode: 0, injected: true)
                try vcpu.kvm.setEvents(events)
                try vcpu.injectException(vector: 14, errorCode: 0, restartInstruction: true)
            }
            let run = try wait()
            #expect(run.outcome.reason == .tripleFault)
            #expect(run.outcome.exitStatus == 3)
            #expect(!run.output.contains("exception"))
            #expect(run.vm.vcpus[0].statistics["number of triple faults from nested exceptions"] == 1)
        }

        @Test func injectedExceptionIsPendingUntilTheNextEntryAndRealModeDropsItsErrorCode() throws {
            let session = try GuestSession(ControlTarget.program)
            let vcpu = session.machine.vm.vcpus[0]
            let (exit, pending) = try vcpu.perform { vcpu in
                try vcpu.injectException(vector: 13, errorCode: 0x18, restartInstruction: true)
                return try vcpu.interruptionInfo()
            }
            #expect(exit == .none)
            // The guest is not loaded yet, so the vCPU is in its real-mode reset state.
            #expect(pending.raw == 0x8000_030D)
            #expect(throws: EventInjectionError.exceptionPending(vector: 13)) {
                try vcpu.perform { try $0.injectException(vector: 6, errorCode: nil, restartInstruction: true) }
            }
        }

        @Test func statisticsCountExitsByReason() throws {
            let (session, _, wait) = try Self.start()
            let stats = session.machine.vm.vcpus[0].statistics
            let portIO = try #require(stats["number of times in/out was intercepted"])
            // Every byte the guest printed was one OUT to the debug console.
            #expect(portIO >= UInt64(session.output.utf8.count))
            #expect(stats["total number of vm exits"]! >= portIO + stats["vm exits due to a kick or signal"]!)
            session.machine.vm.suspend(.powerOff)
            _ = try wait()
        }
    }
}
