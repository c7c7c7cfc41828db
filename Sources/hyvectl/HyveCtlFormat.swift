import Glibc
import HyveControl

/// bhyvectl's output formats (`printf` strings of bhyvectl.c), so scripts written for bhyvectl
/// read hyvectl's output.
enum HyveCtlFormat {
    /// `0x` and `digits` lowercase hex digits, zero-padded (`%016lx` is `hex(v, 16)`).
    static func hex(_ value: UInt64, _ digits: Int) -> String {
        let text = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, digits - text.count)) + text
    }

    /// The order bhyvectl prints registers in, and its tab after each name.
    static let registerOrder: [ControlRegister] = [
        .efer, .cr0, .cr2, .cr3, .cr4, .dr0, .dr1, .dr2, .dr3, .dr6, .dr7, .rsp, .rip,
        .rax, .rbx, .rcx, .rdx, .rsi, .rdi, .rbp, .r8, .r9, .r10, .r11, .r12, .r13, .r14, .r15, .rflags,
    ]
    static let descriptorOrder: [ControlDescriptorName] = [.ds, .es, .fs, .gs, .ss, .cs, .tr, .ldtr, .gdtr, .idtr]
    static let selectorOrder: [ControlRegister] = [.cs, .ds, .es, .fs, .gs, .ss, .tr, .ldtr]

    /// `rip[0]\t\t0x…` (`rflags` gets one tab); selectors print four digits.
    static func register(_ register: ControlRegister, vcpu: Int, _ value: UInt64) -> String {
        if selectorOrder.contains(register) { return "\(register.rawValue)[\(vcpu)]\t\t\(hex(value, 4))" }
        let tabs = register == .rflags ? "\t" : "\t\t"
        return "\(register.rawValue)[\(vcpu)]\(tabs)\(hex(value, 16))"
    }

    /// `cs desc[0]\t0x…/0x…/0x…`; GDTR and IDTR have no access rights.
    static func descriptor(_ name: ControlDescriptorName, vcpu: Int, _ descriptor: ControlSegmentDescriptor) -> String {
        let base = hex(descriptor.base, 16), limit = hex(UInt64(descriptor.limit), 8)
        if name == .gdtr || name == .idtr { return "\(name.rawValue)[\(vcpu)]\t\t\(base)/\(limit)" }
        return "\(name.rawValue) desc[\(vcpu)]\t\(base)/\(limit)/\(hex(UInt64(descriptor.access), 8))"
    }

    /// `active cpus:\t 0, 1`, or ` (none)`.
    static func cpus(_ banner: String, _ cpus: [Int]) -> String {
        "\(banner):\t" + (cpus.isEmpty ? " (none)" : " " + cpus.map(String.init).joined(separator: ", "))
    }

    /// `pending:\texception vector 13 errcode 0x18`, or `n/a`.
    static func intinfo(_ banner: String, _ info: UInt64) -> String {
        guard info & (1 << 31) != 0 else { return "\(banner):\tn/a" }
        let kind = switch (info >> 8) & 7 {
        case 0: "extint"
        case 2: "nmi"
        case 4: "swint"
        default: "exception"
        }
        let code = info & (1 << 11) != 0 ? " errcode 0x\(String(info >> 32, radix: 16))" : ""
        return "\(banner):\t\(kind) vector \(info & 0xFF)\(code)"
    }

    /// `vcpu0 stats:` and one `%-40s\t%ld` line per counter, by name.
    static func stats(vcpu: Int, _ stats: [String: UInt64]) -> [String] {
        ["vcpu\(vcpu) stats:"] + stats.sorted { $0.key < $1.key }.map { $0.key.leftAligned(40) + "\t\($0.value)" }
    }

    /// `lowmem\t\t0x…/LENGTH[ wired]`.
    static func memory(_ banner: String, gpa: UInt64, length: UInt64, wired: Bool) -> String {
        "\(banner)\t\t\(hex(gpa, 16))/\(length)\(wired ? " wired" : "")"
    }

    /// The `--get-memmap` table.
    static func memoryMap(_ entries: [ControlMemoryMapEntry]) -> [String] {
        let header = "Address     Length      Segment     Offset      Prot  Flags"
        return [header] + entries.map { entry in
            let protection = entry.protection.uppercased()
            return String(entry.gpa, radix: 16, uppercase: true).leftAligned(12) + humanized(entry.length).leftAligned(12)
                + entry.segment.leftAligned(12) + String(entry.offset, radix: 16, uppercase: true).leftAligned(12)
                + protection + "   " + (entry.wired ? "wired" : "")
        }
    }

    /// A size as humanize_number(3) writes it with a `B` suffix: `256MB`, `3072MB`, `4KB`.
    static func humanized(_ bytes: UInt64) -> String {
        let units = ["B", "KB", "MB", "GB", "TB", "PB"]
        var value = bytes, unit = 0
        while value >= 10_000 && unit < units.count - 1 {
            value = (value + 512) / 1024
            unit += 1
        }
        return "\(value)\(units[unit])"
    }

    /// `cpu_topology:\tsockets=1, cores=2, threads=1, maxcpus=2`.
    static func topology(_ topology: ControlTopology) -> String {
        "cpu_topology:\tsockets=\(topology.sockets), cores=\(topology.cores), threads=\(topology.threads), maxcpus=\(topology.maxCPUs)"
    }

    /// `rtc time 0x…: Wed Nov 15 22:13:20 2023`, the time shown in UTC.
    static func rtcTime(_ seconds: Int64) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let weekday = weekdays.indices.contains(Int(parts.tm_wday)) ? weekdays[Int(parts.tm_wday)] : "UNK"
        let month = months.indices.contains(Int(parts.tm_mon)) ? months[Int(parts.tm_mon)] : "UNK"
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let prefix = seconds == 0 ? "0" : "0x" + String(UInt64(bitPattern: seconds), radix: 16)
        return "rtc time \(prefix): \(weekday) \(month) \(two(parts.tm_mday)) \(two(parts.tm_hour)):\(two(parts.tm_min)):"
            + "\(two(parts.tm_sec)) \(1900 + Int(parts.tm_year))"
    }

    /// `rtc nvram[014]: 0xa5`.
    static func rtcNVRAM(offset: Int, _ value: UInt64) -> String {
        let digits = String(offset)
        let hexDigits = String(value, radix: 16)
        return "rtc nvram[\(String(repeating: "0", count: max(0, 3 - digits.count)))\(digits)]: 0x"
            + (hexDigits.count < 2 ? "0" : "") + hexDigits
    }

    /// `gla2gpa[0]\t0x<gla> -> 0x<gpa>`, or the fault the walk raised.
    static func translation(vcpu: Int, gla: UInt64, gpa: UInt64?) -> String {
        "gla2gpa[\(vcpu)]\t\(hex(gla, 16)) -> " + (gpa.map { hex($0, 16) } ?? "fault")
    }

    static func translation(vcpu: Int, gla: UInt64, fault: ControlGuestFault) -> String {
        let name = fault.vector == 14 ? "#PF" : fault.vector == 13 ? "#GP" : "vector \(fault.vector)"
        let address = fault.address.map { " at \(hex($0, 16))" } ?? ""
        return "gla2gpa[\(vcpu)]\t\(hex(gla, 16)) -> fault: \(name) error code 0x\(String(fault.errorCode, radix: 16))"
            + "\(address)\(fault.injected ? " (injected)" : "")"
    }

    /// Guest bytes as `0x<address>: xx xx …`, sixteen to a line.
    static func dump(_ bytes: [UInt8], at address: UInt64) -> [String] {
        stride(from: 0, to: bytes.count, by: 16).map { start in
            let line = bytes[start..<min(bytes.count, start + 16)].map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }
            return "\(hex(address &+ UInt64(start), 16)): " + line.joined(separator: " ")
        }
    }
}

extension String {
    /// `%-Ns`: padded with spaces to `width`, never cut.
    func leftAligned(_ width: Int) -> String {
        count < width ? self + String(repeating: " ", count: width - count) : self
    }
}
