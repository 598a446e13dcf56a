import ArgumentParser

@main
struct Huddled: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "huddled",
        abstract: "The Huddle daemon: team presence, break coverage and short messages for call-center floors.",
        subcommands: [Serve.self, TeamCommand.self, UserCommand.self, DisplayCommand.self, NotifyCommand.self, BackupCommand.self],
        defaultSubcommand: Serve.self)
}

/// The data folder, shared by every subcommand.
struct DataOption: ParsableArguments {
    @Option(name: .long, help: "The data folder (database, certificate, bootstrap token).")
    var data: String = "./huddle-data"
}
