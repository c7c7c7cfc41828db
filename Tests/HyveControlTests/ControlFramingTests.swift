import HyveControl
import Glibc
import Testing

/// Newline-delimited framing, however the stream is cut.
struct ControlFramingTests {
    static func drain(_ decoder: inout ControlFrameDecoder) throws -> [String] {
        var messages: [String] = []
        while let message = try decoder.nextMessage() { messages.append(String(decoding: message, as: UTF8.self)) }
        return messages
    }

    @Test func messagesSplitAcrossSingleByteReadsAreReassembled() throws {
        let stream = Array("{\"a\":1}\n{\"b\":[1,2]}\n".utf8)
        var decoder = ControlFrameDecoder()
        var messages: [String] = []
        for byte in stream {
            decoder.append([byte])
            messages += try Self.drain(&decoder)
        }
        #expect(messages == ["{\"a\":1}", "{\"b\":[1,2]}"])
        #expect(!decoder.hasPartialMessage)
    }

    @Test func severalMessagesInOneReadComeOutInOrder() throws {
        var decoder = ControlFrameDecoder()
        decoder.append(Array("one\ntwo\nthr".utf8))
        #expect(try Self.drain(&decoder) == ["one", "two"])
        #expect(decoder.hasPartialMessage)
        decoder.append(Array("ee\n".utf8))
        #expect(try Self.drain(&decoder) == ["three"])
    }

    @Test func carriageReturnsAndBlankLinesFromATerminalAreTolerated() throws {
        var decoder = ControlFrameDecoder()
        decoder.append(Array("\n\r\n{}\r\n\n".utf8))
        #expect(try Self.drain(&decoder) == ["{}"])
    }

    @Test func messageOfExactlyTheLimitIsAccepted() throws {
        var decoder = ControlFrameDecoder(maximumMessageSize: 8)
        decoder.append(Array("12345678\n".utf8))
        #expect(try Self.drain(&decoder) == ["12345678"])
    }

    @Test func oversizedMessageThrowsBeforeItsNewlineArrives() {
        var decoder = ControlFrameDecoder(maximumMessageSize: 8)
        decoder.append(Array("1234".utf8))
        #expect(throws: Never.self) { try decoder.nextMessage() }
        decoder.append(Array("56789".utf8))
        do {
            _ = try decoder.nextMessage()
            Issue.record("an oversized partial message was accepted")
        } catch {
            #expect(error.code == EMSGSIZE)
        }
    }

    @Test func oversizedCompleteMessageThrows() {
        var decoder = ControlFrameDecoder(maximumMessageSize: 4)
        decoder.append(Array("ok\n123456\n".utf8))
        #expect(try! decoder.nextMessage().map { String(decoding: $0, as: UTF8.self) } == "ok")
        #expect(throws: ControlError.self) { try decoder.nextMessage() }
    }

    @Test func defaultLimitIsOneMebibyte() {
        #expect(ControlFrameDecoder().maximumMessageSize == 1 << 20)
        #expect(ControlProtocol.maximumMessageSize == 1 << 20)
    }

    @Test func framedMessageIsOneLine() throws {
        let bytes = try ControlFraming.frame(ControlResponse.failure(EINVAL, "a \"quoted\" / slashed message"))
        #expect(bytes.last == UInt8(ascii: "\n"))
        #expect(bytes.filter { $0 == UInt8(ascii: "\n") }.count == 1)
    }
}
