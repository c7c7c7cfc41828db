import Glibc
import KVM

/// The guest paging context of one vCPU: bhyve's `struct vm_guest_paging` (CR3, CPL, CPU mode, paging
/// mode), plus the three control bits bhyve does not model, so that walks follow the architecture:
/// CR4.PSE, CR0.WP and EFER.NXE.
///
/// Walks (``translate(_:for:in:)``) follow bhyve's `_vm_gla2gpa` and the Intel SDM vol. 3 ch. 4:
/// - Not-present entries, reserved bits and access rights are checked over the whole walk, in the
///   processor's order: a missing level gives #PF with P=0, then a reserved bit gives #PF with RSVD,
///   then the combined U/S, R/W and XD rights of all levels decide. (bhyve stops at the first level
///   whose own bits deny the access, so its error code differs where a lower level is not present or
///   has a reserved bit set.)
/// - Reserved bits checked, taking MAXPHYADDR as 52 (so no high address bits are reserved): the PS
///   bit of a PML5E/PML4E; bits 29:13 of a 1 GiB and 20:13 of a 2 MiB page entry; bit 21 of a 4 MiB
///   entry; XD (bit 63) when EFER.NXE is clear; bits 62:52 of PAE entries; bits 2:1, 8:5 (PS
///   included) and 63:52 of a PAE PDPTE. 1 GiB pages are taken to be supported.
/// - Writes need R/W at every level for CPL 3, and for CPL 0–2 only when CR0.WP is set (bhyve always
///   demands it, as if WP were set). Instruction fetches fault on an XD page when EFER.NXE is set; the
///   I/D error-code bit is set only where the SDM sets it (NXE with PAE/4-/5-level paging; bhyve sets
///   it for every fetch). SMEP, SMAP and protection keys are not modelled.
/// - On success the Accessed bit is set in every entry that has one (a PAE PDPTE does not) and Dirty
///   in the leaf for writes, each by compare-and-swap against guest memory; if the guest changed an
///   entry meanwhile the walk starts again. A faulting walk changes nothing.
/// - Outside 64-bit mode linear addresses are 32 bits wide, so higher bits of `gla` are dropped.
public struct GuestPaging: Sendable, Equatable {
    /// bhyve's `enum vm_cpu_mode`.
    public enum CPUMode: Sendable, Equatable {
        case real
        case protected
        /// IA-32e mode with CS.L = 0.
        case compatibility
        /// IA-32e mode with CS.L = 1.
        case long64
    }

    /// bhyve's `enum vm_paging_mode`.
    public enum PagingMode: Sendable, Equatable {
        /// No paging: the linear address is the physical address.
        case flat
        /// 2-level, 32-bit entries, 4 KiB and (with CR4.PSE) 4 MiB pages.
        case bits32
        /// 4 PDPTEs then 2 levels of 64-bit entries, 4 KiB and 2 MiB pages.
        case pae
        /// 4-level paging, 4 KiB, 2 MiB and 1 GiB pages.
        case level4
        /// 5-level paging (CR4.LA57).
        case level5
    }

    /// The kind of access being translated.
    public enum Protection: Sendable, Equatable {
        case read
        case write
        /// An instruction fetch.
        case execute
    }

    public var cr3: UInt64
    /// Current privilege level, 0–3; 3 makes every access a user access.
    public var cpl: UInt8
    public var cpuMode: CPUMode
    public var pagingMode: PagingMode
    /// CR4.PSE: whether the PS bit of a 32-bit PDE maps a 4 MiB page (other modes ignore it).
    public var pageSizeExtensions: Bool
    /// CR0.WP: whether supervisor writes honour read-only pages.
    public var writeProtect: Bool
    /// EFER.NXE: whether the XD bit forbids instruction fetches (when clear, XD is a reserved bit).
    public var noExecute: Bool

    /// A paging context given field by field. The defaults reproduce bhyve's walk: PS honoured,
    /// read-only pages enforced for every CPL, no execute-disable.
    public init(cr3: UInt64 = 0, cpl: UInt8 = 0, cpuMode: CPUMode, pagingMode: PagingMode,
                pageSizeExtensions: Bool = true, writeProtect: Bool = true, noExecute: Bool = false) {
        precondition(cpl <= 3, "CPL \(cpl) is not 0–3")
        self.cr3 = cr3
        self.cpl = cpl
        self.cpuMode = cpuMode
        self.pagingMode = pagingMode
        self.pageSizeExtensions = pageSizeExtensions
        self.writeProtect = writeProtect
        self.noExecute = noExecute
    }

    /// The paging context of a vCPU with these registers, as bhyve's `vmx_paging_info`: the CPU mode
    /// from EFER.LMA, CS.L and CR0.PE; the paging mode from CR0.PG, CR4.PAE, EFER.LMA and CR4.LA57;
    /// the CPL from SS.DPL (which VMX and KVM keep equal to the CPL), except that real mode runs at 0.
    public init(_ registers: SpecialRegisters) {
        let cr0 = registers.cr0, cr4 = registers.cr4, efer = registers.efer
        let longMode = efer & ControlBits.eferLMA != 0
        let cpuMode: CPUMode
        if longMode {
            cpuMode = registers.cs.long ? .long64 : .compatibility
        } else {
            cpuMode = cr0 & ControlBits.cr0PE != 0 ? .protected : .real
        }
        let pagingMode: PagingMode
        if cr0 & ControlBits.cr0PG == 0 {
            pagingMode = .flat
        } else if cr4 & ControlBits.cr4PAE == 0 {
            pagingMode = .bits32
        } else if longMode {
            pagingMode = cr4 & ControlBits.cr4LA57 != 0 ? .level5 : .level4
        } else {
            pagingMode = .pae
        }
        self.init(cr3: registers.cr3, cpl: cpuMode == .real ? 0 : registers.ss.dpl & 3, cpuMode: cpuMode,
                  pagingMode: pagingMode, pageSizeExtensions: cr4 & ControlBits.cr4PSE != 0,
                  writeProtect: cr0 & ControlBits.cr0WP != 0, noExecute: efer & ControlBits.eferNXE != 0)
    }
}

/// The #PF error code pushed by the processor (Intel SDM vol. 3 §4.7).
public struct PageFaultErrorCode: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// The fault was a protection or reserved-bit violation, not a missing translation.
    public static let present = Self(rawValue: 1 << 0)
    public static let write = Self(rawValue: 1 << 1)
    /// The access was made at CPL 3.
    public static let user = Self(rawValue: 1 << 2)
    public static let reservedBit = Self(rawValue: 1 << 3)
    public static let instructionFetch = Self(rawValue: 1 << 4)
}

/// An exception a guest access raised, for the caller to inject (bhyve injects it inside the walk).
public enum GuestFault: Error, Sendable, Equatable {
    /// #PF with its error code; `address` goes to CR2.
    case pageFault(PageFaultErrorCode, address: UInt64)
    /// #GP(0), for a non-canonical address in 64-bit mode.
    case generalProtection

    public static let pageFaultVector: UInt8 = 14
    public static let generalProtectionVector: UInt8 = 13

    public var vector: UInt8 {
        switch self {
        case .pageFault: Self.pageFaultVector
        case .generalProtection: Self.generalProtectionVector
        }
    }

    /// The error code to push; both exceptions have one.
    public var errorCode: UInt32 {
        switch self {
        case .pageFault(let code, _): code.rawValue
        case .generalProtection: 0
        }
    }
}

/// A walk or copy that cannot go on and is no fault of the guest's to report (bhyve's EFAULT).
public enum GuestPagingError: Error, Sendable, Equatable {
    /// A paging-structure entry, or the data of a copy, is not in guest RAM.
    case notRAM(GuestMemoryError)
    /// The guest kept rewriting the entry at `address` while its Accessed/Dirty bits were being set
    /// (bhyve retries forever). Resuming the guest without completing the access retries it.
    case entryKeptChanging(address: UInt64)
}

/// Control-register bits that make up the paging context.
private enum ControlBits {
    static let cr0PE: UInt64 = 1 << 0
    static let cr0WP: UInt64 = 1 << 16
    static let cr0PG: UInt64 = 1 << 31
    static let cr4PSE: UInt64 = 1 << 4
    static let cr4PAE: UInt64 = 1 << 5
    static let cr4LA57: UInt64 = 1 << 12
    static let eferLMA: UInt64 = 1 << 10
    static let eferNXE: UInt64 = 1 << 11
}

/// Paging-structure entry bits and fields.
private enum EntryBits {
    static let present: UInt64 = 1 << 0
    static let writable: UInt64 = 1 << 1
    static let user: UInt64 = 1 << 2
    static let accessed: UInt64 = 1 << 5
    static let dirty: UInt64 = 1 << 6
    static let pageSize: UInt64 = 1 << 7
    static let executeDisable: UInt64 = 1 << 63
    /// Bits 51:12 of a 64-bit entry or of CR3 in 4-/5-level paging.
    static let addressMask: UInt64 = 0x000F_FFFF_FFFF_F000
    /// Bits 31:12 of a 32-bit entry or CR3.
    static let address32Mask: UInt64 = 0xFFFF_F000
    /// Bits 31:22 of a 4 MiB PDE.
    static let largePage32Mask: UInt64 = 0xFFC0_0000
    /// Bit 21 of a 4 MiB PDE, between the PSE-36 high address bits 20:13 and the frame.
    static let largePage32Reserved: UInt64 = 1 << 21
    /// CR3 bits 31:5 locate the PAE PDPT.
    static let paePDPTMask: UInt64 = 0xFFFF_FFE0
    /// PAE PDPTE bits 2:1, 8:5 and 63:52.
    static let paePDPTEReserved: UInt64 = 0xFFF0_0000_0000_01E6
    /// Bits 62:52 of PAE PDEs and PTEs.
    static let paeHighReserved: UInt64 = 0x7FF0_0000_0000_0000
}

extension GuestPaging {
    /// How often a walk restarts after losing a compare-and-swap race before giving up. Each race
    /// means the guest rewrote an entry within the few instructions between read and update.
    static let walkAttempts = 64
    static let pageSize: UInt64 = 4096

    /// Translates the guest linear address `gla` for `access`, setting Accessed/Dirty bits as the
    /// processor would (bhyve's `vm_gla2gpa`). Returns the guest physical address, or the fault the
    /// access raises; throws if a paging structure is outside RAM or the guest never stops
    /// rewriting an entry.
    public func translate(_ gla: UInt64, for access: Protection,
                          in memory: GuestMemory) throws(GuestPagingError) -> Result<UInt64, GuestFault> {
        var contended: UInt64 = 0
        for attempt in 0..<Self.walkAttempts {
            if attempt > 0 { sched_yield() }
            switch try walk(gla, for: access, in: memory) {
            case .fault(let fault):
                return .failure(fault)
            case .mapped(let gpa, let entries):
                guard let changed = try setAccessedAndDirty(entries, dirty: access == .write, in: memory) else {
                    return .success(gpa)
                }
                contended = changed
            }
        }
        throw .entryKeptChanging(address: contended)
    }

    /// Translates `gla` for `access` without side effects (bhyve's `vm_gla2gpa_nofault`, used by
    /// debuggers): no Accessed/Dirty updates and no fault to inject. Returns nil where the access
    /// would fault; still throws if a paging structure is outside RAM.
    public func translateNoFault(_ gla: UInt64, for access: Protection,
                                 in memory: GuestMemory) throws(GuestPagingError) -> UInt64? {
        switch try walk(gla, for: access, in: memory) {
        case .mapped(let gpa, _): gpa
        case .fault: nil
        }
    }

    /// Linear addresses are 64 bits wide only in 64-bit mode.
    var linearAddressMask: UInt64 { cpuMode == .long64 ? .max : 0xFFFF_FFFF }

    /// One paging-structure entry a walk used: where it is, what it held, and its width.
    struct WalkedEntry {
        let address: UInt64
        let value: UInt64
        let isWide: Bool
    }

    enum WalkOutcome {
        /// The translation and the entries whose Accessed (and, for the last, Dirty) bits it needs.
        case mapped(UInt64, [WalkedEntry])
        case fault(GuestFault)
    }

    /// The rights an access picks up from every level of a walk.
    struct Rights {
        var user = true
        var writable = true
        var executeDisabled = false

        mutating func add(_ entry: UInt64, honouringExecuteDisable: Bool) {
            user = user && entry & EntryBits.user != 0
            writable = writable && entry & EntryBits.writable != 0
            if honouringExecuteDisable && entry & EntryBits.executeDisable != 0 { executeDisabled = true }
        }
    }

    func walk(_ gla: UInt64, for access: Protection, in memory: GuestMemory) throws(GuestPagingError) -> WalkOutcome {
        let linear = gla & linearAddressMask
        if cpuMode == .long64 && !isCanonical(linear) { return .fault(.generalProtection) }
        switch pagingMode {
        case .flat:
            return .mapped(linear, [])
        case .bits32:
            return try walk32(linear, for: access, in: memory)
        case .pae:
            // The PDPTEs have neither access rights nor an Accessed bit.
            let address = (cr3 & EntryBits.paePDPTMask) + ((linear >> 30) & 3) * 8
            let pdpte = try loadEntry(at: address, isWide: true, in: memory)
            guard pdpte & EntryBits.present != 0 else { return .fault(pageFault(linear, access, present: false)) }
            guard pdpte & EntryBits.paePDPTEReserved == 0 else {
                return .fault(pageFault(linear, access, present: true, reservedBit: true))
            }
            return try walk64(linear, for: access, table: pdpte & EntryBits.addressMask, shift: 21, in: memory)
        case .level4:
            return try walk64(linear, for: access, table: cr3 & EntryBits.addressMask, shift: 39, in: memory)
        case .level5:
            return try walk64(linear, for: access, table: cr3 & EntryBits.addressMask, shift: 48, in: memory)
        }
    }

    private func isCanonical(_ linear: UInt64) -> Bool {
        let unused = pagingMode == .level5 ? 64 - 57 : 64 - 48
        return (Int64(bitPattern: linear) << unused) >> unused == Int64(bitPattern: linear)
    }

    private func walk32(_ linear: UInt64, for access: Protection,
                        in memory: GuestMemory) throws(GuestPagingError) -> WalkOutcome {
        var table = cr3 & EntryBits.address32Mask
        var shift: UInt64 = 22
        var entries: [WalkedEntry] = []
        var rights = Rights()
        while true {
            let address = table + ((linear >> shift) & 0x3FF) * 4
            let entry = try loadEntry(at: address, isWide: false, in: memory)
            guard entry & EntryBits.present != 0 else { return .fault(pageFault(linear, access, present: false)) }
            entries.append(WalkedEntry(address: address, value: entry, isWide: false))
            rights.add(entry, honouringExecuteDisable: false)
            if shift == 12 {
                return finish(linear, access, gpa: (entry & EntryBits.address32Mask) | (linear & 0xFFF),
                              rights: rights, entries: entries)
            }
            if pageSizeExtensions && entry & EntryBits.pageSize != 0 {
                guard entry & EntryBits.largePage32Reserved == 0 else {
                    return .fault(pageFault(linear, access, present: true, reservedBit: true))
                }
                // PSE-36: bits 20:13 of the PDE are physical address bits 39:32.
                let frame = (entry & EntryBits.largePage32Mask) | ((entry >> 13) & 0xFF) << 32
                return finish(linear, access, gpa: frame | (linear & 0x3F_FFFF), rights: rights, entries: entries)
            }
            table = entry & EntryBits.address32Mask
            shift -= 10
        }
    }

    /// Walks 64-bit entries from the table translating bits `shift + 8 ... shift` of the address down.
    private func walk64(_ linear: UInt64, for access: Protection, table root: UInt64, shift top: UInt64,
                        in memory: GuestMemory) throws(GuestPagingError) -> WalkOutcome {
        var table = root
        var shift = top
        var entries: [WalkedEntry] = []
        var rights = Rights()
        while true {
            let address = table + ((linear >> shift) & 0x1FF) * 8
            let entry = try loadEntry(at: address, isWide: true, in: memory)
            guard entry & EntryBits.present != 0 else { return .fault(pageFault(linear, access, present: false)) }
            guard entry & reservedBits(of: entry, shift: shift) == 0 else {
                return .fault(pageFault(linear, access, present: true, reservedBit: true))
            }
            entries.append(WalkedEntry(address: address, value: entry, isWide: true))
            rights.add(entry, honouringExecuteDisable: noExecute)
            if shift == 12 || entry & EntryBits.pageSize != 0 {
                let offsetMask: UInt64 = (1 << shift) - 1
                let gpa = (entry & EntryBits.addressMask & ~offsetMask) | (linear & offsetMask)
                return finish(linear, access, gpa: gpa, rights: rights, entries: entries)
            }
            table = entry & EntryBits.addressMask
            shift -= 9
        }
    }

    /// The bits of a present 64-bit entry that must be clear, for the level mapping `1 << shift` bytes.
    private func reservedBits(of entry: UInt64, shift: UInt64) -> UInt64 {
        var reserved: UInt64 = noExecute ? 0 : EntryBits.executeDisable
        if pagingMode == .pae { reserved |= EntryBits.paeHighReserved }
        guard entry & EntryBits.pageSize != 0 else { return reserved }
        switch shift {
        case 30, 21:
            // Between the PAT bit (12) and the page frame.
            reserved |= ((1 << shift) - 1) & ~((1 << 13) - 1)
        case 39, 48:
            reserved |= EntryBits.pageSize
        default:
            break
        }
        return reserved
    }

    private func finish(_ linear: UInt64, _ access: Protection, gpa: UInt64, rights: Rights,
                        entries: [WalkedEntry]) -> WalkOutcome {
        let isUser = cpl == 3
        let allowed = switch access {
        case .read: !isUser || rights.user
        case .write: (!isUser || rights.user) && (rights.writable || (!isUser && !writeProtect))
        case .execute: (!isUser || rights.user) && !rights.executeDisabled
        }
        guard allowed else { return .fault(pageFault(linear, access, present: true)) }
        return .mapped(gpa, entries)
    }

    private func pageFault(_ linear: UInt64, _ access: Protection, present: Bool,
                           reservedBit: Bool = false) -> GuestFault {
        var code: PageFaultErrorCode = []
        if present { code.insert(.present) }
        if access == .write { code.insert(.write) }
        if cpl == 3 { code.insert(.user) }
        if reservedBit { code.insert(.reservedBit) }
        if access == .execute && noExecute && pagingMode != .bits32 { code.insert(.instructionFetch) }
        return .pageFault(code, address: linear)
    }

    private func loadEntry(at address: UInt64, isWide: Bool,
                           in memory: GuestMemory) throws(GuestPagingError) -> UInt64 {
        do throws(GuestMemoryError) {
            return isWide ? try memory.atomicLoad(UInt64.self, at: address)
                          : UInt64(try memory.atomicLoad(UInt32.self, at: address))
        } catch {
            throw .notRAM(error)
        }
    }

    /// Sets Accessed in every entry and Dirty in the last one if `dirty`, each only if it still holds
    /// what the walk read. Returns the address of an entry that changed underneath, or nil when done.
    func setAccessedAndDirty(_ entries: [WalkedEntry], dirty: Bool,
                                     in memory: GuestMemory) throws(GuestPagingError) -> UInt64? {
        for (index, entry) in entries.enumerated() {
            var desired = entry.value | EntryBits.accessed
            if dirty && index == entries.count - 1 { desired |= EntryBits.dirty }
            if desired == entry.value { continue }
            let exchanged: Bool
            do throws(GuestMemoryError) {
                exchanged = entry.isWide
                    ? try memory.compareExchange(at: entry.address, expected: entry.value, desired: desired).exchanged
                    : try memory.compareExchange(at: entry.address, expected: UInt32(entry.value),
                                                 desired: UInt32(desired)).exchanged
            } catch {
                throw .notRAM(error)
            }
            if !exchanged { return entry.address }
        }
        return nil
    }
}
