import VMM

/// A function's MSI capability (PCI Local Bus 3.0, 6.8.1): 64-bit message address and per-vector
/// masking, which bhyve's 14-byte capability lacks. The registers live in the configuration space;
/// this records where, and delivers messages by them.
///
/// A vector raised while masked sets its pending bit and is sent when the guest unmasks it.
/// Nothing is sent, or held pending, while MSI is disabled.
struct MSICapability: Sendable {
    static let id: UInt8 = 0x05
    static let length = 24

    static let controlOffset = 2
    static let addressLowOffset = 4
    static let addressHighOffset = 8
    static let dataOffset = 12
    static let maskOffset = 16
    static let pendingOffset = 20

    static let enable: UInt16 = 1 << 0
    static let multipleMessageEnableShift: UInt16 = 4
    static let multipleMessageEnableMask: UInt16 = 0x7 << multipleMessageEnableShift
    static let address64: UInt16 = 1 << 7
    static let perVectorMasking: UInt16 = 1 << 8

    let offset: Int
    /// Vectors the function can use (Multiple Message Capable), a power of two up to 32.
    let vectors: Int

    /// Adds the capability to `config`, disabled, with all vectors unmasked; nil when there is no
    /// room left.
    static func install(in config: inout PCIConfigSpace, vectors: Int) -> MSICapability? {
        precondition(vectors >= 1 && vectors <= 32 && vectors & (vectors - 1) == 0,
                     "MSI vector count must be a power of two from 1 to 32")
        guard let offset = config.addCapability(id: id, length: length) else { return nil }
        let capable = UInt16(vectors.trailingZeroBitCount) << 1
        config.set(offset + controlOffset, size: 2, value: UInt32(address64 | perVectorMasking | capable))
        config.setWritable(offset + controlOffset, size: 2, mask: UInt32(enable | multipleMessageEnableMask))
        // The address is dword-aligned: bits 1–0 are hardwired to 0.
        config.setWritable(offset + addressLowOffset, size: 4, mask: 0xFFFF_FFFC)
        config.setWritable(offset + addressHighOffset, size: 4, mask: 0xFFFF_FFFF)
        config.setWritable(offset + dataOffset, size: 2, mask: 0xFFFF)
        config.setWritable(offset + maskOffset, size: 4, mask: vectorBits(vectors))
        return MSICapability(offset: offset, vectors: vectors)
    }

    private static func vectorBits(_ count: Int) -> UInt32 {
        count >= 32 ? UInt32.max : (UInt32(1) << UInt32(count)) - 1
    }

    func isEnabled(_ config: PCIConfigSpace) -> Bool {
        control(config) & Self.enable != 0
    }

    /// Vectors the guest allowed (Multiple Message Enable), never more than the function has.
    func enabledVectors(_ config: PCIConfigSpace) -> Int {
        min(1 << Int((control(config) & Self.multipleMessageEnableMask) >> Self.multipleMessageEnableShift), vectors)
    }

    func pending(_ config: PCIConfigSpace) -> UInt32 {
        config.read(offset + Self.pendingOffset, size: 4)
    }

    /// Sends `vector`, or marks it pending when masked. Ignored while MSI is disabled or when the
    /// guest enabled fewer vectors.
    func trigger(_ vector: Int, config: inout PCIConfigSpace, lines: (any InterruptLines)?) {
        guard isEnabled(config), vector >= 0, vector < enabledVectors(config) else { return }
        let bit = UInt32(1) << UInt32(vector)
        if config.read(offset + Self.maskOffset, size: 4) & bit != 0 {
            config.set(offset + Self.pendingOffset, size: 4, value: pending(config) | bit)
        } else {
            send(vector, config: config, lines: lines)
        }
    }

    /// Sends the pending vectors the guest has since unmasked, after a configuration write.
    func deliverUnmasked(config: inout PCIConfigSpace, lines: (any InterruptLines)?) {
        guard isEnabled(config) else { return }
        let ready = pending(config) & ~config.read(offset + Self.maskOffset, size: 4)
            & Self.vectorBits(enabledVectors(config))
        guard ready != 0 else { return }
        config.set(offset + Self.pendingOffset, size: 4, value: pending(config) & ~ready)
        for vector in 0..<vectors where ready & (UInt32(1) << UInt32(vector)) != 0 {
            send(vector, config: config, lines: lines)
        }
    }

    /// The function puts the vector number in the low bits of the message data that Multiple
    /// Message Enable hands it.
    private func send(_ vector: Int, config: PCIConfigSpace, lines: (any InterruptLines)?) {
        let address = UInt64(config.read(offset + Self.addressHighOffset, size: 4)) << 32
            | UInt64(config.read(offset + Self.addressLowOffset, size: 4))
        let count = UInt32(enabledVectors(config))
        let data = config.read(offset + Self.dataOffset, size: 2) & ~(count - 1) | UInt32(vector)
        lines?.sendMSI(address: address, data: data)
    }

    private func control(_ config: PCIConfigSpace) -> UInt16 {
        UInt16(config.read(offset + Self.controlOffset, size: 2))
    }
}
