// swift-tools-version:6.1
// The benchmark harness lives in its own package so that ordinary builds and CI of the daemon do
// not pay for it. It talks to `huddled`, `nats-server` and `redis-server` over loopback only, as a
// client would; it does not link the daemon's modules (a benchmark of the wire should not depend
// on the server's internals, and it keeps this package buildable while the root is mid-change).
import PackageDescription

let package = Package(
    name: "HuddleBenchmarks",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "huddle-bench", targets: ["huddle-bench"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", exact: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
    ],
    targets: [
        .executableTarget(
            name: "huddle-bench",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ])
    ],
    swiftLanguageModes: [.v6]
)
