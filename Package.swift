// swift-tools-version:6.2
import PackageDescription

// Sources/ is grouped by where the code runs:
//   Shared/  linked by host and guest binaries alike: no Foundation
//   Host/    the hypervisor side: genidd, genidctl and what they stand on
//   Guest/   inside the VM: the SysGenID library, sysgenidd, sysgenidctl
//   Lab/     genid-lab, which drives both sides; nothing imports it
// A target lists exactly the modules it imports (Tests/check-manifest).
// Guest products are built with --static-swift-stdlib into .build-guest and
// must not import Foundation: every megabyte lands in the guest initramfs.

let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")

let package = Package(
    name: "genid",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "genid-lab", targets: ["genid-lab"]),
        .executable(name: "genidctl", targets: ["genidctl"]),
        .executable(name: "genidd", targets: ["genidd"]),
        .executable(name: "sysgenidd", targets: ["sysgenidd"]),
        .executable(name: "sysgenidctl", targets: ["sysgenidctl"]),
        .library(name: "SysGenID", targets: ["SysGenID"]),
        .library(name: "VMGenID", targets: ["VMGenID"]),
        .library(name: "QMP", targets: ["QMP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.27.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
    ],
    targets: [
        // MARK: Shared (host and guest)

        // The 16-byte value, its byte orders, the ACPI tables that locate it,
        // guest memory access.
        .target(name: "VMGenID", path: "Sources/Shared/VMGenID"),
        // Line protocol between the host and the guest agent.
        .target(name: "AgentProtocol", path: "Sources/Shared/AgentProtocol"),

        // MARK: Host

        .target(name: "QMP", dependencies: [nioCore, nioPosix, logging], path: "Sources/Host/QMP"),
        // Host end of the guest agent's virtio-serial channel (lab and genidd).
        .target(name: "GuestAgent", dependencies: ["AgentProtocol", "QMP", nioCore, nioPosix],
                path: "Sources/Host/GuestAgent"),
        // libvirt 9.0 (libvirt-dev): the C API and a Swift wrapper over it.
        .systemLibrary(name: "CLibvirt", path: "Sources/Host/CLibvirt", pkgConfig: "libvirt",
                       providers: [.apt(["libvirt-dev"])]),
        .target(name: "Libvirt", dependencies: ["CLibvirt"], path: "Sources/Host/Libvirt"),
        // genidd's event -> action table: pure, no libvirt.
        .target(name: "GenIDPolicy", dependencies: ["VMGenID"], path: "Sources/Host/GenIDPolicy"),
        // The ledger: every value ever given to every VM. The protocol and
        // an in-memory implementation; the SQLite one for a single host.
        .target(name: "GenerationStore", dependencies: ["VMGenID"], path: "Sources/Host/GenerationStore"),
        .target(name: "SQLiteGenerationStore",
                dependencies: ["GenerationStore", "VMGenID", .product(name: "GRDB", package: "GRDB.swift")],
                path: "Sources/Host/SQLiteGenerationStore"),
        // The fleet ledger: one PostgreSQL database every host's genid shares.
        .target(name: "PostgresGenerationStore",
                dependencies: ["GenerationStore", "VMGenID", logging,
                               .product(name: "NIOSSL", package: "swift-nio-ssl"),
                               .product(name: "PostgresNIO", package: "postgres-nio")],
                path: "Sources/Host/PostgresGenerationStore"),
        // A ledger from its location: a postgres:// URL or an SQLite path.
        .target(name: "OpenLedger",
                dependencies: ["GenerationStore", "PostgresGenerationStore", "SQLiteGenerationStore"],
                path: "Sources/Host/OpenLedger"),
        // Attach to a QEMU (monitor + guest memory) and rotate its value at
        // every state load. Used by genidctl, genidd and the lab.
        .target(name: "GenIDHost", dependencies: ["GenerationStore", "QMP", "VMGenID"],
                path: "Sources/Host/GenIDHost"),
        // genidd's control socket protocol, and the client genidctl uses.
        .target(name: "GenIDControl", dependencies: ["GenerationStore"], path: "Sources/Host/GenIDControl"),
        // genidd: libvirt supervisor, policy execution, readiness gate,
        // control socket, metrics. The executable only parses options.
        .target(
            name: "GenIDDaemon",
            dependencies: [
                "AgentProtocol", "GenIDControl", "GenIDHost", "GenIDPolicy", "GenerationStore", "GuestAgent",
                "Libvirt", "QMP", "VMGenID", logging, nioCore, nioPosix,
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Host/GenIDDaemon"
        ),
        .executableTarget(name: "genidd", dependencies: ["GenIDDaemon", "OpenLedger", argumentParser],
                         path: "Sources/Host/genidd"),
        .executableTarget(
            name: "genidctl",
            dependencies: ["GenIDControl", "GenIDHost", "GenerationStore", "Libvirt", "OpenLedger", "VMGenID",
                           argumentParser],
            path: "Sources/Host/genidctl"
        ),

        // MARK: Guest

        // Guest library over /dev/sysgenid and the userspace provider.
        .target(name: "SysGenID", path: "Sources/Guest/SysGenID"),
        .executableTarget(name: "sysgenidd", dependencies: ["AgentProtocol", "SysGenID", "VMGenID"],
                          path: "Sources/Guest/sysgenidd"),
        .executableTarget(name: "sysgenidctl", dependencies: ["SysGenID"], path: "Sources/Guest/sysgenidctl"),

        // MARK: Lab

        .target(
            name: "GenIDLab",
            dependencies: [
                "AgentProtocol", "GenIDControl", "GenIDDaemon", "GenIDHost", "GenerationStore", "GuestAgent", "Libvirt",
                "OpenLedger", "QMP", "SQLiteGenerationStore", "VMGenID", nioCore, nioPosix,
            ],
            path: "Sources/Lab/GenIDLab"
        ),
        .executableTarget(
            name: "genid-lab",
            dependencies: ["AgentProtocol", "GenIDHost", "GenIDLab", "GenerationStore", "GuestAgent",
                           "SQLiteGenerationStore", argumentParser],
            path: "Sources/Lab/genid-lab"
        ),

        // MARK: Tests. The unit tier (make check) is every target but
        // LabIntegrationTests, which boots real guests under QEMU and libvirt.

        // Guest RAM in an array with QEMU's ACPI tables, for the tests of
        // the ACPI walk, the rotation protocol and the daemon.
        .target(name: "GuestMemoryFixtures", dependencies: ["VMGenID"], path: "Tests/Fixtures"),
        .testTarget(name: "VMGenIDTests", dependencies: ["GuestMemoryFixtures", "VMGenID"]),
        .testTarget(name: "AgentProtocolTests", dependencies: ["AgentProtocol"]),
        .testTarget(name: "QMPTests", dependencies: ["QMP", nioCore, nioPosix]),
        .testTarget(name: "LibvirtTests", dependencies: ["CLibvirt", "Libvirt"]),
        .testTarget(name: "GenIDPolicyTests", dependencies: ["GenIDPolicy", "VMGenID"]),
        .testTarget(name: "GenerationStoreTests",
                    dependencies: ["GenerationStore", "PostgresGenerationStore", "SQLiteGenerationStore", "VMGenID"]),
        .testTarget(name: "GenIDHostTests",
                    dependencies: ["GenIDHost", "GenerationStore", "GuestMemoryFixtures", "QMP", "VMGenID"]),
        .testTarget(name: "GenIDDaemonTests",
                    dependencies: ["GenIDControl", "GenIDDaemon", "GenIDHost", "GenIDPolicy", "GenerationStore",
                                   "GuestMemoryFixtures", "Libvirt", "VMGenID", logging]),
        .testTarget(name: "SysGenIDTests", dependencies: ["SysGenID"]),
        // sysgenidd and sysgenidctl as built, run on this machine as root:
        // hooks' trust and descriptors, the provider's TRIGGER rights and
        // connection cap, with clients as other uids (provider-client.c).
        .testTarget(name: "GuestDaemonTests", exclude: ["provider-client.c"]),
        .testTarget(name: "GenIDLabTests", dependencies: ["GenIDLab", "GuestMemoryFixtures", "VMGenID"]),
        .testTarget(
            name: "LabIntegrationTests",
            dependencies: ["AgentProtocol", "GenIDControl", "GenIDDaemon", "GenIDHost", "GenIDLab", "GuestAgent",
                           "Libvirt", "QMP", "SQLiteGenerationStore", "VMGenID"]
        ),
    ]
)

// No warnings in the project's own code, debug or release: each is an
// error here (dependencies keep their own settings).
for target in package.targets where target.type != .system && target.type != .binary {
    target.swiftSettings = (target.swiftSettings ?? []) + [.treatAllWarnings(as: .error)]
}
