import Foundation

/// Staffing from the queue (SPEC §3): the agents needed so that `target` of calls are answered
/// within `withinSeconds`, by Erlang C.
public enum ErlangC {
    /// The probability that a call waits, with `agents` agents and `load` erlangs (agents > load).
    /// Computed through the Erlang B recursion, which stays stable for hundreds of agents where
    /// the textbook factorials overflow.
    public static func probabilityOfWaiting(agents: Int, load: Double) -> Double {
        var erlangB = 1.0
        for n in 1...max(1, agents) {
            erlangB = load * erlangB / (Double(n) + load * erlangB)
        }
        let n = Double(agents)
        return n * erlangB / (n - load * (1 - erlangB))
    }

    /// The share of calls answered within `withinSeconds`.
    public static func serviceLevel(agents: Int, load: Double, ahtSeconds: Double, withinSeconds: Double) -> Double {
        guard Double(agents) > load else { return 0 }
        let wait = probabilityOfWaiting(agents: agents, load: load)
        return 1 - wait * exp(-(Double(agents) - load) * withinSeconds / ahtSeconds)
    }

    /// The smallest number of agents N > A (A = calls per hour × handle time / 3600) meeting the
    /// target; 0 when no calls come in. Nil when the inputs make no sense.
    public static func agentsRequired(callsPerHour: Double, ahtSeconds: Double, target: Double, withinSeconds: Double)
        -> Int?
    {
        guard callsPerHour.isFinite, ahtSeconds.isFinite, callsPerHour >= 0, ahtSeconds > 0, target > 0, target < 1
        else { return nil }
        let load = callsPerHour * ahtSeconds / 3600
        guard load > 0 else { return 0 }
        guard load < 100_000 else { return nil }
        var agents = Int(load.rounded(.down)) + 1
        while serviceLevel(agents: agents, load: load, ahtSeconds: ahtSeconds, withinSeconds: withinSeconds) < target {
            agents += 1
        }
        return agents
    }
}
