/// An interrupt on its way to local APICs: an IPI from a local APIC's ICR, a message from the
/// I/O APIC or a device's MSI, or a vector Hyve posts itself (bhyve's `VM_LAPIC_IRQ`).
struct APICMessage: Sendable, Equatable {
    /// The ICR's destination shorthand (bits 18–19).
    enum Shorthand: UInt8, Sendable {
        case none = 0, selfOnly = 1, allIncludingSelf = 2, allExcludingSelf = 3
    }

    var vector: UInt8
    var deliveryMode: MSIMessage.DeliveryMode
    var levelTriggered: Bool
    /// The destination field: an APIC ID or a logical destination.
    var destination: UInt32
    var logical: Bool
    /// Whether `destination` is x2APIC's 32-bit format (an ICR written in x2APIC mode) rather
    /// than xAPIC's 8 bits (every I/O APIC and MSI message).
    var x2APICFormat: Bool
    var shorthand: Shorthand
    /// The sending vCPU, which the shorthands refer to.
    var source: Int?

    init(vector: UInt8, deliveryMode: MSIMessage.DeliveryMode = .fixed, levelTriggered: Bool = false,
                destination: UInt32, logical: Bool = false, x2APICFormat: Bool = false,
                shorthand: Shorthand = .none, source: Int? = nil) {
        self.vector = vector
        self.deliveryMode = deliveryMode
        self.levelTriggered = levelTriggered
        self.destination = destination
        self.logical = logical
        self.x2APICFormat = x2APICFormat
        self.shorthand = shorthand
        self.source = source
    }

    /// A message-signalled interrupt as the local APICs take it. Like KVM (and so like
    /// `--lapic kernel`), the destination mode is the address's DM bit alone; bhyve also wants
    /// the redirection hint for logical mode. nil for an address outside the APIC window.
    init?(_ message: MSIMessage) {
        guard message.isWellFormed else { return nil }
        self.init(vector: message.vector, deliveryMode: message.deliveryMode, levelTriggered: message.levelTriggered,
                  destination: UInt32(message.destination), logical: message.logicalDestination)
    }

    /// The broadcast destination of the message's format.
    var isBroadcast: Bool {
        destination == (x2APICFormat ? UInt32.max : 0xFF)
    }

    /// The vCPUs among `apics` that the message reaches (bhyve's `vlapic_calcdest` and the ICR's
    /// shorthands), in vCPU order. Lowest-priority delivery picks the first match, as bhyve does;
    /// a hardware-disabled local APIC takes no message.
    func targets(among apics: [APICAddressing]) -> [Int] {
        let enabled = apics.filter(\.enabled)
        switch shorthand {
        case .selfOnly: return enabled.filter { $0.vcpu == source }.map(\.vcpu)
        case .allIncludingSelf: return enabled.map(\.vcpu)
        case .allExcludingSelf: return enabled.filter { $0.vcpu != source }.map(\.vcpu)
        case .none: break
        }
        if isBroadcast {
            return deliveryMode == .lowestPriority ? Array(enabled.prefix(1).map(\.vcpu)) : enabled.map(\.vcpu)
        }
        let matches = enabled.filter { addresses($0) }.map(\.vcpu)
        return deliveryMode == .lowestPriority ? Array(matches.prefix(1)) : matches
    }

    /// Whether the destination field (not a broadcast) names `apic`: its ID in physical mode; in
    /// logical mode its LDR, read in the flat or cluster model its DFR selects.
    func addresses(_ apic: APICAddressing) -> Bool {
        guard logical else { return apic.id == destination }
        switch apic.model {
        case .flat:
            return destination & 0xFF & apic.ldr >> 24 != 0
        case .cluster:
            let (cluster, members) = x2APICFormat ? (destination >> 16, destination & 0xFFFF)
                                                  : ((destination >> 4) & 0xF, destination & 0xF)
            let (apicCluster, apicMembers) = apic.x2APIC ? (apic.ldr >> 16, apic.ldr & 0xFFFF)
                                                         : (apic.ldr >> 28, (apic.ldr >> 24) & 0xF)
            return cluster == apicCluster && members & apicMembers != 0
        case .invalid:
            return false
        }
    }
}

/// What destination matching needs to know of one local APIC.
struct APICAddressing: Sendable, Equatable {
    /// The DFR's model: flat or cluster; anything else matches no logical destination.
    enum Model: Sendable { case flat, cluster, invalid }

    var vcpu: Int
    /// The APIC ID (equal to the vCPU id in Hyve).
    var id: UInt32
    var ldr: UInt32
    var model: Model
    var x2APIC: Bool
    /// Globally enabled in IA32_APIC_BASE.
    var enabled: Bool
}
