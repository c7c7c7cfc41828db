/// One note from an ELF file's PT_NOTE segments: an owner name, a type and a descriptor.
struct ELFNote: Equatable {
    /// The owner's name without its NUL padding ("Xen" for PVH notes).
    var name: [UInt8]
    var type: UInt32
    var descriptor: [UInt8]

    /// The notes of every PT_NOTE segment of `bytes`, an ELF file whose header `ProgramImage.elf` has
    /// already accepted.
    ///
    /// - Throws: ``KernelBootError/truncatedKernel(size:needed:)`` when a note segment runs past the end
    ///   of the file. A note that runs past the end of its segment ends that segment's list instead: the
    ///   damaged area reads as having fewer notes, and the caller reports what it did not find.
    static func notes(in bytes: [UInt8]) throws(KernelBootError) -> [ELFNote] {
        let is64 = bytes[classOffset] == class64
        let tableOffset = is64 ? bytes.littleEndian(UInt64.self, at: 32) : UInt64(bytes.littleEndian(UInt32.self, at: 28))
        let entrySize = UInt64(bytes.littleEndian(UInt16.self, at: is64 ? 54 : 42))
        let count = UInt64(bytes.littleEndian(UInt16.self, at: is64 ? 56 : 44))
        var notes: [ELFNote] = []
        for index in 0..<count {
            // ProgramImage.elf has checked that every program header lies in the file.
            let header = Int(tableOffset + index * entrySize)
            guard bytes.littleEndian(UInt32.self, at: header) == noteType else { continue }
            let offset = is64 ? bytes.littleEndian(UInt64.self, at: header + 8)
                : UInt64(bytes.littleEndian(UInt32.self, at: header + 4))
            let size = is64 ? bytes.littleEndian(UInt64.self, at: header + 32)
                : UInt64(bytes.littleEndian(UInt32.self, at: header + 16))
            let alignment = is64 ? bytes.littleEndian(UInt64.self, at: header + 48)
                : UInt64(bytes.littleEndian(UInt32.self, at: header + 28))
            let end = offset.addingReportingOverflow(size)
            guard !end.overflow, end.partialValue <= UInt64(bytes.count) else {
                throw .truncatedKernel(size: bytes.count, needed: end.overflow ? .max : end.partialValue)
            }
            // Notes are padded to 4 bytes, or to 8 in the rare segments aligned to 8.
            notes += parse(bytes, from: Int(offset), to: Int(end.partialValue), padding: alignment == 8 ? 8 : 4)
        }
        return notes
    }

    private static func parse(_ bytes: [UInt8], from start: Int, to end: Int, padding: Int) -> [ELFNote] {
        var notes: [ELFNote] = []
        var offset = start
        while end - offset >= noteHeaderSize {
            let nameSize = Int(bytes.littleEndian(UInt32.self, at: offset))
            let descriptorSize = Int(bytes.littleEndian(UInt32.self, at: offset + 4))
            let type = bytes.littleEndian(UInt32.self, at: offset + 8)
            let nameStart = offset + noteHeaderSize
            let descriptorStart = nameStart + padded(nameSize, to: padding)
            let next = descriptorStart + padded(descriptorSize, to: padding)
            guard descriptorStart + descriptorSize <= end else { break }
            var name = Array(bytes[nameStart..<nameStart + nameSize])
            while name.last == 0 {
                name.removeLast()
            }
            notes.append(ELFNote(name: name, type: type,
                                 descriptor: Array(bytes[descriptorStart..<descriptorStart + descriptorSize])))
            offset = next
        }
        return notes
    }

    private static func padded(_ size: Int, to padding: Int) -> Int {
        (size + padding - 1) / padding * padding
    }

    private static let classOffset = 4
    private static let class64: UInt8 = 2
    private static let noteType: UInt32 = 4
    private static let noteHeaderSize = 12
}
