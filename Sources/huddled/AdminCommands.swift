import ArgumentParser
import Foundation
import HuddleCore
import HuddleProtocol
import HuddleStore

/// Opens the data folder's database for an admin subcommand, creating the folder if needed.
/// These work whether or not the daemon runs: SQLite's WAL lets both write, and the daemon
/// notices the change within a second.
func openStore(_ data: DataOption) throws -> Store {
    try FileManager.default.createDirectory(
        atPath: data.data, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    return try Store(path: "\(data.data)/huddle.sqlite")
}

struct TeamCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "team", abstract: "Manage teams.", subcommands: [Add.self, List.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a team with the default policy.")
        @Argument(help: "The team's name (a-z, 0-9, '-', '_', '.').") var team: String
        @OptionGroup var data: DataOption

        func run() throws {
            let store = try openStore(data)
            if try store.addTeam(team, now: SystemWallClock().now()) {
                print("team \(team) created")
            } else {
                print("team \(team) already exists")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List teams.")
        @OptionGroup var data: DataOption

        func run() throws {
            for team in try openStore(data).listTeams() {
                print("\(team.name)\t\(team.members) members\tepoch \(team.epoch)")
            }
        }
    }
}

struct UserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Manage users and their tokens.",
        subcommands: [Add.self, List.self, Remove.self, Token.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a user; prints the token alone on the last line (shown once, stored as a hash).")
        @Argument(help: "The user's name.") var name: String
        @Option(help: "agent, supervisor, bot or admin.") var role: String
        @Option(name: .customLong("team"), help: "A team to join (repeatable).") var teams: [String] = []
        @OptionGroup var data: DataOption

        func validate() throws {
            guard Role(rawValue: role) != nil else { throw ValidationError("role must be agent, supervisor, bot or admin") }
        }

        func run() throws {
            let token = try openStore(data).addUser(
                name, role: Role(rawValue: role) ?? .agent, teams: teams, now: SystemWallClock().now())
            print("user \(name) (\(role)) added\(teams.isEmpty ? "" : " to \(teams.joined(separator: ", "))"); token:")
            print(token)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users with role and teams.")
        @OptionGroup var data: DataOption

        func run() throws {
            for user in try openStore(data).listUsers() {
                print("\(user.name)\t\(user.role.rawValue)\t\(user.teams.joined(separator: ","))")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a user; their open sessions end.")
        @Argument var name: String
        @OptionGroup var data: DataOption

        func run() throws {
            try openStore(data).removeUser(name)
            print("user \(name) removed")
        }
    }

    struct Token: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a new token (the old one stops working, open sessions end); prints it on the last line.")
        @Argument var name: String
        @OptionGroup var data: DataOption

        func run() throws {
            let token = try openStore(data).rotateToken(name)
            print("new token for \(name):")
            print(token)
        }
    }
}
