import Foundation
import Glibc
import HyveControl
import Testing

/// Where control sockets live and how `hyvectl --list` finds them.
struct ControlSocketPathTests {
    @Test func directoryIsUnderTheUsersRuntimeDirectoryWhenSet() {
        #expect(ControlSocketPath.directory(environment: ["XDG_RUNTIME_DIR": "/run/user/1000"]) == "/run/user/1000/hyve")
        #expect(ControlSocketPath.directory(environment: ["XDG_RUNTIME_DIR": "/run/user/1000/"]) == "/run/user/1000/hyve")
    }

    @Test func directoryIsRunHyveOtherwise() {
        #expect(ControlSocketPath.directory(environment: [:]) == "/run/hyve")
        #expect(ControlSocketPath.directory(environment: ["XDG_RUNTIME_DIR": ""]) == "/run/hyve")
    }

    @Test func socketIsNamedAfterTheVM() throws {
        #expect(try ControlSocketPath.path(for: "guest1", in: "/run/hyve") == "/run/hyve/guest1.sock")
    }

    @Test func namesThatWouldLeaveTheDirectoryAreRefused() {
        for name in ["", "../x", "a/b", ".hidden", "nul\0"] {
            do {
                _ = try ControlSocketPath.path(for: name, in: "/run/hyve")
                Issue.record("'\(name)' was accepted")
            } catch {
                #expect(error.code == EINVAL)
            }
        }
    }

    @Test func createDirectoryMakesParentsOwnerOnly() throws {
        let root = ControlTemporaryDirectory()
        let directory = root.path + "/runtime/hyve"
        try ControlSocketPath.createDirectory(directory)
        try ControlSocketPath.createDirectory(directory)
        var info = stat()
        #expect(stat(directory, &info) == 0)
        #expect(info.st_mode & S_IFMT == S_IFDIR)
        #expect(info.st_mode & 0o077 == 0)
    }

    @Test func listingNamesLiveSocketsSortedAndSkipsEverythingElse() throws {
        let directory = ControlTemporaryDirectory()
        let zeta = try ControlServer(path: try ControlSocketPath.path(for: "zeta", in: directory.path)) { _ in .done }
        defer { zeta.close() }
        let alpha = try ControlServer(path: try ControlSocketPath.path(for: "alpha", in: directory.path)) { _ in .done }
        defer { alpha.close() }
        try ControlServerTests.leaveStaleSocket(at: directory.socket("gone"))
        #expect(FileManager.default.createFile(atPath: directory.socket("plain"), contents: Data()))
        #expect(FileManager.default.createFile(atPath: directory.path + "/notes.txt", contents: Data()))
        #expect(ControlSocketPath.list(in: directory.path) == ["alpha", "zeta"])
        alpha.close()
        #expect(ControlSocketPath.list(in: directory.path) == ["zeta"])
    }

    @Test func listingAMissingDirectoryIsEmpty() {
        #expect(ControlSocketPath.list(in: "/nonexistent/hyve") == [])
    }
}
