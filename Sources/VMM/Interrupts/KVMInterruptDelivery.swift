import KVM
import Synchronization

/// Where interrupts leave Hyve's models for KVM's in-kernel local APICs (split irqchip): MSIs go
/// in with `KVM_SIGNAL_MSI`, and each I/O APIC pin's current message is mirrored into KVM's GSI
/// routes, because KVM reports the EOI of a level-triggered vector (`KVM_EXIT_IOAPIC_EOI`) only
/// for vectors it finds in those routes.
final class KVMInterruptDelivery: InterruptDelivery {
    private let kvm: KVMVM
    private let routes = Mutex<[MSIRoute?]>(Array(repeating: nil, count: IOAPIC.pinCount))

    init(kvm: KVMVM) {
        self.kvm = kvm
    }

    func deliver(_ message: MSIMessage) {
        sendMSI(address: message.address, data: message.data)
    }

    func sendMSI(address: UInt64, data: UInt32) {
        _ = try? kvm.signalMSI(address: address, data: data)
    }

    /// A physical-destination MSI to the vCPU's APIC ID, which is its vCPU id.
    func interrupt(vcpu: Int, vector: UInt8, levelTriggered: Bool) {
        guard vcpu >= 0 && vcpu <= 0xFF else { return }
        deliver(MSIMessage(vector: vector, levelTriggered: levelTriggered, destination: UInt8(vcpu)))
    }

    func routeChanged(pin: Int, message: MSIMessage?) {
        routes.withLock { routes in
            let route = message.map { MSIRoute(gsi: UInt32(pin), address: $0.address, data: $0.data) }
            guard routes[pin] != route else { return }
            routes[pin] = route
            // KVM keeps the previous table if it refuses this one; the pin then still delivers,
            // only its EOIs may go unreported, which the next accepted update repairs.
            try? kvm.setGSIRouting(routes.compactMap { $0 })
        }
    }
}
