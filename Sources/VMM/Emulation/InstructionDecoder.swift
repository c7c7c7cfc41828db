/// Decodes one x86 instruction, as bhyve's `vmm_decode_instruction` does and further: legacy prefixes,
/// REX, VEX (two- and three-byte), ModRM and SIB with every addressing form including RIP-relative,
/// displacements, immediates and moffs, with operand and address sizes for real, protected,
/// compatibility and 64-bit mode (Intel SDM vol. 2 ch. 2).
///
/// Every instruction of the one-byte, 0F, 0F 38 and 0F 3A maps (and VEX/EVEX-encoded ones) is decoded
/// to its length and named; ``DecodedInstruction/operation`` says which of them the emulator runs.
public enum InstructionDecoder {
    /// The architectural limit on an instruction's length.
    public static let maximumLength = 15

    /// Decodes the instruction at the start of `bytes` (extra bytes after it are ignored).
    /// - Throws: ``DecodeError/truncated(available:)`` when `bytes` ends inside the instruction,
    ///   ``DecodeError/tooLong`` past 15 bytes, ``DecodeError/invalid(mnemonic:)`` for encodings
    ///   that do not exist in `mode`.
    public static func decode(_ bytes: [UInt8], mode: InstructionMode) throws(DecodeError) -> DecodedInstruction {
        var cursor = Cursor(bytes: bytes)
        var prefixes = try readPrefixes(&cursor, mode: mode)
        let opcodeOffset = cursor.position - (prefixes.rex != nil ? 1 : 0)

        var map = DecodedInstruction.OpcodeMap.primary
        var opcode = try cursor.next()
        if let vex = try readVEX(opcode, &cursor, prefixes: prefixes, mode: mode) {
            prefixes.vex = vex
            map = vex.map == 1 ? .twoByte : vex.map == 2 ? .threeByte38 : .threeByte3A
            opcode = try cursor.next()
        } else if let evex = try readEVEX(opcode, &cursor, prefixes: prefixes, mode: mode) {
            prefixes.evex = evex
            return try decodeEVEX(&cursor, prefixes: prefixes, mode: mode, opcodeOffset: opcodeOffset)
        } else if opcode == 0x0F {
            opcode = try cursor.next()
            switch opcode {
            case 0x38:
                map = .threeByte38
                opcode = try cursor.next()
            case 0x3A:
                map = .threeByte3A
                opcode = try cursor.next()
            default:
                map = .twoByte
            }
        }
        if map == .primary && mode.is64Bit && OpcodeTable.invalidIn64BitMode.contains(opcode) {
            throw .invalid(mnemonic: OpcodeTable.primaryMnemonics[Int(opcode)])
        }

        let hasModRM: Bool = switch map {
        case .primary: OpcodeTable.primaryModRM[Int(opcode)]
        case .twoByte: prefixes.vex != nil ? opcode != 0x77 : OpcodeTable.twoByteModRM[Int(opcode)]
        case .threeByte38, .threeByte3A: true
        }
        var modRM: DecodedInstruction.ModRM?
        var modRMOffset: Int?
        if hasModRM {
            modRMOffset = cursor.position
            let raw = try cursor.next()
            let vexR = prefixes.vex.map { $0.r ? 8 : 0 } ?? prefixes.rexR
            let vexB = prefixes.vex.map { $0.b ? 8 : 0 } ?? prefixes.rexB
            modRM = DecodedInstruction.ModRM(raw: raw, reg: Int((raw >> 3) & 7) | vexR, rm: Int(raw & 7) | vexB)
        }

        let operandSize = operandSize(map: map, opcode: opcode, modRM: modRM, prefixes: prefixes, mode: mode)
        let addressSize: Int = mode.is64Bit ? (prefixes.addressSize ? 4 : 8)
            : (prefixes.addressSize ? 6 - mode.codeSize : mode.codeSize)

        var memory: DecodedInstruction.MemoryOperand?
        if let modRM, modRM.mod != 3 {
            memory = try readMemoryOperand(modRM, &cursor, prefixes: prefixes, addressSize: addressSize, mode: mode)
        }

        let immediateKind: OpcodeTable.Immediate = switch map {
        case .primary: OpcodeTable.primaryImmediate(opcode, modRM: modRM?.raw)
        case .twoByte: prefixes.vex != nil ? vexImmediate(opcode) : OpcodeTable.twoByteImmediate(opcode)
        case .threeByte38: .none
        case .threeByte3A: .byte
        }
        let immediateSize: Int = switch immediateKind {
        case .none: 0
        case .byte: 1
        case .word: 2
        case .wordOrDoubleword: operandSize == 2 ? 2 : 4
        case .operandSized: operandSize
        case .wordThenByte: 3
        case .farPointer: (operandSize == 2 ? 2 : 4) + 2
        case .addressSized: addressSize
        }
        var immediate: UInt64 = 0
        for index in 0..<immediateSize {
            immediate |= UInt64(try cursor.next()) << (8 * UInt64(index))
        }
        if immediateKind == .addressSized {
            // moffs is an address, not an immediate: A0–A3 carry it as their memory operand.
            memory = DecodedInstruction.MemoryOperand(segment: effectiveSegment(prefixes, default: .ds, mode: mode),
                                                      displacement: Int64(bitPattern: immediate))
        }

        let (operation, mnemonic, byteForm) = classify(map: map, opcode: opcode, modRM: modRM,
                                                       prefixes: prefixes, mode: mode)
        return DecodedInstruction(
            mode: mode, bytes: Array(bytes[0..<cursor.position]), prefixes: prefixes, opcodeOffset: opcodeOffset,
            modRMOffset: modRMOffset, map: map, opcode: opcode, modRM: modRM, memory: memory, immediate: immediateKind == .addressSized ? 0 : immediate,
            immediateSize: immediateKind == .addressSized ? 0 : immediateSize,
            operandSize: byteForm ? 1 : operandSize, addressSize: addressSize, operation: operation,
            mnemonic: mnemonic)
    }

    // MARK: Prefixes

    private static func readPrefixes(_ cursor: inout Cursor, mode: InstructionMode) throws(DecodeError)
        -> DecodedInstruction.Prefixes {
        var prefixes = DecodedInstruction.Prefixes()
        while true {
            let byte = try cursor.peek()
            switch byte {
            case 0xF0:
                prefixes.lock = true
            case 0xF2:
                prefixes.repeatPrefix = .repne
            case 0xF3:
                prefixes.repeatPrefix = .rep
            case 0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65:
                prefixes.segment = SegmentRegister(prefix: byte)
            case 0x66:
                prefixes.operandSize = true
            case 0x67:
                prefixes.addressSize = true
            case 0x40...0x4F where mode.is64Bit:
                // A REX prefix counts only directly in front of the opcode; one followed by another
                // prefix is ignored.
                prefixes.rex = byte
                cursor.advance()
                continue
            default:
                return prefixes
            }
            prefixes.rex = nil
            cursor.advance()
        }
    }

    /// Reads a VEX prefix when `first` starts one: always in 64-bit mode, in protected and
    /// compatibility mode only when the next byte's top bits are 11 (otherwise it is LES/LDS).
    private static func readVEX(_ first: UInt8, _ cursor: inout Cursor, prefixes: DecodedInstruction.Prefixes,
                                mode: InstructionMode) throws(DecodeError) -> DecodedInstruction.VEX? {
        guard first == 0xC4 || first == 0xC5, !mode.isRealOrVirtual8086 else { return nil }
        let second = try cursor.peek()
        guard mode.is64Bit || second >> 6 == 3 else { return nil }
        cursor.advance()
        // VEX already encodes what these prefixes would: together they are #UD.
        if prefixes.lock || prefixes.operandSize || prefixes.repeatPrefix != nil || prefixes.rex != nil {
            throw .invalid(mnemonic: "vex")
        }
        let extended = mode.is64Bit
        if first == 0xC5 {
            return DecodedInstruction.VEX(map: 1, w: false, vvvv: Int(~second >> 3) & (extended ? 15 : 7),
                                          l: second & 4 != 0, pp: second & 3,
                                          r: extended && second & 0x80 == 0, x: false, b: false)
        }
        let third = try cursor.next()
        let map = second & 0x1F
        guard (1...3).contains(map) else { throw .invalid(mnemonic: "vex") }
        return DecodedInstruction.VEX(map: map, w: third & 0x80 != 0, vvvv: Int(~third >> 3) & (extended ? 15 : 7),
                                      l: third & 4 != 0, pp: third & 3,
                                      r: extended && second & 0x80 == 0, x: extended && second & 0x40 == 0,
                                      b: extended && second & 0x20 == 0)
    }

    /// Reads an EVEX prefix when `first` starts one (62 in 64-bit mode, or followed by a byte with top
    /// bits 11 in protected mode, where 62 is otherwise BOUND).
    private static func readEVEX(_ first: UInt8, _ cursor: inout Cursor, prefixes: DecodedInstruction.Prefixes,
                                 mode: InstructionMode) throws(DecodeError) -> DecodedInstruction.EVEX? {
        guard first == 0x62, !mode.isRealOrVirtual8086 else { return nil }
        let second = try cursor.peek()
        guard mode.is64Bit || second >> 6 == 3 else { return nil }
        cursor.advance()
        if prefixes.lock || prefixes.operandSize || prefixes.repeatPrefix != nil || prefixes.rex != nil {
            throw .invalid(mnemonic: "evex")
        }
        return DecodedInstruction.EVEX(p0: second, p1: try cursor.next(), p2: try cursor.next())
    }

    /// Decodes an EVEX-encoded (AVX-512) instruction to its end. Its memory operand's disp8 is kept
    /// as encoded: the scale EVEX applies to it depends on the instruction.
    private static func decodeEVEX(_ cursor: inout Cursor, prefixes: DecodedInstruction.Prefixes,
                                   mode: InstructionMode, opcodeOffset: Int) throws(DecodeError) -> DecodedInstruction {
        let map = prefixes.evex?.map ?? 1
        let opcode = try cursor.next()
        let modRMOffset = cursor.position
        let raw = try cursor.next()
        let evexR = prefixes.evex?.r == true ? 8 : 0
        let evexB = prefixes.evex.map { $0.p0 & 0x20 == 0 ? 8 : 0 } ?? 0
        let modRM = DecodedInstruction.ModRM(raw: raw, reg: Int(raw >> 3) & 7 | evexR, rm: Int(raw & 7) | evexB)
        let addressSize = mode.is64Bit ? (prefixes.addressSize ? 4 : 8) : (prefixes.addressSize ? 6 - mode.codeSize : mode.codeSize)
        var memory: DecodedInstruction.MemoryOperand?
        if modRM.mod != 3 {
            var extended = prefixes
            extended.rex = 0x40 | (prefixes.evex.map { ($0.p0 & 0x40 == 0 ? 2 : 0) | ($0.p0 & 0x20 == 0 ? 1 : 0) } ?? 0)
            memory = try readMemoryOperand(modRM, &cursor, prefixes: extended, addressSize: addressSize, mode: mode)
        }
        let immediateSize = map == 3 || (map == 1 && [0x70, 0x71, 0x72, 0x73, 0xC2, 0xC4, 0xC5, 0xC6].contains(opcode)) ? 1 : 0
        var immediate: UInt64 = 0
        for index in 0..<immediateSize { immediate |= UInt64(try cursor.next()) << (8 * UInt64(index)) }
        let decodedMap: DecodedInstruction.OpcodeMap = map == 2 ? .threeByte38 : map == 3 ? .threeByte3A : .twoByte
        return DecodedInstruction(
            mode: mode, bytes: Array(cursor.bytes[0..<cursor.position]), prefixes: prefixes, opcodeOffset: opcodeOffset,
            modRMOffset: modRMOffset, map: decodedMap, opcode: opcode, modRM: modRM, memory: memory,
            immediate: immediate, immediateSize: immediateSize, operandSize: 4, addressSize: addressSize,
            operation: nil, mnemonic: "evex.\(map).\(hexByte(opcode))")
    }

    private static func vexImmediate(_ opcode: UInt8) -> OpcodeTable.Immediate {
        [0x70, 0x71, 0x72, 0x73, 0xC2, 0xC4, 0xC5, 0xC6].contains(opcode) ? .byte : .none
    }

    // MARK: Sizes and operands

    private static func operandSize(map: DecodedInstruction.OpcodeMap, opcode: UInt8, modRM: DecodedInstruction.ModRM?,
                                    prefixes: DecodedInstruction.Prefixes, mode: InstructionMode) -> Int {
        guard mode.is64Bit else { return prefixes.operandSize ? 6 - mode.codeSize : mode.codeSize }
        if prefixes.rexW { return 8 }
        var defaultsTo64 = false
        switch map {
        case .primary:
            defaultsTo64 = OpcodeTable.defaultsTo64Bits.contains(opcode)
            if opcode == 0xFF, let ext = modRM?.opcodeExtension { defaultsTo64 = [2, 4, 6].contains(ext) }
        case .twoByte:
            defaultsTo64 = (0x80...0x8F).contains(opcode) || [0xA0, 0xA1, 0xA8, 0xA9].contains(opcode)
        default:
            break
        }
        if prefixes.operandSize { return 2 }
        return defaultsTo64 ? 8 : 4
    }

    private static func effectiveSegment(_ prefixes: DecodedInstruction.Prefixes, default segment: SegmentRegister,
                                         mode: InstructionMode) -> SegmentRegister {
        guard let override = prefixes.segment else { return segment }
        // 64-bit mode ignores the CS, DS, ES and SS overrides.
        if mode.is64Bit && override != .fs && override != .gs { return segment }
        return override
    }

    private static func readMemoryOperand(_ modRM: DecodedInstruction.ModRM, _ cursor: inout Cursor,
                                          prefixes: DecodedInstruction.Prefixes, addressSize: Int,
                                          mode: InstructionMode) throws(DecodeError) -> DecodedInstruction.MemoryOperand {
        let mod = modRM.mod
        let rm = modRM.raw & 7
        if addressSize == 2 {
            let forms: [(base: Int?, index: Int?)] = [
                (GeneralRegister.rbx, GeneralRegister.rsi), (GeneralRegister.rbx, GeneralRegister.rdi),
                (GeneralRegister.rbp, GeneralRegister.rsi), (GeneralRegister.rbp, GeneralRegister.rdi),
                (GeneralRegister.rsi, nil), (GeneralRegister.rdi, nil), (GeneralRegister.rbp, nil),
                (GeneralRegister.rbx, nil),
            ]
            var (base, index) = forms[Int(rm)]
            var displacement: Int64 = 0
            if mod == 0 && rm == 6 {
                base = nil
                displacement = Int64(Int16(bitPattern: try cursor.word()))
            } else if mod == 1 {
                displacement = Int64(Int8(bitPattern: try cursor.next()))
            } else if mod == 2 {
                displacement = Int64(Int16(bitPattern: try cursor.word()))
            }
            let stackBased = base == GeneralRegister.rbp
            return DecodedInstruction.MemoryOperand(
                segment: effectiveSegment(prefixes, default: stackBased ? .ss : .ds, mode: mode),
                base: base, index: index, scale: 1, displacement: displacement)
        }

        var base: Int?
        var index: Int?
        var scale = 1
        var ripRelative = false
        var displacementSize = mod == 1 ? 1 : mod == 2 ? 4 : 0
        let vexX = prefixes.vex.map { $0.x ? 8 : 0 } ?? prefixes.rexX
        if rm == 4 {
            let sib = try cursor.next()
            scale = 1 << Int(sib >> 6)
            let indexNumber = Int((sib >> 3) & 7) | vexX
            if indexNumber != GeneralRegister.rsp { index = indexNumber }
            if sib & 7 == 5 && mod == 0 {
                displacementSize = 4
            } else {
                base = Int(sib & 7) | (modRM.rm & 8)
            }
        } else if rm == 5 && mod == 0 {
            displacementSize = 4
            ripRelative = mode.is64Bit
        } else {
            base = modRM.rm
        }
        let displacement: Int64 = switch displacementSize {
        case 1: Int64(Int8(bitPattern: try cursor.next()))
        case 4: Int64(Int32(bitPattern: try cursor.doubleword()))
        default: 0
        }
        let stackBased = base == GeneralRegister.rsp || base == GeneralRegister.rbp
        return DecodedInstruction.MemoryOperand(
            segment: effectiveSegment(prefixes, default: stackBased ? .ss : .ds, mode: mode),
            base: base, index: index, scale: scale, displacement: displacement, ripRelative: ripRelative)
    }

    // MARK: Classification

    /// The operation the emulator runs (nil if none), the mnemonic, and whether the operands are bytes.
    private static func classify(map: DecodedInstruction.OpcodeMap, opcode: UInt8, modRM: DecodedInstruction.ModRM?,
                                 prefixes: DecodedInstruction.Prefixes, mode: InstructionMode)
        -> (Operation?, String, Bool) {
        let ext = modRM?.opcodeExtension ?? 0
        let isMemory = modRM.map { $0.mod != 3 } ?? false
        switch map {
        case .primary:
            return classifyPrimary(opcode, modRM: modRM, prefixes: prefixes, mode: mode)
        case .twoByte where prefixes.vex != nil:
            if opcode == 0x77 { return (nil, prefixes.vex?.l == true ? "vzeroall" : "vzeroupper", false) }
            let name = simdMnemonic(opcode, prefix: prefixes.vex?.pp ?? 0)
            return (nil, name == "(bad)" ? "vex.0f.\(hexByte(opcode))" : "v" + name, false)
        case .twoByte:
            return classifyTwoByte(opcode, modRM: modRM, ext: ext, isMemory: isMemory, prefixes: prefixes)
        case .threeByte38:
            if let vex = prefixes.vex {
                if opcode == 0xF7 && vex.pp == 0 { return (.bextr, "bextr", false) }
                return (nil, "vex.0f38.\(hexByte(opcode))", false)
            }
            switch opcode {
            case 0xF0, 0xF1:
                if prefixes.repeatPrefix == .repne { return (.crc32, "crc32", false) }
                return (.movbe, "movbe", false)
            case 0x80 where prefixes.operandSize:
                return (nil, "invept", false)
            case 0x81 where prefixes.operandSize:
                return (nil, "invvpid", false)
            case 0x82 where prefixes.operandSize:
                return (.invpcid, "invpcid", false)
            default:
                return (nil, "0f38.\(hexByte(opcode))", false)
            }
        case .threeByte3A:
            return (nil, prefixes.vex != nil ? "vex.0f3a.\(hexByte(opcode))" : "0f3a.\(hexByte(opcode))", false)
        }
    }

    private static func classifyPrimary(_ opcode: UInt8, modRM: DecodedInstruction.ModRM?,
                                        prefixes: DecodedInstruction.Prefixes,
                                        mode: InstructionMode) -> (Operation?, String, Bool) {
        let mnemonic = OpcodeTable.primaryMnemonics[Int(opcode)]
        let ext = modRM?.opcodeExtension ?? 0
        let alu: [Operation] = [.add, .or, .adc, .sbb, .and, .sub, .xor, .cmp]
        switch opcode {
        case 0x00...0x3F where opcode & 7 < 6:
            return (alu[Int(opcode >> 3)], mnemonic, opcode & 1 == 0)
        case 0x50...0x57:
            return (.push, mnemonic, false)
        case 0x58...0x5F:
            return (.pop, mnemonic, false)
        case 0x63 where mode.is64Bit:
            return (.movsxd, "movsxd", false)
        case 0x68, 0x6A:
            return (.push, mnemonic, false)
        case 0x80...0x83:
            return (alu[ext], OpcodeTable.group1[ext], opcode & 1 == 0)
        case 0x84, 0x85, 0xA8, 0xA9:
            return (.test, mnemonic, opcode & 1 == 0)
        case 0x86, 0x87:
            return (.xchg, mnemonic, opcode == 0x86)
        case 0x88...0x8B:
            return (.mov, mnemonic, opcode & 1 == 0)
        case 0x8F where ext == 0:
            return (.pop, mnemonic, false)
        case 0x90 where prefixes.rex.map({ $0 & 1 == 0 }) ?? true:
            return (.nop, prefixes.repeatPrefix == .rep ? "pause" : "nop", false)
        case 0x90...0x97:
            return (.xchg, "xchg", false)
        case 0x9B:
            return (.fwait, mnemonic, false)
        case 0xA0...0xA3:
            return (.mov, mnemonic, opcode & 1 == 0)
        case 0xA4, 0xA5:
            return (.movs, mnemonic, opcode == 0xA4)
        case 0xA6, 0xA7:
            return (.cmps, mnemonic, opcode == 0xA6)
        case 0xAA, 0xAB:
            return (.stos, mnemonic, opcode == 0xAA)
        case 0xAC, 0xAD:
            return (.lods, mnemonic, opcode == 0xAC)
        case 0xAE, 0xAF:
            return (.scas, mnemonic, opcode == 0xAE)
        case 0xB0...0xBF:
            return (.mov, mnemonic, opcode < 0xB8)
        case 0xC0, 0xC1, 0xD0...0xD3:
            let shifts: [Operation] = [.rol, .ror, .rcl, .rcr, .shl, .shr, .shl, .sar]
            return (shifts[ext], OpcodeTable.group2[ext], opcode & 1 == 0)
        case 0xC6, 0xC7:
            if ext == 0 { return (.mov, mnemonic, opcode == 0xC6) }
            return (nil, ext == 7 ? (opcode == 0xC6 ? "xabort" : "xbegin") : "(bad)", false)
        case 0xCC:
            return (.int3, mnemonic, false)
        case 0xCD:
            return (.int, mnemonic, false)
        case 0xCE:
            return (.into, mnemonic, false)
        case 0xCF:
            return (.iret, mnemonic, false)
        case 0xF1:
            return (.int1, mnemonic, false)
        case 0xD8...0xDF:
            return classifyX87(opcode, modRM: modRM)
        case 0xF6, 0xF7:
            let group3: [Operation?] = [.test, .test, .not, .neg, nil, nil, nil, nil]
            return (group3[ext], OpcodeTable.group3[ext], opcode == 0xF6)
        case 0xFE:
            let group4: [Operation?] = [.inc, .dec]
            return (ext < 2 ? group4[ext] : nil, ext < 2 ? OpcodeTable.group5[ext] : "(bad)", true)
        case 0xFF:
            let group5: [Operation?] = [.inc, .dec, nil, nil, nil, nil, .push, nil]
            return (group5[ext], OpcodeTable.group5[ext], false)
        default:
            return (nil, mnemonic, false)
        }
    }

    /// The x87 control instructions that only move status and control words; arithmetic is not emulated.
    private static func classifyX87(_ opcode: UInt8, modRM: DecodedInstruction.ModRM?) -> (Operation?, String, Bool) {
        guard let modRM else { return (nil, "x87", false) }
        switch (opcode, modRM.mod == 3 ? Int(modRM.raw) : modRM.opcodeExtension) {
        case (0xDF, 0xE0), (0xDD, 7): return (.fnstsw, "fnstsw", false)
        case (0xD9, 7) where modRM.mod != 3: return (.fnstcw, "fnstcw", false)
        case (0xD9, 5) where modRM.mod != 3: return (.fldcw, "fldcw", false)
        case (0xDB, 0xE2): return (.fnclex, "fnclex", false)
        case (0xDB, 0xE3): return (nil, "fninit", false)
        default: return (nil, "x87", false)
        }
    }

    private static func classifyTwoByte(_ opcode: UInt8, modRM: DecodedInstruction.ModRM?, ext: Int, isMemory: Bool,
                                        prefixes: DecodedInstruction.Prefixes) -> (Operation?, String, Bool) {
        let mnemonic = OpcodeTable.twoByteMnemonics[Int(opcode)]
        switch opcode {
        case 0x00:
            return (nil, OpcodeTable.group6[ext], false)
        case 0x01 where isMemory:
            return (nil, OpcodeTable.group7Memory[ext], false)
        case 0x01:
            let raw = modRM?.raw ?? 0
            let name = OpcodeTable.group7Register[raw] ?? "grp7"
            let operation: Operation? = switch raw {
            case 0xF9: .rdtscp
            case 0xCA: .clac
            case 0xCB: .stac
            case 0xD0: .xgetbv
            case 0xD1: .xsetbv
            default: nil
            }
            return (operation, name, false)
        case 0x0B:
            return (.ud2, mnemonic, false)
        case 0x18...0x1F:
            let name = opcode == 0x1E && prefixes.repeatPrefix == .rep && modRM?.raw == 0xFA ? "endbr64"
                : opcode == 0x1E && prefixes.repeatPrefix == .rep && modRM?.raw == 0xFB ? "endbr32" : mnemonic
            // 0F 18 is PREFETCHh and 0F 19–1F the reserved NOPs: none has an architectural effect.
            return (.nop, name, false)
        case 0xA3:
            return (.bt, mnemonic, false)
        case 0xAB:
            return (.bts, mnemonic, false)
        case 0xB3:
            return (.btr, mnemonic, false)
        case 0xBB:
            return (.btc, mnemonic, false)
        case 0xBA:
            let group8: [Operation?] = [nil, nil, nil, nil, .bt, .bts, .btr, .btc]
            return (group8[ext], OpcodeTable.group8[ext], false)
        case 0xB0, 0xB1:
            return (.cmpxchg, mnemonic, opcode == 0xB0)
        case 0xC0, 0xC1:
            return (.xadd, mnemonic, opcode == 0xC0)
        case 0xB6, 0xB7:
            return (.movzx, mnemonic, false)
        case 0xBE, 0xBF:
            return (.movsx, mnemonic, false)
        case 0xB8 where prefixes.repeatPrefix == .rep:
            return (.popcnt, "popcnt", false)
        case 0xB8:
            return (nil, "jmpe", false)
        case 0xB9:
            return (.ud1, mnemonic, false)
        case 0xFF:
            return (.ud0, mnemonic, false)
        case 0xC7 where isMemory:
            let name = ext == 1 && prefixes.rexW ? "cmpxchg16b" : OpcodeTable.group9Memory[ext]
            let group9: [Operation?] = [nil, prefixes.rexW ? .cmpxchg16b : .cmpxchg8b, nil, .xrstors, .xsavec, .xsaves, nil, nil]
            return (prefixes.operandSize || prefixes.repeatPrefix != nil ? nil : group9[ext], name, false)
        case 0xC7 where ext == 1:
            // The register form is #UD, which the emulator raises for want of a memory operand.
            return (prefixes.rexW ? .cmpxchg16b : .cmpxchg8b, prefixes.rexW ? "cmpxchg16b" : "cmpxchg8b", false)
        case 0xC7:
            let name = ext == 6 ? "rdrand" : ext == 7 ? (prefixes.repeatPrefix == .rep ? "rdpid" : "rdseed") : "grp9"
            return (nil, name, false)
        case 0xAE where isMemory:
            if prefixes.repeatPrefix != nil { return (nil, "grp15", false) }
            if prefixes.operandSize {
                if ext == 6 { return (.clwb, "clwb", false) }
                if ext == 7 { return (.clflushopt, "clflushopt", false) }
                return (nil, OpcodeTable.group15Memory[ext], false)
            }
            let group15: [Operation?] = [.fxsave, .fxrstor, .ldmxcsr, .stmxcsr, .xsave, .xrstor, .xsaveopt, .clflush]
            return (group15[ext], OpcodeTable.group15Memory[ext], false)
        case 0xAE:
            if prefixes.repeatPrefix == .rep && ext < 4 { return (nil, OpcodeTable.group15Register[ext], false) }
            let fences: [Operation?] = [nil, nil, nil, nil, nil, .lfence, .mfence, .sfence]
            let valid = prefixes.repeatPrefix == nil && !prefixes.operandSize
            return (valid ? fences[ext] : nil, OpcodeTable.group15Register[ext], false)
        default:
            let prefix: UInt8 = prefixes.operandSize ? 1 : prefixes.repeatPrefix == .rep ? 2 : prefixes.repeatPrefix == .repne ? 3 : 0
            return (nil, simdMnemonic(opcode, prefix: prefix), false)
        }
    }

    /// The 0F-map name of an SSE/MMX opcode with implied prefix `prefix` (0 none, 1 = 66, 2 = F3,
    /// 3 = F2), where the prefix changes the name.
    private static func simdMnemonic(_ opcode: UInt8, prefix: UInt8) -> String {
        switch (opcode, prefix) {
        case (0x6F, 1), (0x7F, 1): "movdqa"
        case (0x6F, 2), (0x7F, 2): "movdqu"
        case (0x10, 1), (0x11, 1): "movupd"
        case (0x10, 2), (0x11, 2): "movss"
        case (0x10, 3), (0x11, 3): "movsd"
        case (0x28, 1), (0x29, 1): "movapd"
        default: OpcodeTable.twoByteMnemonics[Int(opcode)]
        }
    }

    private static func hexByte(_ byte: UInt8) -> String {
        (byte < 16 ? "0" : "") + String(byte, radix: 16)
    }

    /// Reads instruction bytes in order, enforcing the 15-byte limit.
    struct Cursor {
        let bytes: [UInt8]
        private(set) var position = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        func peek() throws(DecodeError) -> UInt8 {
            guard position < InstructionDecoder.maximumLength else { throw .tooLong }
            guard position < bytes.count else { throw .truncated(available: bytes.count) }
            return bytes[position]
        }

        mutating func advance() { position += 1 }

        mutating func next() throws(DecodeError) -> UInt8 {
            let byte = try peek()
            position += 1
            return byte
        }

        mutating func word() throws(DecodeError) -> UInt16 {
            UInt16(try next()) | UInt16(try next()) << 8
        }

        mutating func doubleword() throws(DecodeError) -> UInt32 {
            UInt32(try word()) | UInt32(try word()) << 16
        }
    }
}
