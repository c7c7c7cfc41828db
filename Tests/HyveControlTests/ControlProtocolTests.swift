import Foundation
import Glibc
import HyveControl
import Testing

/// The JSON shape of every request and response, and how bad messages are sorted.
struct ControlProtocolTests {
    static let requests: [ControlRequest] = [
        .getActiveCPUs, .getSuspendedCPUs,
        .suspend(how: .reset), .suspend(how: .poweroff), .suspend(how: .halt), .suspend(how: .triplefault),
        .reinit,
        .getRegister(vcpu: 1, register: .rip), .setRegister(vcpu: 0, register: .cr3, value: 0xFFFF_FFFF_FFFF_F000),
        .getSegmentDescriptor(vcpu: 0, name: .gdtr),
        .setSegmentDescriptor(vcpu: 2, name: .cs, descriptor: ControlSegmentDescriptor(base: 0, limit: 0xFFFF_FFFF, access: 0xA09B)),
        .getIntinfo(vcpu: 3), .injectNMI(vcpu: 0),
        .injectException(vcpu: 0, vector: 13, errorCode: 0x18, restart: true),
        .injectException(vcpu: 1, vector: 6, errorCode: nil, restart: false),
        .lapicIRQ(vcpu: 0, vector: 0x30),
        .lapicLocalIRQ(target: .vcpu(1), pin: 1), .lapicLocalIRQ(target: .all, pin: 0),
        .isaAssert(irq: 4, ioapicPin: 4), .isaDeassert(irq: 4, ioapicPin: nil), .isaPulse(irq: 1, ioapicPin: 1),
        .ioapicAssert(pin: 16), .ioapicDeassert(pin: 16), .ioapicPulse(pin: 23),
        .lapicMSI(address: 0xFEE0_0000, data: 0x4041),
        .getStats(vcpu: 0), .getMemoryMap, .getTopology,
        .rtcGetTime, .rtcSetTime(seconds: 1_700_000_000), .rtcRead(offset: 0x0E), .rtcWrite(offset: 0x0E, value: 0xA5),
        .gla2gpa(vcpu: 0, gla: 0xFFFF_8000_0000_1000, access: .execute),
        .gla2gpaNoFault(vcpu: 1, gla: 0x1000, access: .write),
        .copyIn(vcpu: 0, gla: 0xFFFF_8000_0020_3000, length: 64),
        .copyOut(vcpu: 0, gla: 0x10_2000, bytes: [0x00, 0x0E, 0xFF, 0xA5]), .copyOut(vcpu: 1, gla: 0, bytes: []),
        .getAll(vcpu: 1), .getX2APICState(vcpu: 0), .destroy,
    ]

    static let responses: [ControlResponse] = [
        .done, .cpus([0, 1, 3]), .cpus([]), .value(UInt64.max),
        .descriptor(ControlSegmentDescriptor(base: 0x1000, limit: 0x27, access: 0x8B)),
        .intinfo(info1: 0x8000_0B0E, info2: 0),
        .stats(["vm exits due to external interrupt": 12, "number of NMIs delivered to vcpu": 0]),
        .memoryMap([ControlMemoryMapEntry(gpa: 0, length: 0xC000_0000, segment: "sysmem", offset: 0, protection: "rwx", wired: false),
                    ControlMemoryMapEntry(gpa: 0xFFE0_0000, length: 0x20_0000, segment: "bootrom", offset: 0, protection: "r-x", wired: true)]),
        .topology(ControlTopology(sockets: 1, cores: 2, threads: 1, maxCPUs: 16)),
        .time(seconds: -1), .translation(gpa: 0x1000), .translation(gpa: nil),
        .failure(EBUSY, "an exception is already pending"),
        .bytes([0, 1, 0x7F, 0x80, 0xFF]), .bytes([]),
        .guestFault(ControlGuestFault(vector: 14, errorCode: 2, address: 0xFFFF_8000_0040_0000, injected: true)),
        .guestFault(ControlGuestFault(vector: 13, errorCode: 0, address: nil, injected: false)),
        .vcpuState(ControlVCPUState(registers: [.rip: 0x10_1124, .cr3: 0x2000, .cs: 0x18],
                                    descriptors: [.idtr: ControlSegmentDescriptor(base: 0x10_2000, limit: 0xFFF, access: 0)])),
    ]

    static func json(_ value: some Encodable) throws -> String {
        var bytes = try ControlFraming.frame(value)
        #expect(bytes.removeLast() == UInt8(ascii: "\n"))
        return String(decoding: bytes, as: UTF8.self)
    }

    static func decode(_ text: String) -> ControlDecodedRequest {
        ControlRequest.decode(Array(text.utf8))
    }

    static func expectRejected(_ text: String, code: Int32, saying words: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard case .rejected(.error(let error)) = decode(text) else {
            Issue.record("\(text) was not rejected: \(decode(text))", sourceLocation: sourceLocation)
            return
        }
        #expect(error.code == code, sourceLocation: sourceLocation)
        #expect(error.message.contains(words), "\(error.message)", sourceLocation: sourceLocation)
    }

    @Test func everyRequestSurvivesAJSONRoundTrip() throws {
        for request in Self.requests {
            let bytes = try ControlFraming.frame(request)
            #expect(ControlRequest.decode(bytes.dropLast()) == .request(request), "\(request)")
        }
    }

    @Test func theRoundTripCoversEveryRequestKind() {
        #expect(Set(Self.requests.map(\.kind)) == ControlRequest.kinds)
    }

    @Test func everyResponseSurvivesAJSONRoundTrip() throws {
        for response in Self.responses {
            let bytes = try ControlFraming.frame(response)
            #expect(try ControlResponse.decodeResponse(Array(bytes.dropLast())) == response, "\(response)")
        }
    }

    @Test func requestFieldNamesAreStable() throws {
        #expect(try Self.json(ControlRequest.getRegister(vcpu: 1, register: .rflags))
                == #"{"register":"rflags","request":"getRegister","vcpu":1,"version":1}"#)
        #expect(try Self.json(ControlRequest.suspend(how: .poweroff)) == #"{"how":"poweroff","request":"suspend","version":1}"#)
        #expect(try Self.json(ControlRequest.lapicLocalIRQ(target: .all, pin: 1))
                == #"{"pin":1,"request":"lapicLocalIRQ","vcpu":"all","version":1}"#)
        #expect(try Self.json(ControlRequest.isaPulse(irq: 8, ioapicPin: nil)) == #"{"irq":8,"request":"isaPulse","version":1}"#)
        #expect(try Self.json(ControlRequest.injectException(vcpu: 0, vector: 14, errorCode: 2, restart: true))
                == #"{"errorCode":2,"request":"injectException","restart":true,"vcpu":0,"vector":14,"version":1}"#)
        #expect(try Self.json(ControlRequest.setSegmentDescriptor(vcpu: 0, name: .tr, descriptor: .init(base: 1, limit: 2, access: 3)))
                == #"{"descriptor":{"access":3,"base":1,"limit":2},"name":"tr","request":"setSegmentDescriptor","vcpu":0,"version":1}"#)
    }

    @Test func newRequestFieldNamesAreStable() throws {
        #expect(try Self.json(ControlRequest.copyOut(vcpu: 0, gla: 16, bytes: [0x0E, 0xAB]))
                == #"{"data":"0eab","gla":16,"request":"copyOut","vcpu":0,"version":1}"#)
        #expect(try Self.json(ControlRequest.copyIn(vcpu: 1, gla: 16, length: 4))
                == #"{"gla":16,"length":4,"request":"copyIn","vcpu":1,"version":1}"#)
        #expect(try Self.json(ControlRequest.gla2gpaNoFault(vcpu: 0, gla: 4096, access: .read))
                == #"{"access":"read","gla":4096,"request":"gla2gpaNoFault","vcpu":0,"version":1}"#)
        #expect(try Self.json(ControlRequest.destroy) == #"{"request":"destroy","version":1}"#)
        #expect(try Self.json(ControlRequest.getAll(vcpu: 2)) == #"{"request":"getAll","vcpu":2,"version":1}"#)
    }

    @Test func newResponseFieldNamesAreStable() throws {
        #expect(try Self.json(ControlResponse.bytes([0xDE, 0xAD])) == #"{"data":"dead","result":"bytes","version":1}"#)
        #expect(try Self.json(ControlResponse.guestFault(.init(vector: 14, errorCode: 2, address: 8, injected: true)))
                == #"{"fault":{"address":8,"errorCode":2,"injected":true,"vector":14},"result":"guestFault","version":1}"#)
        #expect(try Self.json(ControlResponse.vcpuState(.init(registers: [.rip: 1], descriptors: [:])))
                == #"{"result":"vcpuState","state":{"descriptors":{},"registers":{"rip":1}},"version":1}"#)
    }

    @Test func vcpuStateIsReadByRegisterAndDescriptorName() {
        let descriptor = ControlSegmentDescriptor(base: 1, limit: 2, access: 3)
        let state = ControlVCPUState(registers: [.rflags: 0x46], descriptors: [.tr: descriptor])
        #expect(state[.rflags] == 0x46)
        #expect(state[.rax] == nil)
        #expect(state[descriptor: .tr] == descriptor)
        #expect(state[descriptor: .gdtr] == nil)
    }

    @Test func hexRoundTripsEveryByteValueAndAcceptsUpperCase() {
        let all = (0...255).map(UInt8.init)
        #expect(ControlProtocol.bytes(hex: ControlProtocol.hex(all)) == all)
        #expect(ControlProtocol.hex([0x0A, 0xB0]) == "0ab0")
        #expect(ControlProtocol.bytes(hex: "0AB0") == [0x0A, 0xB0])
        #expect(ControlProtocol.bytes(hex: "") == [])
    }

    @Test func hexWithAnOddDigitCountOrAForeignCharacterIsRefused() {
        for text in ["0", "abc", "0g", "zz", " 0a", "0x0a"] {
            #expect(ControlProtocol.bytes(hex: text) == nil, "\(text)")
        }
        Self.expectRejected(#"{"version":1,"request":"copyOut","vcpu":0,"gla":0,"data":"0g"}"#, code: EINVAL, saying: "'data'")
    }

    @Test func responseFieldNamesAreStable() throws {
        #expect(try Self.json(ControlResponse.cpus([0, 2])) == #"{"cpus":[0,2],"result":"cpus","version":1}"#)
        #expect(try Self.json(ControlResponse.intinfo(info1: 1, info2: 2)) == #"{"info1":1,"info2":2,"result":"intinfo","version":1}"#)
        #expect(try Self.json(ControlResponse.translation(gpa: nil)) == #"{"result":"translation","version":1}"#)
        #expect(try Self.json(ControlResponse.failure(EINVAL, "bad vcpu")) == #"{"code":22,"message":"bad vcpu","result":"error","version":1}"#)
        #expect(try Self.json(ControlResponse.topology(.init(sockets: 1, cores: 2, threads: 3, maxCPUs: 6)))
                == #"{"result":"topology","topology":{"cores":2,"maxCPUs":6,"sockets":1,"threads":3},"version":1}"#)
    }

    @Test func registerAndDescriptorNamesAreBhyvectls() {
        let registers = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
                         "rip", "rflags", "cr0", "cr2", "cr3", "cr4", "dr0", "dr1", "dr2", "dr3", "dr6", "dr7", "efer",
                         "cs", "ds", "es", "fs", "gs", "ss", "tr", "ldtr"]
        #expect(ControlRegister.allCases.map(\.rawValue) == registers)
        #expect(Set(ControlDescriptorName.allCases.map(\.rawValue)) == ["es", "cs", "ss", "ds", "fs", "gs", "ldtr", "tr", "gdtr", "idtr"])
    }

    @Test func handWrittenRequestWithOptionalFieldsLeftOutDecodes() {
        #expect(Self.decode(#"{"version":1,"request":"injectException","vcpu":0,"vector":6}"#)
                == .request(.injectException(vcpu: 0, vector: 6, errorCode: nil, restart: false)))
        #expect(Self.decode(#"{"version":1,"request":"isaAssert","irq":3,"extra":"ignored"}"#) == .request(.isaAssert(irq: 3, ioapicPin: nil)))
    }

    @Test func newerVersionIsRejectedWithProtocolNotSupported() {
        Self.expectRejected(#"{"version":2,"request":"getTopology"}"#, code: EPROTONOSUPPORT, saying: "version 2")
        Self.expectRejected(#"{"version":0,"request":"brandNewThing"}"#, code: EPROTONOSUPPORT, saying: "version 0")
    }

    @Test func unknownRequestIsRejectedWithNotImplemented() {
        Self.expectRejected(#"{"version":1,"request":"getVMCSExitReason","vcpu":0}"#, code: ENOSYS, saying: "unknown request 'getVMCSExitReason'")
    }

    @Test func missingOrIllTypedFieldsAreRejectedWithInvalidArgument() {
        Self.expectRejected(#"{"request":"getTopology"}"#, code: EINVAL, saying: "version")
        Self.expectRejected(#"{"version":1}"#, code: EINVAL, saying: "request")
        Self.expectRejected(#"{"version":"1","request":"getTopology"}"#, code: EINVAL, saying: "version")
        Self.expectRejected(#"{"version":1,"request":"getRegister","register":"rax"}"#, code: EINVAL, saying: "missing field 'vcpu'")
        Self.expectRejected(#"{"version":1,"request":"getRegister","vcpu":0,"register":"xmm0"}"#, code: EINVAL, saying: "'register'")
        Self.expectRejected(#"{"version":1,"request":"rtcWrite","offset":14,"value":256}"#, code: EINVAL, saying: "'value'")
        Self.expectRejected(#"{"version":1,"request":"setRegister","vcpu":0,"register":"rax","value":-1}"#, code: EINVAL, saying: "'value'")
        Self.expectRejected(#"{"version":1,"request":"injectException","vcpu":0,"vector":13,"errorCode":4294967296}"#,
                            code: EINVAL, saying: "'errorCode'")
        Self.expectRejected(#"{"version":1,"request":"lapicLocalIRQ","vcpu":"some","pin":0}"#, code: EINVAL, saying: "\"all\"")
        Self.expectRejected(#"{"version":1,"request":"setSegmentDescriptor","vcpu":0,"name":"cs","descriptor":{"base":0}}"#,
                            code: EINVAL, saying: "missing field 'descriptor.limit'")
    }

    @Test func bytesThatAreNotAJSONObjectAreMalformed() {
        for text in ["{\"version\":1,", "[1,2]", "42", "hello", "\u{FF}"] {
            #expect(Self.decode(text) == .malformed, "\(text)")
        }
    }

    @Test func responseOfAnotherVersionOrShapeThrowsProtocolError() {
        for text in [#"{"version":2,"result":"done"}"#, #"{"version":1,"result":"surprise"}"#, "nonsense"] {
            do {
                _ = try ControlResponse.decodeResponse(Array(text.utf8))
                Issue.record("\(text) decoded")
            } catch {
                #expect(error.code == EPROTO)
            }
        }
    }

    @Test func errorMessageStaysOnOneLine() throws {
        let error = ControlError(code: EIO, message: "first\nsecond\r\nthird")
        #expect(error.message == "first second third")
        #expect(try !Self.json(ControlResponse.error(error)).contains("\n"))
    }
}
