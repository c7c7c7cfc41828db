import Glibc
import KVM
import Testing
import TestSupport
import VMM

private func exception(_ vector: UInt8, errorCode: UInt32? = nil) -> InterruptionInfo {
    InterruptionInfo(type: .hardwareException, vector: vector, errorCode: errorCode)!
}

private func externalInterrupt(_ vector: UInt8) -> InterruptionInfo {
    InterruptionInfo(type: .externalInterrupt, vector: vector)!
}

private let contributoryVectors: Set<UInt8> = [0, 10, 11, 12, 13]
private let pageFaultVectors: Set<UInt8> = [14, 20]

extension PendingEvents {
    /// Entry with nothing blocking and a PIC that must not be acknowledged.
    fileprivate mutating func entry(interruptFlag: Bool = true, interruptShadow: Bool = false,
                                    nmiBlocked: Bool = false, extINTVector: UInt8? = nil) -> EntryDecision {
        eventForEntry(interruptFlag: interruptFlag, interruptShadow: interruptShadow, nmiBlocked: nmiBlocked) {
            extINTVector
        }
    }
}

@Suite struct EventInjectionEncodingTests {
    @Test func fieldsLandInBhyveBitPositions() {
        #expect(exception(14, errorCode: 0x2).raw == 0x0000_0002_8000_0B0E)
        #expect(InterruptionInfo.nmi.raw == 0x8000_0202)
        #expect(externalInterrupt(0x30).raw == 0x8000_0030)
        #expect(InterruptionInfo(type: .softwareInterrupt, vector: 0x80)!.raw == 0x8000_0480)
        #expect(InterruptionInfo(type: .privilegedSoftwareException, vector: 1)!.raw == 0x8000_0501)
        #expect(InterruptionInfo(type: .softwareException, vector: 3)!.raw == 0x8000_0603)
        #expect(InterruptionInfo.doubleFault.raw == 0x8000_0B08)
        #expect(InterruptionInfo.none.raw == 0)
    }

    @Test func everyTypeRoundTripsThroughTheRawWord() {
        let cases: [(InterruptionInfo.EventType, UInt8, UInt32?)] = [
            (.externalInterrupt, 0xFF, nil), (.nmi, 2, nil), (.hardwareException, 13, 0xFFFF_FFFF),
            (.hardwareException, 31, nil), (.softwareInterrupt, 0x21, nil),
            (.privilegedSoftwareException, 1, nil), (.softwareException, 4, nil),
        ]
        for (type, vector, errorCode) in cases {
            let info = InterruptionInfo(type: type, vector: vector, errorCode: errorCode)!
            let decoded = InterruptionInfo(raw: info.raw)
            #expect(decoded == info)
            #expect(decoded?.isValid == true)
            #expect(decoded?.type == type)
            #expect(decoded?.vector == vector)
            #expect(decoded?.errorCode == errorCode)
        }
    }

    @Test func errorCodeIsOnlyReportedWithTheDeliverBit() {
        let info = InterruptionInfo(raw: 0x1234_5678_8000_030D)!
        #expect(info.errorCode == nil)
        #expect(info.raw == 0x1234_5678_8000_030D)
        #expect(InterruptionInfo(raw: 0x0000_0000_8000_0B0D)?.errorCode == 0)
    }

    @Test func wordWithoutValidBitDecodesAsNone() {
        let info = InterruptionInfo(raw: 0xFFFF_FFFF_7FFF_FFFF)
        #expect(info == InterruptionInfo.none)
        #expect(info?.isValid == false)
        #expect(info?.type == nil)
        #expect(info?.errorCode == nil)
    }

    @Test func nmiTypeIsRefusedWithAnyVectorButTwo() {
        for vector in UInt64(0)...255 where vector != 2 {
            #expect(InterruptionInfo(raw: 0x8000_0200 | vector) == nil)
        }
        #expect(InterruptionInfo(type: .nmi, vector: 3) == nil)
    }

    @Test func hardwareExceptionVectorMustBeBelow32() {
        #expect(InterruptionInfo(raw: 0x8000_031F) != nil)
        #expect(InterruptionInfo(raw: 0x8000_0320) == nil)
        #expect(InterruptionInfo(raw: 0x8000_03FF) == nil)
        #expect(InterruptionInfo(type: .hardwareException, vector: 32) == nil)
    }

    @Test func otherTypesAcceptAnyVector() {
        #expect(InterruptionInfo(raw: 0x8000_00FF) != nil)
        #expect(InterruptionInfo(raw: 0x8000_04FF) != nil)
        #expect(InterruptionInfo(raw: 0x8000_06FF) != nil)
    }

    @Test func everyReservedBitIsRefused() {
        for bit in 12...30 {
            #expect(InterruptionInfo(raw: 0x8000_030E | 1 << UInt64(bit)) == nil, "bit \(bit)")
        }
    }

    @Test func reservedTypesOneAndSevenAreRefused() {
        #expect(InterruptionInfo(raw: 0x8000_0120) == nil)
        #expect(InterruptionInfo(raw: 0x8000_0700) == nil)
    }

    @Test func descriptionNamesTypeVectorAndErrorCode() {
        #expect(exception(14, errorCode: 0x2).description == "hardwareException vector 14, error code 0x2")
        #expect(InterruptionInfo.none.description == "none")
    }
}

@Suite struct EventInjectionClassTests {
    @Test func exceptionVectorsFollowSDMTable6_4() {
        for vector in UInt8(0)..<32 {
            let expected: ExceptionClass = contributoryVectors.contains(vector) ? .contributory
                : pageFaultVectors.contains(vector) ? .pageFault : .benign
            #expect(ExceptionClass(exceptionVector: vector) == expected, "vector \(vector)")
            #expect(exception(vector).exceptionClass == expected, "vector \(vector)")
        }
    }

    @Test func interruptsAndNMIAreBenignWhateverTheirVector() {
        #expect(externalInterrupt(14).exceptionClass == .benign)
        #expect(externalInterrupt(13).exceptionClass == .benign)
        #expect(InterruptionInfo(type: .softwareInterrupt, vector: 14)!.exceptionClass == .benign)
        #expect(InterruptionInfo.nmi.exceptionClass == .benign)
        #expect(InterruptionInfo.none.exceptionClass == .benign)
    }

    @Test func softwareExceptionTypesAreClassifiedByVector() {
        #expect(InterruptionInfo(type: .softwareException, vector: 13)!.exceptionClass == .contributory)
        #expect(InterruptionInfo(type: .privilegedSoftwareException, vector: 14)!.exceptionClass == .pageFault)
        #expect(InterruptionInfo(type: .softwareException, vector: 3)!.exceptionClass == .benign)
    }
}

@Suite struct EventInjectionKVMTests {
    @Test func injectedExceptionBecomesHardwareExceptionWithErrorCode() {
        var events = VCPUEvents()
        events.exception = VCPUEvents.Exception(vector: 14, errorCode: 6, injected: true)
        #expect(InterruptionInfo(inFlight: events) == exception(14, errorCode: 6))
        events.exception = VCPUEvents.Exception(vector: 6, injected: true)
        #expect(InterruptionInfo(inFlight: events) == exception(6))
    }

    @Test func pendingKVMExceptionCountsAsInFlight() {
        var events = VCPUEvents()
        events.exception = VCPUEvents.Exception(vector: 13, errorCode: 0, injected: false)
        #expect(InterruptionInfo(inFlight: events) == exception(13, errorCode: 0))
    }

    @Test func injectedNMIAndInterruptAreReported() {
        var events = VCPUEvents()
        events.nmiInjected = true
        #expect(InterruptionInfo(inFlight: events) == .nmi)
        events = VCPUEvents()
        events.interrupt = 0x41
        #expect(InterruptionInfo(inFlight: events) == externalInterrupt(0x41))
    }

    @Test func nothingInFlightIsNone() {
        var events = VCPUEvents()
        events.nmiPending = true
        events.nmiMasked = true
        #expect(InterruptionInfo(inFlight: events) == .none)
    }

    @Test func exceptionOutranksNMIWhichOutranksInterrupt() {
        var events = VCPUEvents()
        events.interrupt = 0x41
        events.nmiInjected = true
        #expect(InterruptionInfo(inFlight: events) == .nmi)
        events.exception = VCPUEvents.Exception(vector: 0, injected: true)
        #expect(InterruptionInfo(inFlight: events) == exception(0))
    }

    @Test func applyingReplacesWhateverWasInFlight() {
        var events = VCPUEvents()
        events.interrupt = 0x41
        events.nmiInjected = true
        exception(13, errorCode: 0x18).apply(to: &events)
        #expect(events.exception == VCPUEvents.Exception(vector: 13, errorCode: 0x18, injected: true))
        #expect(events.interrupt == nil)
        #expect(!events.nmiInjected)

        externalInterrupt(0x30).apply(to: &events)
        #expect(events.exception == nil)
        #expect(events.interrupt == 0x30)
        #expect(!events.nmiInjected)
    }

    @Test func applyingNMIClearsNMIBlockingForDelivery() {
        var events = VCPUEvents()
        events.nmiMasked = true
        InterruptionInfo.nmi.apply(to: &events)
        #expect(events.nmiInjected)
        #expect(!events.nmiMasked)
        #expect(events.exception == nil && events.interrupt == nil)
    }

    @Test func exceptionOnVectorTwoIsDeliveredAsNMIBecauseKVMRefusesIt() {
        var events = VCPUEvents()
        events.nmiMasked = true
        exception(2).apply(to: &events)
        #expect(events.exception == nil)
        #expect(events.nmiInjected && !events.nmiMasked)
    }

    @Test func applyingNoneWithdrawsTheInFlightEventAndKeepsTheShadow() {
        var events = VCPUEvents()
        events.exception = VCPUEvents.Exception(vector: 14, errorCode: 2, injected: true)
        events.interruptShadow = 1
        InterruptionInfo.none.apply(to: &events)
        #expect(events.exception == nil && events.interrupt == nil && !events.nmiInjected)
        #expect(events.interruptShadow == 1)
        #expect(events.flags == 0)
    }

    @Test func softwareEventsAreLeftForReExecution() {
        let softwareEvents = [InterruptionInfo(type: .softwareInterrupt, vector: 0x80)!,
                              InterruptionInfo(type: .softwareException, vector: 3)!,
                              InterruptionInfo(type: .privilegedSoftwareException, vector: 1)!]
        for info in softwareEvents {
            var events = VCPUEvents()
            events.interrupt = 0x41
            events.interruptShadow = 2
            info.apply(to: &events)
            #expect(events.exception == nil && events.interrupt == nil && !events.nmiInjected)
            #expect(events.interruptShadow == 2)
        }
    }

    @Test func injectedEventClearsTheInterruptShadowAndMarksItValid() {
        for info in [exception(6), InterruptionInfo.nmi, externalInterrupt(0x20)] {
            var events = VCPUEvents()
            events.interruptShadow = 1
            events.flags = 0x1
            info.apply(to: &events)
            #expect(events.interruptShadow == 0)
            #expect(events.flags == 0x1 | 0x4)
        }
    }

    @Test func deliverableEventsRoundTripThroughKVM() {
        for info in [exception(14, errorCode: 0xFFFF_0001), exception(8, errorCode: 0), exception(1),
                     InterruptionInfo.nmi, externalInterrupt(0), externalInterrupt(0xFF)] {
            var events = VCPUEvents()
            info.apply(to: &events)
            #expect(InterruptionInfo(inFlight: events) == info)
        }
    }
}

@Suite struct EventInjectionQueueTests {
    @Test func queuedExceptionIsReportedAsInfo2() throws {
        var pending = PendingEvents()
        try pending.injectException(vector: 13, errorCode: 0x10, restartInstruction: true, protectedMode: true)
        let queued = try #require(pending.pendingException)
        #expect(queued.vector == 13 && queued.errorCode == 0x10 && queued.restartInstruction)
        #expect(pending.pendingExceptionInfo == exception(13, errorCode: 0x10))
        #expect(pending.pendingExceptionInfo.raw == 0x0000_0010_8000_0B0D)
    }

    @Test func restartFlagIsKeptAsGiven() throws {
        var pending = PendingEvents()
        try pending.injectException(vector: 6, restartInstruction: false, protectedMode: true)
        #expect(pending.pendingException?.restartInstruction == false)
    }

    @Test func injectingWhileAnExceptionIsPendingIsRefusedWithEBUSY() throws {
        var pending = PendingEvents()
        try pending.injectException(vector: 14, errorCode: 2, restartInstruction: true, protectedMode: true)
        #expect(throws: EventInjectionError.exceptionPending(vector: 14)) {
            try pending.injectException(vector: 13, errorCode: 0, restartInstruction: true, protectedMode: true)
        }
        #expect(EventInjectionError.exceptionPending(vector: 14).errno == EBUSY)
        #expect(pending.pendingExceptionInfo == exception(14, errorCode: 2))
    }

    @Test func entryConsumesTheExceptionSoAnotherCanBeQueued() throws {
        var pending = PendingEvents()
        try pending.injectException(vector: 6, restartInstruction: true, protectedMode: true)
        #expect(pending.entry() == .inject(exception(6)))
        #expect(pending.pendingException == nil)
        try pending.injectException(vector: 13, errorCode: 0, restartInstruction: true, protectedMode: true)
        #expect(pending.entry() == .inject(exception(13, errorCode: 0)))
        #expect(pending.entry() == .none)
    }

    @Test func doubleFaultCannotBeInjectedDirectly() {
        var pending = PendingEvents()
        #expect(throws: EventInjectionError.doubleFault) {
            try pending.injectException(vector: 8, errorCode: 0, restartInstruction: true, protectedMode: true)
        }
        #expect(EventInjectionError.doubleFault.errno == EINVAL)
        #expect(pending == PendingEvents())
    }

    @Test func vectorsOutsideZeroToThirtyOneAreRefused() throws {
        var pending = PendingEvents()
        for vector in [32, 255, 256, -1] {
            #expect(throws: EventInjectionError.vectorOutOfRange(vector)) {
                try pending.injectException(vector: vector, restartInstruction: true, protectedMode: true)
            }
        }
        #expect(EventInjectionError.vectorOutOfRange(32).errno == EINVAL)
        try pending.injectException(vector: 31, restartInstruction: true, protectedMode: true)
        #expect(pending.pendingException?.vector == 31)
    }

    @Test func vectorChecksComeBeforeTheBusyCheck() throws {
        var pending = PendingEvents()
        try pending.injectException(vector: 6, restartInstruction: true, protectedMode: true)
        #expect(throws: EventInjectionError.doubleFault) {
            try pending.injectException(vector: 8, restartInstruction: true, protectedMode: true)
        }
        #expect(throws: EventInjectionError.vectorOutOfRange(40)) {
            try pending.injectException(vector: 40, restartInstruction: true, protectedMode: true)
        }
    }

    @Test func realModeDropsTheErrorCode() throws {
        var pending = PendingEvents()
        try pending.injectException(vector: 13, errorCode: 0x8, restartInstruction: true, protectedMode: false)
        #expect(pending.pendingException?.errorCode == nil)
        #expect(pending.pendingExceptionInfo == exception(13))
        #expect(pending.entry() == .inject(exception(13)))
    }

    @Test func setExitInfoValidatesLikeVMSetIntinfo() throws {
        var pending = PendingEvents()
        try pending.setExitInfo(raw: 0x0000_0004_8000_0B0E)
        #expect(pending.exitInfo == exception(14, errorCode: 4))
        for bad: UInt64 in [0x8000_0203, 0x8000_0320, 0x8000_130E, 0x8000_0700] {
            #expect(throws: EventInjectionError.invalidInterruptionInfo(bad)) { try pending.setExitInfo(raw: bad) }
        }
        #expect(EventInjectionError.invalidInterruptionInfo(0x8000_0203).errno == EINVAL)
        #expect(pending.exitInfo == exception(14, errorCode: 4))
        try pending.setExitInfo(raw: 0x0000_0000_0000_0B0E)
        #expect(pending.exitInfo == .none)
    }

    @Test func resetForgetsEverything() throws {
        var pending = PendingEvents()
        pending.exitInfo = externalInterrupt(0x30)
        try pending.injectException(vector: 6, restartInstruction: true, protectedMode: true)
        pending.nmiPending = true
        pending.extINTPending = true
        pending.reset()
        #expect(pending == PendingEvents())
        #expect(pending.entry(extINTVector: 0x20) == .none)
    }
}

@Suite struct EventInjectionNestedFaultTests {
    /// Exit event `first`, then emulation raising `second` while the guest tried to deliver it.
    private func merge(_ first: InterruptionInfo, _ second: UInt8, errorCode: UInt32? = nil) throws
        -> PendingEvents.EntryDecision {
        var pending = PendingEvents()
        pending.exitInfo = first
        try pending.injectException(vector: Int(second), errorCode: errorCode, restartInstruction: true,
                                    protectedMode: true)
        let decision = pending.entry()
        #expect(pending.exitInfo == .none && pending.pendingException == nil)
        return decision
    }

    @Test func fullClassMatrixFollowsSDMTable6_5() throws {
        for first in UInt8(0)..<32 where first != 8 {
            for second in UInt8(0)..<32 where second != 8 {
                let firstClass: ExceptionClass = contributoryVectors.contains(first) ? .contributory
                    : pageFaultVectors.contains(first) ? .pageFault : .benign
                let secondClass: ExceptionClass = contributoryVectors.contains(second) ? .contributory
                    : pageFaultVectors.contains(second) ? .pageFault : .benign
                let doubleFault = (firstClass == .contributory && secondClass == .contributory)
                    || (firstClass == .pageFault && secondClass != .benign)
                let expected: PendingEvents.EntryDecision = doubleFault ? .inject(.doubleFault)
                    : .inject(exception(second, errorCode: 0x5A))
                #expect(try merge(exception(first, errorCode: 0x11), second, errorCode: 0x5A) == expected,
                        "\(first) then \(second)")
            }
        }
    }

    /// Each kind of event being delivered (the classes, #DF, and the benign interrupt types) meets
    /// an exception of each class.
    @Test func everyPairOfClassesFollowsTheSDMAndBhyve() throws {
        enum Outcome { case second, doubleFault, tripleFault }
        let raised: [(vector: UInt8, errorCode: UInt32?)] = [(6, nil), (13, 0x10), (14, 0x2)]
        let table: [(String, InterruptionInfo, [Outcome])] = [
            ("benign exception", exception(6), [.second, .second, .second]),
            ("contributory", exception(13, errorCode: 0), [.second, .doubleFault, .second]),
            ("page fault", exception(14, errorCode: 2), [.second, .doubleFault, .doubleFault]),
            ("double fault", .doubleFault, [.tripleFault, .tripleFault, .tripleFault]),
            ("external interrupt", externalInterrupt(0x30), [.second, .second, .second]),
            ("NMI", .nmi, [.second, .second, .second]),
            ("software interrupt", InterruptionInfo(type: .softwareInterrupt, vector: 0x80)!, [.second, .second, .second]),
        ]
        for (name, first, outcomes) in table {
            for ((vector, errorCode), outcome) in zip(raised, outcomes) {
                let expected: PendingEvents.EntryDecision = switch outcome {
                case .second: .inject(exception(vector, errorCode: errorCode))
                case .doubleFault: .inject(.doubleFault)
                case .tripleFault: .tripleFault
                }
                #expect(try merge(first, vector, errorCode: errorCode) == expected, "\(name) then vector \(vector)")
            }
        }
    }

    @Test func contributoryAfterContributoryIsDoubleFaultWithErrorCodeZero() throws {
        let decision = try merge(exception(13, errorCode: 0x33), 11, errorCode: 0x44)
        #expect(decision == .inject(.doubleFault))
        guard case .inject(let info) = decision else { return }
        #expect(info.type == .hardwareException && info.vector == 8 && info.errorCode == 0)
    }

    @Test func pageFaultAfterPageFaultIsDoubleFault() throws {
        #expect(try merge(exception(14, errorCode: 2), 14, errorCode: 0) == .inject(.doubleFault))
        #expect(try merge(exception(20), 14, errorCode: 0) == .inject(.doubleFault))
    }

    @Test func contributoryAfterPageFaultIsDoubleFault() throws {
        #expect(try merge(exception(14, errorCode: 2), 13, errorCode: 0) == .inject(.doubleFault))
    }

    @Test func pageFaultAfterContributoryIsDeliveredSerially() throws {
        #expect(try merge(exception(13, errorCode: 0), 14, errorCode: 2) == .inject(exception(14, errorCode: 2)))
    }

    @Test func benignOnEitherSideIsDeliveredSerially() throws {
        #expect(try merge(exception(6), 13, errorCode: 0) == .inject(exception(13, errorCode: 0)))
        #expect(try merge(exception(14, errorCode: 2), 6) == .inject(exception(6)))
        #expect(try merge(exception(13, errorCode: 0), 1) == .inject(exception(1)))
    }

    @Test func interruptedInterruptOrNMIYieldsToTheException() throws {
        #expect(try merge(externalInterrupt(13), 13, errorCode: 0) == .inject(exception(13, errorCode: 0)))
        #expect(try merge(.nmi, 14, errorCode: 0) == .inject(exception(14, errorCode: 0)))
        #expect(try merge(InterruptionInfo(type: .softwareInterrupt, vector: 14)!, 14, errorCode: 0)
            == .inject(exception(14, errorCode: 0)))
    }

    @Test func faultDuringDoubleFaultDeliveryIsTripleFault() throws {
        for second in UInt8(0)..<32 where second != 8 {
            #expect(try merge(.doubleFault, second) == .tripleFault, "then \(second)")
        }
    }

    @Test func tripleFaultLeavesNMIAndExtINTPendingButInjectsNothing() throws {
        var pending = PendingEvents()
        pending.exitInfo = .doubleFault
        try pending.injectException(vector: 6, restartInstruction: true, protectedMode: true)
        pending.nmiPending = true
        pending.extINTPending = true
        #expect(pending.entry(extINTVector: 0x20) == .tripleFault)
        #expect(pending.nmiPending && pending.extINTPending)
    }

    @Test func doubleFaultAsSoftwareTypeIsNotTreatedAsDoubleFault() throws {
        let softwareVector8 = InterruptionInfo(type: .softwareInterrupt, vector: 8)!
        #expect(try merge(softwareVector8, 13, errorCode: 0) == .inject(exception(13, errorCode: 0)))
    }

    @Test func loneExitEventIsReinjectedEvenWithInterruptsBlocked() {
        var pending = PendingEvents()
        pending.exitInfo = externalInterrupt(0x30)
        #expect(pending.entry(interruptFlag: false, interruptShadow: true, nmiBlocked: true) == .inject(externalInterrupt(0x30)))
        #expect(pending.exitInfo == .none)
        #expect(pending.entry() == .none)
    }
}

@Suite struct EventInjectionOrderTests {
    @Test func exceptionThenNMIThenInterrupt() throws {
        var pending = PendingEvents()
        try pending.injectException(vector: 6, restartInstruction: true, protectedMode: true)
        pending.nmiPending = true
        pending.extINTPending = true
        #expect(pending.entry(extINTVector: 0x21) == .inject(exception(6)))
        #expect(pending.nmiPending && pending.extINTPending)
        #expect(pending.entry(extINTVector: 0x21) == .inject(.nmi))
        #expect(!pending.nmiPending && pending.extINTPending)
        #expect(pending.entry(extINTVector: 0x21) == .inject(externalInterrupt(0x21)))
        #expect(!pending.extINTPending)
        #expect(pending.entry(extINTVector: 0x21) == .none)
    }

    @Test func exitEventGoesBeforeAPendingNMI() {
        var pending = PendingEvents()
        pending.exitInfo = externalInterrupt(0x30)
        pending.nmiPending = true
        #expect(pending.entry() == .inject(externalInterrupt(0x30)))
        #expect(pending.entry() == .inject(.nmi))
    }

    @Test func interruptWaitsWhileIFIsClear() {
        var pending = PendingEvents()
        pending.extINTPending = true
        var acknowledged = 0
        let decision = pending.eventForEntry(interruptFlag: false, interruptShadow: false, nmiBlocked: false) {
            acknowledged += 1
            return 0x20
        }
        #expect(decision == .none)
        #expect(acknowledged == 0)
        #expect(pending.extINTPending)
        #expect(pending.entry(extINTVector: 0x20) == .inject(externalInterrupt(0x20)))
    }

    @Test func interruptWaitsOutTheInterruptShadow() {
        var pending = PendingEvents()
        pending.extINTPending = true
        var acknowledged = 0
        let decision = pending.eventForEntry(interruptFlag: true, interruptShadow: true, nmiBlocked: false) {
            acknowledged += 1
            return 0x20
        }
        #expect(decision == .none)
        #expect(acknowledged == 0)
        #expect(pending.extINTPending)
    }

    @Test func nmiWaitsWhileNMIsAreMasked() {
        var pending = PendingEvents()
        pending.nmiPending = true
        #expect(pending.entry(nmiBlocked: true) == .none)
        #expect(pending.nmiPending)
        #expect(pending.entry() == .inject(.nmi))
    }

    @Test func maskedNMILetsAnInterruptThrough() {
        var pending = PendingEvents()
        pending.nmiPending = true
        pending.extINTPending = true
        #expect(pending.entry(nmiBlocked: true, extINTVector: 0x24) == .inject(externalInterrupt(0x24)))
        #expect(pending.nmiPending && !pending.extINTPending)
    }

    @Test func nmiWaitsOutTheInterruptShadowLikeBhyve() {
        var pending = PendingEvents()
        pending.nmiPending = true
        #expect(pending.entry(interruptShadow: true) == .none)
        #expect(pending.nmiPending)
    }

    @Test func nmiIgnoresIF() {
        var pending = PendingEvents()
        pending.nmiPending = true
        #expect(pending.entry(interruptFlag: false) == .inject(.nmi))
    }

    @Test func vanishedExtINTRequestInjectsNothing() {
        var pending = PendingEvents()
        pending.extINTPending = true
        #expect(pending.entry(extINTVector: nil) == .none)
        #expect(!pending.extINTPending)
    }
}

@Suite struct EventInjectionRandomTests {
    @Test func randomTrafficKeepsTheInjectionInvariants() {
        var random = SeededGenerator(seed: 0x1D7_1F0)
        var pending = PendingEvents()
        var injections = 0, refusals = 0, tripleFaults = 0, doubleFaults = 0
        for _ in 0..<100_000 {
            switch random.next() % 6 {
            case 0:
                let vector = Int.random(in: -2...40, using: &random)
                let hadException = pending.pendingException != nil
                do {
                    try pending.injectException(vector: vector, errorCode: Bool.random(using: &random) ? UInt32.random(in: 0...UInt32.max, using: &random) : nil,
                                                restartInstruction: Bool.random(using: &random),
                                                protectedMode: Bool.random(using: &random))
                    #expect(!hadException && (0..<32).contains(vector) && vector != 8)
                } catch {
                    refusals += 1
                    #expect(hadException || !(0..<32).contains(vector) || vector == 8)
                }
            case 1:
                let structured = random.next() & 0xFFFF_FFFF_8000_0F1F | 0x8000_0000
                let raw = Bool.random(using: &random) ? structured : random.next()
                let before = pending.exitInfo
                do {
                    try pending.setExitInfo(raw: raw)
                    #expect(InterruptionInfo(raw: raw) == pending.exitInfo)
                } catch {
                    #expect(InterruptionInfo(raw: raw) == nil)
                    #expect(pending.exitInfo == before)
                }
            case 2:
                pending.nmiPending = pending.nmiPending || Bool.random(using: &random)
                pending.extINTPending = pending.extINTPending || Bool.random(using: &random)
            default:
                let interruptFlag = Bool.random(using: &random)
                let shadow = Bool.random(using: &random)
                let nmiBlocked = Bool.random(using: &random)
                let before = pending
                var acknowledged = false
                let decision = pending.eventForEntry(interruptFlag: interruptFlag, interruptShadow: shadow,
                                                     nmiBlocked: nmiBlocked) {
                    acknowledged = true
                    return UInt8.random(in: 0...255, using: &random)
                }
                #expect(pending.exitInfo == .none && pending.pendingException == nil)
                let hadIntinfo = before.exitInfo.isValid || before.pendingException != nil
                switch decision {
                case .tripleFault:
                    tripleFaults += 1
                    #expect(before.exitInfo.type == .hardwareException && before.exitInfo.vector == 8)
                    #expect(before.pendingException != nil)
                case .inject(let info):
                    injections += 1
                    #expect(info.isValid)
                    #expect(InterruptionInfo(raw: info.raw) == info)
                    if info == .doubleFault {
                        doubleFaults += 1
                        #expect(before.exitInfo.isValid && before.pendingException != nil)
                    }
                    if !hadIntinfo && info == .nmi {
                        #expect(!nmiBlocked && !shadow && before.nmiPending && !pending.nmiPending)
                    }
                    if !hadIntinfo && info.type == .externalInterrupt {
                        #expect(interruptFlag && !shadow && acknowledged && !pending.extINTPending)
                    }
                case .none:
                    #expect(!hadIntinfo)
                    #expect(!before.nmiPending || nmiBlocked || shadow)
                }
                #expect(!acknowledged || (!hadIntinfo && interruptFlag && !shadow))
            }
        }
        #expect(injections > 1_000 && refusals > 1_000 && doubleFaults > 0 && tripleFaults > 0)
    }
}
