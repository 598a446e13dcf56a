import ArgumentParser
import Foundation
import HuddleCore
import HuddleProtocol
import HuddleServer
import HuddleStore

/// Opens the data folder's database for an admin subcommand, creating the folder if needed.
/// These work whether or not the daemon runs: SQLite's WAL lets both write, and a change
/// command then tells the running daemon (`tellDaemon`) before it prints its answer.
func openStore(_ data: DataOption) throws -> Store {
    do {
        try PrivateFiles.prepareFolder(data.data)
    } catch let failure as PrivateFiles.Failure {
        FileHandle.standardError.write(Data("warning: \(failure)\n".utf8))
    }
    return try Store(path: "\(data.data)/huddle.sqlite")
}

/// Makes the daemon serving this data folder apply the change just committed, so that it is in
/// force when the command returns (SPEC §9): the old token refused, a removed user's sessions
/// ended, a new team joinable. A daemon that cannot be reached still finds the change by itself
/// (on an unknown token or team, and by its poll); the command says so on stderr.
func tellDaemon(_ data: DataOption) async {
    if case .unconfirmed(let why) = await AdminSocket.tell(data: data.data) {
        FileHandle.standardError.write(
            Data("huddled: committed, but the running daemon did not confirm it (\(why)); it applies the change within a few seconds\n".utf8))
    }
}

struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Write a consistent copy of the database to a new file (mode 0600), also while the daemon runs.",
        discussion: """
            The copy is marked as a backup: a daemon started on it after a restore gives every team a new \
            history epoch, so no client is told its replay is complete.
            """)
    @Argument(help: "The file to create (it must not exist).") var file: String
    @OptionGroup var data: DataOption

    func run() throws {
        guard FileManager.default.fileExists(atPath: "\(data.data)/huddle.sqlite") else {
            throw ValidationError("no database in \(data.data)")
        }
        try openStore(data).backup(to: file)
        print("backed up \(data.data)/huddle.sqlite to \(file)")
    }
}

struct TeamCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "team", abstract: "Manage teams.", subcommands: [Add.self, List.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a team with the default policy.")
        @Argument(help: "The team's name (a-z, 0-9, '-', '_', '.').") var team: String
        @OptionGroup var data: DataOption

        func run() async throws {
            let store = try openStore(data)
            if try store.addTeam(team, now: SystemWallClock().now()) {
                await tellDaemon(data)
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
        subcommands: [Add.self, Set.self, List.self, Remove.self, Token.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a user; prints the token alone on the last line (shown once, stored as a hash).")
        @Argument(help: "The user's name.") var name: String
        @Option(help: "agent, supervisor, bot or admin.") var role: String
        @Option(name: .customLong("team"), help: "A team to join (repeatable).") var teams: [String] = []
        @Option(help: "The name the phone system knows them by (Amazon Connect's username), for bridges.")
        var phoneId: String?
        @OptionGroup var data: DataOption

        func validate() throws {
            guard Role(rawValue: role) != nil else { throw ValidationError("role must be agent, supervisor, bot or admin") }
        }

        func run() async throws {
            guard let role = Role(rawValue: role) else { throw ValidationError("role must be agent, supervisor, bot or admin") }
            let token = try openStore(data).addUser(
                name, role: role, teams: teams, phoneID: phoneId, now: SystemWallClock().now())
            await tellDaemon(data)
            print("user \(name) (\(role.rawValue)) added\(teams.isEmpty ? "" : " to \(teams.joined(separator: ", "))"); token:")
            print(token)
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a user: the name the phone system knows them by (--phone-id ID, or --phone-id '' to clear it).")
        @Argument var name: String
        @Option(help: "The name the phone system knows them by (Amazon Connect's username); empty clears it.")
        var phoneId: String
        @OptionGroup var data: DataOption

        func run() async throws {
            try openStore(data).setPhoneID(name, phoneId.isEmpty ? nil : phoneId)
            await tellDaemon(data)
            print(phoneId.isEmpty ? "user \(name): phone id cleared" : "user \(name): phone id \(phoneId)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List users with role and teams (and the phone id, for those who have one).")
        @OptionGroup var data: DataOption

        func run() throws {
            for user in try openStore(data).listUsers() {
                var line = "\(user.name)\t\(user.role.rawValue)\t\(user.teams.joined(separator: ","))"
                if let phoneID = user.phoneID { line += "\tphone:\(phoneID)" }
                print(line)
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a user; their open sessions end.")
        @Argument var name: String
        @OptionGroup var data: DataOption

        func run() async throws {
            try openStore(data).removeUser(name)
            await tellDaemon(data)
            print("user \(name) removed")
        }
    }

    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a new token (the old one stops working, open sessions end); prints it on the last line.")
        @Argument var name: String
        @OptionGroup var data: DataOption

        func run() async throws {
            let token = try openStore(data).rotateToken(name)
            await tellDaemon(data)
            print("new token for \(name):")
            print(token)
        }
    }
}

struct DisplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "display", abstract: "Manage the wallboard's display links (read-only, for wall screens).",
        discussion: """
            A display link shows one team's board as a team member sees it (no alerts, no wellbeing \
            reasons) and can change nothing. It works until it is removed; removing it closes the \
            screens that use it at once.
            """,
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a display link for a team; prints the link alone on the last line (shown once).")
        @Argument(help: "The team the screen shows.") var team: String
        @Option(help: "The daemon's HTTP address as the screen reaches it (default https://THIS-HOST:7448).")
        var url: String?
        @OptionGroup var data: DataOption

        func run() async throws {
            let key = try openStore(data).addDisplay(team: team, now: SystemWallClock().now())
            await tellDaemon(data)
            var base = url ?? "https://\(ProcessInfo.processInfo.hostName):7448"
            while base.hasSuffix("/") { base.removeLast() }
            print("display link for \(team) (TV mode; drop &tv=1 for the desk view):")
            print("\(base)/board/\(team)?display=\(key)&tv=1")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List display links (their ids, never their keys).")
        @OptionGroup var data: DataOption

        func run() throws {
            for display in try openStore(data).listDisplays() {
                print("\(display.key)\t\(display.team)\tcreated \(display.createdAt.rfc3339)")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a display link; its screens close at once.")
        @Argument(help: "The link's id, as `display list` shows it (or the whole link).") var id: String
        @OptionGroup var data: DataOption

        func run() async throws {
            try openStore(data).removeDisplay(Self.id(from: id))
            await tellDaemon(data)
            print("display \(Self.id(from: id)) removed")
        }

        /// The id in `hdd_ID_SECRET`, alone or inside a link.
        static func id(from text: String) -> String {
            guard let start = text.range(of: "hdd_") else { return text }
            return String(text[start.upperBound...].prefix { $0 != "_" })
        }
    }
}
