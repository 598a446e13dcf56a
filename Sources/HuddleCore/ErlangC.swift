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
    /// target; 0 when no calls come in. Nil when the inputs make no sense or no N within reach
    /// meets the target.
    ///
    /// One pass: Erlang B is carried forward one agent at a time (B(N) from B(N − 1)) instead of
    /// being recomputed from one for every candidate, so a large floor costs O(N), not O(N²).
    /// This runs under the hub's lock whenever a report or a policy changes the inputs.
    public static func agentsRequired(callsPerHour: Double, ahtSeconds: Double, target: Double, withinSeconds: Double)
        -> Int?
    {
        guard callsPerHour.isFinite, ahtSeconds.isFinite, withinSeconds.isFinite, callsPerHour >= 0, ahtSeconds > 0,
            withinSeconds >= 0, target > 0, target < 1
        else { return nil }
        let load = callsPerHour * ahtSeconds / 3600
        guard load > 0 else { return 0 }
        guard load < 100_000 else { return nil }
        var erlangB = 1.0
        var agents = 0
        let first = Int(load.rounded(.down)) + 1
        // Past this many agents beyond the load, the service level is 1 to double precision for
        // any sane target; going further would only mean the target cannot be met.
        let last = first + 100_000
        while agents < last {
            agents += 1
            erlangB = load * erlangB / (Double(agents) + load * erlangB)
            guard agents >= first else { continue }
            let n = Double(agents)
            let wait = n * erlangB / (n - load * (1 - erlangB))
            if 1 - wait * exp(-(n - load) * withinSeconds / ahtSeconds) >= target { return agents }
        }
        return nil
    }
}
